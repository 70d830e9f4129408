/**
 * The bearer-token validator of the cloud-mode resource server (multi-tenant): JWT access tokens
 * from any of the allowed issuers, their signatures checked with `node:crypto` against each
 * issuer's cached JWKS (jws.ts says why not jose), with a bounded cache of verified tokens in
 * front.
 */
import type { Logger } from '../../shared/logger.js';
import { authErrorOf, type AuthError } from './errors.js';
import { createIntrospector, type IntrospectionOptions } from './introspection.js';
import { JwksCache, UNKNOWN_KID_REFETCH_MS, type JwksStatus } from './jwks-cache.js';
import { candidateKeys, decodeCompact, importVerificationKeys, verifySignature, type VerificationKey } from './jws.js';
import { parseAuthorization } from './parse-authorization.js';
import { TokenCache } from './token-cache.js';
import { toVerifiedToken, type VerifiedToken } from './verified-token.js';

export { AuthError, authErrorOf, IntrospectionUnavailableError, isAuthError, JwksUnavailableError, type AuthErrorCode, type AuthErrorExtra } from './errors.js';
export type { IntrospectionIssuer, IntrospectionOptions, IntrospectionResult } from './introspection.js';
export type { JwksStatus } from './jwks-cache.js';
export { parseAuthorization } from './parse-authorization.js';
export type { VerifiedToken } from './verified-token.js';

/**
 * The signature algorithms accepted: asymmetric only. `none` is refused as INVALID_TOKEN (an
 * unsigned token is no token), every other algorithm, HMAC above all, as INVALID_SIGNATURE.
 * `Ed25519` is the fully-specified name of `EdDSA` over Ed25519 (RFC 9864).
 */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** Longer than any access token an HTTP header can carry (Node's default limit is 16 KiB). */
const MAX_TOKEN_LENGTH = 32 * 1024;
/** Tokens longer than this are verified every time, so the cache stays under ~100 MB when full. */
const MAX_CACHED_TOKEN_LENGTH = 8 * 1024;

export interface ValidatorOptions {
  /** Issuer URLs whose tokens are accepted, compared with `iss` exactly. */
  allowedIssuers: readonly string[];
  /** Accepted `aud` values; a token must name at least one of them. */
  audiences: readonly string[];
  /**
   * Accepted `aud` values, asked at each verification instead of `audiences` when given: a live
   * set (gateway mode adds each child's `/mcp/<name>` as the upstreams file changes).
   */
  acceptsAudience?: (aud: string) => boolean;
  /** How long an issuer's JWKS counts as fresh, in seconds (`JWKS_CACHE_TTL`). */
  jwksCacheTtlSec: number;
  /** Leeway for `exp`, `nbf` and `iat`, in seconds; default 30. */
  clockToleranceSec?: number;
  /** Least time between two JWKS fetches caused by an unknown `kid`, per issuer; default 5 s. */
  unknownKidRefetchSec?: number;
  /** Timeout of each metadata or JWKS request; default 5000 ms. */
  fetchTimeoutMs?: number;
  /** Test seam; default the global fetch. */
  fetch?: typeof fetch;
  /** Test seam: the clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** Entries of the verified-token cache; default 10000; 0 turns it off. */
  cacheSize?: number;
  /** Asked on every verification, cached or not (a revocation list, by `tokenId`). */
  isRevoked?: (token: VerifiedToken) => Promise<boolean> | boolean;
  /** Each JWKS refresh of an issuer (discovery and key set together), for metrics. */
  onJwksFetch?: (issuer: string, result: 'success' | 'failure') => void;
  /**
   * Issuers whose keys are known here rather than fetched (the OAuth proxy's own): their tokens are
   * accepted as `allowedIssuers`' are, checked against these public JWKs.
   */
  localIssuers?: ReadonlyArray<{ issuer: string; jwks: readonly Record<string, unknown>[] }>;
  /** Each verified-token cache lookup, for metrics. */
  onCacheHit?: () => void;
  onCacheMiss?: () => void;
  /**
   * Opaque access tokens (`INTROSPECTION`): tokens that are not JWTs (and, per issuer, JWTs too)
   * are introspected (RFC 7662) at these allowed issuers' endpoints; see introspection.ts.
   */
  introspection?: IntrospectionOptions;
  /** JWKS fetch failures and recoveries; silent unless given. */
  logger?: Logger;
  /** Test seam: the backoff of the JWKS background retries after {@link TokenValidator.warm}. */
  jwksRetryMs?: { min: number; max: number };
}

export interface TokenValidator {
  /**
   * Verifies a bearer token; resolves to what it says, rejects with an `AuthError` when it is
   * not acceptable (or a `JwksUnavailableError` when the issuer's keys cannot be had).
   */
  verify(token: string): Promise<VerifiedToken>;
  /** The token of an `Authorization` header value; see {@link parseAuthorization}. */
  parseAuthorization(header: string | undefined): string;
  /**
   * {@link parseAuthorization} and {@link verify} in one: what the server calls per request. A
   * `Bearer <token>` header whose token is cached (and whose revocation check answers at once)
   * is answered synchronously, without parsing it again or allocating a promise; anything else
   * returns a promise. Throws, or rejects, with an `AuthError`.
   */
  authenticate(header: string | undefined): Authenticated | Promise<Authenticated>;
  /** The JWKS cache of every allowed issuer, for readiness. */
  jwksStatus(): JwksStatus[];
  /**
   * Fetches the JWKS of every allowed issuer now (at start-up) and from then on keeps them loaded
   * in the background (retries with backoff while an issuer is down, refreshes when stale);
   * resolves after the first attempt, never rejects.
   */
  warm(): Promise<void>;
  /** Aborts JWKS requests in flight and forgets every cached key and token. */
  close(): void;
}

/** What {@link TokenValidator.authenticate} found: the bearer token and what it says. */
export interface Authenticated {
  token: string;
  verified: VerifiedToken;
}

interface CacheEntry {
  token: VerifiedToken;
  /** When the entry stops being valid: (`exp` + tolerance), in ms. */
  deadline: number;
  issuer: string;
  kid: string | undefined;
  /** An introspected token: when its answer must be asked for again, in ms. */
  staleAt?: number;
}

/**
 * Creates a validator. Rules, in order:
 *
 * 1. a token seen before and still cached costs a map lookup; `exp` and `isRevoked` are still
 *    honoured;
 * 2. the header and payload are decoded WITHOUT verification only to read `alg`, `typ`, `crit`
 *    and `iss`: `alg` must be asymmetric, `typ` (where present) `at+jwt` or `JWT`, no `crit`, and
 *    `iss` one of `allowedIssuers`; so a JWKS is only ever fetched for an allowed issuer;
 * 3. the signature is checked against that issuer's cached keys (an unknown `kid` causes one
 *    rate-limited refetch), then the claims as RFC 9068 and jose's `jwtVerify` check them: `exp`
 *    (required), `aud` (required, one of `audiences`), `iat` (a number, not in the future beyond
 *    the clock tolerance) and `nbf`;
 * 4. the token's {@link VerifiedToken.tokenId} names it by `iss` + `jti`, or by what its issuer
 *    signed, never by its spelling: a segment that is not canonical base64url is refused in step 2.
 *
 * @example
 * ```ts
 * const validator = createTokenValidator({
 *   allowedIssuers: ['https://login.example.com'],
 *   audiences: ['https://mcp.example.com/mcp'],
 *   jwksCacheTtlSec: 3600,
 * });
 * const { verified } = await validator.authenticate(req.headers.authorization);
 * const who = verified.caller.subject;
 * ```
 */
/** Where the verification keys of one issuer come from: fetched (JwksCache) or given. */
type KeySource = Pick<JwksCache, 'keys' | 'refetchForUnknownKey' | 'status'> & { keepLoaded?(): Promise<void> };

/** The keys of an issuer known here: always fresh, never fetched. */
function staticKeys(issuer: string, jwks: readonly Record<string, unknown>[]): KeySource {
  const keys = importVerificationKeys(jwks);
  return {
    keys: async () => keys,
    refetchForUnknownKey: async () => false,
    status: () => ({ issuer, keys: keys.length, fresh: true }),
  };
}

export function createTokenValidator(options: ValidatorOptions): TokenValidator {
  const { allowedIssuers, audiences, isRevoked, onCacheHit, onCacheMiss } = options;
  if (allowedIssuers.length === 0) throw new TypeError('createTokenValidator: allowedIssuers must not be empty');
  if (audiences.length === 0) throw new TypeError('createTokenValidator: audiences must not be empty');
  for (const issuer of allowedIssuers) {
    if (!URL.canParse(issuer)) throw new TypeError(`createTokenValidator: ${issuer} is not an issuer URL`);
  }
  if (!(options.jwksCacheTtlSec > 0)) throw new TypeError('createTokenValidator: jwksCacheTtlSec must be positive');
  for (const { issuer } of options.introspection?.issuers ?? []) {
    if (!allowedIssuers.includes(issuer)) throw new TypeError(`createTokenValidator: introspection issuer ${issuer} is not an allowed issuer`);
  }

  const now = options.now ?? Date.now;
  const tolerance = options.clockToleranceSec ?? 30;
  const cache = new TokenCache<CacheEntry>(options.cacheSize ?? 10_000);
  const closing = new AbortController();
  let closed = false;
  const introspector =
    options.introspection && options.introspection.issuers.length > 0
      ? createIntrospector(options.introspection, {
          audiences,
          ...(options.acceptsAudience ? { acceptsAudience: options.acceptsAudience } : {}),
          fetch: options.fetch ?? globalThis.fetch,
          now,
          toleranceSec: tolerance,
          ...(options.fetchTimeoutMs !== undefined ? { timeoutMs: options.fetchTimeoutMs } : {}),
          signal: closing.signal,
        })
      : undefined;

  const jwks = new Map<string, KeySource>();
  for (const local of options.localIssuers ?? []) jwks.set(local.issuer, staticKeys(local.issuer, local.jwks));
  for (const issuer of new Set(allowedIssuers)) {
    if (jwks.has(issuer)) continue;
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
        ...(options.logger ? { logger: options.logger } : {}),
        ...(options.jwksRetryMs ? { retryMs: options.jwksRetryMs } : {}),
        onFetch: (result) => options.onJwksFetch?.(issuer, result),
        // A withdrawn key takes its tokens with it, cached or not.
        onKeysRemoved: ({ kids, any }) =>
          cache.deleteWhere((entry) => entry.issuer === issuer && entry.staleAt === undefined && (entry.kid === undefined ? any : kids.has(entry.kid))),
      }),
    );
  }

  const fixed = new Set(audiences);
  const accepted: Pick<ReadonlySet<string>, 'has'> = options.acceptsAudience ? { has: options.acceptsAudience } : fixed;
  async function revoked(token: VerifiedToken): Promise<boolean> {
    if (!isRevoked) return false;
    const answer = isRevoked(token);
    return answer === true || (answer !== false && (await answer) === true);
  }

  async function verifyUncached(token: string): Promise<CacheEntry> {
    const jws = decodeCompact(token);
    if (introspector) {
      // Not a JWT: an opaque token, which only its issuer's introspection endpoint can tell about.
      if (!jws) return { ...(await introspector.introspect(token)), kid: undefined };
      const claimed = jws.payload.iss;
      if (typeof claimed === 'string' && introspector.handlesJwtsOf(claimed)) return { ...(await introspector.introspect(token, claimed)), kid: undefined };
    }
    if (!jws) throw authErrorOf('INVALID_TOKEN', 'the token is not a JWT');
    const { header, payload } = jws;
    const alg = checkAlgorithm(header.alg);
    checkType(header.typ);
    // RFC 7515 §4.1.11: extensions this server does not understand make the token unusable.
    if (header.crit !== undefined) throw authErrorOf('INVALID_TOKEN', 'the token header names critical extensions this server does not support (crit)');
    const issuer = payload.iss;
    const keys = typeof issuer === 'string' ? jwks.get(issuer) : undefined;
    if (!keys || typeof issuer !== 'string') throw authErrorOf('INVALID_ISSUER', 'the token issuer is not one this server trusts');

    let candidates = candidateKeys(await keys.keys(), alg, header.kid);
    // A kid the cached set lacks: the IdP may have rotated its keys. Refetch (rate-limited) once.
    if (candidates.length === 0 && (await keys.refetchForUnknownKey())) candidates = candidateKeys(await keys.keys(), alg, header.kid);
    if (candidates.length === 0) throw authErrorOf('INVALID_SIGNATURE', 'the token is signed by a key its issuer does not publish');
    // A token without kid may match several keys (a graceful rotation): any one may have signed it.
    if (!candidates.some((k: VerificationKey) => verifySignature(alg, k.key, jws.signingInput, jws.signature))) {
      throw authErrorOf('INVALID_SIGNATURE', 'the token signature does not verify');
    }
    checkClaims(payload, accepted, Math.floor(now() / 1000), tolerance);
    const verified = toVerifiedToken(payload, jws.signingInput);
    return {
      token: verified,
      deadline: ((verified.expiresAt ?? 0) + tolerance) * 1000,
      issuer,
      kid: typeof header.kid === 'string' ? header.kid : undefined,
    };
  }

  /**
   * The cached answer for `token`, checked for expiry and revocation (synchronously when
   * `isRevoked` answers at once); undefined when not cached.
   */
  function cached(token: string): VerifiedToken | Promise<VerifiedToken> | undefined {
    const hit = cache.get(token);
    if (hit === undefined) return undefined;
    onCacheHit?.();
    if (hit.staleAt !== undefined && now() >= hit.staleAt) {
      // An introspection answer past INTROSPECTION_CACHE_TTL: ask the endpoint again.
      cache.delete(token);
      return undefined;
    }
    if (now() >= hit.deadline) {
      cache.delete(token);
      throw authErrorOf('TOKEN_EXPIRED', 'the token has expired');
    }
    if (!isRevoked) return hit.token;
    const refuse = () => {
      cache.delete(token);
      return authErrorOf('TOKEN_REVOKED', 'the token has been revoked');
    };
    const answer = isRevoked(hit.token);
    if (answer === false) return hit.token;
    if (answer === true) throw refuse();
    return answer.then((yes) => {
      if (yes) throw refuse();
      return hit.token;
    });
  }

  async function verify(token: string): Promise<VerifiedToken> {
    if (closed) throw new Error('could not verify the token: the validator is closed');
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw authErrorOf('INVALID_TOKEN', 'the token is empty or too long');
    }
    const hit = cached(token);
    if (hit !== undefined) return hit;
    onCacheMiss?.();
    const entry = await verifyUncached(token);
    if (isRevoked && (await revoked(entry.token))) throw authErrorOf('TOKEN_REVOKED', 'the token has been revoked');
    if (!closed && token.length <= MAX_CACHED_TOKEN_LENGTH && !(entry.staleAt !== undefined && entry.staleAt <= now())) cache.set(token, entry);
    return entry.token;
  }

  return {
    verify,
    authenticate(header) {
      // The common case first: `Bearer <a token verified before>`, checked by the lookup alone
      // (a cached token passed every syntax check when it was first verified).
      if (!closed && typeof header === 'string' && header.startsWith('Bearer ') && header.length <= MAX_TOKEN_LENGTH + 7) {
        const token = header.slice(7);
        const hit = cached(token);
        if (hit !== undefined) return hit instanceof Promise ? hit.then((verified) => ({ token, verified })) : { token, verified: hit };
      }
      const token = parseAuthorization(header);
      return verify(token).then((verified) => ({ token, verified }));
    },
    parseAuthorization,
    jwksStatus() {
      return [...jwks.values()].map((issuerKeys) => issuerKeys.status());
    },
    async warm() {
      await Promise.all([...jwks.values()].map((issuerKeys) => (issuerKeys.keepLoaded ? issuerKeys.keepLoaded() : issuerKeys.keys()).catch(() => undefined)));
    },
    close() {
      closed = true;
      closing.abort();
      cache.clear();
    },
  };
}

function checkAlgorithm(alg: unknown): string {
  if (typeof alg !== 'string') throw authErrorOf('INVALID_TOKEN', 'the token header has no alg');
  if (alg.toLowerCase() === 'none') throw authErrorOf('INVALID_TOKEN', 'unsigned tokens (alg none) are refused');
  if ((ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) return alg;
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
 * The registered claims, checked as jose's `jwtVerify` checks them (same order, same arithmetic:
 * whole seconds, `exp <= now - tolerance` is expired, `nbf > now + tolerance` not yet valid), and
 * one check jose leaves out: `iat > now + tolerance` was issued in the future.
 * `iss` was matched exactly when the issuer's keys were picked.
 */
function checkClaims(payload: Record<string, unknown>, audiences: Pick<ReadonlySet<string>, 'has'>, now: number, tolerance: number): void {
  if (payload.exp === undefined) throw authErrorOf('INVALID_TOKEN', 'the token has no exp claim');
  const aud = payload.aud;
  if (aud === undefined) throw authErrorOf('INVALID_TOKEN', 'the token has no aud claim');
  const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!named.some((value) => typeof value === 'string' && audiences.has(value))) {
    throw authErrorOf('INVALID_AUDIENCE', 'the token is not meant for this server (aud)');
  }
  if (payload.iat !== undefined) {
    if (!isNumericDate(payload.iat)) throw authErrorOf('INVALID_TOKEN', 'the token iat claim is invalid');
    // jose checks this only when given a maxTokenAge; a token from the future is a wrong clock at best.
    if (payload.iat > now + tolerance) throw authErrorOf('INVALID_TOKEN', 'the token was issued in the future; check the clocks');
  }
  if (payload.nbf !== undefined) {
    if (!isNumericDate(payload.nbf)) throw authErrorOf('INVALID_TOKEN', 'the token nbf claim is invalid');
    if (payload.nbf > now + tolerance) throw authErrorOf('INVALID_TOKEN', 'the token is not yet valid (nbf)');
  }
  if (!isNumericDate(payload.exp)) throw authErrorOf('INVALID_TOKEN', 'the token exp claim is invalid');
  if (payload.exp <= now - tolerance) throw authErrorOf('TOKEN_EXPIRED', 'the token has expired');
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
