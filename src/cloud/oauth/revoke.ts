/**
 * `POST /oauth/revoke` (RFC 7009), for the proxy's own tokens and for the client they were issued
 * to only (§2.1: another client's token is left alone, and the answer is still 200):
 * - an access token goes on the shared revocation list until it expires;
 * - a refresh token ends its grant: the refresh token is forgotten, the grant's current access
 *   token is revoked, and the IdP's refresh token behind it is revoked at the IdP (logout).
 */
import { CloudError } from '../errors.js';
import { sendOAuthJson } from './answers.js';
import { authenticateClient } from './client-auth.js';
import type { OAuthClient } from './clients.js';
import { endGrant, readGrant, takeGrant, type GrantRecord } from './grants/tokens.js';
import type { EndpointDeps } from './options.js';
import { param, readForm, required } from './params.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

/** What the revocation endpoint needs; without `validator` and `revocations` only refresh tokens are revoked. */
export type RevokeDeps = Pick<EndpointDeps, 'baseUrl' | 'store' | 'clients' | 'idp' | 'validator' | 'revocations' | 'logger' | 'tokenTtl'>;

/** The revocation endpoint's handler. */
export function createRevokeEndpoint(deps: RevokeDeps): EndpointHandler {
  const { clients, idp, logger } = deps;

  /** Revokes `token` if it is an access token the proxy issued to `client`; false if it is no access token of the proxy. */
  async function revokeAccessToken(token: string, client: OAuthClient): Promise<boolean> {
    if (!deps.validator || !deps.revocations || token.split('.').length !== 3) return false;
    const verified = await deps.validator.verify(token).catch(() => undefined);
    if (!verified || verified.issuer !== deps.baseUrl) return false;
    if (verified.clientId !== client.client_id) {
      logger.warn("a client tried to revoke another client's access token", { event: 'oauth_revoke_refused', client_id: client.client_id });
      return true;
    }
    await deps.revocations.revoke(verified.tokenId, verified.expiresAt ?? Math.floor(Date.now() / 1000) + deps.tokenTtl.accessSec);
    logger.info('access token revoked', { event: 'oauth_revoke', kind: 'access_token', client_id: client.client_id, subject: verified.subject });
    return true;
  }

  /** Ends the grant of `token` if it is a refresh token of `client`; nothing when it is not one. */
  async function revokeRefreshToken(token: string, client: OAuthClient): Promise<void> {
    // Read first: another client's token is left exactly as it was (not taken and put back).
    const owned = await readGrant(deps, token);
    if (!owned) return;
    if (owned.clientId !== client.client_id) {
      logger.warn("a client tried to revoke another client's refresh token", { event: 'oauth_revoke_refused', client_id: client.client_id });
      return;
    }
    const record: GrantRecord | undefined = await takeGrant(deps, token);
    if (!record) return;
    await endGrant(deps, record.grantId);
    if (record.idpRefreshToken) {
      try {
        await idp.revoke(record.idpRefreshToken, 'refresh_token');
      } catch (err) {
        logger.warn(err instanceof Error ? err.message : String(err), { event: 'oauth_revoke_failed' });
        throw new CloudError('OAUTH_UPSTREAM_UNAVAILABLE', 'the identity provider did not confirm the end of the session; the tokens here are revoked', { cause: err });
      }
    }
    logger.info('refresh token revoked', { event: 'oauth_revoke', kind: 'refresh_token', client_id: client.client_id });
  }

  return answerUnavailable(logger, async (req, res) => {
    const params = await readForm(req);
    const client = await authenticateClient(clients, req.headers.authorization, params);
    const token = required(params, 'token');
    const hint = param(params, 'token_type_hint');
    // The hint only saves work (RFC 7009 §2.1): a token that is not an access token is tried as a refresh token.
    const wasAccessToken = hint !== 'refresh_token' && (await revokeAccessToken(token, client));
    if (!wasAccessToken) await revokeRefreshToken(token, client);
    sendOAuthJson(res, 200, {});
  });
}
