import type { Command } from 'commander';
import { type CliContext, formatExpiry, loadSettings, loadStore, profileOf, who, writeJson } from '../context.js';
import type { RunFn } from '../main.js';
import type { IdentitySource } from '../../local/token-store/types.js';

const IDENTITY_TEXT: Record<IdentitySource, string> = {
  id_token: 'from the ID token',
  access_token: "from the access token's claims",
  unknown: 'unknown: the authorization server sent no ID token and an opaque access token',
};

export function registerStatus(program: Command, ctx: CliContext, run: RunFn): void {
  program
    .command('status')
    .description(
      "show who is signed in, the issuer, scopes, expiry and where tokens are stored (exit 0 signed in, 1 not, 2 when the tokens are for another issuer or server than the profile's)",
    )
    .option('--json', 'print the status as JSON')
    .addHelpText('after', '\nExamples:\n  $ seed-mcp status\n  $ seed-mcp status --profile work --json\n')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await run(opts.json, async () => {
        const settings = await loadSettings(ctx, { profile: profileOf(cmd) });
        const store = await loadStore(ctx, settings);
        const { getStatus } = await import('../../local/status.js');
        const s = await getStatus(settings, { store });
        if (opts.json) {
          writeJson(ctx, s);
        } else if (!s.signedIn) {
          ctx.stdout.write(
            `Not signed in (profile ${s.profile}${s.server ? `, server ${s.server}` : ''}). Tokens would be stored in ${s.store.location}.\n  → run \`seed-mcp login${s.profile !== 'default' ? ` --profile ${s.profile}` : ''}\`\n`,
          );
        } else {
          const expiry = s.expiresAt ? formatExpiry(Date.parse(s.expiresAt) / 1000) : 'no expiry given';
          ctx.stdout.write(
            [
              `Signed in as ${who(s)} (profile ${s.profile})`,
              `  issuer:   ${s.issuer}`,
              ...(s.server ? [`  server:   ${s.server}`] : []),
              `  client:   ${s.clientId}`,
              `  subject:  ${s.subject ?? '-'}`,
              ...(s.identitySource ? [`  identity: ${IDENTITY_TEXT[s.identitySource]}`] : []),
              `  scopes:   ${s.scopes?.join(' ')}`,
              ...(s.resource ? [`  resource: ${s.resource}`] : []),
              `  expires:  ${expiry}${s.accessTokenValid ? '' : ' (expired)'}${s.canRefresh ? ', refreshed automatically' : ', no refresh token'}`,
              `  stored:   ${s.store.location}`,
            ].join('\n') + '\n',
          );
        }
        return s.signedIn ? 0 : 1;
      });
    });
}
