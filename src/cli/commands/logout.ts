import type { Command } from 'commander';
import { type CliContext, loadSettings, loadStore, profileOf, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

export function registerLogout(program: Command, ctx: CliContext, run: RunFn): void {
  program
    .command('logout')
    .description('revoke the refresh token at the IdP (RFC 7009) and delete the local tokens; safe to repeat')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp logout\n  $ seed-mcp logout --profile work\n')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await run(opts.json, async () => {
        const settings = await loadSettings(ctx, { profile: profileOf(cmd) });
        const store = await loadStore(ctx, settings);
        const { logout } = await import('../../local/logout.js');
        const r = await logout(settings, { store, logger: ctx.logger });
        if (opts.json) {
          writeJson(ctx, r);
        } else if (!r.wasSignedIn) {
          ctx.stdout.write(`Not signed in (profile ${r.profile}); nothing to do.\n`);
        } else {
          ctx.stdout.write(`Signed out of profile ${r.profile}${r.revoked ? '; the IdP revoked the session' : ''}. Local tokens deleted.\n`);
          if (r.revokeNote) ctx.stderr.write(`note: ${r.revokeNote}\n`);
        }
        return 0;
      });
    });
}
