/**
 * A Redis outage, for real: a redis-server of this test's own (with a password holding URL
 * characters) is SIGKILLed under traffic, then started again on the same port. Nothing may hang,
 * the breaker opens and closes again, the revocation list fails closed or open as configured and
 * resyncs, the rate limiter falls back to per-replica counting, and no password reaches a log.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore, createRateLimiter, type RateLimiter } from '../src/cloud/rate-limit.js';
import { createSharedRateLimitStore } from '../src/cloud/store/rate-limit-store.js';
import { createRedisStore } from '../src/cloud/store/redis-store.js';
import { createRevocationList, RevocationUnavailableError, type RevocationList } from '../src/cloud/store/revocations.js';
import { isStoreUnavailable, type SharedStore } from '../src/cloud/store/types.js';
import { createLogger } from '../src/shared/logger.js';
import { createMetrics, type Metrics } from '../src/cloud/metrics.js';
import { dedicatedRedis, type DedicatedRedis } from './support/redis.js';

const PASSWORD = 'p@ss#w/rd:%x';
const PREFIX = 'seed-mcp-outage:';
/** What the product promises: a call rejects within its command timeout (1 s), give or take. */
const MAX_CALL_MS = 1500;

let redis: DedicatedRedis;
let port = 0;

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(20);
  }
}

interface CallResult {
  op: string;
  ms: number;
  error?: unknown;
}

/** Calls the store in a few loops until stopped, timing every call. */
function traffic(store: SharedStore, limiter: RateLimiter) {
  const results: CallResult[] = [];
  let running = true;
  const ops: Array<[string, () => Promise<unknown>]> = [
    ['get', () => store.get('k')],
    ['set', () => store.set('k', { at: Date.now() }, 10_000)],
    ['hit', () => store.hit('w', 60_000)],
    ['entries', () => store.entries('revoked:')],
    ['take', () => store.take('code')],
  ];
  const loops = ops.map(async ([op, call]) => {
    while (running) {
      const start = performance.now();
      try {
        await call();
        results.push({ op, ms: performance.now() - start });
      } catch (error) {
        results.push({ op, ms: performance.now() - start, error });
      }
      await sleep(5);
    }
  });
  const limited = (async () => {
    while (running) {
      const start = performance.now();
      try {
        await limiter.check('ip:203.0.113.7');
        results.push({ op: 'rate-limit', ms: performance.now() - start });
      } catch (error) {
        // Must not happen (it falls back instead): recorded, so the test sees it.
        results.push({ op: 'rate-limit', ms: performance.now() - start, error });
      }
      await sleep(5);
    }
  })();
  return {
    results,
    async stop() {
      running = false;
      await Promise.all([...loops, limited]);
    },
  };
}

/** The sum of the samples matching `pattern` (its group 1 the value); undefined when none does. */
const metricValue = async (metrics: Metrics, pattern: RegExp): Promise<number | undefined> => {
  const { body } = await metrics.render();
  const values = [...body.matchAll(new RegExp(pattern.source, 'gm'))].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
};

describe('Redis outage (a dedicated redis-server, killed and restarted)', () => {
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', write: (line) => logs.push(line) });
  const metrics = createMetrics({ collectDefault: false });
  let store: SharedStore;
  let closedList: RevocationList;
  let boundedList: RevocationList;
  let openList: RevocationList;
  let limiter: RateLimiter;
  let raw: Redis;
  const inSeconds = (s: number) => Math.floor(Date.now() / 1000) + s;
  /** Where the log stood when Redis was killed (the freeze before is an outage of its own). */
  let logsAtKill = 0;

  beforeAll(async () => {
    redis = await dedicatedRedis(PASSWORD);
    port = redis.port;
    store = createRedisStore({
      url: `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/0`,
      prefix: PREFIX,
      metrics,
      logger,
      breaker: { failureThreshold: 3, openMs: 1000 },
    });
    // No staleness bound: closed means closed at once (boundedList has the default bound).
    closedList = createRevocationList(store, { failMode: 'closed', maxStalenessMs: 0, logger });
    openList = createRevocationList(store, { failMode: 'open', logger });
    boundedList = createRevocationList(store, { failMode: 'closed', logger });
    limiter = createRateLimiter({
      store: createSharedRateLimitStore(store, { fallback: createMemoryRateLimitStore(), logger }),
      max: 100_000,
      windowMs: 60_000,
    });
    raw = new Redis({ port, host: '127.0.0.1', password: PASSWORD, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    raw.on('error', () => {});
  });

  afterAll(async () => {
    await Promise.allSettled([closedList?.close(), openList?.close(), boundedList?.close()]);
    await store?.close();
    raw?.disconnect();
    await redis?.kill();
  });

  it('works while Redis is up', async () => {
    await Promise.all([closedList.start(), openList.start(), boundedList.start()]);
    await store.set('k', 1, 10_000);
    expect(await store.get('k')).toBe(1);
    await closedList.revoke('before-outage', inSeconds(600));
    await eventually(() => openList.isRevoked('before-outage'), 1000, 'the revocation reaching the other list');
    expect((await limiter.check('ip:203.0.113.7')).allowed).toBe(true);
    expect(store.health()).toEqual({ backend: 'redis', status: 'ok', breaker: 'closed' });
    expect(await metricValue(metrics, /^circuit_breaker_state\{name="redis"\} (\d+)$/)).toBe(0);
  });

  it('times out within the command timeout when Redis freezes (SIGSTOP: connection open, no answers)', async () => {
    const load = traffic(store, limiter);
    try {
      await sleep(200);
      redis.process()!.kill('SIGSTOP');
      await eventually(() => store.health().breaker === 'open', 4000, 'the breaker opening on timeouts');
      await sleep(300);
      redis.process()!.kill('SIGCONT');
      await eventually(() => store.health().status === 'ok', 4000, 'the store answering again after SIGCONT');
    } finally {
      redis.process()?.kill('SIGCONT');
      await load.stop();
    }
    const failures = load.results.filter((r) => r.error !== undefined);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    for (const f of failures) expect(isStoreUnavailable(f.error), `${f.op}: ${String(f.error)}`).toBe(true);
    expect(failures.some((f) => /timed out/i.test(String(f.error)))).toBe(true);
    const slowest = Math.max(...load.results.map((r) => r.ms));
    expect(slowest, 'no call waits past the command timeout').toBeLessThan(MAX_CALL_MS);
    // The connection never dropped: the revocation lists stayed in sync.
    expect(closedList.isRevoked('unknown')).toBe(false);
    await store.set('k', 1, 10_000);
  });

  it('fails fast when Redis is killed under traffic, and the breaker opens', async () => {
    const load = traffic(store, limiter);
    const killedAt = performance.now();
    logsAtKill = logs.length;
    try {
      await sleep(300);
      await redis?.kill();
      await eventually(() => store.health().breaker === 'open', 3000, 'the breaker opening');
      expect(store.health().status).toBe('unavailable');
      expect(await metricValue(metrics, /^circuit_breaker_state\{name="redis"\} (\d+)$/)).toBe(2);
      expect(await metricValue(metrics, /^circuit_breaker_failures_total\{name="redis"\} (\d+)$/)).toBeGreaterThanOrEqual(3);
      expect(await metricValue(metrics, /^redis_operations_total\{operation="\w+",result="failure"\} (\d+)$/)).toBeGreaterThanOrEqual(3);
      // Long enough for the breaker to go half-open, fail its trial and reopen under traffic.
      await sleep(1200);
    } finally {
      await load.stop();
    }

    const during = load.results.slice(-80);
    const failures = load.results.filter((r) => r.error !== undefined);
    expect(failures.length).toBeGreaterThan(10);
    for (const f of failures) expect(isStoreUnavailable(f.error), `${f.op}: ${String(f.error)}`).toBe(true);
    const slowest = Math.max(...load.results.map((r) => r.ms));
    expect(slowest, 'no call waits past the command timeout').toBeLessThan(MAX_CALL_MS);
    // The rate limiter kept answering throughout, from the fallback.
    expect(during.filter((r) => r.op === 'rate-limit').length).toBeGreaterThan(5);
    expect(performance.now() - killedAt).toBeLessThan(4000);

    const start = performance.now();
    await expect(store.set('k', 2, 1000)).rejects.toSatisfy(isStoreUnavailable);
    await expect(store.subscribe('x', { message() {} })).rejects.toSatisfy(isStoreUnavailable);
    expect(performance.now() - start).toBeLessThan(MAX_CALL_MS);
  });

  it('meanwhile the revocation list fails closed or open as configured, and the limiter falls back', async () => {
    expect(() => closedList.isRevoked('unknown')).toThrow(RevocationUnavailableError);
    expect(closedList.health().status).toBe('unavailable');
    expect(openList.isRevoked('unknown')).toBe(false);
    expect(openList.health().status).toBe('degraded');
    // Within its staleness bound (60 s by default), a closed list answers from its mirror: an
    // outage shorter than that refuses no token, and readiness says the mirror is answering.
    expect(boundedList.isRevoked('unknown')).toBe(false);
    expect(boundedList.isRevoked('before-outage')).toBe(true);
    expect(boundedList.health()).toMatchObject({ status: 'degraded', answering: 'mirror', max_staleness_sec: 60 });
    expect(closedList.health()).toMatchObject({ status: 'unavailable', answering: 'fail_closed' });
    // What the mirror holds is still revoked, whatever the mode.
    expect(closedList.isRevoked('before-outage')).toBe(true);
    expect(openList.isRevoked('before-outage')).toBe(true);
    // A revocation now is refused by the store but honoured by this replica at once.
    await expect(closedList.revoke('during-outage', inSeconds(600))).rejects.toSatisfy(isStoreUnavailable);
    expect(closedList.isRevoked('during-outage')).toBe(true);

    const verdict = await limiter.check('ip:198.51.100.1');
    expect(verdict.allowed).toBe(true);
    // Told once per outage, not per request.
    expect(logs.slice(logsAtKill).filter((l) => l.includes('counting per replica'))).toHaveLength(1);
  });

  it('recovers when Redis comes back on the same port: reconnects, closes the breaker, resyncs', async () => {
    // Back first with another password, so that the store cannot be in before this write, made
    // behind the lists' backs (no message): only a reload brings it into their mirrors.
    const interim = 'interim-password';
    await redis.start(interim);
    const setup = new Redis({ port, host: '127.0.0.1', password: interim, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await setup.set(`${PREFIX}revoked:written-after-restart`, String(inSeconds(600)), 'PX', 600_000);
      await setup.config('SET', 'requirepass', PASSWORD);
    } finally {
      setup.disconnect();
    }

    const load = traffic(store, limiter);
    try {
      await eventually(() => store.health().status === 'ok' && store.health().breaker === 'closed', 10_000, 'the store recovering');
      await eventually(
        () => {
          try {
            return closedList.isRevoked('written-after-restart');
          } catch {
            return false;
          }
        },
        3000,
        'the closed-mode list resyncing',
      );
      expect(closedList.isRevoked('unknown')).toBe(false);
      expect(closedList.health().status).toBe('ok');
      await eventually(() => boundedList.isRevoked('written-after-restart') && boundedList.health().answering === 'live', 3000, 'the bounded list resyncing');
      await eventually(() => openList.isRevoked('written-after-restart') && openList.health().status === 'ok', 3000, 'the open-mode list resyncing');
      await eventually(() => logs.some((l) => l.includes('shared counters are back')), 2000, 'the limiter using Redis again');
    } finally {
      await load.stop();
    }

    await store.set('k', 3, 10_000);
    expect(await store.get('k')).toBe(3);
    expect(await raw.get(`${PREFIX}rl:ip:203.0.113.7`)).not.toBeNull();
    expect(await metricValue(metrics, /^circuit_breaker_state\{name="redis"\} (\d+)$/)).toBe(0);
    // Messages flow again between replicas.
    await openList.revoke('after-recovery', inSeconds(600));
    await eventually(() => closedList.isRevoked('after-recovery'), 1000, 'a revocation message after recovery');
  });

  it('logged each connection change once, and never the password', () => {
    const messages = logs.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages.filter((m) => m === 'redis connection lost')).toHaveLength(1);
    expect(messages.filter((m) => m === 'redis connection reconnecting')).toHaveLength(1);
    expect(messages.filter((m) => m === 'redis connection restored')).toHaveLength(1);
    expect(messages.filter((m) => m === 'redis subscriber connection lost')).toHaveLength(1);
    expect(messages.filter((m) => m === 'redis subscriber connection restored')).toHaveLength(1);
    expect(messages).toContain('redis circuit breaker open: calls fail at once for a while');
    const everything = logs.join('\n') + JSON.stringify(store.health());
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 'p@ss']) expect(everything).not.toContain(secret);
  });
});
