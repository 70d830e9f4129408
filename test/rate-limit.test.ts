/** Rate limiting: fixed windows on an injected clock, keys, client IPs behind proxies, memory bound, headers. */
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientIp, createMemoryRateLimitStore, createRateLimiter, rateLimitHeaders, rateLimitKey, type MemoryRateLimitStore } from '../src/cloud/rate-limit.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const stores: MemoryRateLimitStore[] = [];
function newStore(options?: Parameters<typeof createMemoryRateLimitStore>[0]): MemoryRateLimitStore {
  const store = createMemoryRateLimitStore(options);
  stores.push(store);
  return store;
}
afterEach(() => {
  stores.splice(0).forEach((s) => s.close());
  vi.useRealTimers();
});

/** Just what clientIp reads of a request. */
function fakeRequest(remoteAddress: string | undefined, headers: IncomingMessage['headers'] = {}): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

describe('createRateLimiter', () => {
  it('allows max requests per window, refuses the next, and starts over when the window ends', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ store: newStore({ now: clock.now }), max: 3, windowMs: 60_000, now: clock.now });
    const start = clock.now();

    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await limiter.check('ip:203.0.113.7'));
    expect(seen.map((r) => [r.allowed, r.remaining, r.retryAfterSec])).toEqual([
      [true, 2, 0],
      [true, 1, 0],
      [true, 0, 0],
    ]);
    expect(seen.every((r) => r.resetAt === start + 60_000)).toBe(true);

    clock.advance(59_999);
    const refused = await limiter.check('ip:203.0.113.7');
    expect(refused).toEqual({ allowed: false, remaining: 0, retryAfterSec: 1, resetAt: start + 60_000 });

    clock.advance(1); // the window ends exactly at resetAt
    const fresh = await limiter.check('ip:203.0.113.7');
    expect(fresh).toEqual({ allowed: true, remaining: 2, retryAfterSec: 0, resetAt: start + 120_000 });
  });

  it('rounds Retry-After up to whole seconds, from the moment of the check', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ store: newStore(), max: 1, windowMs: 60_000, now: clock.now });
    await limiter.check('k');
    expect((await limiter.check('k')).retryAfterSec).toBe(60);
    clock.advance(500);
    expect((await limiter.check('k')).retryAfterSec).toBe(60); // 59.5 s → 60
    clock.advance(30_000);
    expect((await limiter.check('k')).retryAfterSec).toBe(30); // 29.5 s → 30
  });

  it('keeps refused requests counted, so hammering changes nothing but the window still ends', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ store: newStore(), max: 2, windowMs: 1_000, now: clock.now });
    for (let i = 0; i < 50; i++) await limiter.check('k');
    const r = await limiter.check('k');
    expect(r.allowed).toBe(false);
    expect(r.remaining).toBe(0);
    clock.advance(1_000);
    expect((await limiter.check('k')).allowed).toBe(true);
  });

  it('counts each key on its own', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ store: newStore(), max: 1, windowMs: 60_000, now: clock.now });
    expect((await limiter.check('ip:198.51.100.1')).allowed).toBe(true);
    expect((await limiter.check('ip:198.51.100.1')).allowed).toBe(false);
    expect((await limiter.check('ip:198.51.100.2')).allowed).toBe(true);
  });

  it('refuses a nonsensical configuration', () => {
    const store = newStore();
    expect(() => createRateLimiter({ store, max: 0, windowMs: 1000 })).toThrow(RangeError);
    expect(() => createRateLimiter({ store, max: 10, windowMs: Number.NaN })).toThrow(/windowMs must be a positive integer/);
  });
});

describe('createMemoryRateLimitStore', () => {
  it('stays within maxKeys under a flood of 200,000 distinct keys', async () => {
    const store = newStore(); // the default bound: 100,000
    const now = Date.now();
    let largest = 0;
    for (let i = 0; i < 200_000; i++) {
      await store.hit(`ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 60_000, now);
      largest = Math.max(largest, store.size());
    }
    expect(largest).toBe(100_000);
    expect(store.size()).toBe(100_000);
  });

  it('drops the oldest window first when over maxKeys', async () => {
    const clock = fakeClock();
    const store = newStore({ maxKeys: 3 });
    await store.hit('a', 60_000, clock.now());
    clock.advance(1);
    await store.hit('b', 60_000, clock.now());
    clock.advance(1);
    await store.hit('c', 60_000, clock.now());
    await store.hit('a', 60_000, clock.now()); // a counted again: still the oldest window
    await store.hit('d', 60_000, clock.now());
    expect(store.size()).toBe(3);
    expect((await store.hit('b', 60_000, clock.now())).count).toBe(2); // b kept
    expect((await store.hit('a', 60_000, clock.now())).count).toBe(1); // a was evicted: a new window
  });

  it('keeps evicting in window-start order while some keys renew their windows over and over', async () => {
    const clock = fakeClock();
    const store = newStore({ maxKeys: 100 });
    for (let i = 0; i < 20_000; i++) {
      clock.advance(1);
      // 'busy' starts a new 1 ms window on every hit; the others are a flood of one-off keys.
      await store.hit('busy', 1, clock.now());
      await store.hit(`ip:${i}`, 60_000, clock.now());
      expect(store.size()).toBeLessThanOrEqual(100);
    }
    clock.advance(1);
    expect((await store.hit('ip:19999', 60_000, clock.now())).count).toBe(2); // newest flood key kept
    expect((await store.hit('ip:19900', 60_000, clock.now())).count).toBe(1); // older ones pushed out
  });

  it('sweeps expired keys on its timer', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = fakeClock();
    const store = newStore({ sweepIntervalMs: 10_000, now: clock.now });
    await store.hit('short', 5_000, clock.now());
    await store.hit('long', 60_000, clock.now());
    expect(store.size()).toBe(2);

    clock.advance(10_000);
    vi.advanceTimersByTime(10_000);
    expect(store.size()).toBe(1);
    expect((await store.hit('long', 60_000, clock.now())).count).toBe(2);

    clock.advance(60_000);
    vi.advanceTimersByTime(10_000);
    expect(store.size()).toBe(0);
  });

  it('does not hold the process open, and close stops the timer', () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const store = createMemoryRateLimitStore({ sweepIntervalMs: 1_000 });
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
    store.close();
    expect(store.size()).toBe(0);
  });
});

describe('rateLimitKey', () => {
  it('keys an authenticated caller by a sha256 digest of issuer and subject, never the subject itself', () => {
    const key = rateLimitKey({ issuer: 'https://login.example.com', subject: 'alice@example.com', ip: '203.0.113.7' });
    const digest = createHash('sha256')
      .update(JSON.stringify(['https://login.example.com', 'alice@example.com']))
      .digest('hex');
    expect(key).toBe(`principal:${digest}`);
    expect(key).not.toContain('alice');
    // The same person from another address: the same key.
    expect(rateLimitKey({ issuer: 'https://login.example.com', subject: 'alice@example.com', ip: '198.51.100.9' })).toBe(key);
  });

  it('tells the same subject at two issuers apart, and is not fooled by separators', () => {
    const a = rateLimitKey({ issuer: 'https://a.example.com', subject: 'u1', ip: '1.1.1.1' });
    const b = rateLimitKey({ issuer: 'https://b.example.com', subject: 'u1', ip: '1.1.1.1' });
    expect(a).not.toBe(b);
    expect(rateLimitKey({ issuer: 'x:y', subject: 'z', ip: '' })).not.toBe(rateLimitKey({ issuer: 'x', subject: 'y:z', ip: '' }));
  });

  it('keys an anonymous caller by IP', () => {
    expect(rateLimitKey({ ip: '203.0.113.7' })).toBe('ip:203.0.113.7');
    expect(rateLimitKey({ subject: '', issuer: 'https://a.example.com', ip: '2001:db8::1' })).toBe('ip:2001:db8::1');
  });
});

describe('clientIp', () => {
  const spoofed = { 'x-forwarded-for': '6.6.6.6, 10.0.0.1' };

  it('ignores X-Forwarded-For without trustProxy', () => {
    expect(clientIp(fakeRequest('203.0.113.7', spoofed), false)).toBe('203.0.113.7');
  });

  it('takes the left-most valid X-Forwarded-For address with trustProxy', () => {
    expect(clientIp(fakeRequest('10.0.0.2', spoofed), true)).toBe('6.6.6.6');
    expect(clientIp(fakeRequest('10.0.0.2', { 'x-forwarded-for': 'unknown, _hidden, 198.51.100.4' }), true)).toBe('198.51.100.4');
    expect(clientIp(fakeRequest('10.0.0.2', { 'x-forwarded-for': '203.0.113.9:5678' }), true)).toBe('203.0.113.9');
    expect(clientIp(fakeRequest('10.0.0.2', { 'x-forwarded-for': '[2001:DB8::1]:443' }), true)).toBe('2001:db8::1');
    expect(clientIp(fakeRequest('10.0.0.2', { 'x-forwarded-for': '::ffff:198.51.100.4' }), true)).toBe('198.51.100.4');
  });

  it('falls back to the peer when the header is absent or holds no address', () => {
    expect(clientIp(fakeRequest('10.0.0.2'), true)).toBe('10.0.0.2');
    expect(clientIp(fakeRequest('10.0.0.2', { 'x-forwarded-for': 'garbage, 999.1.1.1' }), true)).toBe('10.0.0.2');
    expect(clientIp(fakeRequest(undefined), false)).toBe('unknown');
  });

  it('turns IPv4-mapped IPv6 peers into IPv4', () => {
    expect(clientIp(fakeRequest('::ffff:203.0.113.7'), false)).toBe('203.0.113.7');
    expect(clientIp(fakeRequest('::FFFF:203.0.113.7'), false)).toBe('203.0.113.7');
    expect(clientIp(fakeRequest('2001:DB8::7'), false)).toBe('2001:db8::7');
  });

  it('reads a real connection: IPv4-mapped on a dual-stack socket, spoofed header only with trustProxy', async () => {
    const seen: Array<[string, string]> = [];
    const server = createServer((req, res) => {
      seen.push([clientIp(req, false), clientIp(req, true)]);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '::', r));
    const { port } = server.address() as AddressInfo;
    try {
      for (const headers of [{}, { 'x-forwarded-for': '6.6.6.6' }]) {
        await new Promise<void>((resolve, reject) => {
          request({ host: '127.0.0.1', port, headers }, (res) => res.resume().on('end', resolve))
            .on('error', reject)
            .end();
        });
      }
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(seen).toEqual([
      ['127.0.0.1', '127.0.0.1'],
      ['127.0.0.1', '6.6.6.6'],
    ]);
  });
});

describe('rateLimitHeaders', () => {
  it('reports limit, remaining and reset in seconds for an allowed request', () => {
    const now = 1_700_000_000_000;
    const headers = rateLimitHeaders({ allowed: true, remaining: 7, retryAfterSec: 0, resetAt: now + 42_100 }, 10, now);
    expect(headers).toEqual({ 'RateLimit-Limit': '10', 'RateLimit-Remaining': '7', 'RateLimit-Reset': '43' });
  });

  it('adds Retry-After to a refused one', async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ store: newStore(), max: 1, windowMs: 30_000, now: clock.now });
    await limiter.check('k');
    clock.advance(10_000);
    const refused = await limiter.check('k');
    expect(rateLimitHeaders(refused, 1, clock.now())).toEqual({
      'RateLimit-Limit': '1',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '20',
      'Retry-After': '20',
    });
  });
});
