/**
 * `seed-mcp cloud` with REDIS_URL when Redis dies mid-traffic and comes back: the breaker opens,
 * readiness says so (degraded, still 200), the rate limit falls back to this replica, revocation
 * checks fail closed (503 REVOCATION_UNAVAILABLE, the default, here with no staleness bound), and everything resumes once Redis
 * answers again. A real server instance, a real IdP, a redis-server of the test's own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { silentLogger } from '../src/shared/logger.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { dedicatedRedis, type DedicatedRedis } from './support/redis.js';
import { signingKeyPem } from './support/signing-key.js';

let idp: TestIdp;
let redis: DedicatedRedis;
let server: RunningCloud;
let token: string;

const RESOURCE = 'https://mcp.example.test/mcp';

beforeAll(async () => {
  redis = await dedicatedRedis();
  idp = await startIdp({ resources: [RESOURCE] });
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: idp.issuer,
      RESOURCE_IDENTIFIER: RESOURCE,
      BASE_URL: 'http://127.0.0.1',
      OAUTH_PROXY_ENABLED: 'true',
      OAUTH_CLIENT_ID: 'seed-cli',
      OAUTH_SIGNING_KEYS: signingKeyPem(),
      REDIS_URL: redis.url(),
      REDIS_KEY_PREFIX: `seed-mcp-test-${randomBytes(4).toString('hex')}:`,
      MCP_RATE_LIMIT_MAX: '1000',
      // No staleness bound: revocation checks fail closed as soon as the mirror is out of sync
      // (test/cloud-revocation-staleness.test.ts covers the bound).
      REVOCATION_MAX_STALENESS: '0',
    }),
    port: 0,
    host: '127.0.0.1',
  };
  server = await startCloud(config, { logger: silentLogger, version: 'test', collectDefaultMetrics: false });
  token = await idp.serviceToken({ resource: RESOURCE });
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
  await redis?.kill();
});

const call = () =>
  fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }),
  });

async function ready(): Promise<{ status: number; body: { status: string; checks: Record<string, { status: string; breaker?: string }> } }> {
  const res = await fetch(`${server.url}/health/ready`);
  return { status: res.status, body: await res.json() };
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('cloud mode through a Redis outage', () => {
  it('serves, and says Redis is ok', async () => {
    expect((await call()).status).toBe(200);
    const r = await ready();
    expect(r.status).toBe(200);
    expect(r.body.checks.redis).toMatchObject({ status: 'ok', breaker: 'closed' });
    expect(r.body.checks.revocations!.status).toBe('ok');
  });

  it('Redis killed mid-traffic: the breaker opens, readiness says so, revocation checks fail closed', async () => {
    const traffic = Array.from({ length: 20 }, () => call());
    await redis.kill();
    const statuses = (await Promise.all(traffic)).map((r) => r.status);
    // Each request either made it before the kill or was refused on purpose: never a 500, never a hang.
    for (const s of statuses) expect([200, 503]).toContain(s);

    // Registrations need Redis (their per-IP counter and the client record): 503 each, and the
    // failures open the breaker.
    const register = () =>
      fetch(`${server.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }),
      });
    const unavailable = await register();
    expect(unavailable.status).toBe(503);
    expect((await unavailable.json()).error).toBe('temporarily_unavailable');
    await eventually('the breaker opening', async () => {
      await register();
      return (await ready()).body.checks.circuit_breaker!.status === 'open';
    });
    const r = await ready();
    expect(r.status).toBe(200); // degraded, not unready: every replica would say the same
    expect(r.body.status).toBe('degraded');
    expect(r.body.checks.redis).toMatchObject({ status: 'unavailable', breaker: 'open' });
    const refused = await call();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    const body = await refused.json();
    expect(body.error).toBe('REVOCATION_UNAVAILABLE');
    expect(body.message).toMatch(/^Action: /);
    // The server itself stays up.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it('Redis back: reconnects, the breaker closes, traffic resumes', async () => {
    await redis.start();
    await eventually('service resuming', async () => (await call()).status === 200, 15_000);
    await eventually('readiness ok', async () => (await ready()).body.status === 'ok', 10_000);
    expect((await ready()).body.checks.redis).toMatchObject({ status: 'ok', breaker: 'closed' });
  });
});
