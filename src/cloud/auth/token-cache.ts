/**
 * A bounded, approximately least-recently-used map from tokens to what verifying them found: the
 * verified-token cache, looked up on every authenticated request.
 *
 * Cost is the point. Hashing an 850-character token as a `Map` key costs about 1.4 µs (V8 hashes
 * every character of a new string), a sha256 of it about as much; so entries are filed under the
 * token's last {@link KEY_CHARS} characters (the end of its signature: unpredictable for every
 * token an IdP signs) and a hit is confirmed by comparing the whole token, which is a memcmp. A
 * token crafted to share another's ending is simply a miss (and verified in full); so is any other
 * spelling of a cached token (a changed unused bit, padding), which verifying then refuses: an
 * entry only ever answers the exact text that was verified. The tokens stay in memory no longer
 * than their entry: until `exp` or eviction.
 *
 * A JavaScript `Map` iterates in insertion order, so re-inserting an entry makes it the newest and
 * eviction takes the oldest in O(1). Re-inserting on every hit would cost another 0.3 µs, so a hit
 * moves its entry only once a quarter of the capacity has been inserted since it last moved: an
 * entry in use is never the oldest by far.
 */
export class TokenCache<V> {
  readonly #entries = new Map<string, Slot<V>>();
  readonly #max: number;
  readonly #touchAfter: number;
  #clock = 0;

  /** `max` ≤ 0 disables the cache: nothing is stored. */
  constructor(max: number) {
    this.#max = Math.max(0, Math.floor(max));
    this.#touchAfter = Math.floor(this.#max / 4);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** What `token` was stored with; undefined when absent. */
  get(token: string): V | undefined {
    const key = keyOf(token);
    const slot = this.#entries.get(key);
    if (slot === undefined || slot.token !== token) return undefined;
    if (this.#clock - slot.stamp > this.#touchAfter) {
      slot.stamp = this.#clock;
      this.#entries.delete(key);
      this.#entries.set(key, slot);
    }
    return slot.value;
  }

  set(token: string, value: V): void {
    if (this.#max === 0) return;
    const key = keyOf(token);
    this.#clock += 1;
    this.#entries.delete(key);
    this.#entries.set(key, { token, value, stamp: this.#clock });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  delete(token: string): void {
    const key = keyOf(token);
    if (this.#entries.get(key)?.token === token) this.#entries.delete(key);
  }

  /** Drops every entry `predicate` holds for (key rotation: tokens of a withdrawn key). O(n). */
  deleteWhere(predicate: (value: V) => boolean): number {
    let dropped = 0;
    for (const [key, slot] of this.#entries) {
      if (predicate(slot.value)) {
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

interface Slot<V> {
  token: string;
  value: V;
  /** The insertion count when the entry last moved to the newest end. */
  stamp: number;
}

/** Characters of the token's end that file its entry. */
const KEY_CHARS = 32;

const keyOf = (token: string): string => (token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token);
