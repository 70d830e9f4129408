import * as client from 'openid-client';
import { SeedError } from '../shared/errors.js';
import { discoverIssuer } from './oidc/issuer.js';
import { mapOAuthError } from './oidc/map-error.js';
import { DEFAULT_SCOPES, type LocalSettings } from './settings.js';
import { REFRESH_MARGIN_SEC, type TokenSource, type TokenSourceDeps } from './token-source.js';
import type { StoredTokens } from './token-store/types.js';
import { secondsLeft, toStoredTokens } from './tokens.js';

/**
 * A service account's tokens (OAuth client credentials grant): minted with the client secret,
 * kept in memory, minted again before expiry or after a 401. No browser, no refresh token.
 */
export function createClientCredentialsSource(settings: LocalSettings, deps: Pick<TokenSourceDeps, 'now' | 'onRefresh'> = {}): TokenSource {
  const { issuer, clientId, clientSecret, profile } = settings;
  if (!issuer || !clientId || !clientSecret) {
    const missing = [!issuer && 'SEED_MCP_ISSUER', !clientId && 'SEED_MCP_CLIENT_ID', !clientSecret && 'SEED_MCP_CLIENT_SECRET(_FILE)'].filter(Boolean).join(', ');
    throw new SeedError('CONFIG_INVALID', `could not use the client credentials grant: ${missing} not set`, {
      hint: 'set the issuer, client id and secret of the service account in the server env (or pass --issuer, --client-id, --client-secret-file)',
    });
  }
  const nowSec = () => Math.floor((deps.now?.() ?? Date.now()) / 1000);
  let cached: StoredTokens | undefined;
  let inflight: Promise<StoredTokens> | undefined;
  let config: Promise<client.Configuration> | undefined;
  // The browser-login scopes mean nothing to a service account: send none unless configured.
  const scope = settings.scopes === DEFAULT_SCOPES ? undefined : settings.scopes;

  async function mint(type: 'proactive' | 'reactive'): Promise<StoredTokens> {
    const started = performance.now();
    try {
      config ??= discoverIssuer({ issuer: issuer!, clientId: clientId!, clientSecret, profile, assumePkce: true });
      const res = await client.clientCredentialsGrant(await config, {
        ...(scope ? { scope } : {}),
        ...(settings.resource ? { resource: settings.resource } : {}),
      });
      cached = toStoredTokens(res, { issuer: issuer!, clientId: clientId!, requestedScope: scope ?? '', resource: settings.resource, nowSec: nowSec() });
      cached.subject ??= clientId;
      deps.onRefresh?.({ type, result: 'success', seconds: (performance.now() - started) / 1000 });
      return cached;
    } catch (err) {
      config = undefined;
      deps.onRefresh?.({ type, result: 'failure', seconds: (performance.now() - started) / 1000 });
      throw mapOAuthError(err, { doing: 'get a service token (client credentials)', issuer, clientId, profile });
    }
  }

  return {
    async get(options = {}) {
      const fresh = cached && secondsLeft(cached, nowSec()) > REFRESH_MARGIN_SEC && cached.accessToken !== options.rejected;
      if (fresh) return cached!;
      inflight ??= mint(options.rejected ? 'reactive' : 'proactive').finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
