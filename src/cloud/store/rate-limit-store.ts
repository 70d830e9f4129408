/**
 * Rate-limit counters shared by every replica, through the {@link SharedStore}, with the
 * per-replica counters as the fallback while the store cannot answer.
 *
 * This fails **open**: with Redis down each replica counts on its own, so a client may get up to
 * `max` × replicas requests per window, and a window started in Redis restarts locally. A rate
 * limit that takes the server down with Redis would be worse than a looser limit for a while.
 */
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { RateLimitStore } from '../rate-limit.js';
import { isStoreUnavailable, type SharedStore } from './types.js';
import { STORE_KEYS } from './keys.js';

export interface SharedRateLimitStoreOptions {
  /** Counts while the shared store cannot answer: this replica's own (`createMemoryRateLimitStore()`). */
  fallback: RateLimitStore;
  logger?: Logger;
}

/**
 * A {@link RateLimitStore} over `store`, keyed `rl:<key>`. The window's end comes from the shared
 * store's clock (Redis' TTL), so replicas agree on it whatever their own clocks say.
 *
 * @example
 * ```ts
 * const fallback = createMemoryRateLimitStore();
 * const limiter = createRateLimiter({ store: createSharedRateLimitStore(store, { fallback, logger }), max, windowMs });
 * ```
 */
export function createSharedRateLimitStore(store: SharedStore, options: SharedRateLimitStoreOptions): RateLimitStore {
  const { fallback } = options;
  const logger = options.logger ?? silentLogger;
  let degraded = false;
  return {
    async hit(key, windowMs, now) {
      try {
        const counted = await store.hit(STORE_KEYS.rateLimit(key), windowMs);
        if (degraded) {
          degraded = false;
          logger.info('rate limiting: shared counters are back');
        }
        return counted;
      } catch (err) {
        if (!isStoreUnavailable(err)) throw err;
        // Once per outage: during one, every request of every client ends up here.
        if (!degraded) {
          degraded = true;
          logger.warn('rate limiting: the shared store is unavailable; counting per replica until it is back', { error: err.message });
        }
        return fallback.hit(key, windowMs, now);
      }
    },
  };
}
