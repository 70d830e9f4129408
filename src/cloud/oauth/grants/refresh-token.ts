/**
 * The `refresh_token` grant (RFC 6749 §6) with the proxy's own refresh tokens: one use each
 * (rotated), for the client it was issued to only. When the grant keeps the IdP's refresh token,
 * the user's session is checked at the IdP first: a user the IdP signed out, or disabled, gets no
 * new token here either.
 */
import { CloudError } from '../../errors.js';
import type { OAuthClient } from '../clients.js';
import { IdpError } from '../idp.js';
import { param, required } from '../params.js';
import { checkResource, endGrant, issueTokens, putBackGrant, takeGrant, type GrantDeps, type TokenResponse } from './tokens.js';

/**
 * Fresh tokens for the refresh token in `params`. `OAUTH_UNAUTHORIZED_CLIENT` when the client did
 * not register the grant, `OAUTH_INVALID_GRANT` when the token is unknown, used, or another
 * client's (then the grant ends: the token was stolen), or when the IdP ended the session.
 *
 * @param client - the client, already authenticated
 */
export async function refreshTokenGrant(params: URLSearchParams, client: OAuthClient, deps: GrantDeps): Promise<TokenResponse> {
  if (!client.grant_types.includes('refresh_token')) throw new CloudError('OAUTH_UNAUTHORIZED_CLIENT', 'the client did not register the refresh_token grant');
  const refreshToken = required(params, 'refresh_token');
  checkResource(param(params, 'resource'), deps.acceptedResources);
  const record = await takeGrant(deps, refreshToken);
  if (!record) throw new CloudError('OAUTH_INVALID_GRANT', 'the refresh token is unknown here, expired or already used');
  if (record.clientId !== client.client_id) {
    await endGrant(deps, record.grantId);
    deps.logger.warn('a refresh token was presented by another client: its grant is ended', { event: 'oauth_refresh_token_misused', client_id: client.client_id });
    throw new CloudError('OAUTH_INVALID_GRANT', 'the refresh token is unknown here or was issued to another client');
  }
  // Narrowing is allowed (RFC 6749 §6); widening is not.
  const asked = param(params, 'scope');
  const scope =
    asked === undefined
      ? record.scope
      : asked
          .split(' ')
          .filter((s) => s && record.scope.split(' ').includes(s))
          .join(' ');
  if (asked !== undefined && scope.split(' ').filter(Boolean).length !== asked.split(' ').filter(Boolean).length) {
    throw new CloudError('OAUTH_INVALID_GRANT', 'the refresh request asks for scopes beyond the original grant');
  }
  let idpRefreshToken = record.idpRefreshToken;
  if (idpRefreshToken) {
    try {
      const tokens = await deps.idp.refresh(idpRefreshToken, { ...(deps.idpResource ? { resource: deps.idpResource } : {}) });
      idpRefreshToken = tokens.refresh_token ?? idpRefreshToken;
    } catch (err) {
      if (err instanceof IdpError && err.oauthError === 'invalid_grant') {
        await endGrant(deps, record.grantId);
        throw new CloudError('OAUTH_INVALID_GRANT', 'the identity provider ended the session: sign in again', { cause: err });
      }
      // The IdP is unreachable: the client keeps its refresh token for the next try.
      await putBackGrant(deps, refreshToken, record);
      throw err;
    }
  }
  const answer = await issueTokens(deps, { ...record, scope, ...(idpRefreshToken ? { idpRefreshToken } : {}) });
  deps.logger.info('oauth tokens refreshed', { event: 'oauth_token', grant_type: 'refresh_token', client_id: client.client_id });
  return answer;
}
