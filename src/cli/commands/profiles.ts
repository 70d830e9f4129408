import type { Command } from 'commander';
import type { ProfileSummary } from '../../local/profiles.js';
import type { TokenStore } from '../../local/token-store/types.js';
import { type CliContext, formatExpiry, loadSettings, loadStore, profileOf, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

/**
 * The stores a profile's tokens may be in: the selected one, then the 0600 file, where `auto` put
 * them when the keychain did not answer at sign-in.
 */
async function openStores(ctx: CliContext, cmd: Command): Promise<{ configDir: string; stores: TokenStore[]; env: CliContext['env'] }> {
  const settings = await loadSettings(ctx, { profile: profileOf(cmd) });
  const primary = await loadStore(ctx, settings);
  if (primary.kind === 'file') return { configDir: settings.configDir, stores: [primary], env: ctx.env };
  const { createFileStore } = await import('../../local/token-store/file.js');
  return { configDir: settings.configDir, stores: [primary, createFileStore({ dir: settings.configDir, notice: (m) => ctx.logger.warn(m) })], env: ctx.env };
}

/** The SIGNED IN cell: whether, and until when. */
function signedInText(p: ProfileSummary): string {
  if (p.problem) return 'no (see below)';
  const expiry = p.expiresAt ? formatExpiry(Date.parse(p.expiresAt) / 1000) : undefined;
  if (!p.store) return 'no';
  if (!p.signedIn) return `no, expired ${expiry ?? ''}`.trim();
  const valid = !p.expiresAt || Date.parse(p.expiresAt) > Date.now();
  if (!valid) return 'yes, refreshed on next use';
  return `yes, until ${expiry ?? 'no expiry given'}${p.canRefresh ? ', then refreshed' : ''}`;
}

/** Columns padded to their widest cell, two spaces apart, as `kubectl get` prints them. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function registerProfiles(program: Command, ctx: CliContext, run: RunFn): void {
  const profiles = program
    .command('profiles')
    .description('list the profiles (server, issuer, signed in or not and until when, where the tokens are stored), or remove one')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp profiles\n  $ seed-mcp profiles --json\n  $ seed-mcp profiles remove work\n');

  // The default subcommand, so that `profiles --json` lists and the parent has no option that
  // `profiles remove --help` would show among its global options.
  profiles
    .command('list', { isDefault: true })
    .description('list the profiles: server, issuer, signed in or not (until when), where the tokens are stored')
    .option('--json', 'print the profiles as JSON')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp profiles\n  $ seed-mcp profiles list --json\n')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await run(opts.json, async () => {
        const deps = await openStores(ctx, cmd);
        const { listProfiles } = await import('../../local/profiles.js');
        const list = await listProfiles(deps);
        if (opts.json) {
          writeJson(ctx, { profiles: list });
          return 0;
        }
        if (list.length === 0) {
          ctx.stdout.write(
            `No profiles yet (config dir ${deps.configDir}).\n  → run \`seed-mcp login https://mcp.example.com/mcp\` (or \`seed-mcp login --issuer URL --client-id ID\`) to create one\n`,
          );
          return 0;
        }
        const rows = list.map((p) => [p.name, p.server ?? '-', p.issuer ?? '-', signedInText(p), p.store?.kind ?? '-']);
        ctx.stdout.write(table([['PROFILE', 'SERVER', 'ISSUER', 'SIGNED IN', 'TOKENS'], ...rows]));
        for (const p of list.filter((x) => x.problem)) ctx.stderr.write(`note: profile ${p.name}: ${p.problem}\n${p.hint ? `  → ${p.hint}\n` : ''}`);
        return 0;
      });
    });

  profiles
    .command('remove')
    .argument('<name>', 'the profile to remove')
    .description('remove a profile: sign it out (revoking at the IdP where it can), delete its tokens from the keychain and the token file, drop its settings from config.json')
    .option('--json', 'print what was removed as JSON')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp profiles remove work\n  $ seed-mcp profiles remove mcp.example.com --json\n')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      await run(opts.json, async () => {
        const deps = await openStores(ctx, cmd);
        const { removeProfile } = await import('../../local/profiles.js');
        const r = await removeProfile(name, {
          ...deps,
          signOut: async (store) => {
            const { logout } = await import('../../local/logout.js');
            return logout(await loadSettings(ctx, { profile: name }), { store, logger: ctx.logger });
          },
        });
        if (opts.json) {
          writeJson(ctx, r);
          return 0;
        }
        const tokens = r.tokens.map((t, i) => `deleted from ${t.location}${i === 0 && r.revoked ? '; the IdP revoked the session' : ''}`);
        ctx.stdout.write(
          [
            `Removed profile ${r.profile}.`,
            `  settings: ${r.settings ? `deleted from ${r.settings}` : 'none were saved'}`,
            ...(tokens.length > 0 ? tokens.map((t, i) => `  ${i === 0 ? 'tokens:  ' : '         '} ${t}`) : ['  tokens:   none were stored']),
          ].join('\n') + '\n',
        );
        if (r.revokeNote) ctx.stderr.write(`note: ${r.revokeNote}\n`);
        return 0;
      });
    });
}
