/**
 * The SharedStore contract, run against the memory store and a real Redis (REDIS_URL, else
 * 127.0.0.1:6379), then what is built on it: the revocation list and the shared rate limiter,
 * each with two store instances over one Redis standing for two replicas. Also the REDIS_URL
 * parser. No Redis answering is a failure, never a skip.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore, createRateLimiter } from '../src/cloud/rate-limit.js';
import { createStore } from '../src/cloud/store/index.js';
import { createMemoryStore } from '../src/cloud/store/memory-store.js';
import { createSharedRateLimitStore } from '../src/cloud/store/rate-limit-store.js';
import { createRedisStore, escapeGlob, parseRedisUrl, reconnectDelay, redisClientOptions } from '../src/cloud/store/redis-store.js';
import { createRevocationList, RevocationUnavailableError, type RevocationList } from '../src/cloud/store/revocations.js';
import type { SharedStore } from '../src/cloud/store/types.js';
import { eventually, sharedStoreContract, type Backend } from './support/store-contract.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Every key of this run lives under it, so runs (and developers) sharing one Redis never collide. */
const RUN_PREFIX = `seed-mcp-test-${randomBytes(6).toString('hex')}:`;
let testNumber = 0;

/** Fails the suite (not skips it) when no Redis answers. */
async function requireRedis(): Promise<void> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new Error(
      `no Redis answers at ${REDIS_URL.replace(/\/\/[^@]*@/, '//')} (${(err as Error).message}): these tests need a real one. ` +
        `Start redis-server (redis-server --daemonize yes --port 6379 --save '') or set REDIS_URL.`,
    );
  } finally {
    probe.disconnect();
  }
}

/** Deletes what this run left behind (everything has a TTL; this is only tidiness). */
async function cleanUp(): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${escapeGlob(RUN_PREFIX)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // No Redis: requireRedis has said so already.
  } finally {
    redis.disconnect();
  }
}

const opened: SharedStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});
const track = (s: SharedStore): SharedStore => (opened.push(s), s);

const memoryBackend: Backend = {
  name: 'memory',
  open() {
    const store = track(createMemoryStore());
    return { a: store, b: store };
  },
};

const redisBackend: Backend = {
  name: 'redis',
  before: requireRedis,
  after: cleanUp,
  open() {
    const prefix = `${RUN_PREFIX}${++testNumber}:`;
    return {
      a: track(createRedisStore({ url: REDIS_URL, prefix })),
      b: track(createRedisStore({ url: REDIS_URL, prefix })),
    };
  },
};

sharedStoreContract(memoryBackend);
sharedStoreContract(redisBackend);

describe('memory store specifics', () => {
  it('is bounded: past maxEntries the entry written first goes', async () => {
    const store = track(createMemoryStore({ maxEntries: 3 }));
    for (const k of ['a', 'b', 'c', 'd']) await store.set(k, k, 10_000);
    expect(await store.get('a')).toBeUndefined();
    expect((await store.entries('')).map(([k]) => k).sort()).toEqual(['b', 'c', 'd']);
  });

  it('expires on its clock, and the sweep drops what nobody reads', async () => {
    let now = 1_000_000;
    const store = track(createMemoryStore({ now: () => now, sweepMs: 20 }));
    await store.set('a', 1, 1000);
    await store.hit('h', 1000);
    now += 999;
    expect(await store.get('a')).toBe(1);
    now += 1;
    expect(await store.get('a')).toBeUndefined();
    expect((await store.hit('h', 1000)).count).toBe(1);
  });

  it('createStore is memory without a URL and Redis with one', async () => {
    const memory = track(createStore({}));
    expect(memory.backend).toBe('memory');
    const redis = track(createStore({ redisUrl: REDIS_URL, prefix: `${RUN_PREFIX}factory:` }));
    expect(redis.backend).toBe('redis');
  });
});

describe('redis store specifics', () => {
  beforeAll(requireRedis);

  it('namespaces keys and channels under its prefix', async () => {
    const prefix = `${RUN_PREFIX}ns:`;
    const store = track(createRedisStore({ url: REDIS_URL, prefix }));
    const raw = new Redis(REDIS_URL);
    try {
      await store.set('client:abc', { a: 1 }, 10_000);
      expect(await raw.get(`${prefix}client:abc`)).toBe('{"a":1}');
      expect(await raw.pttl(`${prefix}client:abc`)).toBeGreaterThan(9000);
      const got: string[] = [];
      await store.subscribe('chan', { message: (m) => got.push(m) });
      await raw.publish('chan', 'unprefixed');
      await raw.publish(`${prefix}chan`, 'prefixed');
      await eventually(() => got.length === 1);
      await sleep(30);
      expect(got).toEqual(['prefixed']);
      // A window's TTL is set by its first hit only.
      await store.hit('w', 5000);
      await raw.pexpire(`${prefix}w`, 60_000);
      await store.hit('w', 5000);
      expect(await raw.pttl(`${prefix}w`)).toBeGreaterThan(50_000);
    } finally {
      raw.disconnect();
    }
  });

  it('rejects a get of a value that is not JSON with a plain error, without opening the breaker', async () => {
    const prefix = `${RUN_PREFIX}notjson:`;
    const store = track(createRedisStore({ url: REDIS_URL, prefix, breaker: { failureThreshold: 1 } }));
    const raw = new Redis(REDIS_URL);
    try {
      await raw.set(`${prefix}k`, 'not json', 'PX', 10_000);
      await expect(store.get('k')).rejects.toThrow(/not JSON/);
      expect(store.health().breaker).toBe('closed');
    } finally {
      raw.disconnect();
    }
  });
});

describe('revocation list over Redis (two replicas)', () => {
  beforeAll(requireRedis);
  afterAll(cleanUp);
  const lists: RevocationList[] = [];
  afterEach(async () => {
    await Promise.all(lists.splice(0).map((l) => l.close()));
  });
  function replicas(failMode: 'closed' | 'open' = 'closed', extra: { now?: () => number; clockToleranceSec?: number } = {}) {
    const prefix = `${RUN_PREFIX}${++testNumber}:`;
    const make = () => {
      const list = createRevocationList(track(createRedisStore({ url: REDIS_URL, prefix })), { failMode, ...extra });
      lists.push(list);
      return list;
    };
    return { one: make(), two: make(), make };
  }
  const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;

  it('a revocation on one replica is seen on the other within a second, and by a replica started later', async () => {
    const { one, two, make } = replicas();
    await Promise.all([one.start(), two.start()]);
    expect(two.isRevoked('jti-1')).toBe(false);
    await one.revoke('jti-1', inSeconds(300));
    expect(one.isRevoked('jti-1')).toBe(true);
    await eventually(() => two.isRevoked('jti-1'), 1000, 'the revocation reaching the other replica');
    const late = make();
    await late.start();
    expect(late.isRevoked('jti-1')).toBe(true);
    expect(late.health()).toEqual({ status: 'ok', entries: 1, answering: 'live', max_staleness_sec: 60 });
  });

  it('fails closed before start() and open when told to', async () => {
    const closed = replicas('closed').one;
    expect(() => closed.isRevoked('x')).toThrow(RevocationUnavailableError);
    expect(closed.health().status).toBe('unavailable');
    await closed.start();
    expect(closed.isRevoked('x')).toBe(false);
    expect(closed.health().status).toBe('ok');
    const open = replicas('open').one;
    expect(open.isRevoked('x')).toBe(false);
  });

  it('drops entries once the token is past exp and the tolerance, in the mirror and in Redis', async () => {
    let offsetMs = 0;
    const { one, two, make } = replicas('closed', { now: () => Date.now() + offsetMs, clockToleranceSec: 0 });
    await Promise.all([one.start(), two.start()]);
    await one.revoke('short-lived', inSeconds(1) + 1);
    await one.revoke('long-lived', inSeconds(600));
    await eventually(() => two.isRevoked('short-lived') && two.isRevoked('long-lived'));
    offsetMs = 60_000;
    expect(one.isRevoked('short-lived')).toBe(false);
    expect(two.isRevoked('short-lived')).toBe(false);
    expect(two.isRevoked('long-lived')).toBe(true);
    offsetMs = 0;
    // The key's TTL ran out too: a replica starting now does not load it.
    await sleep(Math.max(0, (inSeconds(0) + 2) * 1000 - Date.now()) + 50);
    const late = make();
    await late.start();
    expect(late.isRevoked('long-lived')).toBe(true);
    expect(late.isRevoked('short-lived')).toBe(false);
    expect(late.health().entries).toBe(1);
  });

  it('keeps a revocation for the clock tolerance past exp, as the validator accepts the token that long', async () => {
    let offsetMs = 0;
    const { one } = replicas('closed', { now: () => Date.now() + offsetMs });
    await one.start();
    await one.revoke('t', inSeconds(10));
    offsetMs = 20_000;
    expect(one.isRevoked('t')).toBe(true);
    offsetMs = 41_000;
    expect(one.isRevoked('t')).toBe(false);
  });

  it('ignores a revocation of a token already past use, and refuses an empty id', async () => {
    const { one } = replicas();
    await one.start();
    await one.revoke('old', inSeconds(-3600));
    expect(one.isRevoked('old')).toBe(false);
    await expect(one.revoke('', inSeconds(60))).rejects.toThrow(TypeError);
  });

  it('works over the memory store for a single replica', async () => {
    const list = createRevocationList(track(createMemoryStore()), { failMode: 'closed' });
    lists.push(list);
    await list.start();
    await list.revoke('m', inSeconds(60));
    expect(list.isRevoked('m')).toBe(true);
    expect(list.isRevoked('n')).toBe(false);
  });
});

describe('shared rate-limit store', () => {
  beforeAll(requireRedis);
  afterAll(cleanUp);

  it('counts across two replicas, so the limit holds for the deployment', async () => {
    const prefix = `${RUN_PREFIX}${++testNumber}:`;
    const limiterOn = () =>
      createRateLimiter({
        store: createSharedRateLimitStore(track(createRedisStore({ url: REDIS_URL, prefix })), { fallback: createMemoryRateLimitStore() }),
        max: 3,
        windowMs: 10_000,
      });
    const one = limiterOn();
    const two = limiterOn();
    const verdicts = [];
    for (const limiter of [one, two, one, two, one]) verdicts.push((await limiter.check('ip:203.0.113.7')).allowed);
    expect(verdicts).toEqual([true, true, true, false, false]);
    expect((await two.check('ip:198.51.100.1')).allowed).toBe(true);
    const raw = new Redis(REDIS_URL);
    try {
      expect(await raw.get(`${prefix}rl:ip:203.0.113.7`)).toBe('5');
    } finally {
      raw.disconnect();
    }
  });
});

describe('parseRedisUrl', () => {
  it('reads a plain URL with defaults', () => {
    expect(parseRedisUrl('redis://127.0.0.1')).toEqual({
      kind: 'standalone',
      node: { host: '127.0.0.1', port: 6379 },
      db: 0,
      tls: false,
      description: 'redis://127.0.0.1:6379/0',
    });
    expect(parseRedisUrl('rediss://alice:pw@redis.example.com:6380/3')).toMatchObject({
      kind: 'standalone',
      node: { host: 'redis.example.com', port: 6380 },
      db: 3,
      tls: true,
      username: 'alice',
      password: 'pw',
      description: 'rediss://redis.example.com:6380/3',
    });
    expect(parseRedisUrl('redis://[::1]:7000/')).toMatchObject({ node: { host: '::1', port: 7000 }, description: 'redis://[::1]:7000/0' });
  });

  it.each([
    ['redis://:p@ss@host:6379', 'p@ss'],
    ['redis://:p#ss@host:6379', 'p#ss'],
    ['redis://:p/ss@host:6379', 'p/ss'],
    ['redis://:p%40ss@host:6379', 'p@ss'],
    ['redis://:a@b#c/d%2Fe@host', 'a@b#c/d/e'],
    ['redis://:50%off@host', '50%off'],
    ['redis://default:x:y@host', 'x:y'],
  ])('takes the password of %s as %j, never into the description', (url, password) => {
    const target = parseRedisUrl(url);
    expect(target.password).toBe(password);
    expect(target).toMatchObject({ kind: 'standalone', node: { host: 'host', port: 6379 } });
    expect(target.description).not.toContain(password);
  });

  it('takes userinfo without a colon as a password (the pre-ACL form)', () => {
    expect(parseRedisUrl('redis://s3cret@host')).toMatchObject({ password: 's3cret' });
    expect(parseRedisUrl('redis://s3cret@host').username).toBeUndefined();
    expect(parseRedisUrl('redis://us%65r:@host')).toMatchObject({ username: 'user' });
  });

  it('reads a sentinel URL: hosts with the sentinel port by default, the master name, the db', () => {
    const target = parseRedisUrl('redis+sentinel://app:p%40ss@s1,s2:26380,[fd00::1]/mymaster/2');
    expect(target).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: 'fd00::1', port: 26379 },
      ],
      name: 'mymaster',
      db: 2,
      tls: false,
      username: 'app',
      password: 'p@ss',
      description: 'redis+sentinel://s1:26379,s2:26380,[fd00::1]:26379/mymaster/2',
    });
    expect(parseRedisUrl('redis+sentinel://:a@b/c@s1:26379/mymaster')).toMatchObject({ password: 'a@b/c', name: 'mymaster', db: 0 });
    const options = redisClientOptions(target, 1000);
    expect(options.kind).toBe('redis');
    expect(options.options).toMatchObject({ sentinels: target.kind === 'sentinel' ? target.sentinels : [], name: 'mymaster', db: 2, password: 'p@ss', username: 'app' });
    expect(options.options).not.toHaveProperty('sentinelPassword');
    expect(redisClientOptions(parseRedisUrl('rediss+sentinel://h/m'), 1000).options).toMatchObject({ tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} });
  });

  it('reads a cluster URL into seed nodes and Cluster options', () => {
    const target = parseRedisUrl('redis+cluster://:p#w@n1:7000,n2:7001,n3');
    expect(target).toMatchObject({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
        { host: 'n3', port: 6379 },
      ],
      password: 'p#w',
      description: 'redis+cluster://n1:7000,n2:7001,n3:6379',
    });
    const built = redisClientOptions(target, 800);
    expect(built.kind).toBe('cluster');
    expect(built.options).toMatchObject({ enableOfflineQueue: false, redisOptions: { password: 'p#w', commandTimeout: 800, enableOfflineQueue: false } });
    expect(redisClientOptions(parseRedisUrl('rediss+cluster://n1'), 1000).options).toMatchObject({ redisOptions: { tls: {} } });
  });

  it('sets what keeps a call from hanging, and TLS with SNI for host names only', () => {
    const { options } = redisClientOptions(parseRedisUrl('rediss://redis.example.com'), 1000);
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      lazyConnect: false,
      autoResendUnfulfilledCommands: false,
      tls: { servername: 'redis.example.com' },
    });
    expect(redisClientOptions(parseRedisUrl('rediss://10.0.0.5'), 1000).options).toMatchObject({ tls: {} });
    expect(redisClientOptions(parseRedisUrl('rediss://10.0.0.5'), 1000).options).not.toHaveProperty('tls.servername');
  });

  it.each([
    ['http://host', /must start with/],
    ['redis://h1,h2', /one host/],
    ['redis://host/abc', /database must be a number/],
    ['redis://host/1/2', /at most \/db/],
    ['redis://host:99999', /port/],
    ['redis://host?db=1', /query/],
    ['redis+sentinel://s1,s2', /names its master/],
    ['redis+sentinel://s1/m/1/2', /at most/],
    ['redis+cluster://n1/3', /only database 0/],
    ['redis://', /host/],
  ])('refuses %s, without quoting the URL', (url, why) => {
    expect(() => parseRedisUrl(url)).toThrow(why);
    expect(() => parseRedisUrl(url.replace('//', '//:topsecret@'))).toThrow(/^(?!.*topsecret)/);
  });

  it('backs off from 200 ms doubling to 5 s, with jitter within [half, full]', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map((n) => reconnectDelay(n, () => 1))).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    expect([1, 6].map((n) => reconnectDelay(n, () => 0))).toEqual([100, 2500]);
  });
});
