import { authErrorOf } from './errors.js';

/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

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
  const value = typeof header === 'string' ? header.trim() : '';
  if (!value) throw authErrorOf('MISSING_AUTHORIZATION', 'the request has no Authorization header');
  const space = value.search(/\s/);
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    throw authErrorOf('MISSING_AUTHORIZATION', 'the Authorization header does not use the Bearer scheme');
  }
  const token = space === -1 ? '' : value.slice(space).trim();
  if (!token) throw authErrorOf('INVALID_TOKEN', 'the Bearer credentials are empty');
  if (!B64TOKEN.test(token)) throw authErrorOf('INVALID_TOKEN', 'the Bearer credentials are not a token');
  return token;
}
