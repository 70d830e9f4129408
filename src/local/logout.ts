import * as client from 'openid-client';
import type { Logger } from '../shared/logger.js';
import { configForStoredClient } from './oidc/stored-client.js';
import { mapOAuthError } from './oidc/map-error.js';
import type { LocalSettings } from './settings.js';
import type { StoredTokens, TokenStore } from './token-store/types.js';
import { CorruptTokensError } from './token-store/validate.js';

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
  let tokens: StoredTokens | undefined;
  try {
    tokens = await deps.store.get(profile);
  } catch (err) {
    // An unreadable set (empty, partial, not JSON): every reader's hint says to log out, so this
    // must work. Nothing in it can be revoked; delete it.
    if (!(err instanceof CorruptTokensError)) throw err;
    await deps.store.delete(profile);
    return { profile, wasSignedIn: true, revoked: false, revokeNote: `${err.message}; it was deleted locally without revocation` };
  }
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
