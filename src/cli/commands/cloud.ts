import type { Command } from 'commander';
import { isSeedError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import type { CliContext } from '../context.js';
import type { RunFn } from '../main.js';

interface CloudOpts {
  port?: string;
  host?: string;
}

/**
 * Runs cloud mode until SIGTERM/SIGINT: validated config (every problem at once, exit 2), then the
 * HTTP server, then a graceful stop (exit 0). Shared by `seed-mcp cloud` and
 * `AUTH_MODE=cloud seed-mcp serve`.
 */
export async function runCloud(ctx: CliContext, opts: CloudOpts, version: string): Promise<number> {
  const { loadCloudConfig } = await import('../../cloud/config.js');
  let config;
  try {
    config = loadCloudConfig(ctx.env, { ...(opts.port ? { PORT: opts.port } : {}), ...(opts.host ? { HOST: opts.host } : {}) });
  } catch (err) {
    if (isSeedError(err) && err.code === 'CONFIG_INVALID') {
      ctx.stderr.write(`✗ ${err.message}\n${err.hint ? `  → ${err.hint}\n` : ''}`);
      return err.exitCode;
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  for (const warning of config.warnings) logger.warn(warning, { event: 'config_warning' });
  const { startCloud } = await import('../../cloud/start.js');
  // A broken policy stops start-up (exit 2): never serve with rules that did not load.
  const cloud = await startCloud(config, { logger, version });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  logger.info('shutting down', { event: 'shutdown' });
  await cloud.close();
  return 0;
}

export function registerCloud(program: Command, ctx: CliContext, run: RunFn, version: string): void {
  program
    .command('cloud')
    .description('Streamable-HTTP MCP server that is an OAuth 2.1 resource server (for containers); configured by environment')
    .option('--port <port>', 'listen port (env PORT / MCP_PORT, default 3000)')
    .option('--host <host>', 'listen address (env HOST, default 0.0.0.0)')
    .addHelpText(
      'after',
      `
Configuration is by environment; every variable also takes NAME_FILE, a file holding its value.
Every variable, with its default, aliases and NAME_FILE form: docs/configuration.md (configuration reference).
Check a configuration without starting: seed-mcp config check (the effective configuration, secrets redacted; exit 2 when invalid).

Examples:
  $ ALLOWED_ISSUERS=https://acme.okta.com/oauth2/default RESOURCE_IDENTIFIER=https://mcp.acme.com/mcp seed-mcp cloud
  $ AUTH_MODE=cloud OIDC_ISSUER=https://login.example.com OIDC_AUDIENCE=api://mcp seed-mcp serve`,
    )
    .action(async (opts: CloudOpts) => {
      await run(false, () => runCloud(ctx, opts, version));
    });
}
