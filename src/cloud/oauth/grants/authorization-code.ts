/**
 * The `authorization_code` grant (RFC 6749 §4.1.3, PKCE RFC 7636 §4.6): redeems a one-time code of
 * the proxy for the IdP's tokens that the callback sealed under it.
 */
import { CloudError } from '../../errors.js';
import type { OAuthClient } from '../clients.js';
import { param, required } from '../params.js';
import { codeKey, unseal } from '../seal.js';
import { PKCE, type CodeGrant } from '../state.js';
import { sha256Base64url } from '../../../shared/crypto.js';
import { bindRefreshToken, checkResource, tokenResponse, type GrantDeps, type TokenResponse } from './tokens.js';

/**
 * The tokens for the code in `params`, if it was issued to `client` for the same redirect URI and
 * the verifier matches its PKCE challenge; `OAUTH_INVALID_GRANT` (or `OAUTH_INVALID_TARGET`)
 * otherwise.
 *
 * @param client - the client, already authenticated
 */
export async function authorizationCodeGrant(params: URLSearchParams, client: OAuthClient, deps: GrantDeps): Promise<TokenResponse> {
  const code = required(params, 'code');
  // Taken before any check: a failed attempt uses the code up as well (one try, RFC 6749 §10.5).
  const sealed = await deps.store.take<string>(codeKey(code));
  const grant = sealed ? unseal<CodeGrant>(code, sealed) : undefined;
  if (!grant) throw new CloudError('OAUTH_INVALID_GRANT', 'the code is unknown, expired or already used');
  if (grant.clientId !== client.client_id) throw new CloudError('OAUTH_INVALID_GRANT', 'the code was issued to another client');
  if (param(params, 'redirect_uri') !== grant.redirectUri) throw new CloudError('OAUTH_INVALID_GRANT', 'redirect_uri does not match the authorization request');
  const verifier = required(params, 'code_verifier');
  if (!PKCE.test(verifier) || sha256Base64url(verifier) !== grant.codeChallenge) {
    throw new CloudError('OAUTH_INVALID_GRANT', 'the code_verifier does not match the code_challenge');
  }
  const resource = param(params, 'resource');
  checkResource(resource, deps.acceptedResources);
  if (resource !== undefined && grant.resource !== undefined && resource !== grant.resource) {
    throw new CloudError('OAUTH_INVALID_TARGET', 'the resource differs from the authorization request');
  }
  await bindRefreshToken(deps, grant.tokens, client.client_id);
  deps.logger.info('oauth tokens issued', { event: 'oauth_token', grant_type: 'authorization_code', client_id: client.client_id });
  return tokenResponse(grant.tokens);
}
