/**
 * `POST /oauth/revoke` (RFC 7009): an access token of this server's issuers goes onto the shared
 * revocation list until it expires; a refresh token is forgotten here and revoked at the IdP.
 */
import { CloudError } from '../errors.js';
import { sendOAuthJson } from './answers.js';
import { authenticateClient } from './client-auth.js';
import type { OAuthClient } from './clients.js';
import { refreshTokenKey } from './grants/tokens.js';
import type { EndpointDeps } from './options.js';
import { param, readForm, required } from './params.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

/** What the revocation endpoint needs; without `validator` and `revocations` only refresh tokens are revoked. */
export type RevokeDeps = Pick<EndpointDeps, 'store' | 'clients' | 'idp' | 'validator' | 'revocations' | 'logger'>;

/** The revocation endpoint's handler. */
export function createRevokeEndpoint(deps: RevokeDeps): EndpointHandler {
  const { store, clients, idp, logger } = deps;

  /** Puts `token` on the revocation list if it is a valid access token of this server's issuers; false if not one. */
  async function revokeAccessToken(token: string, client: OAuthClient): Promise<boolean> {
    if (!deps.validator || !deps.revocations || token.split('.').length !== 3) return false;
    const verified = await deps.validator.verify(token).catch(() => undefined);
    if (!verified) return false;
    await deps.revocations.revoke(verified.tokenId, verified.expiresAt ?? Math.floor(Date.now() / 1000) + 3600);
    logger.info('access token revoked', { event: 'oauth_revoke', kind: 'access_token', client_id: client.client_id, subject: verified.subject });
    return true;
  }

  /** Forgets `token` as a refresh token of `client` and revokes it at the IdP; nothing when it is not one. */
  async function revokeRefreshToken(token: string, client: OAuthClient): Promise<void> {
    const key = refreshTokenKey(token);
    // RFC 7009 §2.1: a token of another client is not revoked, and the answer is still 200.
    if ((await store.get<string>(key)) !== client.client_id) return;
    await store.delete(key);
    try {
      await idp.revoke(token, 'refresh_token');
    } catch (err) {
      logger.warn(err instanceof Error ? err.message : String(err), { event: 'oauth_revoke_failed' });
      throw new CloudError('OAUTH_UPSTREAM_UNAVAILABLE', 'the identity provider did not confirm the revocation; retry', { cause: err });
    }
    logger.info('refresh token revoked', { event: 'oauth_revoke', kind: 'refresh_token', client_id: client.client_id });
  }

  return answerUnavailable(logger, async (req, res) => {
    const params = await readForm(req);
    const client = await authenticateClient(clients, req.headers.authorization, params);
    const token = required(params, 'token');
    const hint = param(params, 'token_type_hint');
    // The hint only saves work (RFC 7009 §2.1): a token that is not a valid access token is tried as a refresh token.
    const revokedAccessToken = hint !== 'refresh_token' && (await revokeAccessToken(token, client));
    if (!revokedAccessToken) await revokeRefreshToken(token, client);
    sendOAuthJson(res, 200, {});
  });
}
