import { Option, type Command } from 'commander';
import type { LoginProgress, LoginResult } from '../../local/login.js';
import type { ClientFields } from '../../local/profile-config.js';
import { type CliContext, formatExpiry, interactive, loadSettings, loadStore, profileOf, who, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

/** `--auth-param`, shared by login and serve. */
export const AUTH_PARAM_OPTION = [
  '--auth-param <key=value>',
  'extra authorization request parameter, e.g. audience=https://api.example.com (repeatable; saved in the profile; env SEED_MCP_AUTH_PARAMS="k=v&k2=v2", URL-encoded)',
  (v: string, acc: string[]) => [...acc, v],
  [] as string[],
] as const;

/** Options of the MCP authorization client shared by login and serve (README, "From the URL alone: how `serve --upstream` and `login URL` sign in"). */
export function addClientOptions(cmd: Command): Command {
  return cmd
    .option(
      '--client-metadata-url <url>',
      'https URL of a client ID metadata document you published, used when the authorization server supports them (env SEED_MCP_CLIENT_METADATA_URL)',
    )
    .option('--idp-profile <name>', 'enterprise-managed authorization: exchange the ID token of this signed-in profile for an ID-JAG (env SEED_MCP_IDP_PROFILE)')
    .option('--id-token-file <path>', "enterprise-managed authorization: a workload's OIDC ID token to exchange (env SEED_MCP_ID_TOKEN_FILE)")
    .option('--idp-issuer <url>', 'the IdP that issued the ID token, when it is not --idp-profile (env SEED_MCP_IDP_ISSUER)')
    .option('--idp-client-id <id>', "seed-mcp's client at that IdP (env SEED_MCP_IDP_CLIENT_ID)")
    .option('--idp-client-secret-file <path>', "file holding that client's secret (env SEED_MCP_IDP_CLIENT_SECRET_FILE)");
}

/** The client options as commander parses them. */
export type ClientOpts = ClientFields;

interface LoginOpts extends ClientOpts {
  issuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  clientKeyFile?: string;
  authParam: string[];
  scope?: string;
  resource?: string | false;
  port?: string;
  browser: boolean;
  browserCommand?: string;
  device?: boolean;
  json?: boolean;
  redirectHost?: string;
  timeout: string;
  assumePkce?: boolean;
  prompt?: string;
}

/** The line that ends a successful sign-in. */
export function loginSummary(r: LoginResult): string {
  return `Signed in to ${r.issuer} as ${who(r)}${r.profile !== 'default' ? ` (profile ${r.profile})` : ''}, token valid until ${formatExpiry(r.expiresAt)}${r.hasRefreshToken ? ', refreshed automatically' : ''}. Tokens stored in ${r.store}.`;
}

/** Said when a sign-in moved the profile to another issuer. */
export function issuerChangedLine(e: { profile: string; from: string; to: string }): string {
  return `issuer for profile ${e.profile} changed: ${e.from} → ${e.to}`;
}

export function registerLogin(program: Command, ctx: CliContext, run: RunFn): void {
  addClientOptions(program.command('login'))
    .description('sign in through the browser (authorization code + PKCE) and store the tokens')
    .argument('[resource_url]', 'an MCP server URL: discover its identity provider (RFC 9728) and ask for a token for it')
    .option('--issuer <url>', 'OpenID Connect issuer URL of your IdP (env SEED_MCP_ISSUER)')
    .option('--client-id <id>', 'OAuth client id registered for seed-mcp (env SEED_MCP_CLIENT_ID)')
    .option('--client-secret-file <path>', 'file holding the client secret, for a confidential client (env SEED_MCP_CLIENT_SECRET_FILE)')
    .option('--client-key-file <path>', `PEM private key (EC P-256 → ES256, RSA → RS256) for private_key_jwt client authentication (env SEED_MCP_CLIENT_KEY_FILE)`)
    .option(...AUTH_PARAM_OPTION)
    .option('--scope <scopes>', 'scopes to ask for (default "openid profile email offline_access"; env SEED_MCP_SCOPES)')
    .option('--resource <url>', 'RFC 8707 resource (audience) to ask a token for (env SEED_MCP_RESOURCE)')
    .option('--no-resource', 'never send the resource parameter (Entra ID rejects it: AADSTS9010010)')
    .option('--port <port>', 'loopback port for the redirect (default: a free one)')
    .option('--no-browser', 'do not open a browser; print the URL to open')
    .option('--browser-command <cmd>', 'command that opens the URL (default: $BROWSER, else the system browser)')
    .option('--device', 'use the device flow (RFC 8628), for SSH sessions and machines without a browser')
    .addOption(new Option('--redirect-host <host>', 'host name in the redirect URI, for IdPs that registered localhost').choices(['127.0.0.1', 'localhost']))
    .option('--timeout <seconds>', 'give up waiting for the browser (or the device approval) after this many seconds', '300')
    .option('--assume-pkce', 'use an IdP that supports PKCE S256 without advertising it (Entra ID)')
    .option('--prompt <value>', 'OIDC prompt to send (default: consent when asking for offline_access; "default" sends none)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ seed-mcp login --issuer https://acme.okta.com/oauth2/default --client-id 0oa1b2c3
  $ seed-mcp login https://mcp.example.com/mcp --client-id seed-cli
  $ seed-mcp login --device --profile work          # over SSH
  $ seed-mcp login --profile demo                    # again, at the server the profile holds
  $ seed-mcp login --issuer https://login.microsoftonline.com/TENANT/v2.0 --client-id ID --no-resource --assume-pkce`,
    )
    .action(async (resourceUrl: string | undefined, opts: LoginOpts, cmd: Command) => {
      await run(opts.json, async () => {
        const timeoutSec = /^\s*\d+(\.\d+)?\s*$/.test(opts.timeout) ? Number(opts.timeout) : NaN;
        if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
          const { SeedError } = await import('../../shared/errors.js');
          throw new SeedError('USAGE', `could not use --timeout ${opts.timeout}: it must be a positive number of seconds`, {
            hint: 'pass the seconds to wait for the sign-in, e.g. --timeout 600 (default 300)',
          });
        }
        const settings = await loadSettings(ctx, { ...opts, profile: profileOf(cmd) }, resourceUrl);
        const store = await loadStore(ctx, settings);
        const [{ login }, { createBrowser }] = await Promise.all([import('../../local/login.js'), import('../../local/browser.js')]);
        const browser = createBrowser({ command: settings.browserCommand, logger: ctx.logger });
        const input = { settings, resourceUrl, openBrowser: opts.browser, device: Boolean(opts.device), timeoutMs: timeoutSec * 1000 };

        if (interactive(ctx, opts.json)) {
          const { renderLogin } = await import('../ui/login-view.js');
          const view = await renderLogin(ctx.stderr);
          try {
            const result = await login(input, { store, browser, logger: ctx.logger, onProgress: view.update, signal: ctx.signal });
            await view.done(loginSummary(result));
            return 0;
          } catch (err) {
            await view.close();
            throw err;
          }
        }

        const onProgress = (e: LoginProgress) => {
          if (e.type === 'authorize') {
            ctx.stderr.write(
              e.browserOpened
                ? `Opened the browser to sign in. If it did not open, visit:\n  ${e.url}\nWaiting for the sign-in to finish (Ctrl-C to cancel)…\n`
                : `Open this URL in a browser to sign in:\n  ${e.url}\nWaiting for the sign-in to finish (Ctrl-C to cancel)…\n`,
            );
          } else if (e.type === 'issuer-changed') {
            ctx.stderr.write(`${issuerChangedLine(e)}\n`);
          } else if (e.type === 'device') {
            ctx.stderr.write(
              `To sign in, open ${e.verificationUri} and enter the code ${e.userCode}\n${e.verificationUriComplete ? `  (or open ${e.verificationUriComplete})\n` : ''}Waiting for approval (code valid ${Math.round(e.expiresIn / 60)} min; Ctrl-C to cancel)…\n`,
            );
          }
        };
        const result = await login(input, { store, browser, logger: ctx.logger, onProgress, signal: ctx.signal });
        if (opts.json) writeJson(ctx, (await import('../../local/status.js')).loginReport(result));
        else ctx.stdout.write(loginSummary(result) + '\n');
        return 0;
      });
    });
}
