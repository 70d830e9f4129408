/**
 * The `refresh_token` grant (RFC 6749 §6): passed through to the IdP, for the client the refresh
 * token was issued to only, following the IdP's rotation.
 */
import { CloudError } from '../../errors.js';
import type { OAuthClient } from '../clients.js';
import { IdpError, type IdpTokens } from '../idp.js';
import { param, required } from '../params.js';
import { bindRefreshToken, checkResource, refreshTokenKey, tokenResponse, type GrantDeps, type TokenResponse } from './tokens.js';

/**
 * Fresh tokens from the IdP for the refresh token in `params`. `OAUTH_UNAUTHORIZED_CLIENT` when
 * the client did not register the grant, `OAUTH_INVALID_GRANT` when the token is not bound to it
 * or the IdP refuses it; any other IdP failure is thrown as the IdP's error.
 *
 * @param client - the client, already authenticated
 */
export async function refreshTokenGrant(params: URLSearchParams, client: OAuthClient, deps: GrantDeps): Promise<TokenResponse> {
  if (!client.grant_types.includes('refresh_token')) throw new CloudError('OAUTH_UNAUTHORIZED_CLIENT', 'the client did not register the refresh_token grant');
  const refreshToken = required(params, 'refresh_token');
  checkResource(param(params, 'resource'), deps.acceptedResources);
  const key = refreshTokenKey(refreshToken);
  const bound = await deps.store.get<string>(key);
  if (bound !== client.client_id) throw new CloudError('OAUTH_INVALID_GRANT', 'the refresh token is unknown here or was issued to another client');
  const scope = param(params, 'scope');
  let tokens: IdpTokens;
  try {
    tokens = await deps.idp.refresh(refreshToken, { ...(scope ? { scope } : {}), ...(deps.idpResource ? { resource: deps.idpResource } : {}) });
  } catch (err) {
    if (err instanceof IdpError && err.oauthError === 'invalid_grant') {
      // Dead at the IdP: forget the binding too, so the next attempt is refused here.
      await deps.store.delete(key);
      throw new CloudError('OAUTH_INVALID_GRANT', 'the identity provider refused the refresh token: sign in again', { cause: err });
    }
    throw err;
  }
  if (tokens.refresh_token && tokens.refresh_token !== refreshToken) {
    // Rotated: the old token is no longer honoured here either.
    await deps.store.delete(key);
    await bindRefreshToken(deps, tokens, client.client_id);
  }
  deps.logger.info('oauth tokens refreshed', { event: 'oauth_token', grant_type: 'refresh_token', client_id: client.client_id });
  return tokenResponse(tokens);
}
