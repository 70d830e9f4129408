/**
 * The errors of bearer-token validation: one class with a stable `code` per failure of the
 * product contract's table (DESIGN.md, "Cloud-mode HTTP surface"), the HTTP status that goes
 * with it, a description fit for a `WWW-Authenticate` header and an `Action:` hint for the person.
 */

/** Codes a resource server answers with; the HTTP layer maps them, never the other way round. */
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

const STATUS: Record<AuthErrorCode, 401 | 403> = {
  MISSING_AUTHORIZATION: 401,
  INVALID_TOKEN: 401,
  INVALID_SIGNATURE: 401,
  TOKEN_EXPIRED: 401,
  INVALID_AUDIENCE: 401,
  INVALID_ISSUER: 401,
  TOKEN_REVOKED: 401,
  INSUFFICIENT_SCOPE: 403,
  ACCESS_DENIED: 403,
};

const SIGN_IN_AGAIN = 'sign in again to get a fresh token (seed-mcp login)';

const ACTIONS: Record<AuthErrorCode, string> = {
  MISSING_AUTHORIZATION: 'Action: sign in (seed-mcp login) and send the access token as "Authorization: Bearer <token>"',
  INVALID_TOKEN: `Action: ${SIGN_IN_AGAIN}`,
  INVALID_SIGNATURE: `Action: ${SIGN_IN_AGAIN}; if this persists, the token comes from an identity provider this server does not trust`,
  TOKEN_EXPIRED: 'Action: refresh the token or sign in again (seed-mcp login); check the clock of the machine that sent it',
  INVALID_AUDIENCE: "Action: get a token for this server's resource (seed-mcp login --resource <this server's URL>)",
  INVALID_ISSUER: 'Action: sign in with an identity provider this server trusts (its /.well-known/oauth-protected-resource lists them)',
  TOKEN_REVOKED: `Action: this token was revoked; ${SIGN_IN_AGAIN}`,
  INSUFFICIENT_SCOPE: 'Action: sign in again asking for the missing scopes (seed-mcp login --scope ...)',
  ACCESS_DENIED: 'Action: ask your administrator for access to this tool',
};

/** Longest description kept; the rest is cut (headers have limits, and so have readers). */
const MAX_DESCRIPTION = 200;

/**
 * Makes `text` safe inside a quoted `error_description="…"`: RFC 6750 allows %x20-21 / %x23-5B /
 * %x5D-7E, i.e. printable ASCII without `"` and `\`. Anything else becomes a space or `'`.
 */
export function safeDescription(text: string): string {
  const cleaned = text
    .replace(/["`]/g, "'")
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return cleaned.length > MAX_DESCRIPTION ? `${cleaned.slice(0, MAX_DESCRIPTION - 3)}...` : cleaned;
}

/** Optional parts of an {@link AuthError}. */
export interface AuthErrorExtra {
  /** Overrides the default `Action:` hint of the code. */
  action?: string;
  /** INSUFFICIENT_SCOPE: every scope the request needs (the challenge's `scope="…"`). */
  scope?: string | string[];
  cause?: unknown;
}

/**
 * A failed authentication (401) or authorization (403). `description` never holds the token or
 * any claim value taken from it, and is safe to put in `WWW-Authenticate` as is.
 *
 * @example
 * ```ts
 * throw authErrorOf('INSUFFICIENT_SCOPE', 'this tool needs checklist.read', { scope: ['checklist.read'] });
 * ```
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  readonly status: 401 | 403;
  readonly description: string;
  readonly action: string;
  readonly scope?: string;

  constructor(code: AuthErrorCode, description: string, extra: AuthErrorExtra = {}) {
    const safe = safeDescription(description);
    const doing = STATUS[code] === 403 ? 'authorize the request' : 'authenticate the request';
    super(`could not ${doing}: ${safe}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.status = STATUS[code];
    this.description = safe;
    this.action = extra.action ?? ACTIONS[code];
    if (extra.scope !== undefined) {
      const scopes = Array.isArray(extra.scope) ? extra.scope : extra.scope.split(/\s+/);
      this.scope = safeDescription(scopes.filter(Boolean).join(' '));
    }
  }
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
 * Not an {@link AuthError}: the token may be fine, so the HTTP layer answers 503, and the client
 * must not be sent to sign in again.
 */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
  readonly code = 'JWKS_UNAVAILABLE';
  readonly issuer: string;

  constructor(issuer: string, why: string, options?: { cause?: unknown }) {
    super(`could not get the signing keys of ${issuer}: ${why}`, options);
    this.issuer = issuer;
  }
}
