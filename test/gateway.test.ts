/**
 * Gateway mode with real children: a bearer-protected HTTP child of each protocol era (the v2 SDK's
 * 2026-07-28 server and the v1 SDK's initialize-era one) and a stdio child the gateway spawns, in
 * front of which `seed-mcp cloud` validates the caller's token from the real test IdP, applies the
 * policy per child and tool, and calls each child with its own service token (client credentials
 * at the same IdP) — never the caller's, as each child records. Called by SDK v1 and v2 clients
 * through the aggregated `/mcp` and through `/mcp/<name>`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import type { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCloud } from '../src/cloud/start.js';
import { tempDir } from './support/cli.js';
import { legacyMcpClient, modernMcpClient, reserveBaseUrl, startGatewayCloud } from './support/gateway.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { textOf } from './support/mcp-clients.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

const STDIO_CHILD = join(import.meta.dirname, 'support', 'stdio-child.mjs');

let idp: TestIdp;
let modern: TestUpstream;
let legacy: TestUpstream;
let cloud: RunningCloud;
let baseUrl: string;
let dir: string;
let logLines: string[] = [];
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  const reserved = await reserveBaseUrl();
  baseUrl = reserved.baseUrl;
  modern = await startUpstream({ era: 'modern' });
  legacy = await startUpstream({ era: 'legacy' });
  idp = await startIdp({ resources: [`${baseUrl}/mcp`, `${baseUrl}/mcp/docs`, `${baseUrl}/mcp/old`, `${baseUrl}/mcp/calc`, modern.url, legacy.url] });
  modern.trust(idp);
  legacy.trust(idp);
  const t = tempDir();
  cleanups.push(t.cleanup);
  dir = t.dir;
  writeFileSync(join(dir, 'gw-secret'), 'service-secret\n');
  const cc = (resource: string) => ({ type: 'client_credentials', issuer: idp.issuer, client_id: 'seed-service', client_secret_file: 'gw-secret', resource });
  writeFileSync(
    join(dir, 'upstreams.json'),
    JSON.stringify({
      upstreams: [
        { name: 'docs', url: modern.url, auth: cc(modern.url), timeout_ms: 5000, headers: { 'X-Team': 'platform' } },
        { name: 'old', url: legacy.url, auth: cc(legacy.url), timeout_ms: 5000 },
        { name: 'calc', command: [process.execPath, STDIO_CHILD], env: { CHILD_GREETING: 'hello from the gateway' } },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'policy.yaml'),
    `rules:
  - tools: ["*"]
    allow: { any: true }
  - server: docs
    tools: [echo, slow]
    allow: { subjects: [other-service] }
  - server: old
    tools: ["*"]
    allow: { any: true }
  - server: calc
    tools: ["*"]
    allow: { subjects: [other-service] }
`,
  );
  ({ cloud, logLines } = await startGatewayCloud(
    reserved.port,
    baseUrl,
    { OIDC_ISSUER: idp.issuer, RESOURCE_IDENTIFIER: `${baseUrl}/mcp`, UPSTREAMS_FILE: join(dir, 'upstreams.json'), TOOL_POLICY_FILE: join(dir, 'policy.yaml') },
    { gatewayChild: { breaker: { failureThreshold: 2, openMs: 500 }, restartDelayMs: 100 } },
  ));
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await cloud?.close();
  await Promise.all([modern?.close(), legacy?.close(), idp?.close()]);
});

/** The caller: the `other-service` principal, with a token for `resource`. */
const callerToken = (resource: string) => idp.serviceToken({ client: 'other-service', resource });

async function modernClient(path: string): Promise<Client> {
  const client = await modernMcpClient(`${baseUrl}${path}`, await callerToken(`${baseUrl}${path}`));
  cleanups.push(() => client.close());
  return client;
}

async function legacyClient(path: string): Promise<V1Client> {
  const client = await legacyMcpClient(`${baseUrl}${path}`, await callerToken(`${baseUrl}${path}`));
  cleanups.push(() => client.close());
  return client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('gateway mode', () => {
  it('aggregates every child on /mcp as <name>_<tool>, lists only what the policy allows, and calls each child with its own service token', async () => {
    for (const client of [await modernClient('/mcp'), await legacyClient('/mcp')]) {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['whoami', 'seed_ping', 'docs_echo', 'docs_slow', 'old_echo', 'old_admin_op', 'calc_add', 'calc_env']));
      // No rule allows docs' admin_op: not listed.
      expect(names).not.toContain('docs_admin_op');
      const echo = await client.callTool({ name: 'docs_echo', arguments: { text: 'hi' } });
      expect(textOf(echo)).toBe('echo: hi');
      // The child saw the gateway's token (seed-service), not the caller's (other-service), and the configured headers.
      expect((echo.structuredContent as { subject: string }).subject).toBe('seed-service');
      expect(modern.lastHeaders['x-team']).toBe('platform');
      expect(textOf(await client.callTool({ name: 'old_echo', arguments: { text: 'there' } }))).toBe('echo: there');
      expect(textOf(await client.callTool({ name: 'calc_add', arguments: { a: 2, b: 3 } }))).toBe('5');
      expect(textOf(await client.callTool({ name: 'calc_env', arguments: {} }))).toBe('hello from the gateway');
    }
    for (const child of [modern, legacy]) {
      expect(child.subjects.length).toBeGreaterThan(0);
      expect(new Set(child.subjects)).toEqual(new Set(['seed-service']));
    }
    // One service token per child, cached: not one per call.
    const mints = (await (await fetch(`${baseUrl}/metrics`)).text()).split('\n').filter((l) => l.startsWith('mcp_child_token_mints_total'));
    expect(mints.sort()).toEqual(['mcp_child_token_mints_total{child="docs",result="success"} 1', 'mcp_child_token_mints_total{child="old",result="success"} 1']);
  });

  it("aggregates the children's resources (under their own URIs) and prompts (as <name>_<prompt>)", async () => {
    const client = await modernClient('/mcp');
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toContain('test://hello');
    const read = await client.readResource({ uri: 'test://hello' });
    expect((read.contents[0] as { text: string }).text).toBe('hello from upstream');
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(expect.arrayContaining(['docs_greet', 'old_greet']));
    const prompt = await client.getPrompt({ name: 'docs_greet', arguments: { name: 'Ada' } });
    expect((prompt.messages[0]!.content as { text: string }).text).toBe('Hello, Ada!');
    await expect(client.getPrompt({ name: 'nope_greet', arguments: {} })).rejects.toThrow(/unknown prompt/);
  });

  it('denies a tool no rule allows, before the child is called, and audits the decision', async () => {
    const client = await modernClient('/mcp');
    const before = modern.counts.requests;
    const denied = await client.callTool({ name: 'docs_admin_op', arguments: {} });
    expect(denied.isError).toBe(true);
    expect(textOf(denied)).toContain('no rule of');
    expect(textOf(denied)).toContain('admin_op of docs');
    expect(modern.counts.requests).toBe(before);
    const decisions = logLines.map((l) => JSON.parse(l)).filter((l) => l.event === 'gateway_decision' && l.child === 'docs' && l.tool === 'admin_op');
    expect(decisions.at(-1)).toMatchObject({ allowed: false, code: 'ACCESS_DENIED', subject: 'other-service' });
    // And the caller's token is never in the log.
    const token = await callerToken(`${baseUrl}/mcp`);
    expect(logLines.join('\n')).not.toContain(token.split('.')[2]);
  });

  it('serves each child at /mcp/<name> with its own protected-resource metadata', async () => {
    const prm = await (await fetch(`${baseUrl}/.well-known/oauth-protected-resource/mcp/old`)).json();
    expect(prm).toMatchObject({ resource: `${baseUrl}/mcp/old`, authorization_servers: [idp.issuer] });
    for (const client of [await modernClient('/mcp/old'), await legacyClient('/mcp/old')]) {
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual(['admin_op', 'echo', 'slow']);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'direct' } }))).toBe('echo: direct');
    }
    const unknown = await fetch(`${baseUrl}/mcp/nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).message).toContain(`${baseUrl}/mcp/docs`);
    // A token for /mcp is not one for /mcp/old.
    const wrong = await fetch(`${baseUrl}/mcp/old`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${await idp.serviceToken({ client: 'other-service', resource: modern.url })}`,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toContain(`resource_metadata="${baseUrl}/.well-known/oauth-protected-resource/mcp/old"`);
  });

  it('refreshes the cached tool list when a child says it changed (the list otherwise lives 60 s)', async () => {
    const client = await modernClient('/mcp');
    expect(await client.listTools().then((r) => r.tools.map((t) => t.name))).not.toContain('calc_grown');
    expect(textOf(await client.callTool({ name: 'calc_grow', arguments: {} }))).toBe('grown');
    let names: string[] = [];
    for (let i = 0; i < 30 && !names.includes('calc_grown'); i++) {
      await sleep(50);
      names = (await client.listTools()).tools.map((t) => t.name);
    }
    expect(names).toContain('calc_grown');
    expect(textOf(await client.callTool({ name: 'calc_grown', arguments: {} }))).toBe('I grew');
  });

  it('restarts a stdio child that crashed', async () => {
    const client = await modernClient('/mcp');
    const pid = textOf(await client.callTool({ name: 'calc_pid', arguments: {} }));
    await client.callTool({ name: 'calc_crash', arguments: {} });
    let next = pid;
    for (let i = 0; i < 50 && (next === pid || !/^\d+$/.test(next)); i++) {
      await sleep(100);
      next = textOf(await client.callTool({ name: 'calc_pid', arguments: {} }));
    }
    expect(next).toMatch(/^\d+$/);
    expect(next).not.toBe(pid);
    expect(logLines.some((l) => l.includes('"child_exited"'))).toBe(true);
  });

  it('a child going down: a clear error naming it, the others keep answering, the breaker opens, readiness says which; back up, it closes', async () => {
    const client = await modernClient('/mcp');
    await legacy.stop();
    try {
      for (let i = 0; i < 3; i++) {
        const r = await client.callTool({ name: 'old_echo', arguments: { text: 'x' } });
        expect(r.isError).toBe(true);
        expect(textOf(r)).toContain('the MCP server "old" is unavailable');
      }
      expect(textOf(await client.callTool({ name: 'docs_echo', arguments: { text: 'still' } }))).toBe('echo: still');
      const ready = await (await fetch(`${baseUrl}/health/ready`)).json();
      expect(ready.status, JSON.stringify(ready.checks.children)).toBe('degraded');
      expect(ready.checks.children.down).toEqual(['old']);
      const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
      expect(
        metrics
          .split('\n')
          .filter((l) => l.startsWith('mcp_child_breaker'))
          .join('\n'),
      ).toMatch(/mcp_child_breaker_state\{child="old"\} 2/);
      expect(metrics).toMatch(/mcp_child_requests_total\{child="old",outcome="unavailable"\} \d/);
    } finally {
      await legacy.restart();
    }
    let back = await client.callTool({ name: 'old_echo', arguments: { text: 'back' } });
    for (let i = 0; i < 30 && back.isError; i++) {
      await sleep(100);
      back = await client.callTool({ name: 'old_echo', arguments: { text: 'back' } });
    }
    expect(textOf(back)).toBe('echo: back');
    expect(await (await fetch(`${baseUrl}/metrics`)).text()).toMatch(/mcp_child_breaker_state\{child="old"\} 0/);
    expect((await (await fetch(`${baseUrl}/health/ready`)).json()).checks.children.status).toBe('ok');
  });
});
