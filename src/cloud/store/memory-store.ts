/**
 * The {@link SharedStore} of a single replica: a `Map` in this process, nothing to install. It keeps
 * the contract of the Redis adapter where callers can tell (values copied through JSON, TTLs,
 * atomic `take`, fixed windows, publish/subscribe) so that code tested on one runs on the other.
 */
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

interface Entry {
  readonly key: string;
  /** The value as JSON, parsed afresh on each read so that callers never share an object. */
  json: string;
  expiresAt: number;
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
 * await store.set('client:abc', { name: 'Claude' }, 60_000);
 * await store.get('client:abc'); // { name: 'Claude' }, a copy
 * await store.close();
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): SharedStore {
  const clock = options.now ?? Date.now;
  const sweepMs = positiveInteger('sweepMs', options.sweepMs ?? 60_000);
  const maxEntries = positiveInteger('maxEntries', options.maxEntries ?? 100_000);
  const entries = new Map<string, Entry>();
  const channels = new Map<string, Set<SubscribeHandlers>>();
  // Entries in the order they were written, oldest from `head`; one is stale once its key holds a
  // newer entry or is gone. Not `entries.keys().next()`: V8 walks every deleted slot at the front
  // of a Map on each fresh iterator, which makes eviction O(n) per write under a flood.
  let written: Entry[] = [];
  let head = 0;
  let closed = false;

  const isLive = (e: Entry) => entries.get(e.key) === e;
  const compact = () => {
    written = written.slice(head).filter(isLive);
    head = 0;
  };
  const sweep = () => {
    const now = clock();
    for (const [key, e] of entries) if (e.expiresAt <= now) entries.delete(key);
    compact();
  };
  const timer = setInterval(sweep, sweepMs);
  timer.unref();

  /** The live entry of `key`, dropping it when expired. */
  const live = (key: string): Entry | undefined => {
    const e = entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt > clock()) return e;
    entries.delete(key);
    return undefined;
  };
  const write = (key: string, json: string, ttlMs: number): Entry => {
    const e: Entry = { key, json, expiresAt: clock() + ttlMs };
    // Deleted first so that the Map's order, like `written`, is the order of writing.
    entries.delete(key);
    entries.set(key, e);
    written.push(e);
    while (entries.size > maxEntries && head < written.length) {
      const oldest = written[head++] as Entry;
      if (isLive(oldest)) entries.delete(oldest.key);
    }
    // Stale entries (rewritten keys) pile up between sweeps: dropping them once they outnumber the
    // live ones keeps the queue within 2 × maxEntries at amortised O(1) per write.
    if (written.length - head > 2 * maxEntries || (head > 1024 && head * 2 > written.length)) compact();
    return e;
  };
  const parse = <T>(e: Entry | undefined): T | undefined => (e === undefined ? undefined : (JSON.parse(e.json) as T));

  /** Runs `fn` unless the store is closed; async so that a throw becomes a rejection. */
  const op = async <T>(fn: () => T): Promise<T> => {
    if (closed) throw new Error('could not use the memory store: it is closed');
    return fn();
  };

  return {
    backend: 'memory',
    get: <T>(key: string) => op(() => parse<T>(live(key))),
    set: (key, value, ttlMs) =>
      op(() => {
        write(key, toJson(value), ttl(ttlMs));
      }),
    add: (key, value, ttlMs) =>
      op(() => {
        const json = toJson(value);
        const ms = ttl(ttlMs);
        if (live(key)) return false;
        write(key, json, ms);
        return true;
      }),
    // One synchronous step: no other caller can run between the read and the delete.
    take: <T>(key: string) =>
      op(() => {
        const e = live(key);
        if (e) entries.delete(key);
        return parse<T>(e);
      }),
    delete: (key) =>
      op(() => {
        entries.delete(key);
      }),
    hit: (key, windowMs) =>
      op((): WindowCount => {
        const ms = ttl(windowMs);
        const e = live(key);
        if (e) {
          const current: unknown = JSON.parse(e.json);
          // As INCR refuses a value that is not a counter.
          if (!Number.isSafeInteger(current)) throw new TypeError('could not count the hit: the key holds a value that is not a counter');
          const count = (current as number) + 1;
          e.json = String(count);
          return { count, resetAt: e.expiresAt };
        }
        return { count: 1, resetAt: write(key, '1', ms).expiresAt };
      }),
    entries: <T>(prefix: string) =>
      op(() => {
        const now = clock();
        const out: Array<[string, T]> = [];
        for (const [key, e] of entries) {
          if (key.startsWith(prefix) && e.expiresAt > now) out.push([key, JSON.parse(e.json) as T]);
        }
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
      written = [];
      head = 0;
    },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`could not configure the memory store: ${name} must be a positive integer, got: ${value}`);
  return value;
}
