/**
 * Gateway mode, continued: two tenants (two real IdPs) behind one gateway, a child reached with a
 * token exchanged on the caller's behalf (RFC 8693 at the IdP), the upstreams file reloaded while
 * the gateway runs, and a child killed under concurrent load.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCloud } from '../src/cloud/start.js';
import { tempDir } from './support/cli.js';
import { modernMcpClient, reserveBaseUrl, startGatewayCloud } from './support/gateway.js';
import { registerTokenExchange, TOKEN_EXCHANGE_GRANT, type TokenExchangeGrant } from './support/gateway-token-exchange.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { textOf } from './support/mcp-clients.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

let idpA: TestIdp;
let idpB: TestIdp;
let exchange: TokenExchangeGrant;
let childA: TestUpstream;
let childB: TestUpstream;
let onBehalf: TestUpstream;
let spare: TestUpstream;
let cloud: RunningCloud;
let baseUrl: string;
let dir: string;
let logLines: string[] = [];
const cleanups: Array<() => unknown> = [];

const cc = (idp: TestIdp, resource: string) => ({ type: 'client_credentials', issuer: idp.issuer, client_id: 'seed-service', client_secret_file: 'gw-secret', resource });
let upstreams: Array<Record<string, unknown>>;
const writeUpstreams = () => writeFileSync(join(dir, 'upstreams.json'), JSON.stringify({ upstreams }));

beforeAll(async () => {
  const reserved = await reserveBaseUrl();
  baseUrl = reserved.baseUrl;
  [childA, childB, onBehalf, spare] = await Promise.all([
    startUpstream({ era: 'modern' }),
    startUpstream({ era: 'modern' }),
    startUpstream({ era: 'modern' }),
    startUpstream({ era: 'legacy' }),
  ]);
  const gatewayResources = [`${baseUrl}/mcp`, `${baseUrl}/mcp/a`, `${baseUrl}/mcp/b`];
  idpA = await startIdp({
    resources: [...gatewayResources, childA.url, spare.url, onBehalf.url],
    // The gateway's client allowed to exchange callers' tokens.
    extraClients: [
      {
        client_id: 'mcp-gateway',
        client_secret: 'gateway-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [],
        response_types: [],
        grant_types: [TOKEN_EXCHANGE_GRANT],
      },
    ],
  });
  idpB = await startIdp({ resources: [...gatewayResources, childB.url] });
  exchange = await registerTokenExchange(idpA, { audiences: [onBehalf.url] });
  childA.trust(idpA);
  childB.trust(idpB);
  spare.trust(idpA);
  // The child reached on the caller's behalf accepts the exchanged tokens only.
  onBehalf.trust({ issuer: idpA.issuer, jwks: () => exchange.jwks as never });
  const t = tempDir();
  cleanups.push(t.cleanup);
  dir = t.dir;
  writeFileSync(join(dir, 'gw-secret'), 'service-secret\n');
  writeFileSync(join(dir, 'gx-secret'), 'gateway-secret\n');
  upstreams = [
    { name: 'a', url: childA.url, auth: cc(idpA, childA.url), allowed_issuers: [idpA.issuer] },
    { name: 'b', url: childB.url, auth: cc(idpB, childB.url), allowed_issuers: [idpB.issuer] },
    {
      name: 'mine',
      url: onBehalf.url,
      auth: { type: 'token_exchange', issuer: idpA.issuer, client_id: 'mcp-gateway', client_secret_file: 'gx-secret', audience: onBehalf.url },
      allowed_issuers: [idpA.issuer],
    },
  ];
  writeUpstreams();
  ({ cloud, logLines } = await startGatewayCloud(
    reserved.port,
    baseUrl,
    { ALLOWED_ISSUERS: `${idpA.issuer},${idpB.issuer}`, RESOURCE_IDENTIFIER: `${baseUrl}/mcp`, UPSTREAMS_FILE: join(dir, 'upstreams.json') },
    { gatewayChild: { breaker: { failureThreshold: 3, openMs: 1500 }, listTtlMs: 200 } },
  ));
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await cloud?.close();
  await Promise.all([childA, childB, onBehalf, spare, idpA, idpB].map((x) => x?.close()));
});

async function client(idp: TestIdp, path = '/mcp', principal: 'other-service' | 'seed-service' = 'other-service'): Promise<Client> {
  const c = await modernMcpClient(`${baseUrl}${path}`, await idp.serviceToken({ client: principal, resource: `${baseUrl}${path}` }));
  cleanups.push(() => c.close());
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name);

describe('gateway tenancy, token exchange, reloads and load', () => {
  it("one tenant's tokens never open another tenant's children", async () => {
    const tenantA = await client(idpA);
    const tenantB = await client(idpB);
    expect(await names(tenantA)).toEqual(expect.arrayContaining(['a_echo', 'mine_echo']));
    expect((await names(tenantA)).some((n) => n.startsWith('b_'))).toBe(false);
    expect(await names(tenantB)).toEqual(expect.arrayContaining(['b_echo']));
    expect((await names(tenantB)).some((n) => n.startsWith('a_') || n.startsWith('mine_'))).toBe(false);

    expect(textOf(await tenantA.callTool({ name: 'a_echo', arguments: { text: 'A' } }))).toBe('echo: A');
    expect(textOf(await tenantB.callTool({ name: 'b_echo', arguments: { text: 'B' } }))).toBe('echo: B');
    const crossed = await tenantB.callTool({ name: 'a_echo', arguments: { text: 'x' } });
    expect(crossed.isError).toBe(true);
    expect(textOf(crossed)).toContain(`does not accept tokens issued by ${idpB.issuer}`);
    expect(childA.subjects.every((s) => s === 'seed-service')).toBe(true);

    // The child's own endpoint refuses the other tenant at the HTTP level, before any MCP server.
    const token = await idpB.serviceToken({ client: 'other-service', resource: `${baseUrl}/mcp/a` });
    const res = await fetch(`${baseUrl}/mcp/a`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).error_description).toContain('does not accept tokens issued by');
    const prm = await (await fetch(`${baseUrl}/.well-known/oauth-protected-resource/mcp/b`)).json();
    expect(prm.authorization_servers).toEqual([idpB.issuer]);
  });

  it('token_exchange: each caller reaches the child with a token exchanged on their behalf, cached per caller', async () => {
    const alice = await client(idpA, '/mcp', 'other-service');
    const bob = await client(idpA, '/mcp', 'seed-service');
    for (let i = 0; i < 3; i++) {
      const r = await alice.callTool({ name: 'mine_echo', arguments: { text: 'as alice' } });
      expect(textOf(r)).toBe('echo: as alice');
      // The child sees the caller's own identity — in a token the gateway obtained, not the caller's token.
      expect((r.structuredContent as { subject: string }).subject).toBe('other-service');
    }
    const r = await bob.callTool({ name: 'mine_echo', arguments: { text: 'as bob' } });
    expect((r.structuredContent as { subject: string }).subject).toBe('seed-service');
    // One exchange per caller, then the cache.
    expect(exchange.exchanges.map((e) => e.subject).sort()).toEqual(['other-service', 'seed-service']);
    expect(exchange.exchanges.every((e) => e.audience === onBehalf.url)).toBe(true);
  });

  it('a reload of the upstreams file adds and removes children while the gateway runs', async () => {
    const c = await client(idpA);
    upstreams.push({ name: 'spare', url: spare.url, auth: cc(idpA, spare.url) });
    writeUpstreams();
    let listed: string[] = [];
    for (let i = 0; i < 50 && !listed.includes('spare_echo'); i++) {
      await sleep(100);
      listed = await names(c);
    }
    expect(listed).toContain('spare_echo');
    expect(textOf(await c.callTool({ name: 'spare_echo', arguments: { text: 'new' } }))).toBe('echo: new');
    upstreams = upstreams.filter((u) => u.name !== 'spare');
    writeUpstreams();
    for (let i = 0; i < 50 && listed.includes('spare_echo'); i++) {
      await sleep(100);
      listed = await names(c);
    }
    expect(listed).not.toContain('spare_echo');
    expect(logLines.some((l) => l.includes('"upstreams_reloaded"'))).toBe(true);
    // A broken edit keeps the last good file in force.
    writeFileSync(join(dir, 'upstreams.json'), '{ "upstreams": [ { "name": "Bad_Name" } ] }');
    for (let i = 0; i < 50 && !logLines.some((l) => l.includes('"upstreams_reload_failed"')); i++) await sleep(100);
    expect(logLines.some((l) => l.includes('"upstreams_reload_failed"'))).toBe(true);
    expect(textOf(await c.callTool({ name: 'a_echo', arguments: { text: 'still' } }))).toBe('echo: still');
    writeUpstreams();
  });

  it('a child killed under concurrent load: its calls fail fast with its name, the other child answers every call, it comes back', async () => {
    const c = await client(idpA);
    const load = (name: string, n: number) => Promise.all(Array.from({ length: n }, (_, i) => c.callTool({ name, arguments: { text: `n${i}` } })));
    expect((await load('a_echo', 20)).every((r) => !r.isError)).toBe(true);
    const killed = childA.stop();
    const [aResults, mineResults] = await Promise.all([load('a_echo', 40), load('mine_echo', 40)]);
    await killed;
    expect(mineResults.every((r) => !r.isError)).toBe(true);
    const failed = aResults.filter((r) => r.isError);
    expect(failed.length).toBeGreaterThan(0);
    for (const r of failed) expect(textOf(r)).toMatch(/the MCP server "a" is unavailable/);
    const ready = await (await fetch(`${baseUrl}/health/ready`)).json();
    expect(ready.checks.children.down, JSON.stringify(ready.checks.children)).toContain('a');
    await childA.restart();
    let back = await c.callTool({ name: 'a_echo', arguments: { text: 'back' } });
    for (let i = 0; i < 40 && back.isError; i++) {
      await sleep(100);
      back = await c.callTool({ name: 'a_echo', arguments: { text: 'back' } });
    }
    expect(textOf(back)).toBe('echo: back');
  });
});
