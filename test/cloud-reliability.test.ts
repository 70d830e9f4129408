/**
 * Issue #14, reliability under faults and time: a replica started while its IdP is down turns
 * ready by itself once the IdP is back; every component of `seed-mcp cloud` (the CLI) logs through
 * the configured logger; repeated warnings and errors are collapsed (first line, then a count);
 * a key an IdP has just published works within 5 s while a storm of unknown kids stays bounded.
 * Real IdPs, real Redis, the server in process or as the CLI subprocess.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { createLogger } from '../src/shared/logger.js';
import { startCli, type RunningCli } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { freePort } from './support/ports.js';
import { dedicatedRedis, type DedicatedRedis } from './support/redis.js';
import { signingKeyPem } from './support/signing-key.js';

const RESOURCE = 'https://mcp.example.test/mcp';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cloud(env: Record<string, string>, lines: string[] = []): Promise<RunningCloud> {
  const config = { ...loadCloudConfig({ RESOURCE_IDENTIFIER: RESOURCE, BASE_URL: 'http://127.0.0.1', MCP_RATE_LIMIT_MAX: '100000', ...env }), port: 0, host: '127.0.0.1' };
  const server = await startCloud(config, { logger: createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l) }), version: 'test', collectDefaultMetrics: false });
  cleanups.push(() => server.close());
  return server;
}

async function idpOn(port?: number): Promise<TestIdp> {
  const idp = await startIdp({ resources: [RESOURCE], ...(port ? { port } : {}) });
  cleanups.push(() => idp.close());
  return idp;
}

const call = (url: string, token: string) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }),
  }).then(async (res) => {
    await res.arrayBuffer();
    return res.status;
  });

/** The same token with another kid in its header (the signature no longer matters: the kid is looked up first). */
function withKid(token: string, kid: string): string {
  const [header, ...rest] = token.split('.');
  const decoded = JSON.parse(Buffer.from(header!, 'base64url').toString()) as Record<string, unknown>;
  return [Buffer.from(JSON.stringify({ ...decoded, kid })).toString('base64url'), ...rest].join('.');
}

async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const readyStatus = async (url: string) => (await fetch(`${url}/health/ready`)).status;
const jwksFetches = (idp: TestIdp) => idp.requestLog.filter((r) => r.path === '/jwks').length;

describe('JWKS in the background (issue #14)', () => {
  it('a replica started while its IdP is down turns ready within seconds of the IdP coming back, with no traffic', async () => {
    const port = await freePort();
    const server = await cloud({ OIDC_ISSUER: `http://127.0.0.1:${port}` });
    expect(await readyStatus(server.url)).toBe(503);
    // Down for a while: the retries back off meanwhile.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await readyStatus(server.url)).toBe(503);

    await idpOn(port);
    const back = Date.now();
    await eventually('readiness 200', async () => (await readyStatus(server.url)) === 200, 8_000);
    expect(Date.now() - back).toBeLessThan(8_000);
  });

  it('the OAuth proxy started while its IdP is down finds it again in the background: readiness says ok with no sign-in', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const server = await cloud({ OIDC_ISSUER: `http://127.0.0.1:${port}`, OAUTH_PROXY_ENABLED: 'true', OAUTH_CLIENT_ID: 'seed-cli', OAUTH_SIGNING_KEYS: signingKeyPem() }, lines);
    const proxyStatus = async () => {
      const body = (await (await fetch(`${server.url}/health/ready`)).json()) as { checks: { oauth_proxy?: { status: string } } };
      return body.checks.oauth_proxy?.status;
    };
    await eventually('the proxy reporting its IdP unavailable', async () => (await proxyStatus()) === 'unavailable', 10_000);

    await idpOn(port);
    const back = Date.now();
    // No request reaches the proxy: only the background retry (first after 10 s) can find the IdP.
    await eventually('the proxy reporting its IdP ok', async () => (await proxyStatus()) === 'ok', 15_000, 200);
    expect(Date.now() - back).toBeLessThan(12_000);
    expect(lines.some((l) => l.includes('"event":"oauth_idp_discovered"') && l.includes('reachable again'))).toBe(true);
  }, 30_000);

  it('a newly published key works within 5 s of its first use; a storm of unknown kids costs at most one fetch or two', async () => {
    const idp = await idpOn();
    const server = await cloud({ OIDC_ISSUER: idp.issuer });
    await eventually('readiness 200', async () => (await readyStatus(server.url)) === 200, 5_000);
    const token = await idp.serviceToken({ resource: RESOURCE });
    expect(await call(server.url, token)).toBe(200);

    // 200 requests naming keys nobody published.
    const before = jwksFetches(idp);
    for (let batch = 0; batch < 4; batch++) {
      const statuses = await Promise.all(Array.from({ length: 50 }, () => call(server.url, withKid(token, randomUUID()))));
      expect(statuses.every((s) => s === 401)).toBe(true);
    }
    expect(jwksFetches(idp) - before).toBeLessThanOrEqual(2);

    // The IdP rotates its keys right after a fetch; the first token of the new key is tried at once.
    await idp.rotateKeys();
    const fresh = await idp.serviceToken({ resource: RESOURCE });
    const firstUse = Date.now();
    await eventually('the new key accepted', async () => (await call(server.url, fresh)) === 200, 10_000, 200);
    expect(Date.now() - firstUse).toBeLessThan(5_500);

    // Another storm right after: still bounded.
    const after = jwksFetches(idp);
    await Promise.all(Array.from({ length: 100 }, () => call(server.url, withKid(fresh, randomUUID()))));
    expect(jwksFetches(idp) - after).toBeLessThanOrEqual(2);
  }, 30_000);
});

describe('repeated errors are collapsed (issue #14)', () => {
  it('the logger writes the first occurrences (two), then one summary line with the count per interval', async () => {
    const lines: string[] = [];
    const logger = createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l), dedupeMs: 300 });
    for (let i = 0; i < 5_000; i++) logger.error('redis call failed', { event: 'store_error', error: 'ECONNREFUSED' });
    logger.warn('cloud_auth_failed', { event: 'cloud_auth_failed', code: 'INVALID_TOKEN' });
    for (let i = 0; i < 3; i++) logger.warn('cloud_auth_failed', { event: 'cloud_auth_failed', code: 'INVALID_AUDIENCE' });
    for (let i = 0; i < 3; i++) logger.info('token_validated', { event: 'token_validated' });
    const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed().map((l) => [l.level, l.msg, l.code])).toEqual([
      ['error', 'redis call failed', undefined],
      ['error', 'redis call failed', undefined],
      ['warn', 'cloud_auth_failed', 'INVALID_TOKEN'],
      ['warn', 'cloud_auth_failed', 'INVALID_AUDIENCE'],
      ['warn', 'cloud_auth_failed', 'INVALID_AUDIENCE'],
      ['info', 'token_validated', undefined],
      ['info', 'token_validated', undefined],
      ['info', 'token_validated', undefined],
    ]);
    expect(parsed().slice(0, 2)).toMatchObject([{ error: 'ECONNREFUSED' }, { error: 'ECONNREFUSED' }]);

    await new Promise((r) => setTimeout(r, 450));
    const summaries = parsed().filter((l) => l.repeated !== undefined);
    expect(summaries).toEqual([
      expect.objectContaining({ level: 'error', msg: 'redis call failed', event: 'store_error', repeated: 4_998, error: 'ECONNREFUSED' }),
      expect.objectContaining({ level: 'warn', msg: 'cloud_auth_failed', code: 'INVALID_AUDIENCE', repeated: 1 }),
    ]);
    expect(lines).toHaveLength(10);

    // Still flooding in the next interval: counted from its first line.
    logger.error('redis call failed', { event: 'store_error', error: 'ECONNREFUSED' });
    expect(lines).toHaveLength(10);
    // Quiet for an interval: forgotten, so the next occurrence is written again.
    await new Promise((r) => setTimeout(r, 700));
    expect(lines).toHaveLength(11);
    expect(JSON.parse(lines[10]!)).toMatchObject({ repeated: 1 });
    logger.error('redis call failed', { event: 'store_error', error: 'ECONNREFUSED' });
    expect(lines).toHaveLength(12);
    expect(JSON.parse(lines[11]!)).not.toHaveProperty('repeated');
  });

  it('cloud under a burst of requests while Redis is unreachable logs a few dozen lines, not one per request', async () => {
    const idp = await idpOn();
    const lines: string[] = [];
    const redisPort = await freePort();
    const server = await cloud(
      {
        OIDC_ISSUER: idp.issuer,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        REDIS_KEY_PREFIX: `seed-mcp-test-${randomBytes(4).toString('hex')}:`,
        OAUTH_PROXY_ENABLED: 'true',
        OAUTH_CLIENT_ID: 'seed-cli',
        OAUTH_SIGNING_KEYS: signingKeyPem(),
      },
      lines,
    );
    const token = await idp.serviceToken({ resource: RESOURCE });
    const statuses = new Map<number, number>();
    const until = Date.now() + 6_000;
    let requests = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (Date.now() < until) {
          const register = fetch(`${server.url}/oauth/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }),
          }).then(async (res) => (await res.arrayBuffer(), res.status));
          for (const status of await Promise.all([call(server.url, token), register])) statuses.set(status, (statuses.get(status) ?? 0) + 1);
          requests += 2;
        }
      }),
    );
    // The outage was real: requests were refused because of it, by the hundred.
    expect(requests).toBeGreaterThan(500);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(100);
    const warnings = lines.filter((l) => /"level":"(warn|error)"/.test(l));
    expect(warnings.length).toBeGreaterThan(0);
    expect(lines.length, lines.slice(0, 60).join('\n')).toBeLessThan(40);
  }, 30_000);
});

describe('seed-mcp cloud (the CLI) logs every component through its logger (issue #14)', () => {
  let cli: RunningCli | undefined;
  let redis: DedicatedRedis | undefined;
  afterEach(async () => {
    cli?.child.kill('SIGTERM');
    await cli?.done;
    await redis?.kill();
  });

  it('JWKS, the OAuth proxy’s IdP client, the Redis store, its breaker and the revocation list', async () => {
    redis = await dedicatedRedis();
    const [idpPort, port] = await Promise.all([freePort(), freePort()]);
    cli = startCli(['cloud'], {
      OIDC_ISSUER: `http://127.0.0.1:${idpPort}`,
      RESOURCE_IDENTIFIER: RESOURCE,
      BASE_URL: `http://127.0.0.1:${port}`,
      HOST: '127.0.0.1',
      PORT: String(port),
      OAUTH_PROXY_ENABLED: 'true',
      OAUTH_CLIENT_ID: 'seed-cli',
      OAUTH_SIGNING_KEYS: signingKeyPem(),
      REDIS_URL: redis.url(),
      REDIS_KEY_PREFIX: `seed-mcp-test-${randomBytes(4).toString('hex')}:`,
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'json',
    });
    const running = cli;
    await running.waitForStderr(/"event":"listening"/);
    // The IdP is down at start: the key set and the proxy's discovery say so.
    await running.waitForStderr(/"event":"jwks_fetch_failed"/, 10_000);
    await running.waitForStderr(/"event":"oauth_idp_discovery_failed"/, 10_000);
    await running.waitForStderr(/"msg":"redis connection ready"/, 10_000);
    await running.waitForStderr(/"msg":"revocations: in sync with the shared store"/, 10_000);

    // The IdP comes up: the keys load in the background.
    const idp = await idpOn(idpPort);
    await running.waitForStderr(/"event":"jwks_recovered"/, 10_000);
    const token = await idp.serviceToken({ resource: RESOURCE });
    const base = `http://127.0.0.1:${port}`;
    expect(await call(base, token)).toBe(200);

    // Redis dies: the store, its breaker and the revocation list say so; then it comes back.
    await redis.kill();
    await running.waitForStderr(/"msg":"redis connection lost"/, 10_000);
    await eventually(
      'the breaker opening',
      async () => {
        await fetch(`${base}/oauth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }),
        }).then((r) => r.arrayBuffer());
        return /redis circuit breaker open/.test(await stderrOf(running));
      },
      10_000,
    );
    await redis.start();
    await running.waitForStderr(/"msg":"redis connection restored"/, 15_000);
    await running.waitForStderr(/"msg":"redis circuit breaker closed: calls go through again"/, 15_000);

    running.child.kill('SIGTERM');
    const { stderr } = await running.done;
    cli = undefined;
    const logged = stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const messages = logged.map((l) => `${String(l.msg)} ${String(l.event ?? '')}`).join('\n');
    expect(messages).toMatch(/revocations: /);
    expect(messages).toMatch(/redis subscriber connection/);
    expect(logged.find((l) => l.event === 'jwks_recovered')).toMatchObject({ level: 'info', issuer: idp.issuer });
    expect(logged.find((l) => l.event === 'oauth_idp_discovery_failed')).toMatchObject({ level: 'warn', issuer: idp.issuer });
    expect(stderr).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  }, 60_000);
});

/** Everything the CLI has written to stderr so far (waitForStderr with a pattern that matches anything). */
async function stderrOf(cli: RunningCli): Promise<string> {
  const m = await cli.waitForStderr(/[\s\S]*/, 1_000);
  return m[0];
}
