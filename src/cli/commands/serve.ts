import { Option, type Command } from 'commander';
import { SeedError } from '../../shared/errors.js';
import { type CliContext, loadSettings, loadStore, profileOf } from '../context.js';
import type { RunFn } from '../main.js';
import { addClientOptions, AUTH_PARAM_OPTION, type ClientOpts } from './login.js';

interface ServeOpts extends ClientOpts {
  upstream?: string;
  login: 'browser' | 'never';
  grant: 'authorization_code' | 'client_credentials';
  header: string[];
  issuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  clientKeyFile?: string;
  authParam: string[];
  scope?: string;
  resource?: string | false;
}

/** `NAME:VALUE` pairs into a header record; a malformed one is a usage error. */
export function parseHeaders(pairs: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf(':');
    const name = pair.slice(0, i).trim();
    if (i <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new SeedError('USAGE', `could not use --header "${pair}": expected NAME:VALUE`, { hint: 'for example --header "X-Team: platform"' });
    }
    if (name.toLowerCase() === 'authorization') {
      throw new SeedError('USAGE', 'could not use --header Authorization: seed-mcp sets the bearer token itself', { hint: 'remove that --header' });
    }
    headers[name] = pair.slice(i + 1).trim();
  }
  return headers;
}

export function registerServe(program: Command, ctx: CliContext, run: RunFn, version: string): void {
  addClientOptions(program.command('serve'))
    .description('stdio MCP server for Claude Desktop and other MCP hosts; with --upstream, a bridge to a remote MCP server')
    .option('--upstream <url>', 'remote MCP server (Streamable HTTP) to bridge to with the bearer token (env SEED_MCP_UPSTREAM)')
    .addOption(
      new Option('--login <mode>', 'when no token is usable: open one browser sign-in, or answer with the command to run').choices(['browser', 'never']).default('browser'),
    )
    .addOption(
      new Option('--grant <grant>', 'client_credentials: mint a service token with the client secret or key (no browser)')
        .choices(['authorization_code', 'client_credentials'])
        .default('authorization_code'),
    )
    .option('--header <name:value>', 'static header for every upstream request (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--issuer <url>', 'issuer (env SEED_MCP_ISSUER; default: the profile saved by login)')
    .option('--client-id <id>', 'client id (env SEED_MCP_CLIENT_ID)')
    .option('--client-secret-file <path>', 'client secret file (env SEED_MCP_CLIENT_SECRET_FILE), for --grant client_credentials')
    .option('--client-key-file <path>', 'PEM private key for private_key_jwt (env SEED_MCP_CLIENT_KEY_FILE), for --grant client_credentials or refresh')
    .option(...AUTH_PARAM_OPTION)
    .option('--scope <scopes>', 'scopes (env SEED_MCP_SCOPES)')
    .option('--resource <url>', 'RFC 8707 resource (env SEED_MCP_RESOURCE)')
    .option('--no-resource', 'never send the resource parameter')
    .addHelpText(
      'after',
      `
stdout carries only JSON-RPC; logs go to stderr. Bare \`seed-mcp\` with a non-terminal stdin runs serve.

Examples:
  $ seed-mcp serve
  $ seed-mcp serve --upstream https://mcp.example.com/mcp --profile work
  $ seed-mcp serve --upstream https://mcp.example.com/mcp --header "X-Team: platform" --login never
  $ SEED_MCP_CLIENT_SECRET_FILE=/run/secrets/mcp seed-mcp serve --grant client_credentials --issuer https://idp.example.com --client-id svc`,
    )
    .action(async (opts: ServeOpts, cmd: Command) => {
      await run(false, async () => {
        // Container compatibility: the deployment guides start `serve` with AUTH_MODE=cloud.
        if (ctx.env.AUTH_MODE === 'cloud') {
          const { runCloud } = await import('./cloud.js');
          return runCloud(ctx, {}, version);
        }
        const headers = parseHeaders(opts.header);
        const settings = await loadSettings(ctx, { ...opts, profile: profileOf(cmd) });
        const wait = ctx.env.SEED_MCP_SIGN_IN_WAIT;
        const signInWaitSec = wait === undefined || wait === '' ? undefined : Number(wait);
        if (signInWaitSec !== undefined && !(Number.isFinite(signInWaitSec) && signInWaitSec >= 0)) {
          throw new SeedError('USAGE', `could not use SEED_MCP_SIGN_IN_WAIT=${wait}: it must be a number of seconds (0 or more)`, {
            hint: 'unset it for the default (50 s), or set 0 to answer at once',
          });
        }
        const { runServe } = await import('../../local/serve/run-serve.js');
        await runServe({
          settings,
          version,
          loginMode: opts.login,
          grant: opts.grant,
          headers,
          stdin: process.stdin,
          stdout: ctx.stdout as NodeJS.WritableStream & import('node:stream').Writable,
          logger: ctx.logger,
          openStore: () => loadStore(ctx, settings),
          signal: ctx.signal,
          ...(signInWaitSec !== undefined ? { signInWaitMs: signInWaitSec * 1000 } : {}),
          // A benchmark aid (bench/soak.mjs): memory figures on stderr every N seconds.
          debugHeapSec: Number(ctx.env.SEED_MCP_DEBUG_HEAP) > 0 ? Number(ctx.env.SEED_MCP_DEBUG_HEAP) : undefined,
        });
        return 0;
      });
    });
}
