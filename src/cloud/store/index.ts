/**
 * The shared state of cloud mode: {@link createStore} picks the adapter from the configuration,
 * Redis when `REDIS_URL` is set, else memory.
 */
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../metrics.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore, type ReplicaAck } from './redis-store.js';
import type { SharedStore } from './types.js';

export * from './types.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { createRedisStore, parseRedisUrl, type RedisStoreOptions, type RedisTarget, type ReplicaAck } from './redis-store.js';
export { createBreaker, type Breaker, type BreakerOptions } from './breaker.js';
export { createRevocationList, RevocationUnavailableError, type RevocationHealth, type RevocationList, type RevocationListOptions } from './revocations.js';
export { createSharedRateLimitStore, type SharedRateLimitStoreOptions } from './rate-limit-store.js';

export interface StoreOptions {
  /** `REDIS_URL`; absent, the state lives in this process. */
  redisUrl?: string;
  /** `REDIS_KEY_PREFIX`, for Redis only; `seed-mcp:` unless set. */
  prefix?: string;
  /** `REDIS_REPLICA_ACK`, behind Sentinel or a Cluster: see {@link RedisStoreOptions.replicaAck}. */
  replicaAck?: ReplicaAck;
  /** `REDIS_REPLICA_ACK_TIMEOUT_MS`: see {@link RedisStoreOptions.replicaWaitMs}. */
  replicaWaitMs?: number;
  metrics?: Metrics;
  logger?: Logger;
}

/**
 * The store of this deployment: Redis when a URL is given, else memory.
 *
 * @example
 * ```ts
 * const store = createStore({ redisUrl: config.redisUrl, metrics, logger });
 * ```
 */
export function createStore(options: StoreOptions = {}): SharedStore {
  if (options.redisUrl === undefined || options.redisUrl === '') return createMemoryStore();
  const { redisUrl: url, prefix, replicaAck, replicaWaitMs, metrics, logger } = options;
  return createRedisStore({ url, prefix, replicaAck, replicaWaitMs, metrics, logger });
}
