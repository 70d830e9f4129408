/**
 * The few hashing and comparison helpers both sides need, one implementation each.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of `value` (UTF-8), base64url without padding: store keys, PKCE challenges, secret hashes. */
export function sha256Base64url(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/**
 * Whether two secrets are equal, in time that depends on neither their content nor their length:
 * both are hashed to 32 bytes first, so a wrong guess learns nothing, not even the length.
 *
 * @example
 * ```ts
 * if (!constantTimeEqual(presented ?? '', expected)) return unauthorized();
 * ```
 */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a, 'utf8').digest(), createHash('sha256').update(b, 'utf8').digest());
}
