import type { Command } from 'commander';
import { resolve } from 'node:path';
import { configDir } from '../../local/paths.js';
import { createLogger, type LogLevel } from '../../shared/logger.js';
import type { DemoCommand, DemoViewInfo } from '../ui/demo-view.js';
import type { RunningDemo } from '../../demo/run-demo.js';
import { type CliContext, interactive, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

interface DemoOpts {
  port?: string;
  idpPort?: string;
  host?: string;
  dataDir?: string;
  printClaudeConfig?: boolean;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** `npx seed-mcp` when the demo itself was started through npx (npm exec), else `seed-mcp`. */
function binName(env: Record<string, string | undefined>): string {
  return env.npm_command === 'exec' ? 'npx seed-mcp' : 'seed-mcp';
}

/** The commands the view suggests, in walkthrough order. */
export function demoCommands(bin: string, profile: string, mcpUrl: string, user: { login: string; password: string }): DemoCommand[] {
  const p = `--profile ${profile}`;
  return [
    { command: `${bin} login ${p} ${mcpUrl}`, note: `sign in through the browser as ${user.login} / ${user.password}` },
    { command: `${bin} status ${p}`, note: 'who is signed in, scopes, expiry' },
    { command: `${bin} token ${p}`, note: 'a JWT access token for the MCP server' },
    { command: `${bin} serve ${p} --upstream ${mcpUrl}`, note: "the stdio bridge an MCP host runs: the document tools and the gateway child's tickets_* tools" },
    { command: `${bin} config claude ${p}`, note: 'its Claude Desktop entry' },
  ];
}

function viewInfo(ctx: CliContext, demo: RunningDemo, user: { login: string; password: string }): DemoViewInfo {
  return {
    issuer: demo.plan.issuer,
    mcpUrl: demo.plan.mcpUrl,
    user,
    profile: demo.plan.profile,
    configFile: demo.configFile,
    saved: `client id ${demo.plan.clientId}, scopes, upstream; no secret`,
    ...(demo.profileChange ? { changed: profileChangeText(ctx, demo) } : {}),
    dataDir: demo.dataDir,
    keysCreated: demo.keysCreated,
    child: { name: demo.child.name, url: demo.child.url, servedAt: demo.child.servedAt },
    commands: demoCommands(binName(ctx.env), demo.plan.profile, demo.plan.mcpUrl, user),
  };
}

/** What the banner says when the demo moved a profile that named another server or issuer. */
function profileChangeText(ctx: CliContext, demo: RunningDemo): string {
  const change = demo.profileChange!;
  const before = [change.fromServer ? `server ${change.fromServer}` : '', change.fromIssuer ? `issuer ${change.fromIssuer}` : ''].filter(Boolean).join(', ');
  return `profile "${demo.plan.profile}" changed: it named ${before}, now this demo's; tokens from before do not count here (status exits 2 on them): sign in with \`${binName(ctx.env)} login --profile ${demo.plan.profile}\``;
}

/** Without a terminal: plain lines, each saying DEMO. */
function plainLines(info: DemoViewInfo): string {
  const lines = [
    'seed-mcp demo — not for production: an identity provider and seed-mcp cloud on 127.0.0.1 only',
    `identity provider: ${info.issuer}`,
    `MCP server: ${info.mcpUrl}`,
    ...(info.child ? [`gateway child: ${info.child.name} at ${info.child.url} (on /mcp as ${info.child.name}_<tool>, alone at ${info.child.servedAt})`] : []),
    `demo user: ${info.user.login}  password: ${info.user.password}`,
    `profile "${info.profile}" saved in ${info.configFile} (${info.saved})`,
    ...(info.changed ? [info.changed] : []),
    `demo data: ${info.dataDir} (signing keys and sessions: ${info.keysCreated ? 'new keys' : 'kept from the last run'})`,
    'next, in a second terminal:',
    ...info.commands.map((c) => `  ${c.command}`),
    'running; Ctrl-C stops it',
  ];
  return lines.map((l) => `[DEMO] ${l}\n`).join('');
}

/**
 * Keeps SIGINT/SIGTERM with us while the demo runs; a second one stops the process at once.
 *
 * The entry point turns the first signal into `ctx.signal` with a `once` listener, which is gone
 * by the time the other listeners run. ink's signal-exit listener (it stays after the view is
 * drawn, for the cursor) then believes it is the last one and re-raises the signal, killing the
 * process before the servers close. This listener stays until they have.
 */
function holdSignals(): () => void {
  let seen = 0;
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  function onSignal(signal: NodeJS.Signals) {
    if (++seen < 2) return;
    // Ctrl-C again while closing: the person wants out now.
    release();
    process.kill(process.pid, signal);
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return release;
}

/**
 * Runs the demo until SIGINT/SIGTERM: plans the ports (exit 2 on a bad flag or a non-loopback
 * host), starts the IdP and the MCP server, shows where they are and what to type next, then
 * stops both and exits 0. With `--print-claude-config` it prints the Claude Desktop entry and
 * starts nothing.
 */
export async function runDemo(ctx: CliContext, opts: DemoOpts, profile: string | undefined, version: string): Promise<number> {
  const { planDemo, demoClaudeConfig, startDemo, defaultDemoDataDir, DEMO_USER } = await import('../../demo/run-demo.js');
  const plan = planDemo({ port: opts.port, idpPort: opts.idpPort, host: opts.host, profile });
  const dir = configDir(ctx.env);
  if (opts.printClaudeConfig) {
    writeJson(ctx, demoClaudeConfig(plan, dir));
    return 0;
  }
  const envLevel = ctx.env.LOG_LEVEL as LogLevel | undefined;
  const logLevel: LogLevel = envLevel && LEVELS.includes(envLevel) ? envLevel : 'info';
  // Every log line says it comes from the demo, whichever part wrote it.
  const logger = createLogger({ level: logLevel, format: 'pretty', write: (line) => ctx.stderr.write(`[DEMO] ${line}\n`) });
  const demo = await startDemo({ plan, dataDir: resolve(opts.dataDir ?? defaultDemoDataDir(dir, plan)), configDir: dir, version, logger, logLevel });
  const releaseSignals = holdSignals();
  try {
    if (!ctx.signal.aborted) {
      const info = viewInfo(ctx, demo, DEMO_USER);
      if (interactive(ctx, false)) await (await import('../ui/demo-view.js')).renderDemo(ctx.stdout, info);
      else ctx.stdout.write(plainLines(info));
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  } finally {
    await demo.close();
    releaseSignals();
  }
  ctx.stdout.write('[DEMO] stopped: the identity provider and the MCP server are closed\n');
  return 0;
}

export function registerDemo(program: Command, ctx: CliContext, run: RunFn, version: string): void {
  program
    .command('demo')
    .description('the whole product on this machine: an embedded demo identity provider and seed-mcp cloud on 127.0.0.1 (not for production)')
    .option('--port <port>', 'port of the MCP server (default 4741); the identity provider takes the one below')
    .option('--idp-port <port>', 'port of the identity provider (default: --port minus 1)')
    .option(
      '--data-dir <dir>',
      "where the demo keeps its identity provider's signing keys and sessions (default: demo/<idp port>-<port> in the config dir; one demo at a time per folder)",
    )
    .option('--host <host>', 'only 127.0.0.1 (or localhost): the demo never listens on another address')
    .option('--print-claude-config', 'print the Claude Desktop entry that would use the demo, and start nothing')
    .addHelpText(
      'after',
      `
The demo user is "demo" with the password "demo". The demo saves the profile "demo" (or --profile)
in config.json: its client id, scopes and upstream, never a secret.

Examples:
  $ npx seed-mcp demo
  $ seed-mcp login --profile demo http://127.0.0.1:4741/mcp     # in a second terminal
  $ seed-mcp demo --port 8741 --data-dir /tmp/seed-demo
  $ seed-mcp demo --print-claude-config`,
    )
    .action(async (opts: DemoOpts, cmd: Command) => {
      // Only an explicit --profile: a SEED_MCP_PROFILE exported for real work must not become the demo's.
      const explicit = cmd.getOptionValueSourceWithGlobals('profile') === 'cli';
      const profile = explicit ? (cmd.optsWithGlobals().profile as string | undefined) : undefined;
      await run(false, () => runDemo(ctx, opts, profile, version));
    });
}
