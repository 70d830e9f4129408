/**
 * Sealing what a one-time code stands for: the IdP's tokens wait in the shared store for the MCP
 * client's token request under the code's hash ({@link codeKey}), encrypted with a key derived from
 * the code (HKDF-SHA256, AES-256-GCM). Whoever can read Redis sees neither the code nor the tokens:
 * only the client, which holds the code, can open them, and only once (the entry is taken).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { sha256Base64url } from '../../shared/crypto.js';
import { STORE_KEYS } from '../store/keys.js';

/** What a sealed value is for: a key derived for one purpose opens nothing sealed for another. */
export type SealPurpose = 'code' | 'refresh';

const keyOf = (secret: string, purpose: SealPurpose) => Buffer.from(hkdfSync('sha256', Buffer.from(secret), Buffer.alloc(0), Buffer.from(`seed-mcp oauth ${purpose} v1`), 32));

/** The store key of a code: by its sha256, so that the key does not give the code away. */
export const codeKey = (code: string): string => STORE_KEYS.code(sha256Base64url(code));

/** `value` as JSON, encrypted for `code`: base64url of iv ‖ tag ‖ ciphertext. */
export function seal(code: string, value: unknown, purpose: SealPurpose = 'code'): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(code, purpose), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** What {@link seal} sealed for `code`; undefined when `sealed` was not sealed for it. */
export function unseal<T>(code: string, sealed: string, purpose: SealPurpose = 'code'): T | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keyOf(code, purpose), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
