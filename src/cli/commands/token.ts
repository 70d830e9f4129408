import type { Command } from 'commander';
import { type CliContext, loadSettings, loadStore, profileOf } from '../context.js';
import type { RunFn } from '../main.js';

export function registerToken(program: Command, ctx: CliContext, run: RunFn): void {
  program
    .command('token')
    .description('print a valid access token on stdout (refreshing it first when needed), nothing else')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp token --profile work\n  $ curl -H "Authorization: Bearer $(seed-mcp token)" https://api.example.com/\n')
    .action(async (_opts: object, cmd: Command) => {
      await run(false, async () => {
        const settings = await loadSettings(ctx, { profile: profileOf(cmd) });
        const store = await loadStore(ctx, settings);
        const [{ createTokenSource }, { tokensMismatch }] = await Promise.all([import('../../local/token-source.js'), import('../../local/status.js')]);
        // A token of another issuer or server than the profile names would only earn a 401 there.
        const stored = await store.get(settings.profile);
        const mismatch = stored && tokensMismatch(settings, stored);
        if (mismatch) throw mismatch;
        const tokens = await createTokenSource(settings, { store, logger: ctx.logger }).get();
        ctx.stdout.write(tokens.accessToken + '\n');
        return 0;
      });
    });
}
