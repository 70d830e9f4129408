/**
 * The cloud server's guards on real HTTP with real tokens: TOOL_POLICY_FILE rules (403
 * ACCESS_DENIED, reloaded on change), the per-principal rate limit (429 RATE_LIMITED with
 * Retry-After), and CORS (preflight, echoed origin, foreign origins refused).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { watchPolicy, type PolicyWatcher } from '../src/cloud/policy.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { silentLogger } from '../src/shared/logger.js';
import { ROOT } from './support/cli.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';

const SCOPES = ['checklist.list', 'checklist.read', 'process.read', 'process.search'];
let idp: TestIdp;
const stops: Array<() => unknown> = [];
const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-guards-'));

const mint = (scope = SCOPES.join(' '), client: 'seed-service' | 'other-service' = 'seed-service') => idp.serviceToken({ client, scope });

async function start(env: Record<string, string>, policy?: PolicyWatcher): Promise<RunningCloud> {
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: idp.issuer,
      OIDC_AUDIENCE: DEFAULT_RESOURCE,
      BASE_URL: 'http://127.0.0.1:3000',
      CHECKLIST_DIR: join(ROOT, 'examples/documents/checklists'),
      ...env,
    }),
    port: 0,
    host: '127.0.0.1',
  };
  const server = await startCloud(config, { logger: silentLogger, version: 'test', collectDefaultMetrics: false, ...(policy ? { policy } : {}) });
  stops.push(() => server.close());
  return server;
}

const call = (url: string, token: string, name: string, extra: Record<string, string> = {}) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      authorization: `Bearer ${token}`,
      ...extra,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: name === 'get_checklist' ? { id: 'onboarding' } : {} } }),
  });

beforeAll(async () => {
  idp = await startIdp({ extraScopes: SCOPES });
});
afterAll(async () => {
  for (const s of stops) await s();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('cloud guards', () => {
  it('denies a tool no policy rule allows (403 ACCESS_DENIED) and follows the file when it changes', async () => {
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, 'rules:\n  - tools: [whoami, seed_ping]\n    allow: { any: true }\n  - tools: [get_checklist]\n    allow: { groups: [sre] }\n');
    const policy = await watchPolicy(file, { logger: silentLogger, debounceMs: 20 });
    stops.push(() => policy.close());
    const server = await start({ TOOL_POLICY_FILE: file, RATE_LIMIT_ENABLED: 'false' }, policy);
    const token = await mint();
    expect((await call(server.url, token, 'whoami')).status).toBe(200);
    const denied = await call(server.url, token, 'get_checklist');
    expect(denied.status).toBe(403);
    // A policy decision is not a scope to ask for: no challenge that an MCP client would step up on.
    expect(denied.headers.get('www-authenticate')).toBeNull();
    const body = (await denied.json()) as { error: string; message: string };
    expect(body.error).toBe('ACCESS_DENIED');
    expect(body.message).toMatch(/^Action: ask the server's operator for access to get_checklist \(no rule of .*policy\.yaml allows get_checklist for subject seed-service\)$/);
    // No rule at all for a tool: denied too.
    expect((await call(server.url, token, 'list_checklists')).status).toBe(403);

    writeFileSync(file, 'rules:\n  - tools: ["*"]\n    allow: { subjects: [seed-service] }\n');
    for (let i = 0; i < 50 && policy.current().ruleCount !== 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await call(server.url, token, 'get_checklist')).status).toBe(200);
  });

  it('limits each principal to MCP_RATE_LIMIT_MAX requests per window with 429 and Retry-After', async () => {
    const server = await start({ MCP_RATE_LIMIT_MAX: '3', MCP_RATE_LIMIT_WINDOW_MS: '60000' });
    const token = await mint();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await call(server.url, token, 'seed_ping');
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.headers.get('ratelimit-remaining')).toBe('0');
    expect(((await last!.json()) as { error: string }).error).toBe('RATE_LIMITED');
    // Another principal has its own budget.
    const other = await mint('process.read', 'other-service');
    expect((await call(server.url, other, 'seed_ping')).status).toBe(200);
  });

  it('answers CORS preflights for allowed origins only and echoes the exact origin', async () => {
    const server = await start({ CORS_EXTRA_ORIGINS: 'https://app.example.com', RATE_LIMIT_ENABLED: 'false' });
    const pre = await fetch(`${server.url}/mcp`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    const denied = await fetch(`${server.url}/mcp`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(denied.status).toBe(403);
    const ok = await call(server.url, await mint(), 'seed_ping', { origin: 'https://app.example.com' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('vary')).toContain('Origin');
  });

  it('reports an issuer whose keys cannot be fetched: readiness 503, the error named, tokens answered 503', async () => {
    const dead = await startIdp();
    const deadIssuer = dead.issuer;
    await dead.close();
    const server = await start({ ALLOWED_ISSUERS: `${idp.issuer},${deadIssuer}`, RATE_LIMIT_ENABLED: 'false' });
    let body: { status: string; checks: { jwks: { status: string; issuers: Array<{ issuer: string; status: string; keys: number; lastError?: string }> } } } | undefined;
    let status = 0;
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${server.url}/health/ready`);
      status = res.status;
      body = (await res.json()) as typeof body;
      if (body!.checks.jwks.issuers.every((j) => j.keys > 0 || j.lastError)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(503);
    expect(body!.checks.jwks.status).toBe('unavailable');
    const byIssuer = Object.fromEntries(body!.checks.jwks.issuers.map((j) => [j.issuer, j]));
    expect(byIssuer[idp.issuer]).toMatchObject({ status: 'ok' });
    expect(byIssuer[deadIssuer]).toMatchObject({ status: 'unavailable', keys: 0, lastError: expect.any(String) });
    // The live tenant is still served.
    expect((await call(server.url, await mint(), 'seed_ping')).status).toBe(200);
  });

  it('answers claim-less requests from one long-lived server with each caller’s identity and own id', async () => {
    const server = await start({ RATE_LIMIT_ENABLED: 'false' });
    const tokens = [await mint(), await mint('process.read', 'other-service')];
    const ask = (token: string, id: string | number) =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
      }).then(async (r) => ({
        status: r.status,
        type: r.headers.get('content-type'),
        body: (await r.json()) as { id: unknown; result: { structuredContent: { subject: string } } },
      }));
    // Interleaved callers with colliding ids: each gets its own answer.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(tokens[i % 2]!, i % 2 === 0 ? 'same-id' : 7)));
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.type).toMatch(/^application\/json/);
      expect(a.body.id).toBe(i % 2 === 0 ? 'same-id' : 7);
      expect(a.body.result.structuredContent.subject).toBe(i % 2 === 0 ? 'seed-service' : 'other-service');
    });
  });

  it('answers tools/list and bad arguments on the fast path, and leaves unknown tools to the SDK', async () => {
    const server = await start({ RATE_LIMIT_ENABLED: 'false' });
    const token = await mint();
    const rpc = async (method: string, params?: unknown) => {
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method, ...(params === undefined ? {} : { params }) }),
      });
      const text = await res.text();
      // The SDK may answer as an SSE event; the fast path answers plain JSON.
      const json = text.startsWith('{') ? text : (text.split('\n').find((l) => l.startsWith('data: ')) ?? '').slice(6);
      return { status: res.status, body: JSON.parse(json) as { id: number; result?: { tools?: Array<{ name: string }> }; error?: { code: number; message: string } } };
    };
    const list = await rpc('tools/list');
    expect(list.body.id).toBe(9);
    expect(list.body.result?.tools?.map((t) => t.name)).toEqual(['seed_ping', 'whoami', 'list_checklists', 'get_checklist']);
    const bad = await rpc('tools/call', { name: 'whoami', arguments: [] });
    expect(bad.body.error).toMatchObject({ code: -32602 });
    const unknown = await rpc('tools/call', { name: 'no_such_tool', arguments: {} });
    expect(unknown.body.error?.message).toContain('no_such_tool');
    const ping = await rpc('ping');
    expect(ping.body).toMatchObject({ id: 9, result: {} });
  });

  it('guards /metrics with METRICS_TOKEN and turns it off with METRICS_ENABLED=false', async () => {
    const guarded = await start({ METRICS_TOKEN: 'scrape-secret', RATE_LIMIT_ENABLED: 'false' });
    const denied = await fetch(`${guarded.url}/metrics`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await denied.text()).not.toContain('scrape-secret');
    const allowed = await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer scrape-secret' } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('http_request_total');
    const off = await start({ METRICS_ENABLED: 'false', RATE_LIMIT_ENABLED: 'false' });
    expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
  });
});
