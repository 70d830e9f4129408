/**
 * The revocation list shared by every replica, mirrored in each one so that the check made on
 * every request is a synchronous map lookup (~1 µs), never a round trip to Redis.
 *
 * The shared store holds the truth (`revoked:<id>` → `exp`, with a TTL until the token could no
 * longer be accepted anyway); a message on the `revocations` channel tells the other replicas at
 * once; a reload on `resumed`, and every `resyncMs`, catches what a lost message missed.
 */
import { ExpiringMap } from '../../shared/expiring-map.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { CloudError } from '../errors.js';
import { isStoreUnavailable, type SharedStore, type Subscription } from './types.js';
import { STORE_CHANNELS, STORE_KEYS } from './keys.js';

/** First wait before retrying a failed reload; it doubles up to `resyncMs`. */
const RETRY_MIN_MS = 250;

/** The mirror cannot vouch for a token now (never loaded, or its subscription is down), and the list fails closed. */
export class RevocationUnavailableError extends CloudError<'REVOCATION_UNAVAILABLE'> {
  override readonly name = 'RevocationUnavailableError';
  constructor(message = 'could not check revocation: the revocation list is not in sync with the shared store') {
    super('REVOCATION_UNAVAILABLE', 'the revocation list cannot be checked right now');
    // For the operator's log; the description above is what the caller sees.
    this.message = message;
  }
}

export interface RevocationListOptions {
  /**
   * What {@link RevocationList.isRevoked} does when the mirror may be missing revocations:
   * `closed` throws {@link RevocationUnavailableError} (the request is refused), `open` answers
   * from what the mirror holds (a token revoked meanwhile on another replica may pass).
   */
  failMode: 'closed' | 'open';
  /**
   * How long the mirror may answer alone once it can no longer be vouched for (its subscription
   * down), counted from the last moment it was known in sync: within it, an id the mirror
   * lacks is not revoked whatever `failMode` says; past it, `failMode` decides. Default 60,000 ms;
   * 0 applies `failMode` at once. A mirror never loaded has no such grace.
   */
  maxStalenessMs?: number;
  /** Test seam: the clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** How often the whole list is reloaded as a safety net; default 30,000 ms. */
  resyncMs?: number;
  /**
   * How long after `exp` a token is still accepted (the validator's `clockToleranceSec`), so its
   * revocation is kept that much longer; default 30 s, the validator's default.
   */
  clockToleranceSec?: number;
  logger?: Logger;
}

/** What readiness shows of the list, and which way its checks are answered now. */
export interface RevocationHealth {
  /** ok: in sync; degraded: answering from a mirror that may miss revocations; unavailable: refusing tokens. */
  status: 'ok' | 'degraded' | 'unavailable';
  entries: number;
  /**
   * How checks are answered now: `live` (in sync), `mirror` (out of sync, within the staleness
   * bound), `fail_open` or `fail_closed` (past it, or never loaded: as `failMode` says).
   */
  answering: 'live' | 'mirror' | 'fail_open' | 'fail_closed';
  /** Seconds since the mirror was last known in sync; absent while in sync or when never loaded. */
  stale_sec?: number;
  max_staleness_sec: number;
}

export interface RevocationList {
  /** Subscribes to the channel, then loads every revocation; rejects when the store cannot answer (a resync retries). */
  start(): Promise<void>;
  /**
   * Revokes `id` (a verified token's `tokenId`: derived from `iss` + `jti`, or from what the issuer
   * signed; never the token's text) until `expiresAtSec` (the token's `exp`):
   * in this replica at once, in the shared store, then announced to the other replicas. Rejects
   * with StoreUnavailableError when the store cannot keep it (this replica still honours it).
   */
  revoke(id: string, expiresAtSec: number): Promise<void>;
  /** Synchronous; throws {@link RevocationUnavailableError} when failing closed and not in sync. */
  isRevoked(id: string): boolean;
  health(): RevocationHealth;
  close(): Promise<void>;
}

/**
 * Creates the revocation list of this replica over `store`.
 *
 * An id found in the mirror is revoked whatever the state of the sync: only an id the mirror lacks
 * depends on the mirror being complete. Revocations are only ever added, so a reload merges into
 * the mirror rather than replacing it (a reload racing a message, or a Redis restarted empty, must
 * not forget one).
 *
 * @example
 * ```ts
 * const revocations = createRevocationList(store, { failMode: 'closed', logger });
 * await revocations.start();
 * const validator = createTokenValidator({ …, isRevoked: (t) => revocations.isRevoked(t.tokenId) });
 * ```
 */
export function createRevocationList(store: SharedStore, options: RevocationListOptions): RevocationList {
  const { failMode } = options;
  const clock = options.now ?? Date.now;
  const resyncMs = options.resyncMs ?? 30_000;
  const toleranceMs = (options.clockToleranceSec ?? 30) * 1000;
  const logger = options.logger ?? silentLogger;
  const maxStalenessMs = options.maxStalenessMs ?? 60_000;
  if (!Number.isInteger(maxStalenessMs) || maxStalenessMs < 0)
    throw new RangeError(`could not configure revocations: maxStalenessMs must be a whole number of ms, got: ${maxStalenessMs}`);
  if (!Number.isInteger(resyncMs) || resyncMs < 1) throw new RangeError(`could not configure revocations: resyncMs must be a positive integer, got: ${resyncMs}`);

  /** The revoked ids, each until the time (ms) after which its token is no longer accepted anyway. */
  const mirror = new ExpiringMap<string, true>({ now: clock });
  let subscription: Subscription | undefined;
  let subscribing: Promise<void> | undefined;
  let live = false;
  /** A reload completed while subscribed, with no loss of the subscription since it began. */
  let synced = false;
  let everSynced = false;
  /** The last moment the mirror was known in sync (ms): when it last got out of sync, or its last reload. */
  let syncedAt = 0;
  let staleLogged = false;
  // Bumped each time the subscription drops: a reload that began before is not proof of sync.
  let epoch = 0;
  let reloading: Promise<void> | undefined;
  let rerun = false;
  let timer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelayMs = RETRY_MIN_MS;
  let closed = false;
  let failing = false;

  const remember = (id: string, expiresAtSec: number) => {
    const until = expiresAtSec * 1000 + toleranceMs;
    const now = clock();
    if (until <= now) return;
    if ((mirror.entry(id, now)?.expiresAt ?? 0) < until) mirror.setUntil(id, true, until);
  };
  const inSync = () => live && synced;
  /** Out of sync, but the mirror still answers alone: loaded once, and not out of sync for longer than the bound. */
  const withinBound = (now: number) => everSynced && now - syncedAt <= maxStalenessMs;

  const handlers = {
    message(message: string) {
      const parsed = parseMessage(message);
      if (parsed) remember(parsed.id, parsed.exp);
      else logger.debug('ignored a malformed revocation message');
    },
    lost() {
      if (synced) syncedAt = clock();
      live = false;
      synced = false;
      epoch += 1;
      logger.warn('revocations: the subscription is down; revocations from other replicas are not seen until it is back', { failMode });
    },
    resumed() {
      live = true;
      // Back: retry at once and then soon, not at the backoff an outage has grown.
      retryDelayMs = RETRY_MIN_MS;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      // Messages published while it was down are gone: reload what they would have said.
      reload().catch(() => undefined);
    },
  };

  async function subscribe(): Promise<void> {
    if (subscription || closed) return;
    subscribing ??= store.subscribe(STORE_CHANNELS.revocations, handlers).then(
      (s) => {
        subscribing = undefined;
        if (closed) return void s.close();
        subscription = s;
        live = true;
        epoch += 1;
      },
      (err: unknown) => {
        subscribing = undefined;
        throw err;
      },
    );
    return subscribing;
  }

  /** Loads every revocation into the mirror; subscribed first, so nothing published meanwhile is missed. */
  async function loadOnce(): Promise<void> {
    await subscribe();
    const began = epoch;
    const entries = await store.entries<number>(STORE_KEYS.revokedPrefix);
    mirror.sweep();
    for (const [key, exp] of entries) if (typeof exp === 'number') remember(key.slice(STORE_KEYS.revokedPrefix.length), exp);
    if (epoch !== began || !live || closed) return;
    if (!synced || failing) logger.info('revocations: in sync with the shared store', { entries: mirror.size });
    synced = true;
    everSynced = true;
    syncedAt = clock();
    staleLogged = false;
    failing = false;
    retryDelayMs = RETRY_MIN_MS;
    clearTimeout(retryTimer);
    retryTimer = undefined;
  }

  /**
   * A failed reload is retried soon, not at the next resync: the subscription may be back while
   * the store's breaker is still open, and failing closed refuses every request until in sync.
   */
  function retrySoon(): void {
    if (closed || retryTimer) return;
    const delay = Math.min(retryDelayMs, resyncMs);
    retryDelayMs = Math.min(retryDelayMs * 2, resyncMs);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      reload().catch(() => undefined);
    }, delay);
    retryTimer.unref();
  }

  /**
   * Runs {@link loadOnce}, or, when one is running already, once more after it: one that began
   * before the subscription came back cannot vouch for the mirror.
   */
  function reload(): Promise<void> {
    if (reloading) {
      rerun = true;
      return reloading;
    }
    reloading = (async () => {
      try {
        do {
          rerun = false;
          await loadOnce();
        } while (rerun && !closed);
      } catch (err) {
        retrySoon();
        if (!failing) {
          failing = true;
          logger.warn('revocations: could not load the revocation list; retrying', {
            failMode,
            error: err instanceof Error ? err.message : String(err),
          });
        }
        throw err;
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  return {
    async start() {
      if (closed) throw new Error('could not start revocations: the list is closed');
      if (!timer) {
        // The safety net, also what retries a start that failed: running before start() succeeds.
        timer = setInterval(() => void reload().catch(() => undefined), resyncMs);
        timer.unref();
      }
      await reload();
    },
    async revoke(id, expiresAtSec) {
      if (typeof id !== 'string' || id === '') throw new TypeError('could not revoke: the id must be a non-empty string');
      if (!Number.isFinite(expiresAtSec)) throw new TypeError('could not revoke: expiresAtSec must be a number');
      remember(id, expiresAtSec);
      const ttlMs = expiresAtSec * 1000 + toleranceMs - clock();
      // Already past any use: nothing to share.
      if (ttlMs <= 0) return;
      // Replicated: a revocation acknowledged here must survive a Redis failover right after.
      await store.set(STORE_KEYS.revoked(id), expiresAtSec, ttlMs, { replicated: true });
      try {
        await store.publish(STORE_CHANNELS.revocations, JSON.stringify({ id, exp: expiresAtSec }));
      } catch (err) {
        // Stored: the other replicas see it at their next resync instead of at once.
        if (!isStoreUnavailable(err)) throw err;
        logger.warn('revocations: stored but not announced; other replicas see it within the resync interval', { resyncMs });
      }
    },
    isRevoked(id) {
      if (mirror.get(id)) return true;
      if (failMode === 'closed' && !inSync() && !withinBound(clock())) {
        if (!staleLogged && everSynced) {
          staleLogged = true;
          logger.warn('revocations: out of sync for longer than the staleness bound; refusing tokens until back in sync', { maxStalenessMs });
        }
        throw new RevocationUnavailableError();
      }
      return false;
    },
    health() {
      const entries = mirror.size;
      const max_staleness_sec = maxStalenessMs / 1000;
      if (inSync()) return { status: 'ok', entries, answering: 'live', max_staleness_sec };
      const now = clock();
      const stale = everSynced ? { stale_sec: Math.round((now - syncedAt) / 100) / 10 } : {};
      // Within the bound the mirror answers alone; past it, failing open it still does, failing closed requests are refused.
      if (withinBound(now)) return { status: 'degraded', entries, answering: 'mirror', ...stale, max_staleness_sec };
      if (failMode === 'open') return { status: everSynced ? 'degraded' : 'unavailable', entries, answering: 'fail_open', ...stale, max_staleness_sec };
      return { status: 'unavailable', entries, answering: 'fail_closed', ...stale, max_staleness_sec };
    },
    async close() {
      closed = true;
      live = false;
      clearInterval(timer);
      clearTimeout(retryTimer);
      timer = undefined;
      retryTimer = undefined;
      mirror.clear();
      const s = subscription;
      subscription = undefined;
      await s?.close();
    },
  };
}

function parseMessage(message: string): { id: string; exp: number } | undefined {
  try {
    const value: unknown = JSON.parse(message);
    if (typeof value !== 'object' || value === null) return undefined;
    const { id, exp } = value as Record<string, unknown>;
    return typeof id === 'string' && id !== '' && typeof exp === 'number' && Number.isFinite(exp) ? { id, exp } : undefined;
  } catch {
    return undefined;
  }
}
