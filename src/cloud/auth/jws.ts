/**
 * Signature checks of compact JWS access tokens with `node:crypto`, against keys imported once
 * per JWKS fetch.
 *
 * Why not jose here: jose v6 verifies through WebCrypto (`crypto.subtle`), whose promise and key
 * wrapping cost about 190 µs per RS256 token on the project's machines, where `crypto.verify` on a
 * `KeyObject` costs about 30 µs. The cloud server verifies every new token on its hot path, so
 * this file does the one operation jose would do (the signature) and nothing more: the header and
 * claims checks live in the validator, key material comes from Node's own JWK import. jose remains
 * the reference the tests compare against (every algorithm, both ways).
 */
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';

/** How each accepted algorithm is checked. */
interface AlgorithmSpec {
  kty: 'RSA' | 'EC' | 'OKP';
  /** Digest for `crypto.verify`; null for EdDSA (the curve fixes it). */
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** RSASSA-PSS with a salt as long as the digest (RFC 7518 §3.5). */
  pss?: true;
  /** Curves the key must be on (JWK `crv`). */
  curves?: readonly string[];
  /** Exact signature length in bytes (ECDSA: r ‖ s, RFC 7518 §3.4). */
  signatureBytes?: number;
}

const SPECS: Readonly<Record<string, AlgorithmSpec>> = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', hash: 'sha256', curves: ['P-256'], signatureBytes: 64 },
  ES384: { kty: 'EC', hash: 'sha384', curves: ['P-384'], signatureBytes: 96 },
  ES512: { kty: 'EC', hash: 'sha512', curves: ['P-521'], signatureBytes: 132 },
  EdDSA: { kty: 'OKP', hash: null, curves: ['Ed25519', 'Ed448'] },
  Ed25519: { kty: 'OKP', hash: null, curves: ['Ed25519'] },
};

/** The algorithms {@link verifySignature} knows: asymmetric only. */
export const SIGNATURE_ALGORITHMS: readonly string[] = Object.keys(SPECS);

/** RSA keys shorter than this are refused (RFC 7518 §3.3; jose does the same). */
const MIN_RSA_BITS = 2048;

/** One public key of an issuer's JWKS, imported and ready to verify with. */
export interface VerificationKey {
  kid?: string;
  kty: string;
  /** The JWK's own `alg`, when it names one: the key then verifies that algorithm only. */
  alg?: string;
  crv?: string;
  key: KeyObject;
}

/**
 * Imports the members of a JWKS that can verify signatures: public RSA (≥ 2048 bits), EC and OKP
 * keys, not marked for encryption (`use: enc`) or for other operations (`key_ops` without
 * `verify`). A member that Node cannot import is left out, as jose's key selection would never
 * pick it either; the others still work.
 */
export function importVerificationKeys(jwks: readonly Record<string, unknown>[]): VerificationKey[] {
  const keys: VerificationKey[] = [];
  for (const jwk of jwks) {
    const { kty, kid, alg, crv, use } = jwk;
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') continue;
    if ('d' in jwk) continue; // a private key published by accident is no key to trust
    if (use !== undefined && use !== 'sig') continue;
    const ops = jwk.key_ops;
    if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch {
      continue;
    }
    if (kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) continue;
    keys.push({
      ...(typeof kid === 'string' ? { kid } : {}),
      kty,
      ...(typeof alg === 'string' ? { alg } : {}),
      ...(typeof crv === 'string' ? { crv } : {}),
      key,
    });
  }
  return keys;
}

/**
 * The keys of `keys` that may have signed a token with this `alg` and `kid`, as jose's local key
 * set selects them: same kid when the token names one, the algorithm's key type and curve, and
 * the key's own `alg` when it has one.
 */
export function candidateKeys(keys: readonly VerificationKey[], alg: string, kid: unknown): VerificationKey[] {
  const spec = SPECS[alg];
  if (!spec) return [];
  return keys.filter(
    (k) =>
      (kid === undefined || k.kid === kid) &&
      k.kty === spec.kty &&
      (k.alg === undefined || k.alg === alg) &&
      (spec.curves === undefined || (k.crv !== undefined && spec.curves.includes(k.crv))),
  );
}

/**
 * Whether `signature` over `signingInput` (the token's `header.payload`, ASCII) verifies with
 * `key` under `alg`. False for a signature of the wrong shape; never throws for a bad token.
 */
export function verifySignature(alg: string, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const spec = SPECS[alg];
  if (!spec) return false;
  if (spec.signatureBytes !== undefined && signature.length !== spec.signatureBytes) return false;
  try {
    const data = Buffer.from(signingInput, 'latin1');
    if (spec.kty === 'EC') return verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    if (spec.pss) return verify(spec.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    return verify(spec.hash, data, key, signature);
  } catch {
    return false;
  }
}

/** A compact JWS taken apart, NOT verified. */
export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `header.payload` as it came: what the signature covers. */
  signingInput: string;
  signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Splits a compact JWS into its parts: three segments of canonical base64url (see
 * {@link isCanonicalBase64url}; the signature may be empty), a header and a payload that are JSON
 * objects. Undefined for anything else.
 *
 * Canonical only, because a token has one spelling: base64url leaves 2 or 4 bits of the last
 * character unused, and a decoder that ignores them (Node's, jose's) reads up to 16 spellings of
 * one signature as the same bytes. A server that accepted them would let a revoked token, or any
 * token identified by its text, come back under another name.
 */
export function decodeCompact(token: string): DecodedJws | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;
  const h = token.slice(0, first);
  const p = token.slice(first + 1, second);
  const s = token.slice(second + 1);
  // An empty signature is still a JWS to decode (`alg: none`), and is refused by its alg.
  if (!isCanonicalBase64url(h) || !isCanonicalBase64url(p) || (s !== '' && !isCanonicalBase64url(s))) return undefined;
  const header = parseObject(h);
  const payload = header && parseObject(p);
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: token.slice(0, second), signature: Buffer.from(s, 'base64url') };
}

/**
 * Whether `segment` is the one unpadded base64url spelling of the bytes it decodes to (RFC 7515
 * §2, RFC 4648 §3.5): not empty, nothing outside `[A-Za-z0-9_-]` (so no `=` padding), a length
 * that is not 1 more than a multiple of 4 (no byte ends there), and zero in the unused low bits of
 * the last character. That is exactly: re-encoding the decoded bytes gives `segment` back, checked
 * here without decoding.
 */
export function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  const rest = segment.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  // 2 characters carry 1 byte (4 bits unused), 3 characters 2 bytes (2 bits unused).
  const unused = rest === 2 ? 0b1111 : 0b11;
  return (sextet(segment.charCodeAt(segment.length - 1)) & unused) === 0;
}

/** The 6-bit value of a base64url character (already known to be one). */
function sextet(code: number): number {
  if (code >= 0x61) return code - 0x61 + 26; // a-z
  if (code >= 0x41) return code === 0x5f ? 63 : code - 0x41; // A-Z, _
  if (code >= 0x30) return code - 0x30 + 52; // 0-9
  return 62; // -
}

function parseObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
