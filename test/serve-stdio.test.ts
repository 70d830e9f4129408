/**
 * `seed-mcp serve` over stdio, spawned by the SDK's own clients (v2: 2026-07-28; v1: the
 * `initialize` handshake) against the real test IdP: tools, stdout purity, sign-in on demand
 * (one browser for many calls and processes), one refresh for many concurrent calls.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, logLines, runCli, SCRIPTED_BROWSER, tempDirs, expireSoon } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { connectServe, textOf, type ServeClient } from './support/mcp-clients.js';
import type { Client } from '@modelcontextprotocol/client';

let idp: TestIdp;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  idp = await startIdp();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await idp?.close();
});

const newDir = tempDirs();

function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: dir,
    SEED_MCP_TOKEN_STORE: 'file',
    SEED_MCP_ISSUER: idp.issuer,
    SEED_MCP_CLIENT_ID: idp.clientId,
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    ...extra,
  };
}

async function loggedIn(): Promise<string> {
  const dir = newDir();
  const r = await runCli(['login'], env(dir));
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

async function serve(era: 'modern' | 'legacy', args: string[], e: Record<string, string>): Promise<ServeClient> {
  const c = await connectServe(era, ['serve', ...args], e);
  cleanups.push(() => c.close());
  return c;
}

describe.each(['modern', 'legacy'] as const)('an SDK %s client spawning serve', (era) => {
  it('negotiates its protocol era, lists the tools and calls them with the signed-in identity', async () => {
    const dir = await loggedIn();
    const { client } = await serve(era, [], env(dir));
    if (era === 'modern') expect((client as Client).getNegotiatedProtocolVersion()).toBe('2026-07-28');
    // SDK v1 cannot speak 2026-07-28: that it is connected and answered proves the initialize era.
    else expect((client as { getServerVersion(): { name: string } | undefined }).getServerVersion()?.name).toBe('seed-mcp');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['seed_ping', 'whoami']);
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(who.isError).toBeFalsy();
    expect(who.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.test', name: 'Alice Example', issuer: idp.issuer });
    expect(JSON.stringify(who)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // never a token
    const ping = await client.callTool({ name: 'seed_ping', arguments: {} });
    expect(ping.structuredContent).toMatchObject({ status: 'ok', server: 'seed-mcp', mode: 'local', caller: { subject: 'alice' } });
  });
});

describe('serve', () => {
  it('writes only JSON-RPC on stdout, logs on stderr, and exits when stdin closes', async () => {
    const dir = newDir(); // not signed in: the whoami call starts a sign-in, which logs
    const child = spawn(process.execPath, [BIN, 'serve'], {
      env: { PATH: process.env.PATH ?? '', ...env(dir, { SCRIPTED_BROWSER_DELAY_MS: '300' }) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const send = (m: object) => child.stdin.write(JSON.stringify(m) + '\n');
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
    // Wait for the background sign-in to finish, then ask again.
    for (let i = 0; i < 100 && !existsSync(join(dir, 'tokens', 'default.json')); i++) await new Promise((r) => setTimeout(r, 100));
    send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
    for (let i = 0; i < 50 && !stdout.includes('"id":4'); i++) await new Promise((r) => setTimeout(r, 100));
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(JSON.parse(line).jsonrpc).toBe('2.0');
    const byId = new Map(lines.map((l) => [JSON.parse(l).id, JSON.parse(l)]));
    // The call that started the sign-in waited for it, then answered.
    expect(byId.get(3).result.isError).toBeFalsy();
    expect(byId.get(3).result.structuredContent.email).toBe('alice@example.test');
    expect(byId.get(4).result.structuredContent.email).toBe('alice@example.test');
    expect(stderr).toContain('sign-in required for profile default');
    expect(stderr).toContain('signed in to');
    const t = JSON.parse(readFileSync(join(dir, 'tokens', 'default.json'), 'utf8'));
    for (const secret of [t.accessToken, t.refreshToken, t.idToken]) {
      expect(stdout.includes(secret)).toBe(false);
      expect(stderr.includes(secret)).toBe(false);
    }
  });

  it('bare `seed-mcp` with a pipe on stdin serves', async () => {
    const dir = await loggedIn();
    const c = await connectServe('modern', [], env(dir));
    cleanups.push(() => c.close());
    expect((await c.client.listTools()).tools.map((t) => t.name)).toContain('whoami');
  });

  it('with --login never and no token, a tool answers with the command to run', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const { client } = await serve('modern', ['--login', 'never'], env(dir, { SCRIPTED_BROWSER_LOG: log }));
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain('Run `seed-mcp login --profile default` in a terminal, then retry this request.');
    expect(existsSync(log)).toBe(false);
  });

  it('a ping never opens a browser, signed in or not', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const { client } = await serve('modern', [], env(dir, { SCRIPTED_BROWSER_LOG: log }));
    const r = await client.callTool({ name: 'seed_ping', arguments: {} });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: 'ok', caller: null });
    expect((r.structuredContent as { note: string }).note).toContain('not signed in');
    await new Promise((res) => setTimeout(res, 300));
    expect(existsSync(log)).toBe(false);
  });

  it('many calls in two serve processes with no token open exactly one browser sign-in; every call waits for it, then answers', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const e = env(dir, { SCRIPTED_BROWSER_LOG: log, SCRIPTED_BROWSER_DELAY_MS: '500' });
    const [a, b] = await Promise.all([serve('modern', [], e), serve('legacy', [], e)]);
    const calls = await Promise.all([
      ...Array.from({ length: 10 }, () => a.client.callTool({ name: 'whoami', arguments: {} })),
      ...Array.from({ length: 10 }, () => b.client.callTool({ name: 'whoami', arguments: {} })),
    ]);
    // One process opened the browser and waited for its sign-in; the other waited for the tokens to be stored.
    for (const r of calls) expect(r.isError, textOf(r)).toBeFalsy();
    for (const r of calls) expect(r.structuredContent).toMatchObject({ subject: 'alice' });
    expect(await logLines(log)).toHaveLength(1);
  });

  it('with SEED_MCP_SIGN_IN_WAIT=0 calls answer at once: one says a browser opened, the others that a sign-in is in progress', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const e = env(dir, { SCRIPTED_BROWSER_LOG: log, SCRIPTED_BROWSER_DELAY_MS: '500', SEED_MCP_SIGN_IN_WAIT: '0' });
    const [a, b] = await Promise.all([serve('modern', [], e), serve('legacy', [], e)]);
    const calls = await Promise.all([
      ...Array.from({ length: 10 }, () => a.client.callTool({ name: 'whoami', arguments: {} })),
      ...Array.from({ length: 10 }, () => b.client.callTool({ name: 'whoami', arguments: {} })),
    ]);
    const texts = calls.map(textOf);
    for (const r of calls) expect(r.isError).toBe(true);
    expect(texts.filter((t) => t.includes('a browser window opened'))).toHaveLength(1);
    expect(texts.filter((t) => t.includes('Sign-in in progress'))).toHaveLength(19);
    for (let i = 0; i < 100 && !existsSync(join(dir, 'tokens', 'default.json')); i++) await new Promise((r) => setTimeout(r, 100));
    // Signed in now: both processes answer.
    for (const c of [a, b]) expect((await c.client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'alice' });
    expect(await logLines(log)).toHaveLength(1);
  });

  it('fifty concurrent calls on an expired token make exactly one refresh', async () => {
    const dir = await loggedIn();
    const { client } = await serve('modern', [], env(dir));
    expireSoon(dir);
    const before = idp.counts.refresh;
    const results = await Promise.all(Array.from({ length: 50 }, () => client.callTool({ name: 'whoami', arguments: {} })));
    for (const r of results) expect(r.isError, textOf(r)).toBeFalsy();
    expect(idp.counts.refresh - before).toBe(1);
  });

  it('two serve processes of one profile make exactly one refresh', async () => {
    const dir = await loggedIn();
    const [a, b] = await Promise.all([serve('modern', [], env(dir)), serve('modern', [], env(dir))]);
    expireSoon(dir);
    const before = idp.counts.refresh;
    const results = await Promise.all([a, b].flatMap((c) => Array.from({ length: 10 }, () => c.client.callTool({ name: 'whoami', arguments: {} }))));
    for (const r of results) expect(r.isError, textOf(r)).toBeFalsy();
    expect(idp.counts.refresh - before).toBe(1);
    expect(idp.counts.failedRefresh).toBe(0);
  });

  it('mints its own service token with --grant client_credentials (no browser)', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const { client } = await serve('modern', ['--grant', 'client_credentials'], {
      ...env(dir, { SCRIPTED_BROWSER_LOG: log }),
      SEED_MCP_CLIENT_ID: 'seed-service',
      SEED_MCP_CLIENT_SECRET: 'service-secret',
    });
    const before = idp.counts.clientCredentials;
    const r = await client.callTool({ name: 'whoami', arguments: {} });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ subject: 'seed-service', clientId: 'seed-service', issuer: idp.issuer });
    await client.callTool({ name: 'whoami', arguments: {} });
    expect(idp.counts.clientCredentials - before).toBe(1); // cached until near expiry
    expect(existsSync(log)).toBe(false);
  });
});
