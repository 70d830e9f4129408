import { authErrorOf } from './errors.js';

/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * An `Authorization` header value split into its scheme (as sent) and what follows it (trimmed,
 * possibly empty, not checked); undefined when the header is absent or blank. The one reading of
 * the header that both the token check and `/metrics` use.
 *
 * @example
 * ```ts
 * authorizationParts('Bearer abc'); // { scheme: 'Bearer', credentials: 'abc' }
 * authorizationParts('  ');         // undefined
 * ```
 */
export function authorizationParts(header: string | undefined): { scheme: string; credentials: string } | undefined {
  const value = typeof header === 'string' ? header.trim() : '';
  if (!value) return undefined;
  const space = value.search(/\s/);
  if (space === -1) return { scheme: value, credentials: '' };
  return { scheme: value.slice(0, space), credentials: value.slice(space).trim() };
}

/** Whether `scheme` is `Bearer`, matched case-insensitively (RFC 9110 §11.1). */
const isBearer = (scheme: string): boolean => scheme.toLowerCase() === 'bearer';

/**
 * The credentials of `Bearer <credentials>` when they are one word (no whitespace), whatever
 * characters it holds; else undefined. For a secret compared as it is (`METRICS_TOKEN`); a token
 * to verify goes through {@link parseAuthorization}.
 */
export function bearerCredentials(header: string | undefined): string | undefined {
  const parts = authorizationParts(header);
  return parts && isBearer(parts.scheme) && /^\S+$/.test(parts.credentials) ? parts.credentials : undefined;
}

/**
 * The bearer token of an `Authorization` header value.
 *
 * - absent or blank, or another scheme (`Basic …`): MISSING_AUTHORIZATION; RFC 6750 §3.1 treats a
 *   request without bearer credentials as one without authentication (no `error` in the
 *   challenge);
 * - `Bearer` with nothing after it, or with something that is not a `b64token`: INVALID_TOKEN.
 *
 * The scheme is matched case-insensitively (RFC 9110 §11.1).
 *
 * @example
 * ```ts
 * const token = parseAuthorization(req.headers.authorization);
 * ```
 */
export function parseAuthorization(header: string | undefined): string {
  const parts = authorizationParts(header);
  if (!parts) throw authErrorOf('MISSING_AUTHORIZATION', 'the request has no Authorization header');
  if (!isBearer(parts.scheme)) throw authErrorOf('MISSING_AUTHORIZATION', 'the Authorization header does not use the Bearer scheme');
  const token = parts.credentials;
  if (!token) throw authErrorOf('INVALID_TOKEN', 'the Bearer credentials are empty');
  if (!B64TOKEN.test(token)) throw authErrorOf('INVALID_TOKEN', 'the Bearer credentials are not a token');
  return token;
}
