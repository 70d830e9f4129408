/**
 * A `Map` whose entries expire: the one implementation behind seed-mcp's in-memory state with a
 * lifetime (the single-replica shared store and rate-limit counters, the revocation mirror, the
 * demo IdP's adapter).
 *
 * - An entry set with a TTL is gone once the clock reaches its `expiresAt`; one set without lives
 *   until deleted (`expiresAt` is `Infinity`). Reads never see an expired entry and drop the one
 *   they find; {@link ExpiringMap.sweep} drops the ones nobody reads.
 * - `set` deletes the key first, so iteration follows the order of writing.
 * - With `maxEntries`, a write past the bound drops the entry written first. That order is kept
 *   in a queue of its own, not read from the Map with `keys().next()`: V8 walks every deleted
 *   slot at the front of a Map on each fresh iterator, which makes eviction O(n) per write under a
 *   flood of distinct keys; the queue keeps it amortised O(1).
 */

/** An entry as the map holds it. */
export interface ExpiringEntry<K, V> {
  readonly key: K;
  /** Assigning changes the value in place: same expiry, same place in the order of writing. */
  value: V;
  /** Epoch ms from which the entry is gone; `Infinity` when it never expires. */
  readonly expiresAt: number;
}

export interface ExpiringMapOptions {
  /** The clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** The most entries held at once (expired ones not yet dropped included); default unbounded. */
  maxEntries?: number;
}

/**
 * @example
 * ```ts
 * const codes = new ExpiringMap<string, string>({ maxEntries: 10_000 });
 * codes.set('abc', 'alice', 60_000);
 * codes.get('abc'); // 'alice', for a minute
 * setInterval(() => codes.sweep(), 60_000).unref();
 * ```
 */
export class ExpiringMap<K, V> {
  readonly #entries = new Map<K, ExpiringEntry<K, V>>();
  readonly #now: () => number;
  readonly #max: number;
  // Only with maxEntries: entries in the order they were written, oldest from #head. One is stale
  // once its key holds a newer entry or is gone.
  #written: Array<ExpiringEntry<K, V>> = [];
  #head = 0;

  constructor(options: ExpiringMapOptions = {}) {
    const max = options.maxEntries ?? Infinity;
    if (max !== Infinity && (!Number.isInteger(max) || max < 1)) throw new RangeError(`could not create the map: maxEntries must be a positive integer, got: ${max}`);
    this.#now = options.now ?? Date.now;
    this.#max = max;
  }

  /** Entries held now, expired ones not yet dropped included. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value of `key` unless absent or expired (an expired entry is dropped). */
  get(key: K, now?: number): V | undefined {
    return this.entry(key, now)?.value;
  }

  /**
   * The entry of `key` unless absent or expired (an expired entry is dropped). `now` overrides
   * the clock, for a caller that is handed the time.
   */
  entry(key: K, now?: number): ExpiringEntry<K, V> | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt > (now ?? this.#now())) return e;
    this.#entries.delete(key);
    return undefined;
  }

  /** Stores `value` under `key` for `ttlMs`, or until deleted when `ttlMs` is undefined. */
  set(key: K, value: V, ttlMs?: number): ExpiringEntry<K, V> {
    return this.setUntil(key, value, ttlMs === undefined ? Infinity : this.#now() + ttlMs);
  }

  /** Stores `value` under `key` until `expiresAt` (epoch ms; `Infinity`: until deleted). */
  setUntil(key: K, value: V, expiresAt: number): ExpiringEntry<K, V> {
    const e: ExpiringEntry<K, V> = { key, value, expiresAt };
    this.#entries.delete(key);
    this.#entries.set(key, e);
    if (this.#max !== Infinity) this.#evict(e);
    return e;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /**
   * Drops every expired entry and returns how many. A full pass: entries of different lifetimes
   * share the map, so expiry does not follow the order of writing. Meant for an unref'd timer.
   */
  sweep(now: number = this.#now()): number {
    let dropped = 0;
    for (const [key, e] of this.#entries) {
      if (e.expiresAt <= now) {
        this.#entries.delete(key);
        dropped += 1;
      }
    }
    if (this.#max !== Infinity) this.#compact();
    return dropped;
  }

  /** The entries not expired at `now` (default: the clock's), in the order of writing. */
  *entries(now: number = this.#now()): IterableIterator<ExpiringEntry<K, V>> {
    for (const e of this.#entries.values()) if (e.expiresAt > now) yield e;
  }

  clear(): void {
    this.#entries.clear();
    this.#written = [];
    this.#head = 0;
  }

  #isLive = (e: ExpiringEntry<K, V>): boolean => this.#entries.get(e.key) === e;

  #evict(written: ExpiringEntry<K, V>): void {
    this.#written.push(written);
    // Every live entry sits at or after #head, so this finds one before running out.
    while (this.#entries.size > this.#max && this.#head < this.#written.length) {
      const oldest = this.#written[this.#head++] as ExpiringEntry<K, V>;
      if (this.#isLive(oldest)) this.#entries.delete(oldest.key);
    }
    // Stale entries (rewritten keys) pile up between sweeps: dropping them once they outnumber the
    // live ones keeps the queue within 2 × maxEntries at amortised O(1) per write.
    if (this.#written.length - this.#head > 2 * this.#max || (this.#head > 1024 && this.#head * 2 > this.#written.length)) this.#compact();
  }

  #compact(): void {
    this.#written = this.#written.slice(this.#head).filter(this.#isLive);
    this.#head = 0;
  }
}
