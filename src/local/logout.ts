import * as client from 'openid-client';
import type { Logger } from '../shared/logger.js';
import { configForStoredClient } from './oidc/stored-client.js';
import { mapOAuthError } from './oidc/map-error.js';
import type { LocalSettings } from './settings.js';
import type { TokenStore } from './token-store/types.js';

export interface LogoutResult {
  profile: string;
  /** false when there was nothing stored: logout is idempotent. */
  wasSignedIn: boolean;
  /** Whether the IdP confirmed revocation (RFC 7009); undefined when not attempted. */
  revoked?: boolean;
  /** Why revocation was skipped or failed, for the person. */
  revokeNote?: string;
}

/**
 * Revokes the refresh token (else the access token) at the IdP where it offers RFC 7009, then
 * deletes the local tokens. A revocation failure never keeps the tokens: it is reported.
 */
export async function logout(settings: LocalSettings, deps: { store: TokenStore; logger: Logger }): Promise<LogoutResult> {
  const profile = settings.profile;
  const tokens = await deps.store.get(profile);
  if (!tokens) {
    await deps.store.delete(profile);
    return { profile, wasSignedIn: false };
  }
  let revoked: boolean | undefined;
  let revokeNote: string | undefined;
  try {
    const config = await configForStoredClient(settings, tokens.issuer, tokens.clientId, 10_000);
    if (config.serverMetadata().revocation_endpoint) {
      const [token, hint] = tokens.refreshToken ? [tokens.refreshToken, 'refresh_token'] : [tokens.accessToken, 'access_token'];
      await client.tokenRevocation(config, token, { token_type_hint: hint });
      revoked = true;
    } else {
      revokeNote = 'the identity provider offers no revocation endpoint; tokens were deleted locally and expire on their own';
    }
  } catch (err) {
    revoked = false;
    const mapped = mapOAuthError(err, { doing: 'revoke the token', issuer: tokens.issuer, clientId: tokens.clientId, profile });
    revokeNote = `${mapped.message}; tokens were deleted locally`;
  }
  await deps.store.delete(profile);
  return { profile, wasSignedIn: true, revoked, revokeNote };
}
