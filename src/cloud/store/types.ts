/**
 * The shared state of cloud mode, behind one interface with two adapters: memory (one replica, the
 * default, nothing to install) and Redis (`REDIS_URL`, several replicas). What lives here:
 * registered OAuth clients, OAuth proxy transactions and one-time codes, revoked tokens, rate
 * limit counters and session records, each under its own key prefix and with a TTL.
 *
 * Values are JSON: what `set` stores is what `get` returns on any replica, a copy, never the same
 * object. Keys are the callers' (`client:abc`); the adapter prepends its own namespace
 * (`REDIS_KEY_PREFIX`, `seed-mcp:` unless set) so that several deployments can share one Redis.
 *
 * Failure: every method rejects with {@link StoreUnavailableError} when the backend cannot answer
 * (Redis down, timed out, or the circuit breaker open) and never hangs past its command timeout.
 * Each caller decides whether that fails open or closed, and says so where it decides.
 */

import type { BreakerState } from '../metrics.js';

/** The backend cannot answer now: Redis unreachable, slow, or its circuit breaker open. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const isStoreUnavailable = (err: unknown): err is StoreUnavailableError => err instanceof StoreUnavailableError;

export type { BreakerState };

/** What readiness shows of the store. */
export interface StoreHealth {
  backend: 'memory' | 'redis';
  /** ok: answering; degraded: answering but recovering (half-open) or reconnecting; unavailable: not answering. */
  status: 'ok' | 'degraded' | 'unavailable';
  breaker: BreakerState;
  /** The last failure, without credentials. */
  lastError?: string;
}

/** A fixed-window counter after one hit. */
export interface WindowCount {
  /** Hits in the current window, this one included. */
  count: number;
  /** When the window ends, ms since the epoch. */
  resetAt: number;
}

export interface Subscription {
  /** Stops delivering messages. */
  close(): Promise<void>;
}

export interface SubscribeHandlers {
  /** A message published on the channel by any replica, this one included. */
  message(message: string): void;
  /**
   * The subscription was down and is back: messages published meanwhile were lost, so a local
   * mirror must reload what it mirrors.
   */
  resumed?(): void;
  /** The subscription went down (Redis connection lost); messages are not delivered until `resumed`. */
  lost?(): void;
}

export interface SetOptions {
  /**
   * Wait for one replica to acknowledge the write (Redis `WAIT 1`, up to the store's
   * `replicaWaitMs`) before resolving: Redis replicates asynchronously, and a master that dies
   * with a write not yet replicated loses it when its replica is promoted. When no replica
   * acknowledges in time (replica down or lagging), the write fails with
   * {@link StoreUnavailableError} (`REDIS_REPLICA_ACK=required`, the default), or succeeds with
   * a warning (`best-effort`). No effect on the memory store or a standalone Redis (no replica
   * to wait for).
   */
  replicated?: boolean;
}

export interface SharedStore {
  readonly backend: 'memory' | 'redis';
  /** The value stored under `key`; undefined when absent or expired. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /**
   * Stores `value` under `key` for `ttlMs` (> 0), replacing what was there. With `replicated`,
   * behind Sentinel or a Cluster, resolves only once a replica has the write too (WAIT 1), so
   * that a failover right after does not lose it; see {@link SetOptions}.
   */
  set(key: string, value: unknown, ttlMs: number, options?: SetOptions): Promise<void>;
  /** Stores only when `key` is absent (SET NX); true when this call stored it. */
  add(key: string, value: unknown, ttlMs: number): Promise<boolean>;
  /**
   * Returns and deletes in one atomic step (GETDEL): of any number of concurrent takers, on any
   * replicas, exactly one gets the value. For one-time codes and transactions. Behind Sentinel
   * or a Cluster the deletion is waited on like a `replicated` set, so that a failover does not
   * bring the value back for a second taker: unacknowledged, the take fails (`required`), and
   * the value counts as not taken by anyone.
   */
  take<T = unknown>(key: string): Promise<T | undefined>;
  delete(key: string): Promise<void>;
  /**
   * One hit on the fixed-window counter `key`: a window of `windowMs` starts at the first hit
   * after the previous one ended (INCR + PEXPIRE NX, atomically).
   */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /** Every live entry whose key starts with `prefix` (SCAN on Redis), in no particular order. */
  entries<T = unknown>(prefix: string): Promise<Array<[key: string, value: T]>>;
  /** Sends `message` to every subscriber of `channel` on every replica. */
  publish(channel: string, message: string): Promise<void>;
  /** Delivers the messages of `channel` until the subscription is closed. */
  subscribe(channel: string, handlers: SubscribeHandlers): Promise<Subscription>;
  health(): StoreHealth;
  /** Closes connections and timers; further calls reject. */
  close(): Promise<void>;
}
