/**
 * What both grants share: their dependencies, the token response they hand out, the binding of a
 * refresh token to the client it was issued to, and the check of a requested resource.
 */
import { sha256Base64url } from '../../../shared/crypto.js';
import { CloudError } from '../../errors.js';
import { STORE_KEYS } from '../../store/keys.js';
import type { IdpTokens } from '../idp.js';
import type { EndpointDeps } from '../options.js';

/** What a grant function needs; `dcr.ttlSec` is how long a refresh token stays bound to its client. */
export type GrantDeps = Pick<EndpointDeps, 'store' | 'idp' | 'logger' | 'acceptedResources' | 'idpResource' | 'dcr'>;

/** A successful token response (RFC 6749 §5.1): the IdP's tokens, without its ID token. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
}

/** The answer for `tokens`: the IdP's ID token stays here, it is about the proxy's client, not the MCP client. */
export function tokenResponse(tokens: IdpTokens): TokenResponse {
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    ...(tokens.expires_in !== undefined ? { expires_in: tokens.expires_in } : {}),
    ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
    ...(tokens.scope ? { scope: tokens.scope } : {}),
  };
}

/** The store key of the client a refresh token was issued to, by the token's hash (the store never holds the token). */
export const refreshTokenKey = (refreshToken: string): string => STORE_KEYS.refreshToken(sha256Base64url(refreshToken));

/**
 * Remembers that the refresh token of `tokens`, if any, belongs to `clientId`: the IdP sees one
 * client (the proxy), so only this binding stops one MCP client from using another's token.
 */
export async function bindRefreshToken(deps: Pick<GrantDeps, 'store' | 'dcr'>, tokens: IdpTokens, clientId: string): Promise<void> {
  if (tokens.refresh_token) await deps.store.set(refreshTokenKey(tokens.refresh_token), clientId, deps.dcr.ttlSec * 1000);
}

/** `OAUTH_INVALID_TARGET` unless `resource` is absent or this server's (RFC 8707 §2). */
export function checkResource(resource: string | undefined, acceptedResources: readonly string[]): void {
  if (resource !== undefined && !acceptedResources.includes(resource)) {
    throw new CloudError('OAUTH_INVALID_TARGET', 'the resource is not this server (RFC 8707)');
  }
}
