import { describe, expect, it } from 'vitest';
import { ExpiringMap } from '../src/shared/expiring-map.js';

function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const keys = <K, V>(map: ExpiringMap<K, V>) => Array.from(map.entries(), (e) => e.key);

describe('ExpiringMap', () => {
  it('returns a value until its TTL has passed, then drops it on read', () => {
    const clock = fakeClock();
    const map = new ExpiringMap<string, number>({ now: clock.now });
    const e = map.set('a', 1, 1000);
    expect(e.expiresAt).toBe(clock.now() + 1000);
    clock.advance(999);
    expect(map.get('a')).toBe(1);
    expect(map.entry('a')?.expiresAt).toBe(e.expiresAt);
    clock.advance(1);
    expect(map.size).toBe(1);
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it('keeps an entry set without a TTL until it is deleted', () => {
    const clock = fakeClock();
    const map = new ExpiringMap<string, string>({ now: clock.now });
    expect(map.set('forever', 'x').expiresAt).toBe(Infinity);
    clock.advance(10 * 365 * 24 * 3600 * 1000);
    expect(map.get('forever')).toBe('x');
    expect(map.sweep()).toBe(0);
    expect(map.delete('forever')).toBe(true);
    expect(map.delete('forever')).toBe(false);
    expect(map.get('forever')).toBeUndefined();
  });

  it('setUntil takes an absolute expiry; get and entry take the time a caller is handed', () => {
    const clock = fakeClock();
    const map = new ExpiringMap<string, number>({ now: clock.now });
    map.setUntil('a', 1, clock.now() + 50);
    expect(map.get('a', clock.now() + 49)).toBe(1);
    expect(map.entry('a', clock.now() + 50)).toBeUndefined();
    expect(map.size).toBe(0);
    map.setUntil('past', 2, clock.now() - 1);
    expect(map.get('past')).toBeUndefined();
  });

  it('sweeps the expired entries nobody reads, and iterates only live ones', () => {
    const clock = fakeClock();
    const map = new ExpiringMap<string, number>({ now: clock.now });
    map.set('short', 1, 100);
    map.set('long', 2, 10_000);
    map.set('none', 3);
    clock.advance(100);
    expect(keys(map)).toEqual(['long', 'none']);
    expect(map.size).toBe(3);
    expect(map.sweep()).toBe(1);
    expect(map.size).toBe(2);
    expect(map.sweep(clock.now() + 10_000)).toBe(1);
    expect(keys(map)).toEqual(['none']);
  });

  it('iterates in the order of writing: set moves a key to the end', () => {
    const map = new ExpiringMap<string, number>({ now: fakeClock().now });
    for (const k of ['a', 'b', 'c']) map.set(k, 0, 1000);
    map.set('a', 1, 1000);
    expect(keys(map)).toEqual(['b', 'c', 'a']);
  });

  it('changes a value in place through its entry: same expiry, same place', () => {
    const clock = fakeClock();
    const map = new ExpiringMap<string, number>({ now: clock.now, maxEntries: 2 });
    map.set('a', 1, 1000);
    map.set('b', 1, 1000);
    const a = map.entry('a')!;
    a.value += 1;
    expect(map.get('a')).toBe(2);
    expect(map.entry('a')?.expiresAt).toBe(clock.now() + 1000);
    map.set('c', 1, 1000); // a is still the entry written first
    expect(keys(map)).toEqual(['b', 'c']);
  });

  it('past maxEntries drops the entry written first, a rewritten key counting from its last write', () => {
    const map = new ExpiringMap<string, string>({ now: fakeClock().now, maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) map.set(k, k, 10_000);
    map.set('a', 'again', 10_000);
    map.set('d', 'd', 10_000);
    expect(map.get('b')).toBeUndefined();
    expect(keys(map)).toEqual(['c', 'a', 'd']);
    expect(map.size).toBe(3);
  });

  it('stays bounded and keeps the newest under a flood of distinct and rewritten keys', () => {
    const clock = fakeClock();
    const map = new ExpiringMap<string, number>({ now: clock.now, maxEntries: 100 });
    for (let i = 0; i < 20_000; i++) {
      map.set('busy', i, 1); // rewritten on every turn: stale queue entries pile up
      map.set(`k${i}`, i, 60_000);
      clock.advance(1);
      expect(map.size).toBeLessThanOrEqual(100);
    }
    expect(map.get('k19999')).toBe(19999);
    expect(map.get('k19900')).toBeUndefined();
    map.sweep();
    expect(map.size).toBeLessThanOrEqual(100);
  });

  it('clear drops everything, and refuses a maxEntries that is not a positive integer', () => {
    const map = new ExpiringMap<string, number>({ maxEntries: 2 });
    map.set('a', 1, 1000);
    map.clear();
    expect(map.size).toBe(0);
    map.set('b', 2, 1000);
    map.set('c', 3, 1000);
    map.set('d', 4, 1000);
    expect(keys(map)).toEqual(['c', 'd']);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new ExpiringMap({ maxEntries: bad })).toThrow(RangeError);
  });
});
