/**
 * Issue #14, "A Redis outage is a full outage": two replicas on one redis-server of the test's own,
 * under a steady load of authenticated tool calls, while Redis is killed for about 5 s and started
 * again. Replica A (REVOCATION_MAX_STALENESS 60 s, the default) answers every call from its
 * revocation mirror throughout, still refuses a token revoked before the outage and still
 * validates tokens; replica B (2 s) fails closed once the bound has passed, and readiness says
 * which way each answers. After Redis is back, no request fails because of the reconnection (the
 * breaker no longer reopens on a trial made while the client is still reconnecting).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenIdOf } from '../src/cloud/auth/verified-token.js';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { createRedisStore, createRevocationList } from '../src/cloud/store/index.js';
import { createLogger } from '../src/shared/logger.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { dedicatedRedis, type DedicatedRedis } from './support/redis.js';
import { signingKeyPem } from './support/signing-key.js';

const RESOURCE = 'https://mcp.example.test/mcp';
const PREFIX = `seed-mcp-test-${randomBytes(4).toString('hex')}:`;

let idp: TestIdp;
let redis: DedicatedRedis;
let a: RunningCloud;
let b: RunningCloud;
let token: string;
let revoked: string;
const logsA: string[] = [];

async function replica(maxStaleness: string | undefined, lines: string[]): Promise<RunningCloud> {
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: idp.issuer,
      RESOURCE_IDENTIFIER: RESOURCE,
      BASE_URL: 'http://127.0.0.1',
      OAUTH_PROXY_ENABLED: 'true',
      OAUTH_CLIENT_ID: 'seed-cli',
      OAUTH_SIGNING_KEYS: signingKeyPem(),
      REDIS_URL: redis.url(),
      REDIS_KEY_PREFIX: PREFIX,
      MCP_RATE_LIMIT_MAX: '100000',
      DCR_RATE_LIMIT_MAX: '100000',
      ...(maxStaleness === undefined ? {} : { REVOCATION_MAX_STALENESS: maxStaleness }),
    }),
    port: 0,
    host: '127.0.0.1',
  };
  return startCloud(config, { logger: createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l) }), version: 'test', collectDefaultMetrics: false });
}

/** Revokes `jwt` as the proxy's /oauth/revoke would: in the shared store, announced to every replica. */
async function revoke(jwt: string): Promise<void> {
  const [header, payload] = jwt.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss: string; jti?: string; exp: number };
  const store = createRedisStore({ url: redis.url(), prefix: PREFIX });
  const list = createRevocationList(store, { failMode: 'closed' });
  try {
    await list.start();
    await list.revoke(tokenIdOf(claims.iss, claims.jti, `${header}.${payload}`), claims.exp);
  } finally {
    await list.close();
    await store.close();
  }
}

beforeAll(async () => {
  redis = await dedicatedRedis();
  idp = await startIdp({ resources: [RESOURCE] });
  a = await replica(undefined, logsA);
  b = await replica('2', []);
  token = await idp.serviceToken({ resource: RESOURCE });
  revoked = await idp.serviceToken({ resource: RESOURCE });
  expect(revoked).not.toBe(token);
  await revoke(revoked);
  await eventually('both replicas refusing the revoked token', async () => (await call(a, revoked)).status === 401 && (await call(b, revoked)).status === 401);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await idp?.close();
  await redis?.kill();
});

interface Outcome {
  at: number;
  status: number;
  error?: string;
}

async function call(server: RunningCloud, bearer = token): Promise<{ status: number; error?: string }> {
  try {
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }),
    });
    const text = await res.text();
    return { status: res.status, ...(res.status === 200 ? {} : { error: text.slice(0, 200) }) };
  } catch (err) {
    return { status: 0, error: (err as Error).message };
  }
}

const register = () =>
  fetch(`${a.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }),
  }).then(
    (r) => r.status,
    () => 0,
  );

type Checks = Record<string, { status: string; answering?: string; stale_sec?: number; max_staleness_sec?: number; breaker?: string }>;
async function ready(server: RunningCloud): Promise<{ status: number; checks: Checks }> {
  const res = await fetch(`${server.url}/health/ready`);
  return { status: res.status, checks: ((await res.json()) as { checks: Checks }).checks };
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `server` back to back with 4 clients until `stop()`, recording each outcome with its start time. */
function load(server: RunningCloud, into: Outcome[]): { stop(): Promise<void> } {
  let running = true;
  const worker = async () => {
    while (running) {
      const at = Date.now();
      into.push({ at, ...(await call(server)) });
      await sleep(10);
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

describe('a Redis outage shorter than REVOCATION_MAX_STALENESS costs nothing', () => {
  it('serves from the mirror within the bound, fails closed past it, and loses no request to the reconnection', async () => {
    expect((await ready(a)).checks.revocations).toMatchObject({ status: 'ok', answering: 'live', max_staleness_sec: 60 });
    expect((await ready(b)).checks.revocations).toMatchObject({ status: 'ok', answering: 'live', max_staleness_sec: 2 });

    const onA: Outcome[] = [];
    const onB: Outcome[] = [];
    const loadA = load(a, onA);
    const loadB = load(b, onB);
    await sleep(300);

    const killedAt = Date.now();
    await redis.kill();
    await sleep(1_000);

    // Within the bound, on both: tokens still validated, the revoked one still refused (from the mirror).
    for (const server of [a, b]) {
      expect((await call(server, revoked)).status).toBe(401);
      expect((await call(server, `${token.slice(0, -4)}AAAA`)).status).toBe(401);
    }
    const withinB = await ready(b);
    expect(withinB.checks.revocations).toMatchObject({ status: 'degraded', answering: 'mirror' });

    await sleep(2_500);
    // Past B's bound: B fails closed, and says so; A still answers from its mirror.
    const pastB = await call(b);
    expect(pastB.status).toBe(503);
    expect(pastB.error).toContain('REVOCATION_UNAVAILABLE');
    const readyB = await ready(b);
    expect(readyB.status).toBe(200); // degraded, not unready: every replica sees Redis at once
    expect(readyB.checks.revocations).toMatchObject({ status: 'unavailable', answering: 'fail_closed', max_staleness_sec: 2 });
    expect(readyB.checks.revocations!.stale_sec).toBeGreaterThan(2);
    const readyA = await ready(a);
    expect(readyA.status).toBe(200);
    expect(readyA.checks.revocations).toMatchObject({ status: 'degraded', answering: 'mirror', max_staleness_sec: 60 });
    expect((await call(a, revoked)).status).toBe(401);

    await sleep(Math.max(0, killedAt + 5_000 - Date.now()));
    const restartedAt = Date.now();
    await redis.start();

    // A: once its connection is restored, every request that needs Redis succeeds (no breaker
    // left open by a trial made while the client was reconnecting).
    await eventually(
      'replica A reconnecting',
      async () => logsA.some((l) => l.includes('redis connection restored') && JSON.parse(l).time >= new Date(restartedAt).toISOString()),
      15_000,
    );
    const registrations: number[] = [];
    for (let i = 0; i < 20; i++) {
      registrations.push(await register());
      await sleep(100);
    }
    expect(registrations.filter((s) => s !== 201)).toEqual([]);

    // B: back in sync by itself, and from then on nothing fails.
    await eventually('replica B back in sync', async () => (await ready(b)).checks.revocations!.status === 'ok', 15_000);
    const syncedB = Date.now();
    await sleep(1_000);
    await loadA.stop();
    await loadB.stop();

    // A never failed a call, during the outage or after it.
    const failedA = onA.filter((o) => o.status !== 200);
    expect(failedA).toEqual([]);
    expect(onA.filter((o) => o.at > killedAt && o.at < restartedAt).length).toBeGreaterThan(50);
    // B: served within its bound, refused past it, served again once in sync.
    expect(onB.filter((o) => o.at > killedAt && o.at < killedAt + 1_500 && o.status !== 200)).toEqual([]);
    expect(onB.filter((o) => o.at > killedAt + 3_000 && o.at < restartedAt).every((o) => o.status === 503)).toBe(true);
    expect(onB.filter((o) => o.at > syncedB && o.status !== 200)).toEqual([]);
    expect((await ready(a)).checks.redis).toMatchObject({ status: 'ok', breaker: 'closed' });
  });
});
