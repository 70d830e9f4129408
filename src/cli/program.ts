// The commander program and the process entry, shared by the two bundles: dist/cli.cjs (every
// command, src/cli/main.ts) and dist/serve.cjs (`serve` only, src/cli/serve-main.ts), which an
// MCP host spawns and waits for. Nothing here may import a command: each bundle brings its own.
import { Command, CommanderError, Option } from 'commander';
import { isSeedError, SeedError, ExitCode } from '../shared/errors.js';
import { redact } from '../shared/redact.js';
import { applyProxyFromEnv } from '../shared/proxy.js';
import { createContext, type CliContext } from './context.js';

export const VERSION = '0.1.0';

/** A command's action: returns the exit code. */
export type Action = () => Promise<number>;

export type RunFn = (json: boolean | undefined, action: Action) => Promise<void>;

/** Adds the commands to the program. */
export type Register = (program: Command, ctx: CliContext, run: RunFn) => void;

/**
 * Runs a command action and turns any failure into one line (plus a hint) on stderr — or a JSON
 * error on stdout with `--json` — and the contract's exit code. Never prints a stack trace.
 */
export async function runAction(ctx: CliContext, json: boolean | undefined, action: Action): Promise<number> {
  try {
    return await action();
  } catch (err) {
    const e = isSeedError(err)
      ? err
      : new SeedError('AUTH_FAILED', `could not finish: ${redact(err instanceof Error ? err.message : String(err))}`, {
          hint: 'this is a bug in seed-mcp if it repeats; rerun with LOG_LEVEL=debug and report it',
        });
    if (ctx.env.LOG_LEVEL === 'debug' && !isSeedError(err)) ctx.logger.debug(redact(String((err as Error)?.stack ?? err)));
    if (json) {
      ctx.stdout.write(JSON.stringify({ error: { code: e.code, message: redact(e.message), hint: e.hint } }, null, 2) + '\n');
    } else {
      ctx.stderr.write(`✖ ${redact(e.message)}\n${e.hint ? `  → ${e.hint}\n` : ''}`);
    }
    return e.exitCode;
  }
}

/** The commander program with the commands `register` adds. */
export function createProgram(ctx: CliContext, setExit: (code: number) => void, register: Register): Command {
  const program = new Command('seed-mcp')
    .description('Single sign-on in front of MCP tools: sign in through the browser, keep tokens in the OS keychain, serve MCP over stdio or HTTP.')
    .version(VERSION, '-v, --version')
    .addOption(new Option('--profile <name>', 'profile: several IdPs or accounts side by side').env('SEED_MCP_PROFILE'))
    .showHelpAfterError('(run `seed-mcp --help` for usage)')
    // Each command's --help lists --profile (and --version) under "Global Options".
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .exitOverride();
  const run = (json: boolean | undefined, action: Action) => runAction(ctx, json, action).then(setExit);
  register(program, ctx, run);
  program.addHelpText(
    'after',
    `
Examples:
  $ seed-mcp login --issuer https://login.example.com --client-id seed-cli
  $ seed-mcp login https://mcp.example.com/mcp       # discover the IdP from the server
  $ seed-mcp status
  $ seed-mcp profiles                                # every profile: server, issuer, signed in, where the tokens are
  $ curl -H "Authorization: Bearer $(seed-mcp token)" https://api.example.com/
  $ seed-mcp logout
  $ seed-mcp serve --upstream https://mcp.example.com/mcp   # what Claude Desktop runs
  $ seed-mcp config claude --install
  $ npx seed-mcp demo                                 # the whole product on this machine, nothing to configure

Exit codes: 0 ok, 1 not signed in or auth failed, 2 bad usage or invalid config, 3 IdP or network unreachable.`,
  );
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  return program;
}

/** The entry point: parses `argv` with the program `build` makes and resolves with the process exit code. */
export async function runMain(argv: string[], build: (ctx: CliContext, setExit: (code: number) => void) => Command): Promise<number> {
  const abort = new AbortController();
  // Kept (not `once`) while a command runs: ink's signal-exit re-raises a signal that no other
  // listener is left to handle, which would kill the process before the command cleans up. A
  // second signal stops at once.
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx = createContext(abort.signal);
  let code: number = ExitCode.Ok;
  const program = build(ctx, (c) => {
    code = c;
  });
  try {
    if (argv.length <= 2) {
      // An MCP host starts a bare `seed-mcp` with a pipe on stdin: that is `serve`.
      if (ctx.stdinIsTTY) {
        program.outputHelp();
        return ExitCode.Ok;
      }
      argv = [...argv, 'serve'];
    }
    await applyProxyFromEnv(ctx.env);
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.Ok;
      return ExitCode.Usage;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
