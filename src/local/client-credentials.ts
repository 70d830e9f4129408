import * as client from 'openid-client';
import { SeedError } from '../shared/errors.js';
import { discoverFromResource } from './oidc/discover-resource.js';
import { discoverIssuer } from './oidc/issuer.js';
import { mapOAuthError } from './oidc/map-error.js';
import { DEFAULT_SCOPES, type LocalSettings } from './settings.js';
import { mintedTokenSource, type TokenSource, type TokenSourceDeps } from './token-source.js';
import type { StoredTokens } from './token-store/types.js';
import { toStoredTokens } from './tokens.js';

/**
 * A service account's tokens (OAuth client credentials grant): minted with the client secret or
 * private key (`private_key_jwt`), kept in memory, minted again before expiry or after a 401. No
 * browser, no refresh token. Without an issuer, the authorization server (and the resource) are
 * discovered from the upstream MCP server (RFC 9728).
 */
export function createClientCredentialsSource(settings: LocalSettings, deps: Pick<TokenSourceDeps, 'now' | 'onRefresh'> = {}): TokenSource {
  const { clientId, clientSecret, clientKey, profile } = settings;
  if ((!settings.issuer && !settings.upstream) || !clientId || (!clientSecret && !clientKey)) {
    const missing = [
      !settings.issuer && !settings.upstream && 'SEED_MCP_ISSUER (or SEED_MCP_UPSTREAM to discover it)',
      !clientId && 'SEED_MCP_CLIENT_ID',
      !clientSecret && !clientKey && 'SEED_MCP_CLIENT_SECRET(_FILE) or SEED_MCP_CLIENT_KEY_FILE',
    ]
      .filter(Boolean)
      .join(', ');
    throw new SeedError('CONFIG_INVALID', `could not use the client credentials grant: ${missing} not set`, {
      hint: 'set the issuer (or upstream), client id and secret or private key of the service account in the server env (or pass --issuer, --client-id, --client-secret-file or --client-key-file)',
    });
  }
  let issuer = settings.issuer;
  let resource = settings.resource;
  const nowSec = () => Math.floor((deps.now?.() ?? Date.now()) / 1000);
  let config: Promise<client.Configuration> | undefined;
  // The browser-login scopes mean nothing to a service account: send none unless configured.
  const scope = settings.scopes === DEFAULT_SCOPES ? undefined : settings.scopes;

  async function mint(type: 'proactive' | 'reactive'): Promise<StoredTokens> {
    const started = performance.now();
    try {
      if (!issuer) {
        const found = await discoverFromResource(settings.upstream!);
        issuer = found.authorizationServers[0]!;
        if (!settings.noResource) resource ??= found.resource;
      }
      config ??= discoverIssuer({ issuer, clientId: clientId!, clientSecret, clientKey, profile, assumePkce: true });
      const res = await client.clientCredentialsGrant(await config, {
        ...(scope ? { scope } : {}),
        ...(resource ? { resource } : {}),
      });
      const minted = toStoredTokens(res, { issuer, clientId: clientId!, requestedScope: scope ?? '', resource, nowSec: nowSec() });
      minted.subject ??= clientId;
      deps.onRefresh?.({ type, result: 'success', seconds: (performance.now() - started) / 1000 });
      return minted;
    } catch (err) {
      config = undefined;
      deps.onRefresh?.({ type, result: 'failure', seconds: (performance.now() - started) / 1000 });
      throw mapOAuthError(err, { doing: 'get a service token (client credentials)', issuer, clientId, profile });
    }
  }

  return mintedTokenSource(mint, nowSec);
}
