/**
 * Sessions for initialize-era clients in cloud mode: issued on initialize, bound to the principal
 * that opened it, capped by MCP_MAX_SESSIONS (503), closed after MCP_SESSION_TTL_SECONDS idle and
 * by DELETE; readiness and metrics report them.
 */
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyHttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { silentLogger } from '../src/shared/logger.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';

let idp: TestIdp;
let server: RunningCloud;
let clock = Date.now();

const mint = (client: 'seed-service' | 'other-service' = 'seed-service') => idp.serviceToken({ client });

const initialize = (token: string) =>
  fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
const ping = (token: string, session: string) =>
  fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`,
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }),
  });
const ready = async () => ((await (await fetch(`${server.url}/health/ready`)).json()) as { checks: { sessions: { active: number; max: number; status: string } } }).checks.sessions;

beforeAll(async () => {
  idp = await startIdp();
  const config = {
    ...loadCloudConfig({ OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: DEFAULT_RESOURCE, MCP_MAX_SESSIONS: '2', MCP_SESSION_TTL_SECONDS: '60', RATE_LIMIT_ENABLED: 'false' }),
    port: 0,
    host: '127.0.0.1',
  };
  server = await startCloud(config, { logger: silentLogger, version: 'test', collectDefaultMetrics: false, sessionClock: () => clock, sessionSweepMs: 20 });
});
afterAll(async () => {
  await server?.close();
  await idp?.close();
});

describe('cloud sessions for initialize-era clients', () => {
  it('issues a session on initialize, serves it to its owner only, and closes it on DELETE', async () => {
    const token = await mint();
    const client = new LegacyClient({ name: 'legacy', version: '1' });
    const transport = new LegacyHttpTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    await client.connect(transport);
    const session = transport.sessionId!;
    expect(session).toMatch(/^[0-9a-f-]{36}$/);
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'seed-service' });
    expect((await ready()).active).toBe(1);
    // Another principal holding the id gets nothing.
    expect((await ping(await mint('other-service'), session)).status).toBe(404);
    await transport.terminateSession();
    expect((await ping(token, session)).status).toBe(404);
    expect((await ready()).active).toBe(0);
    await client.close();
  });

  it('refuses new sessions beyond MCP_MAX_SESSIONS with 503 and Retry-After, and reports capacity', async () => {
    const token = await mint();
    const first = await initialize(token);
    const second = await initialize(token);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await ready()).toEqual({ status: 'full', active: 2, max: 2 });
    const third = await initialize(token);
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('30');
    // Idle past MCP_SESSION_TTL_SECONDS: both expire, and their ids are gone.
    const id = first.headers.get('mcp-session-id')!;
    expect((await ping(token, id)).status).toBe(200);
    clock += 61_000;
    for (let i = 0; i < 50 && (await ready()).active > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await ready()).active).toBe(0);
    expect((await ping(token, id)).status).toBe(404);
    expect((await initialize(token)).status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/mcp_sessions_total\{status="expired"\} 2/);
    expect(metrics).toMatch(/mcp_sessions_total\{status="closed"\} 1/);
  });
});
