import { discoverJwksUri } from './discover-jwks-uri.js';
import { JwksUnavailableError } from './errors.js';
import { fetchJson, FETCH_TIMEOUT_MS } from './fetch-json.js';
import { importVerificationKeys, type VerificationKey } from './jws.js';
import { silentLogger, type Logger } from '../../shared/logger.js';

type Jwk = Record<string, unknown>;

/**
 * Default for {@link JwksCacheOptions.unknownKidRefetchMs}: short enough that a key an IdP has just
 * published works within seconds, long enough that a storm of invented kids costs the IdP one
 * request per issuer per 5 s.
 */
export const UNKNOWN_KID_REFETCH_MS = 5_000;
/** Background retries of a key set that did not load (or went stale): 0.5 s doubling to 10 s, jittered. */
export const BACKGROUND_RETRY_MS = { min: 500, max: 10_000 } as const;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;
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
  /** JWKS fetch failures and recoveries; silent unless given. */
  logger?: Logger;
  /** Test seam: the backoff of background retries (see {@link JwksCache.keepLoaded}). */
  retryMs?: { min: number; max: number };
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
 * - A kid the set lacks causes one refetch, at most once per `unknownKidRefetchMs` (5 s) counted
 *   from the last fetch of any kind: rotation works within seconds, a storm of invented kids does
 *   not reach the IdP. In background mode a kid refused for that limit schedules the one refetch
 *   the limit allows, so that a key just published works as soon as the limit has passed.
 * - After {@link JwksCache.keepLoaded} (start-up), a failed fetch is retried in the background
 *   with backoff until it succeeds, and stale keys are refreshed without waiting for traffic.
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
  /** Set by {@link keepLoaded}: failures are retried in the background, stale keys refreshed. */
  #background = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = 0;
  #failures = 0;

  constructor(options: JwksCacheOptions) {
    this.issuer = options.issuer;
    this.#options = options;
    this.#refetchMs = options.unknownKidRefetchMs ?? UNKNOWN_KID_REFETCH_MS;
    options.signal.addEventListener('abort', () => this.#clearTimer(), { once: true });
  }

  /**
   * From now on, keep the key set loaded without waiting for traffic: a fetch that fails is retried
   * in the background with jittered exponential backoff (0.5 s doubling to 10 s) until it succeeds,
   * and keys are refreshed in the background when they go stale. A replica started while its IdP
   * is down becomes ready within seconds of the IdP coming back. Resolves after the first attempt.
   */
  async keepLoaded(): Promise<void> {
    this.#background = true;
    if (!this.#inflight && !this.status().fresh) this.#start();
    else this.#planNext();
    await this.#inflight;
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
      if (last !== undefined && this.#options.now() - last < this.#refetchMs) {
        // Too soon: refetch once the limit allows, so that a key just published works by then
        // (one timer at most: a storm of invented kids still causes a single fetch).
        const due = last + this.#refetchMs;
        if (this.#background && !(this.#timer && this.#timerAt <= due)) {
          this.#clearTimer();
          this.#schedule(due - this.#options.now());
        }
        return false;
      }
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
    this.#clearTimer();
    this.#inflight = this.#load().finally(() => {
      this.#inflight = undefined;
      this.#planNext();
    });
  }

  /** In background mode: the next refresh, a retry with backoff after a failure, else at the TTL. */
  #planNext(): void {
    if (!this.#background || this.#options.signal.aborted || this.#timer) return;
    if (this.#lastError !== undefined) {
      const { min, max } = this.#options.retryMs ?? BACKGROUND_RETRY_MS;
      const base = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 30));
      this.#schedule(base * (0.5 + Math.random() * 0.5));
    } else if (this.#fetchedAt !== undefined) {
      this.#schedule(this.#fetchedAt + this.#options.ttlMs - this.#options.now());
    }
  }

  #schedule(delayMs: number): void {
    if (this.#options.signal.aborted) return;
    this.#timerAt = this.#options.now() + delayMs;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        if (!this.#inflight) this.#start();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, delayMs)),
    );
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
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
      if (this.#failures > 0) {
        logger(this.#options).info('jwks: the signing keys of the issuer loaded again', { event: 'jwks_recovered', issuer, keys: imported.length, failures: this.#failures });
      } else {
        logger(this.#options).debug('jwks: fetched the signing keys of the issuer', { event: 'jwks_fetched', issuer, keys: imported.length });
      }
      this.#failures = 0;
      this.#lastError = undefined;
      this.#options.onFetch?.('success');
      if (anyRemoved) this.#options.onKeysRemoved?.({ kids: removedKids, any: true });
    } catch (err) {
      // Discover again next time: the metadata may have moved the JWKS.
      this.#jwksUri = undefined;
      this.#lastError = describe(err);
      this.#failures += 1;
      if (!signal.aborted) {
        logger(this.#options).warn(`jwks: could not fetch the signing keys of ${issuer}`, {
          event: 'jwks_fetch_failed',
          issuer,
          error: this.#lastError,
          cached_keys: this.#count,
        });
      }
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

const logger = (options: JwksCacheOptions): Logger => options.logger ?? silentLogger;

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 300);
}
