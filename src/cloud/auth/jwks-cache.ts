import { discoverJwksUri } from './discover-jwks-uri.js';
import { JwksUnavailableError } from './errors.js';
import { fetchJson, FETCH_TIMEOUT_MS } from './fetch-json.js';
import { importVerificationKeys, type VerificationKey } from './jws.js';

type Jwk = Record<string, unknown>;

/** Default for {@link JwksCacheOptions.unknownKidRefetchMs}. */
export const UNKNOWN_KID_REFETCH_MS = 30_000;
/** While no key was ever fetched, requests retry at most this often (the IdP is down). */
const NO_KEYS_RETRY_MS = 1_000;

export interface JwksCacheOptions {
  issuer: string;
  /** How long fetched keys count as fresh. */
  ttlMs: number;
  /** Least time between two fetches caused by a key the cached set lacks. */
  unknownKidRefetchMs?: number;
  fetch: typeof fetch;
  now: () => number;
  timeoutMs?: number;
  maxBytes?: number;
  /** Aborts fetches in flight and refuses new ones. */
  signal: AbortSignal;
  onFetch?: (result: 'success' | 'failure') => void;
  /**
   * After a refresh withdrew keys: the kids that are gone (or whose key material changed), and
   * whether any key at all is gone (what matters to tokens that named no kid).
   */
  onKeysRemoved?: (removed: { kids: ReadonlySet<string>; any: boolean }) => void;
}

/** What readiness shows of one issuer's keys. `fetchedAt` in ms since the epoch. */
export interface JwksStatus {
  issuer: string;
  keys: number;
  fetchedAt?: number;
  lastError?: string;
  fresh: boolean;
}

/**
 * The signing keys of one allowed issuer, discovered from its metadata and kept for `ttlMs`.
 *
 * - Past the TTL the next verification waits for a refresh (withdrawn keys stop working at once);
 *   when that fails, the cached keys keep working (stale-if-error), `lastError` says why, and
 *   further refreshes run in the background at most once per `unknownKidRefetchMs`.
 * - A kid the set lacks causes one refetch, at most once per `unknownKidRefetchMs` counted from
 *   the last fetch of any kind: rotation works, a storm of invented kids does not reach the IdP.
 * - Concurrent callers share one fetch.
 *
 * jose's `createRemoteJWKSet` is not used: it drops its keys when a refresh fails, and the keys are
 * imported as `node:crypto` KeyObjects once per fetch (see jws.ts).
 */
export class JwksCache {
  readonly issuer: string;
  readonly #options: JwksCacheOptions;
  readonly #refetchMs: number;
  #keys: VerificationKey[] | undefined;
  #fingerprints = new Map<string, string | undefined>();
  #count = 0;
  #jwksUri: string | undefined;
  #fetchedAt: number | undefined;
  #lastAttemptAt: number | undefined;
  #lastError: string | undefined;
  #inflight: Promise<void> | undefined;

  constructor(options: JwksCacheOptions) {
    this.issuer = options.issuer;
    this.#options = options;
    this.#refetchMs = options.unknownKidRefetchMs ?? UNKNOWN_KID_REFETCH_MS;
  }

  /**
   * The cached keys, imported for verification, fetching or refreshing first as the rules above
   * say. Throws {@link JwksUnavailableError} when there has never been a key set.
   */
  async keys(): Promise<readonly VerificationKey[]> {
    const now = this.#options.now();
    if (!this.#keys) {
      const recentFailure = this.#lastAttemptAt !== undefined && now - this.#lastAttemptAt < NO_KEYS_RETRY_MS;
      if (!this.#inflight && !recentFailure) this.#start();
      if (this.#inflight) await this.#inflight;
      if (!this.#keys) throw new JwksUnavailableError(this.issuer, this.#lastError ?? 'no keys fetched yet');
      return this.#keys;
    }
    if (now - (this.#fetchedAt ?? 0) >= this.#options.ttlMs) {
      // Healthy so far: wait for the refresh. Failing: answer from the stale keys at once and
      // retry in the background now and then.
      const wait = this.#lastError === undefined;
      const due = this.#lastAttemptAt === undefined || now - this.#lastAttemptAt >= this.#refetchMs;
      if (!this.#inflight && (wait || due)) this.#start();
      if (wait && this.#inflight) await this.#inflight;
    }
    return this.#keys;
  }

  /**
   * A token named a key the cached set lacks: refetch, unless a fetch happened within the rate
   * limit. True when the set may have changed since (so verifying again is worth it).
   */
  async refetchForUnknownKey(): Promise<boolean> {
    if (!this.#inflight) {
      const last = this.#lastAttemptAt;
      if (last !== undefined && this.#options.now() - last < this.#refetchMs) return false;
      this.#start();
    }
    await this.#inflight;
    return true;
  }

  status(): JwksStatus {
    const { issuer, ttlMs, now } = this.#options;
    const fetchedAt = this.#fetchedAt;
    return {
      issuer,
      keys: this.#count,
      ...(fetchedAt !== undefined ? { fetchedAt } : {}),
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      fresh: fetchedAt !== undefined && now() - fetchedAt < ttlMs,
    };
  }

  #start(): void {
    this.#inflight = this.#load().finally(() => {
      this.#inflight = undefined;
    });
  }

  /** One refresh; never rejects: a failure is recorded in `lastError`. */
  async #load(): Promise<void> {
    const { issuer, signal } = this.#options;
    this.#lastAttemptAt = this.#options.now();
    if (signal.aborted) {
      this.#lastError = 'the validator is closed';
      return;
    }
    const request = {
      fetch: this.#options.fetch,
      timeoutMs: this.#options.timeoutMs ?? FETCH_TIMEOUT_MS,
      signal,
      ...(this.#options.maxBytes !== undefined ? { maxBytes: this.#options.maxBytes } : {}),
    };
    try {
      this.#jwksUri ??= await discoverJwksUri(issuer, request);
      const jwks = publicSigningKeys(await fetchJson(this.#jwksUri, request), this.#jwksUri);
      const imported = importVerificationKeys(jwks);
      const fingerprints = new Map(jwks.map((key) => [fingerprint(key), typeof key.kid === 'string' ? key.kid : undefined]));
      const removedKids = new Set<string>();
      let anyRemoved = false;
      for (const [print, kid] of this.#fingerprints) {
        if (fingerprints.has(print)) continue;
        anyRemoved = true;
        if (kid !== undefined) removedKids.add(kid);
      }
      this.#keys = imported;
      this.#fingerprints = fingerprints;
      this.#count = imported.length;
      this.#fetchedAt = this.#options.now();
      this.#lastError = undefined;
      this.#options.onFetch?.('success');
      if (anyRemoved) this.#options.onKeysRemoved?.({ kids: removedKids, any: true });
    } catch (err) {
      // Discover again next time: the metadata may have moved the JWKS.
      this.#jwksUri = undefined;
      this.#lastError = describe(err);
      this.#options.onFetch?.('failure');
    }
  }
}

/**
 * The members of a fetched JWKS that can verify a signature: public asymmetric keys. A symmetric
 * (`oct`) or private key in a published set is a configuration accident, never a key to trust.
 */
function publicSigningKeys(body: Record<string, unknown>, url: string): Jwk[] {
  if (!Array.isArray(body.keys)) throw new Error(`${url} is not a JWKS (no "keys" array)`);
  return body.keys.filter((key): key is Jwk => !!key && typeof key === 'object' && typeof (key as Jwk).kty === 'string' && (key as Jwk).kty !== 'oct' && !('d' in key));
}

/** A key's identity: its kid and public material (a kid reused for a new key counts as removed). */
function fingerprint(key: Jwk): string {
  return JSON.stringify([key.kid, key.kty, key.crv, key.n, key.e, key.x, key.y]);
}

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}
