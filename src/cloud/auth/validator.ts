/**
 * The bearer-token validator of the cloud-mode resource server (multi-tenant): JWT access tokens
 * from any of the allowed issuers, verified with jose against each issuer's cached JWKS, with a
 * bounded cache of verified tokens in front.
 */
import { hash } from 'node:crypto';
import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from 'jose';
import { authErrorOf, type AuthError } from './errors.js';
import { JwksCache, UNKNOWN_KID_REFETCH_MS, type JwksStatus } from './jwks-cache.js';
import { mapJoseError } from './map-jose-error.js';
import { parseAuthorization } from './parse-authorization.js';
import { TokenCache } from './token-cache.js';
import { toVerifiedToken, type VerifiedToken } from './verified-token.js';

export { AuthError, authErrorOf, isAuthError, JwksUnavailableError, type AuthErrorCode, type AuthErrorExtra } from './errors.js';
export type { JwksStatus } from './jwks-cache.js';
export { parseAuthorization } from './parse-authorization.js';
export type { VerifiedToken } from './verified-token.js';

/**
 * The signature algorithms accepted: asymmetric only. `none` is refused as INVALID_TOKEN (an
 * unsigned token is no token), every other algorithm, HMAC above all, as INVALID_SIGNATURE.
 * `Ed25519` is the fully-specified name of `EdDSA` over Ed25519 (RFC 9864).
 */
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Longer than any access token an HTTP header can carry (Node's default limit is 16 KiB). */
const MAX_TOKEN_LENGTH = 32 * 1024;

export interface ValidatorOptions {
  /** Issuer URLs whose tokens are accepted, compared with `iss` exactly. */
  allowedIssuers: readonly string[];
  /** Accepted `aud` values; a token must name at least one of them. */
  audiences: readonly string[];
  /** How long an issuer's JWKS counts as fresh, in seconds (`JWKS_CACHE_TTL`). */
  jwksCacheTtlSec: number;
  /** Leeway for `exp` and `nbf`, in seconds; default 30. */
  clockToleranceSec?: number;
  /** Least time between two JWKS fetches caused by an unknown `kid`, per issuer; default 30 s. */
  unknownKidRefetchSec?: number;
  /** Timeout of each metadata or JWKS request; default 5000 ms. */
  fetchTimeoutMs?: number;
  /** Test seam; default the global fetch. */
  fetch?: typeof fetch;
  /** Test seam: the clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** Entries of the verified-token cache; default 10000; 0 turns it off. */
  cacheSize?: number;
  /** Asked on every verification, cached or not (a revocation list, e.g. by `jti`). */
  isRevoked?: (token: VerifiedToken) => Promise<boolean> | boolean;
  /** Each JWKS refresh of an issuer (discovery and key set together), for metrics. */
  onJwksFetch?: (issuer: string, result: 'success' | 'failure') => void;
  /** Each verified-token cache lookup, for metrics. */
  onCacheHit?: () => void;
  onCacheMiss?: () => void;
}

export interface TokenValidator {
  /**
   * Verifies a bearer token; resolves to what it says, rejects with an `AuthError` when it is
   * not acceptable (or a `JwksUnavailableError` when the issuer's keys cannot be had).
   */
  verify(token: string): Promise<VerifiedToken>;
  /** The token of an `Authorization` header value; see {@link parseAuthorization}. */
  parseAuthorization(header: string | undefined): string;
  /** The JWKS cache of every allowed issuer, for readiness. */
  jwksStatus(): JwksStatus[];
  /** Fetches the JWKS of every allowed issuer now (at start-up); never rejects. */
  warm(): Promise<void>;
  /** Aborts JWKS requests in flight and forgets every cached key and token. */
  close(): void;
}

interface CacheEntry {
  token: VerifiedToken;
  /** When the entry stops being valid: (`exp` + tolerance), in ms. */
  deadline: number;
  issuer: string;
  kid: string | undefined;
}

/**
 * Creates a validator. Rules, in order:
 *
 * 1. a token seen before and still cached costs a sha256 and a map lookup; `exp` and
 *    `isRevoked` are still honoured;
 * 2. the header and payload are decoded WITHOUT verification only to read `alg`, `typ` and `iss`:
 *    `alg` must be asymmetric, `typ` (where present) `at+jwt` or `JWT`, and `iss` one of
 *    `allowedIssuers`; so a JWKS is only ever fetched for an allowed issuer;
 * 3. jose verifies the signature against that issuer's cached JWKS (an unknown `kid` causes one
 *    rate-limited refetch), then `exp` (required), `nbf`, `iss` and `aud`.
 *
 * @example
 * ```ts
 * const validator = createTokenValidator({
 *   allowedIssuers: ['https://login.example.com'],
 *   audiences: ['https://mcp.example.com/mcp'],
 *   jwksCacheTtlSec: 3600,
 * });
 * const { caller } = await validator.verify(validator.parseAuthorization(req.headers.authorization));
 * ```
 */
export function createTokenValidator(options: ValidatorOptions): TokenValidator {
  const { allowedIssuers, audiences, isRevoked, onCacheHit, onCacheMiss } = options;
  if (allowedIssuers.length === 0) throw new TypeError('createTokenValidator: allowedIssuers must not be empty');
  if (audiences.length === 0) throw new TypeError('createTokenValidator: audiences must not be empty');
  for (const issuer of allowedIssuers) {
    if (!URL.canParse(issuer)) throw new TypeError(`createTokenValidator: ${issuer} is not an issuer URL`);
  }
  if (!(options.jwksCacheTtlSec > 0)) throw new TypeError('createTokenValidator: jwksCacheTtlSec must be positive');

  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSec ?? 30;
  const cache = new TokenCache<CacheEntry>(options.cacheSize ?? 10_000);
  const closing = new AbortController();
  let closed = false;

  const jwks = new Map<string, JwksCache>();
  for (const issuer of new Set(allowedIssuers)) {
    jwks.set(
      issuer,
      new JwksCache({
        issuer,
        ttlMs: options.jwksCacheTtlSec * 1000,
        unknownKidRefetchMs: options.unknownKidRefetchSec !== undefined ? options.unknownKidRefetchSec * 1000 : UNKNOWN_KID_REFETCH_MS,
        fetch: options.fetch ?? globalThis.fetch,
        now,
        ...(options.fetchTimeoutMs !== undefined ? { timeoutMs: options.fetchTimeoutMs } : {}),
        signal: closing.signal,
        onFetch: (result) => options.onJwksFetch?.(issuer, result),
        // A withdrawn key takes its tokens with it, cached or not.
        onKeysRemoved: ({ kids, any }) =>
          cache.deleteWhere((entry) => entry.issuer === issuer && (entry.kid === undefined ? any : kids.has(entry.kid))),
      }),
    );
  }

  const audience = [...audiences];
  const algorithms = [...ALLOWED_ALGORITHMS];
  const verifyOptions = (issuer: string): JWTVerifyOptions => ({
    issuer,
    audience,
    algorithms,
    clockTolerance: tolerance,
    currentDate: new Date(now()),
    requiredClaims: ['exp'],
  });

  async function revoked(token: VerifiedToken): Promise<boolean> {
    if (!isRevoked) return false;
    const answer = isRevoked(token);
    return answer === true || (answer !== false && (await answer) === true);
  }

  async function verifyUncached(token: string): Promise<CacheEntry> {
    const { header, payload } = decodeUnverified(token);
    checkAlgorithm(header.alg);
    checkType(header.typ);
    const issuer = payload.iss;
    const keys = typeof issuer === 'string' ? jwks.get(issuer) : undefined;
    if (!keys || issuer === undefined) throw authErrorOf('INVALID_ISSUER', 'the token issuer is not one this server trusts');

    let claims: JWTPayload;
    try {
      claims = await verifyWithKeys(token, await keys.keys(), verifyOptions(issuer));
    } catch (err) {
      // A kid the cached set lacks: the IdP may have rotated its keys. Refetch (rate-limited) once.
      if (!(err instanceof errors.JWKSNoMatchingKey) || !(await keys.refetchForUnknownKey())) throw toAuthError(err);
      try {
        claims = await verifyWithKeys(token, await keys.keys(), verifyOptions(issuer));
      } catch (again) {
        throw toAuthError(again);
      }
    }
    const verified = toVerifiedToken(claims as Record<string, unknown>);
    return {
      token: verified,
      deadline: ((verified.expiresAt ?? 0) + tolerance) * 1000,
      issuer,
      kid: typeof header.kid === 'string' ? header.kid : undefined,
    };
  }

  return {
    async verify(token) {
      if (closed) throw new Error('could not verify the token: the validator is closed');
      if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw authErrorOf('INVALID_TOKEN', 'the token is empty or too long');
      }
      // The cache never holds the token itself, only its digest.
      const key = hash('sha256', token, 'base64');
      const hit = cache.get(key);
      if (hit !== undefined) {
        onCacheHit?.();
        if (now() >= hit.deadline) {
          cache.delete(key);
          throw authErrorOf('TOKEN_EXPIRED', 'the token has expired');
        }
        if (isRevoked && (await revoked(hit.token))) {
          cache.delete(key);
          throw authErrorOf('TOKEN_REVOKED', 'the token has been revoked');
        }
        return hit.token;
      }
      onCacheMiss?.();
      const entry = await verifyUncached(token);
      if (isRevoked && (await revoked(entry.token))) throw authErrorOf('TOKEN_REVOKED', 'the token has been revoked');
      if (!closed) cache.set(key, entry);
      return entry.token;
    },
    parseAuthorization,
    jwksStatus() {
      return [...jwks.values()].map((issuerKeys) => issuerKeys.status());
    },
    async warm() {
      await Promise.all([...jwks.values()].map((issuerKeys) => issuerKeys.keys().catch(() => undefined)));
    },
    close() {
      closed = true;
      closing.abort();
      cache.clear();
    },
  };
}

/** Header and claims, NOT verified: only to pick the algorithm check and the issuer's keys. */
function decodeUnverified(token: string): { header: ProtectedHeaderParameters; payload: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    throw authErrorOf('INVALID_TOKEN', 'the token is not a JWT');
  }
}

function checkAlgorithm(alg: unknown): void {
  if (typeof alg !== 'string') throw authErrorOf('INVALID_TOKEN', 'the token header has no alg');
  if (alg.toLowerCase() === 'none') throw authErrorOf('INVALID_TOKEN', 'unsigned tokens (alg none) are refused');
  if ((ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) return;
  if (/^HS\d+$/i.test(alg)) throw authErrorOf('INVALID_SIGNATURE', 'symmetric (HMAC) signatures are refused');
  throw authErrorOf('INVALID_SIGNATURE', 'the token signature algorithm is not accepted (asymmetric algorithms only)');
}

/** RFC 9068 `at+jwt` (with or without `application/`, any case), or plain `JWT`; absent is fine. */
function checkType(typ: unknown): void {
  if (typ === undefined) return;
  const normalized = typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : '';
  if (normalized !== 'at+jwt' && normalized !== 'jwt') throw authErrorOf('INVALID_TOKEN', 'the token is not an access token (typ)');
}

/**
 * jwtVerify against a key set. A token without `kid` may match several keys of the set (during a
 * graceful rotation): jose then hands them over to try one by one.
 */
async function verifyWithKeys(token: string, keys: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    let last: unknown = new errors.JWSSignatureVerificationFailed();
    for await (const key of err) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (failure) {
        if (!(failure instanceof errors.JWSSignatureVerificationFailed)) throw failure;
        last = failure;
      }
    }
    throw last;
  }
}

function toAuthError(err: unknown): unknown {
  return mapJoseError(err) ?? err;
}
