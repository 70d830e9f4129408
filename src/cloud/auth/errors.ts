/**
 * The errors of bearer-token validation: {@link CloudError}s with the product contract's codes
 * (README, "In a container: `seed-mcp cloud`", Failures). Their status, challenge and `Action:`
 * hint come from the one table in `../errors.ts`.
 */
import { CloudError, type CloudErrorExtra } from '../errors.js';

export { safeDescription } from '../errors.js';

/** Codes a resource server answers a token or a tool call with. */
export type AuthErrorCode =
  | 'MISSING_AUTHORIZATION'
  | 'INVALID_TOKEN'
  | 'INVALID_SIGNATURE'
  | 'TOKEN_EXPIRED'
  | 'INVALID_AUDIENCE'
  | 'INVALID_ISSUER'
  | 'TOKEN_REVOKED'
  | 'INSUFFICIENT_SCOPE'
  | 'ACCESS_DENIED';

/** Optional parts of an {@link AuthError}. */
export type AuthErrorExtra = Omit<CloudErrorExtra, 'retryAfterSec'>;

/**
 * A failed authentication (401) or authorization (403). `description` never holds the token or
 * any claim value taken from it, and is safe to put in `WWW-Authenticate` as is.
 *
 * @example
 * ```ts
 * throw authErrorOf('INSUFFICIENT_SCOPE', 'this tool needs checklist.read', { scope: ['checklist.read'] });
 * ```
 */
export class AuthError extends CloudError<AuthErrorCode> {
  override readonly name = 'AuthError';
  declare readonly status: 401 | 403;
}

/** Builds an {@link AuthError}; the status and the default action follow from `code`. */
export function authErrorOf(code: AuthErrorCode, description: string, extra?: AuthErrorExtra): AuthError {
  return new AuthError(code, description, extra);
}

export function isAuthError(err: unknown): err is AuthError {
  return err instanceof AuthError;
}

/**
 * The signing keys of an allowed issuer could not be had (never fetched successfully, IdP down).
 * Not an {@link AuthError}: the token may be fine, so the answer is 503 and the client must not be
 * sent to sign in again.
 */
export class JwksUnavailableError extends CloudError<'JWKS_UNAVAILABLE'> {
  override readonly name = 'JwksUnavailableError';
  readonly issuer: string;

  constructor(issuer: string, why: string, options?: { cause?: unknown }) {
    super('JWKS_UNAVAILABLE', 'the signing keys of the token issuer cannot be fetched', options);
    // For the operator's log; the description above is what the caller sees.
    this.message = `could not get the signing keys of ${issuer}: ${why}`;
    this.issuer = issuer;
  }
}

/**
 * An allowed issuer's token introspection endpoint (RFC 7662) could not answer: down, too slow, or
 * refusing this server's client credentials. As with {@link JwksUnavailableError} the token may be
 * fine, so the answer is 503, not 401.
 */
export class IntrospectionUnavailableError extends CloudError<'INTROSPECTION_UNAVAILABLE'> {
  override readonly name = 'IntrospectionUnavailableError';
  readonly issuer: string;

  constructor(issuer: string, why: string, options?: { cause?: unknown }) {
    super('INTROSPECTION_UNAVAILABLE', 'the token introspection endpoint of the token issuer cannot be reached', options);
    // For the operator's log; the description above is what the caller sees.
    this.message = `could not introspect a token at ${issuer}: ${why}`;
    this.issuer = issuer;
  }
}
