/**
 * The `authorization_code` grant (RFC 6749 §4.1.3, PKCE RFC 7636 §4.6): redeems a one-time code of
 * the proxy for the proxy's own tokens. A code that comes back after it was redeemed ends the grant
 * it started (RFC 6749 §4.1.2): someone else has it.
 */
import { sha256Base64url } from '../../../shared/crypto.js';
import { CloudError } from '../../errors.js';
import { STORE_KEYS } from '../../store/keys.js';
import type { OAuthClient } from '../clients.js';
import type { IdpTokens, IdpUser } from '../idp.js';
import { param, required } from '../params.js';
import { codeKey, unseal } from '../seal.js';
import { CODE_TTL_MS, PKCE, type CodeGrant } from '../state.js';
import { checkResource, endGrant, grantedScope, issueTokens, newGrantId, type GrantDeps, type TokenResponse } from './tokens.js';

/** How long a redeemed code is remembered, so that its replay ends what it started. */
const REDEEMED_TTL_MS = 24 * 3_600_000;

/**
 * Who signed in: the ID token's subject, else the IdP's access token verified as any token of an
 * allowed issuer is.
 */
async function userOf(deps: GrantDeps, tokens: IdpTokens): Promise<IdpUser> {
  if (tokens.user) return tokens.user;
  const verified = await deps.validator?.verify(tokens.access_token).catch(() => undefined);
  if (!verified) throw new CloudError('OAUTH_INVALID_GRANT', 'the identity provider did not say who signed in (no ID token, and its access token is not one this server can read)');
  const { caller } = verified;
  return {
    issuer: caller.issuer,
    subject: caller.subject,
    ...(caller.email ? { email: caller.email } : {}),
    ...(caller.name ? { name: caller.name } : {}),
    ...(caller.groups ? { groups: caller.groups } : {}),
  };
}

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
  if (!grant) {
    const replayed = await deps.store.take<string>(STORE_KEYS.redeemedCode(sha256Base64url(code)));
    if (replayed) {
      await endGrant(deps, replayed);
      deps.logger.warn('a redeemed code came back: the tokens it gave are revoked', { event: 'oauth_code_replayed', client_id: client.client_id });
    }
    throw new CloudError('OAUTH_INVALID_GRANT', 'the code is unknown, expired or already used');
  }
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
  const grantId = newGrantId();
  const answer = await issueTokens(deps, {
    grantId,
    clientId: client.client_id,
    user: await userOf(deps, grant.tokens),
    scope: grantedScope(grant.scope, grant.tokens.scope),
    // The audience this server accepts, whichever of its names the client asked for.
    resource: deps.acceptedResources[0]!,
    // Only clients that registered the refresh_token grant get a refresh token.
    ...(grant.tokens.refresh_token && client.grant_types.includes('refresh_token') ? { idpRefreshToken: grant.tokens.refresh_token } : {}),
  });
  await deps.store.set(STORE_KEYS.redeemedCode(sha256Base64url(code)), grantId, Math.max(REDEEMED_TTL_MS, CODE_TTL_MS));
  deps.logger.info('oauth tokens issued', { event: 'oauth_token', grant_type: 'authorization_code', client_id: client.client_id });
  return answer;
}
