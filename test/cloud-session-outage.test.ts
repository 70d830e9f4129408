/**
 * Issue #14, item 1: MCP session records through a Redis outage. Two replicas share a
 * redis-server of the test's own, which is SIGKILLed for a few seconds and started again, empty
 * (no persistence), as a crashed Redis comes back. Asserted, with request counts and statuses:
 *
 * - a session held by a replica keeps working on it throughout, and right after Redis returns;
 * - a new session can be opened during the outage, on the replica the request reaches, and works;
 * - a request for a session that this replica does not hold gets 404 during the outage (whether
 *   another replica holds it cannot be told), so an MCP client starts a new session at once;
 * - once Redis is back, every session is found by the other replica again within a few seconds:
 *   records the store could not take are written later, and all are written again after Redis
 *   comes back empty.
 *
 * Real IdP, real Redis, real HTTP.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { silentLogger } from '../src/shared/logger.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';
import { dedicatedRedis, type DedicatedRedis } from './support/redis.js';

const OUTAGE_MS = 3_000;
/** After Redis returns: the client's reconnect backoff (≤ 3.2 s here) plus a record retry round (1 s). */
const FOUND_AGAIN_MS = 8_000;

let idp: TestIdp;
let redis: DedicatedRedis;
let a: RunningCloud;
let b: RunningCloud;
let token: string;

const post = (server: RunningCloud, body: object, session?: string) =>
  fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`,
      'mcp-protocol-version': '2025-06-18',
      ...(session ? { 'mcp-session-id': session } : {}),
    },
    body: JSON.stringify(body),
  });

/** Opens a session on `server` (initialize); its id. */
async function open(server: RunningCloud): Promise<string> {
  const res = await post(server, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  await res.arrayBuffer();
  const id = res.headers.get('mcp-session-id');
  if (res.status !== 200 || !id) throw new Error(`initialize answered ${res.status} without a session`);
  return id;
}

/** A tool call in `session` on `server`; its status, the tool's answer checked when 200. */
async function call(server: RunningCloud, session: string): Promise<number> {
  const res = await post(server, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }, session);
  const text = await res.text();
  if (res.status === 200 && !text.includes('"result"')) throw new Error(`a 200 without a result: ${text.slice(0, 200)}`);
  return res.status;
}

/** Statuses of calls in `session` on `server`, every 50 ms, while `during` runs; counted by status. */
async function callsWhile(server: RunningCloud, session: string, during: Promise<unknown>): Promise<Record<number, number>> {
  const counts: Record<number, number> = {};
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    const status = await call(server, session);
    counts[status] = (counts[status] ?? 0) + 1;
    await sleep(50);
  }
  await during;
  return counts;
}

beforeAll(async () => {
  idp = await startIdp();
  redis = await dedicatedRedis();
  const config = {
    ...loadCloudConfig({ OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: DEFAULT_RESOURCE, REDIS_URL: redis.url(), MCP_RATE_LIMIT_MAX: '100000' }),
    port: 0,
    host: '127.0.0.1',
  };
  a = await startCloud(config, { logger: silentLogger, version: 'test', collectDefaultMetrics: false });
  b = await startCloud(config, { logger: silentLogger, version: 'test', collectDefaultMetrics: false });
  token = await idp.serviceToken({ client: 'seed-service' });
}, 30_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
  await redis?.kill();
  await idp?.close();
});

describe('MCP session records through a Redis outage', () => {
  it('held sessions go on, new ones open locally, and after Redis returns (empty) the other replica finds them all', async () => {
    const before = await open(a);
    // Found by the other replica through its record.
    expect(await call(b, before)).toBe(200);

    await redis.kill();
    const outage = sleep(OUTAGE_MS);
    // Opened during the outage, on the replica the request reached.
    const during = await open(a);
    const [heldBefore, heldDuring] = await Promise.all([callsWhile(a, before, outage), callsWhile(a, during, outage)]);
    // The other replica cannot ask Redis: not found, so the client starts a new session.
    const elsewhere = await call(b, during);

    const restart = redis.start();
    const [afterBefore, afterDuring] = await Promise.all([
      callsWhile(
        a,
        before,
        restart.then(() => sleep(1_000)),
      ),
      callsWhile(
        a,
        during,
        restart.then(() => sleep(1_000)),
      ),
    ]);
    const back = Date.now();
    // The other replica finds both sessions again: the one opened during the outage, and the one
    // whose record went with the Redis that crashed.
    let found: Record<string, number> = {};
    while (Date.now() - back < FOUND_AGAIN_MS) {
      found = { before: await call(b, before), during: await call(b, during) };
      if (found.before === 200 && found.during === 200) break;
      await sleep(100);
    }
    const foundAfterMs = Date.now() - back;
    console.log(`[session-outage] ${JSON.stringify({ heldBefore, heldDuring, elsewhere, afterBefore, afterDuring, found, foundAfterMs })}`);

    // Every call in a held session answered, during the outage and after it: no failure from the reconnection.
    expect(heldBefore).toEqual({ 200: expect.any(Number) });
    expect(heldDuring).toEqual({ 200: expect.any(Number) });
    expect(heldBefore[200]! + heldDuring[200]!).toBeGreaterThan(40);
    expect(afterBefore).toEqual({ 200: expect.any(Number) });
    expect(afterDuring).toEqual({ 200: expect.any(Number) });
    expect(afterBefore[200]! + afterDuring[200]!).toBeGreaterThan(20);
    expect(elsewhere).toBe(404);
    expect(found).toEqual({ before: 200, during: 200 });
    expect(foundAfterMs).toBeLessThan(FOUND_AGAIN_MS);
  }, 40_000);
});
