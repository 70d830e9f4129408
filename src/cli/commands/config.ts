import { basename } from 'node:path';
import type { Command } from 'commander';
import { HOSTS, type HostSpec } from '../../local/host-config/hosts.js';
import { isSeedError } from '../../shared/errors.js';
import { redact } from '../../shared/redact.js';
import { type CliContext, loadSettings, profileOf, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

export function registerConfig(program: Command, ctx: CliContext, run: RunFn): void {
  const config = program.command('config').description('configuration helpers');
  for (const host of HOSTS) registerHost(config, host, ctx, run);
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
 * `config <host>`: prints the host's entry that runs `seed-mcp serve` for the profile, in the
 * host's own format; --install merges it into the host's file.
 */
function registerHost(config: Command, host: HostSpec, ctx: CliContext, run: RunFn): void {
  const file = basename(host.defaultPath(ctx.env));
  config
    .command(host.id)
    .description(`print the ${host.name} entry that runs \`seed-mcp serve\` for this profile (${host.format.toUpperCase()}); --install merges it into ${file}`)
    .option('--install', `merge the entry into ${file} (other servers and keys are kept; a backup is written)`)
    .option('--file <path>', `the ${host.name} config file (default: ${host.defaultPath(ctx.env)})`)
    .option('--upstream <url>', 'bridge to this remote MCP server (env SEED_MCP_UPSTREAM)')
    .addHelpText(
      'after',
      `\nThe entry runs this install with the absolute path of this node, so the host needs neither PATH nor npx.\n\nExamples:\n  $ seed-mcp config ${host.id}\n  $ seed-mcp config ${host.id} --profile work --upstream https://mcp.example.com/mcp --install\n`,
    )
    .action(async (opts: { install?: boolean; file?: string; upstream?: string }, cmd: Command) => {
      await run(false, async () => {
        const settings = await loadSettings(ctx, { upstream: opts.upstream, profile: profileOf(cmd) });
        const { serveEntry, isTransientInstall } = await import('../../local/host-config/entry.js');
        const { installEntry, printEntry } = await import('../../local/host-config/install.js');
        const { name, entry } = serveEntry(settings);
        // Zero configuration: serve finds the authorization server from the upstream and registers itself.
        const zeroConfig = settings.discovered && settings.upstream !== undefined;
        if (!zeroConfig && (!settings.issuer || !settings.clientId)) {
          ctx.stderr.write(
            `note: profile ${settings.profile} has no ${!settings.issuer ? 'issuer' : 'client id'} yet; run \`seed-mcp login --profile ${settings.profile} …\` first, or add SEED_MCP_ISSUER and SEED_MCP_CLIENT_ID to the env below\n`,
          );
        }
        if (isTransientInstall(entry.args[0]!)) {
          ctx.stderr.write(`note: this seed-mcp runs from npx's cache, which npm may clear; \`npm install -g seed-mcp\` and run this command again for an entry that lasts\n`);
        }
        if (!opts.install) {
          ctx.stdout.write(printEntry(host, name, entry));
          return 0;
        }
        const r = await installEntry(host, opts.file ?? host.defaultPath(ctx.env), name, entry);
        const lost = host.format === 'toml' && r.backup ? ' Comments and formatting of the previous file are not kept: the backup has them.' : '';
        ctx.stdout.write(`${r.replaced ? 'Updated' : 'Added'} "${r.name}" in ${r.path}${r.backup ? ` (previous file kept as ${r.backup})` : ''}. ${host.restart}${lost}\n`);
        return 0;
      });
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
