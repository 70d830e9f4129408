/**
 * `seed-mcp cloud` end to end: real HTTP, a real server instance, tokens from two real IdPs (two
 * tenants), the SDK's clients of both protocol eras with a bearer header, RFC 9728 metadata,
 * the error answers on the wire, per-tool scopes, health and readiness, and a graceful stop with a
 * request in flight (the CLI as a subprocess).
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyHttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { createLogger } from '../src/shared/logger.js';
import { BIN, ROOT } from './support/cli.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';

const SCOPES = ['checklist.list', 'checklist.read', 'process.read', 'process.search'];
let tenantA: TestIdp;
let tenantB: TestIdp;
let server: RunningCloud;
let mcpUrl: string;
const logLines: string[] = [];

const mint = (idp: TestIdp, scope = SCOPES.join(' '), resource = DEFAULT_RESOURCE) => idp.serviceToken({ scope, resource });

beforeAll(async () => {
  [tenantA, tenantB] = await Promise.all([startIdp({ extraScopes: SCOPES, resources: [DEFAULT_RESOURCE, 'https://other.example.test/mcp'] }), startIdp({ extraScopes: SCOPES })]);
  const config = {
    ...loadCloudConfig({
      ALLOWED_ISSUERS: `${tenantA.issuer},${tenantB.issuer}`,
      RESOURCE_IDENTIFIER: DEFAULT_RESOURCE,
      SCOPES_SUPPORTED: SCOPES.join(','),
      BASE_URL: 'http://127.0.0.1',
      CHECKLIST_DIR: join(ROOT, 'examples/documents/checklists'),
      PROCESS_DIR: join(ROOT, 'examples/documents/processes'),
    }),
    port: 0,
    host: '127.0.0.1',
  };
  server = await startCloud(config, { logger: createLogger({ format: 'json', write: (l) => logLines.push(l) }), version: 'test', collectDefaultMetrics: false });
  mcpUrl = `${server.url}/mcp`;
});
afterAll(async () => {
  await server?.close();
  await Promise.all([tenantA?.close(), tenantB?.close()]);
});

describe('seed-mcp cloud', () => {
  it('publishes RFC 9728 metadata at the root and path-suffixed URLs', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        resource: DEFAULT_RESOURCE,
        authorization_servers: [tenantA.issuer, tenantB.issuer],
        scopes_supported: SCOPES,
        bearer_methods_supported: ['header'],
        resource_name: 'seed-mcp',
      });
    }
  });

  it('serves a 2026-07-28 client and an initialize-era client with a bearer token from either tenant', async () => {
    for (const idp of [tenantA, tenantB]) {
      const token = await mint(idp);
      const modern = new Client({ name: 't', version: '1' }, { versionNegotiation: { mode: 'auto' } });
      await modern.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: { token: async () => token } }));
      expect(modern.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      expect((await modern.listTools()).tools.map((t) => t.name)).toEqual([
        'seed_ping',
        'whoami',
        'list_checklists',
        'get_checklist',
        'list_processes',
        'get_process',
        'search_processes',
      ]);
      const who = await modern.callTool({ name: 'whoami', arguments: {} });
      expect(who.structuredContent).toMatchObject({ subject: 'seed-service', issuer: idp.issuer, scopes: expect.arrayContaining(SCOPES) });
      expect(JSON.stringify(who)).not.toContain(token);
      await modern.close();

      const legacy = new LegacyClient({ name: 't', version: '1' });
      await legacy.connect(new LegacyHttpTransport(new URL(mcpUrl), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      const list = await legacy.callTool({ name: 'list_checklists', arguments: {} });
      expect((list.structuredContent as { count: number }).count).toBe(3);
      await legacy.close();
    }
    expect(logLines.some((l) => l.includes('"event":"token_validated"') && l.includes('"subject":"seed-service"'))).toBe(true);
    expect(logLines.join('\n')).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  });

  it('answers the contract’s errors on the wire with a challenge and an Action hint', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(mcpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    const metadata = `resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"`;

    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer ${metadata}`);
    expect(await missing.json()).toMatchObject({ error: 'MISSING_AUTHORIZATION', message: expect.stringMatching(/^Action: /) });

    const garbage = await post({ authorization: 'Bearer not-a-jwt' });
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description="[^"]+", resource_metadata=/);
    expect((await garbage.json()).error).toBe('INVALID_TOKEN');

    const wrongAudience = await post({ authorization: `Bearer ${await mint(tenantA, 'process.read', 'https://other.example.test/mcp')}` });
    expect(wrongAudience.status).toBe(401);
    expect((await wrongAudience.json()).error).toBe('INVALID_AUDIENCE');
    expect(logLines.filter((l) => l.includes('cloud_auth_failed')).join('\n')).toContain('"code":"INVALID_AUDIENCE"');
  });

  it('answers 403 insufficient_scope naming every scope a tool needs', async () => {
    const token = await mint(tenantA, 'process.read'); // no checklist.read
    const res = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_checklist', arguments: { id: 'onboarding' } } }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]+", scope="checklist.read", resource_metadata=/);
    expect(await res.json()).toMatchObject({ error: 'INSUFFICIENT_SCOPE', scope: 'checklist.read' });
    // The same token may use a tool its scopes cover.
    const client = new Client({ name: 't', version: '1' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: { token: async () => token } }));
    const proc = await client.callTool({ name: 'get_process', arguments: { id: 'change-management' } });
    expect(proc.isError).toBeFalsy();
    await client.close();
  });

  it('answers GET /mcp without SSE with 405, refuses foreign origins, oversize bodies and non-JSON', async () => {
    const token = await mint(tenantA);
    const get = await fetch(mcpUrl, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    expect(get.status).toBe(405);
    const evil = await fetch(mcpUrl, {
      method: 'POST',
      headers: { origin: 'https://evil.example', authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(evil.status).toBe(403);
    const big = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: 'x'.repeat(1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    // Without a Content-Length (chunked), the cap still answers 413 rather than resetting.
    const chunked = await fetch(mcpUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(64 * 1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    // Headers past 16 KiB are refused by the HTTP parser (431).
    const hugeHeader = await new Promise<number>((resolve, reject) => {
      const r = request(`${mcpUrl}`, { method: 'POST', headers: { 'x-filler': 'y'.repeat(20 * 1024), 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', reject);
      r.end('{}');
    });
    expect(hugeHeader).toBe(431);
    const notJson = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{oops' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const headers = (await fetch(`${server.url}/health`)).headers;
    expect(headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('exposes the contract’s metrics with bounded labels after traffic', async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    const value = (name: string, labels: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
      return line ? Number(line.split(' ').pop()) : undefined;
    };
    expect(value('http_request_total', 'method="POST",route="/mcp",status_code="200"')).toBeGreaterThan(0);
    expect(value('http_request_total', 'method="POST",route="/mcp",status_code="401"')).toBeGreaterThanOrEqual(3);
    expect(value('http_request_total', 'method="GET",route="/.well-known/oauth-protected-resource",status_code="200"')).toBe(2);
    expect(value('mcp_tool_invocations_total', 'tool="whoami",status="success"')).toBeGreaterThanOrEqual(2);
    expect(value('auth_attempts_total', 'result="failure",code="INVALID_AUDIENCE"')).toBe(1);
    expect(value('auth_attempts_total', 'result="failure",code="INSUFFICIENT_SCOPE"')).toBe(1);
    expect(value('auth_attempts_total', 'result="success",code="none"')).toBeGreaterThan(0);
    expect(value('jwks_refresh_total', 'result="success"')).toBeGreaterThanOrEqual(2);
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain('# TYPE mcp_tool_duration_seconds histogram');
    expect(text).not.toMatch(/eyJ[\w-]+\./); // never a token
    expect(text).not.toContain('seed-service'); // never a user id
  });

  it('reports liveness and readiness with the JWKS state of each issuer', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', timestamp: expect.any(String) });
    const ready = await fetch(`${server.url}/health/ready`);
    const body = (await ready.json()) as { status: string; checks: { jwks: { status: string; issuers: Array<{ issuer: string; keys: number }> } } };
    expect(ready.status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.checks.jwks.issuers.map((i) => i.issuer)).toEqual([tenantA.issuer, tenantB.issuer]);
    for (const i of body.checks.jwks.issuers) expect(i.keys).toBeGreaterThan(0);
  });
});

describe('seed-mcp cloud as a process', () => {
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = netServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });

  it('lists every configuration problem at once and exits 2 before listening', async () => {
    const child = spawn(process.execPath, [BIN, 'cloud'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '99999' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(2);
    expect(stderr).toContain('✗ Configuration validation failed:');
    expect(stderr).toContain('  - PORT must be between 1 and 65535, got: 99999');
    expect(stderr).toMatch(/ {2}- OIDC_ISSUER must be configured when AUTH_REQUIRED=true/);
  });

  it('on SIGTERM turns readiness 503, finishes the request in flight, and exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'cloud'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        OIDC_ISSUER: tenantA.issuer,
        OIDC_AUDIENCE: DEFAULT_RESOURCE,
        BASE_URL: `http://127.0.0.1:${port}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    for (let i = 0; i < 100 && !stderr.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
    const token = await mint(tenantA);
    // A request in flight: headers sent, body still coming.
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } });
    const inflight = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp',
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(async () => {
          // Meanwhile: readiness says 503 and new work is refused.
          try {
            const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
            (inflight as unknown as { readyStatus?: number }).readyStatus = ready.status;
          } catch {
            // Already closed to new connections.
          }
          req.end(body.slice(10));
        }, 200);
      }, 100);
    });
    const result = await inflight;
    expect(result.status).toBe(200);
    expect(result.text).toContain('"status":"ok"');
    expect(await exited).toBe(0);
    expect(stderr).toContain('"event":"stopped"');
  });
});
