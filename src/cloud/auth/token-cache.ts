/**
 * A bounded least-recently-used map: the verified-token cache. Keys are sha256 digests of tokens
 * (the validator never stores a token), values what verification found. A JavaScript `Map`
 * iterates in insertion order, so re-inserting on a hit keeps the oldest entry first, and
 * eviction takes it in O(1).
 */
export class TokenCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #max: number;

  /** `max` ≤ 0 disables the cache: nothing is stored. */
  constructor(max: number) {
    this.#max = Math.max(0, Math.floor(max));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry, now the most recently used; undefined when absent. */
  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.#max === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry `predicate` holds for (key rotation: tokens of a withdrawn key). O(n). */
  deleteWhere(predicate: (value: V) => boolean): number {
    let dropped = 0;
    for (const [key, value] of this.#entries) {
      if (predicate(value)) {
        this.#entries.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  clear(): void {
    this.#entries.clear();
  }
}
