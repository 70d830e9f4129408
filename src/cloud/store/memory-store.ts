/**
 * The {@link SharedStore} of a single replica: a `Map` in this process, nothing to install. It keeps
 * the contract of the Redis adapter where callers can tell (values copied through JSON, TTLs,
 * atomic `take`, fixed windows, publish/subscribe) so that code tested on one runs on the other.
 */
import { ExpiringMap } from '../../shared/expiring-map.js';
import type { SharedStore, SubscribeHandlers, Subscription, WindowCount } from './types.js';
import { toJson, ttl } from './values.js';

export interface MemoryStoreOptions {
  /** Test seam: the clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** How often expired entries are swept; default 60,000 ms. The timer never holds the process open. */
  sweepMs?: number;
  /** The most entries held at once; past it the one written first is dropped. Default 100,000. */
  maxEntries?: number;
}

/**
 * Creates an in-memory store.
 *
 * Memory is bounded: expired entries go on read and on an unref'd sweep, and past `maxEntries` the
 * entry written first is dropped, so a flood of distinct keys cannot grow it (the price: during
 * such a flood the oldest state, say a one-time code, is lost early).
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.set(STORE_KEYS.client('abc'), { name: 'Claude' }, 60_000);
 * await store.get(STORE_KEYS.client('abc')); // { name: 'Claude' }, a copy
 * await store.close();
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): SharedStore {
  const clock = options.now ?? Date.now;
  const sweepMs = positiveInteger('sweepMs', options.sweepMs ?? 60_000);
  const maxEntries = positiveInteger('maxEntries', options.maxEntries ?? 100_000);
  // Values as JSON, parsed afresh on each read so that callers never share an object. Written
  // first, evicted first; the map keeps that O(1) under a flood of distinct keys.
  const entries = new ExpiringMap<string, string>({ now: clock, maxEntries });
  const channels = new Map<string, Set<SubscribeHandlers>>();
  let closed = false;

  const timer = setInterval(() => entries.sweep(), sweepMs);
  timer.unref();

  const parse = <T>(json: string | undefined): T | undefined => (json === undefined ? undefined : (JSON.parse(json) as T));

  /** Runs `fn` unless the store is closed; async so that a throw becomes a rejection. */
  const op = async <T>(fn: () => T): Promise<T> => {
    if (closed) throw new Error('could not use the memory store: it is closed');
    return fn();
  };

  return {
    backend: 'memory',
    get: <T>(key: string) => op(() => parse<T>(entries.get(key))),
    set: (key, value, ttlMs) =>
      op(() => {
        entries.set(key, toJson(value), ttl(ttlMs));
      }),
    add: (key, value, ttlMs) =>
      op(() => {
        const json = toJson(value);
        const ms = ttl(ttlMs);
        if (entries.entry(key)) return false;
        entries.set(key, json, ms);
        return true;
      }),
    // One synchronous step: no other caller can run between the read and the delete.
    take: <T>(key: string) =>
      op(() => {
        const e = entries.entry(key);
        if (e) entries.delete(key);
        return parse<T>(e?.value);
      }),
    delete: (key) =>
      op(() => {
        entries.delete(key);
      }),
    hit: (key, windowMs) =>
      op((): WindowCount => {
        const ms = ttl(windowMs);
        const e = entries.entry(key);
        if (e) {
          const current: unknown = JSON.parse(e.value);
          // As INCR refuses a value that is not a counter.
          if (!Number.isSafeInteger(current)) throw new TypeError('could not count the hit: the key holds a value that is not a counter');
          const count = (current as number) + 1;
          e.value = String(count);
          return { count, resetAt: e.expiresAt };
        }
        return { count: 1, resetAt: entries.set(key, '1', ms).expiresAt };
      }),
    entries: <T>(prefix: string) =>
      op(() => {
        const out: Array<[string, T]> = [];
        for (const e of entries.entries()) if (e.key.startsWith(prefix)) out.push([e.key, JSON.parse(e.value) as T]);
        return out;
      }),
    publish: (channel, message) =>
      op(() => {
        for (const handlers of channels.get(channel) ?? []) {
          // Delivered after publish returns, as a message from Redis is, never inside the caller's turn.
          queueMicrotask(() => {
            try {
              handlers.message(message);
            } catch {
              // A subscriber's failure is its own: the publisher and other subscribers carry on.
            }
          });
        }
      }),
    subscribe: (channel, handlers) =>
      op((): Subscription => {
        let set = channels.get(channel);
        if (!set) channels.set(channel, (set = new Set()));
        // A copy, so that one handlers object subscribed twice is two subscriptions.
        const own: SubscribeHandlers = { message: (m) => handlers.message(m) };
        set.add(own);
        return {
          async close() {
            const current = channels.get(channel);
            current?.delete(own);
            if (current?.size === 0) channels.delete(channel);
          },
        };
      }),
    health: () => ({ backend: 'memory', status: 'ok', breaker: 'closed' }),
    async close() {
      closed = true;
      clearInterval(timer);
      entries.clear();
      channels.clear();
    },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`could not configure the memory store: ${name} must be a positive integer, got: ${value}`);
  return value;
}
