import type { Command } from 'commander';
import { isSeedError } from '../../shared/errors.js';
import { redact } from '../../shared/redact.js';
import { type CliContext, loadSettings, profileOf, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

export function registerConfig(program: Command, ctx: CliContext, run: RunFn): void {
  const config = program.command('config').description('configuration helpers');
  config
    .command('claude')
    .description("print the Claude Desktop entry that runs `seed-mcp serve` for this profile; --install merges it into Claude Desktop's config")
    .option('--install', 'merge the entry into claude_desktop_config.json (other servers are kept; a backup is written)')
    .option('--file <path>', 'the Claude Desktop config file (default: the platform location)')
    .option('--upstream <url>', 'bridge to this remote MCP server (env SEED_MCP_UPSTREAM)')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp config claude\n  $ seed-mcp config claude --profile work --upstream https://mcp.example.com/mcp --install\n')
    .action(async (opts: { install?: boolean; file?: string; upstream?: string }, cmd: Command) => {
      await run(false, async () => {
        const settings = await loadSettings(ctx, { upstream: opts.upstream, profile: profileOf(cmd) });
        const { claudeEntry, claudeConfigPath, installClaudeEntry } = await import('../../local/claude-config.js');
        const { name, entry } = claudeEntry(settings);
        if (!settings.issuer || !settings.clientId) {
          ctx.stderr.write(
            `note: profile ${settings.profile} has no ${!settings.issuer ? 'issuer' : 'client id'} yet; run \`seed-mcp login --profile ${settings.profile} …\` first, or add SEED_MCP_ISSUER and SEED_MCP_CLIENT_ID to the env below\n`,
          );
        }
        if (!opts.install) {
          writeJson(ctx, { mcpServers: { [name]: entry } });
          return 0;
        }
        const r = await installClaudeEntry(opts.file ?? claudeConfigPath(ctx.env), name, entry);
        ctx.stdout.write(
          `${r.replaced ? 'Updated' : 'Added'} "${r.name}" in ${r.path}${r.backup ? ` (previous file kept as ${r.backup})` : ''}. Restart Claude Desktop to use it.\n`,
        );
        return 0;
      });
    });
  config
    .command('check')
    .description('validate the cloud-mode configuration (environment and NAME_FILE secrets) and print the effective one, secrets redacted; exit 2 when invalid')
    .addHelpText(
      'after',
      '\nExamples:\n  $ OIDC_ISSUER=https://login.example.com OIDC_AUDIENCE=api://seed seed-mcp config check\n  $ docker run --env-file prod.env seed-mcp config check\n',
    )
    .action(async () => {
      await run(false, () => checkCloudConfig(ctx));
    });
}

/**
 * `config check`: the effective cloud configuration as JSON on stdout, warnings on stderr. An
 * invalid one prints the contract's `✗ Configuration validation failed:` block itself (the
 * top-level handler's `✖` form is for every other error) and exits 2.
 */
async function checkCloudConfig(ctx: CliContext): Promise<number> {
  const { loadCloudConfig, redactCloudConfig } = await import('../../cloud/config.js');
  let config;
  try {
    config = loadCloudConfig(ctx.env);
  } catch (err) {
    if (!isSeedError(err) || err.code !== 'CONFIG_INVALID') throw err;
    ctx.stderr.write(`✗ ${redact(err.message)}\n${err.hint ? `  → ${err.hint}\n` : ''}`);
    return err.exitCode;
  }
  for (const warning of config.warnings) ctx.stderr.write(`⚠ ${warning}\n`);
  writeJson(ctx, redactCloudConfig(config));
  return 0;
}
