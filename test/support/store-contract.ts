/**
 * The SharedStore contract (types.ts) as a suite to run against any backend: the memory store,
 * a standalone Redis (test/store.test.ts), Redis behind Sentinel and a Redis Cluster
 * (test/redis-topologies.test.ts). Every store a backend opens is closed after its test.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SharedStore } from '../../src/cloud/store/types.js';

export async function eventually(check: () => boolean, timeoutMs = 1000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Two replicas' views of one shared state; for memory, one process is one replica, so a === b. */
export interface Replicas {
  a: SharedStore;
  b: SharedStore;
}
export interface Backend {
  name: string;
  before?(): Promise<void>;
  after?(): Promise<void>;
  /** What `backend` the stores report; `name` unless set. */
  kind?: 'memory' | 'redis';
  /** Fresh replicas over a state no other test sees. */
  open(): Replicas | Promise<Replicas>;
}

/** Registers the contract's tests, in a describe of their own, for `backend`. */
export function sharedStoreContract(backend: Backend): void {
  describe(`SharedStore contract: ${backend.name}`, () => {
    if (backend.before) beforeAll(backend.before);
    if (backend.after) afterAll(backend.after);
    const opened: SharedStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const open = async (): Promise<Replicas> => {
      const replicas = await backend.open();
      opened.push(replicas.a, replicas.b);
      return replicas;
    };

    it('gets what was set, on any replica; undefined when absent; set replaces', async () => {
      const { a, b } = await open();
      expect(await a.get('nothing')).toBeUndefined();
      await a.set('client:abc', { name: 'Claude', uris: ['http://127.0.0.1/cb'] }, 10_000);
      expect(await b.get('client:abc')).toEqual({ name: 'Claude', uris: ['http://127.0.0.1/cb'] });
      await b.set('client:abc', 'second', 10_000);
      expect(await a.get('client:abc')).toBe('second');
      await a.set('n', 0, 10_000);
      expect(await a.get('n')).toBe(0);
    });

    it('drops a value when its TTL passes', async () => {
      const { a, b } = await open();
      await a.set('short', 1, 80);
      expect(await b.get('short')).toBe(1);
      await sleep(150);
      expect(await a.get('short')).toBeUndefined();
      expect(await b.get('short')).toBeUndefined();
    });

    it('stores JSON: what get returns is a copy, never the object that was set', async () => {
      const { a } = await open();
      const value = { list: [1, 2], nested: { x: 'y' } };
      await a.set('obj', value, 10_000);
      value.list.push(3);
      const first = await a.get<typeof value>('obj');
      expect(first).toEqual({ list: [1, 2], nested: { x: 'y' } });
      first!.nested.x = 'changed';
      const second = await a.get<typeof value>('obj');
      expect(second).toEqual({ list: [1, 2], nested: { x: 'y' } });
      expect(second).not.toBe(first);
      await expect(a.set('bad', undefined, 1000)).rejects.toThrow(TypeError);
      await expect(a.set('bad', 1, 0)).rejects.toThrow(RangeError);
    });

    it('add stores only when the key is absent (NX)', async () => {
      const { a, b } = await open();
      expect(await a.add('once', 'first', 100)).toBe(true);
      expect(await b.add('once', 'second', 10_000)).toBe(false);
      expect(await b.get('once')).toBe('first');
      await sleep(150);
      expect(await b.add('once', 'third', 10_000)).toBe(true);
      expect(await a.get('once')).toBe('third');
    });

    it('take hands the value to exactly one of 20 concurrent takers on two replicas', async () => {
      const { a, b } = await open();
      for (let round = 0; round < 5; round++) {
        await a.set(`code:${round}`, { round }, 10_000);
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).take(`code:${round}`)));
        expect(results.filter((r) => r !== undefined)).toEqual([{ round }]);
        expect(await a.get(`code:${round}`)).toBeUndefined();
      }
      expect(await a.take('never-set')).toBeUndefined();
    });

    it('delete removes a key, and deleting an absent one is fine', async () => {
      const { a, b } = await open();
      await a.set('gone', 1, 10_000);
      await b.delete('gone');
      expect(await a.get('gone')).toBeUndefined();
      await expect(a.delete('gone')).resolves.toBeUndefined();
    });

    it('hit counts in a fixed window that starts at the first hit and ends windowMs later', async () => {
      const { a, b } = await open();
      const before = Date.now();
      const first = await a.hit('rl:x', 150);
      expect(first.count).toBe(1);
      expect(first.resetAt).toBeGreaterThanOrEqual(before + 140);
      expect(first.resetAt).toBeLessThanOrEqual(Date.now() + 150 + 5);
      const second = await b.hit('rl:x', 150);
      const third = await a.hit('rl:x', 150);
      expect([second.count, third.count]).toEqual([2, 3]);
      // The window does not slide: later hits share its end (Redis' is derived from PTTL, ±a few ms).
      expect(Math.abs(third.resetAt - first.resetAt)).toBeLessThanOrEqual(10);
      await sleep(Math.max(0, first.resetAt - Date.now()) + 30);
      const next = await b.hit('rl:x', 150);
      expect(next.count).toBe(1);
      expect(next.resetAt).toBeGreaterThan(first.resetAt + 20);
    });

    it('hit counts 60 concurrent hits from two replicas exactly', async () => {
      const { a, b } = await open();
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).hit('rl:burst', 10_000)));
      expect(results.map((r) => r.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    });

    it('entries lists the live entries under a prefix, and only those', async () => {
      const { a, b } = await open();
      await a.set('p:a', { v: 'a' }, 10_000);
      await a.set('p:b', { v: 'b' }, 10_000);
      await a.set('p:short', { v: 'short' }, 50);
      await a.set('q:c', { v: 'c' }, 10_000);
      await a.set('p', { v: 'not under p:' }, 10_000);
      await sleep(100);
      const listed = await b.entries<{ v: string }>('p:');
      expect(listed.sort(([x], [y]) => x.localeCompare(y))).toEqual([
        ['p:a', { v: 'a' }],
        ['p:b', { v: 'b' }],
      ]);
      expect(await b.entries('none:')).toEqual([]);
    });

    it('entries takes glob characters in the prefix literally', async () => {
      const { a } = await open();
      await a.set('a*[1', 1, 10_000);
      await a.set('a*[2', 2, 10_000);
      await a.set('ab[3', 3, 10_000);
      await a.set('aX[4', 4, 10_000);
      await a.set('a*]5', 5, 10_000);
      await a.set('x?\\y', 6, 10_000);
      await a.set('xz\\y', 7, 10_000);
      const listed = (await a.entries<number>('a*[')).map(([, v]) => v).sort();
      expect(listed).toEqual([1, 2]);
      expect((await a.entries<number>('x?\\')).map(([, v]) => v)).toEqual([6]);
    });

    it('entries returns many entries (several SCAN pages and value batches)', async () => {
      const { a } = await open();
      await Promise.all(Array.from({ length: 1200 }, (_, i) => a.set(`many:${i}`, i, 10_000)));
      const listed = await a.entries<number>('many:');
      expect(listed.length).toBe(1200);
      expect(new Set(listed.map(([, v]) => v)).size).toBe(1200);
    });

    it('publish reaches the subscribers of the channel on every replica, until they close', async () => {
      const { a, b } = await open();
      const onA: string[] = [];
      const onB: string[] = [];
      const other: string[] = [];
      const subA = await a.subscribe('news', { message: (m) => onA.push(m) });
      const subB = await b.subscribe('news', { message: (m) => onB.push(m) });
      await b.subscribe('sport', { message: (m) => other.push(m) });
      await a.publish('news', 'one');
      await b.publish('news', 'two');
      await eventually(() => onA.length === 2 && onB.length === 2, 1000, 'delivery to both replicas');
      // Sorted: two publishers on two replicas may reach a cluster through two nodes, with no order between them.
      expect([...onA].sort()).toEqual(['one', 'two']);
      expect([...onB].sort()).toEqual(['one', 'two']);
      await subB.close();
      await a.publish('news', 'three');
      await eventually(() => onA.length === 3, 1000, 'delivery after the other closed');
      await sleep(50);
      expect([...onB].sort()).toEqual(['one', 'two']);
      expect(other).toEqual([]);
      await subA.close();
    });

    it('a subscriber that throws does not stop the others', async () => {
      const { a, b } = await open();
      const got: string[] = [];
      await b.subscribe('c', {
        message: () => {
          throw new Error('subscriber bug');
        },
      });
      await b.subscribe('c', { message: (m) => got.push(m) });
      await a.publish('c', 'still delivered');
      await eventually(() => got.length === 1, 1000, 'delivery');
    });

    it('reports itself healthy', async () => {
      const { a } = await open();
      await a.set('k', 1, 1000);
      expect(a.health()).toMatchObject({ backend: backend.kind ?? backend.name, status: 'ok', breaker: 'closed' });
    });

    it('close makes every further call reject', async () => {
      const { a } = await open();
      await a.set('k', 1, 10_000);
      await a.close();
      await a.close();
      await expect(a.get('k')).rejects.toThrow(/closed/);
      await expect(a.set('k', 1, 1000)).rejects.toThrow(/closed/);
      await expect(a.hit('k', 1000)).rejects.toThrow(/closed/);
      await expect(a.entries('')).rejects.toThrow(/closed/);
      await expect(a.publish('c', 'm')).rejects.toThrow(/closed/);
      await expect(a.subscribe('c', { message() {} })).rejects.toThrow(/closed/);
    });
  });
}
