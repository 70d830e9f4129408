/**
 * `serve --upstream`: the bridge to a real Streamable-HTTP MCP server protected by bearer tokens
 * from the real test IdP, spawned and driven by the SDK's own client. Pass-through of tools,
 * resources and prompts for both protocol eras; 401 → refresh → retry; 403 → step-up sign-in;
 * the upstream killed and restarted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/shared/logger.js';
import { dependantCount } from '../src/local/serve/abort-signals.js';
import { createBridge } from '../src/local/serve/bridge.js';
import { logLines, runCli, SCRIPTED_BROWSER, tempDir } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { connectServe, textOf } from './support/mcp-clients.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

let idp: TestIdp;
let modern: TestUpstream;
let legacy: TestUpstream;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  modern = await startUpstream({ era: 'modern', requiredScopes: { admin_op: 'mcp:admin' } });
  legacy = await startUpstream({ era: 'legacy' });
  idp = await startIdp({ resources: [modern.url, legacy.url], extraScopes: ['mcp:admin'] });
  modern.trust(idp);
  legacy.trust(idp);
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([modern?.close(), legacy?.close(), idp?.close()]);
});

function env(dir: string, upstream: TestUpstream, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: dir,
    SEED_MCP_TOKEN_STORE: 'file',
    SEED_MCP_ISSUER: idp.issuer,
    SEED_MCP_CLIENT_ID: idp.clientId,
    SEED_MCP_RESOURCE: upstream.url,
    SEED_MCP_UPSTREAM: upstream.url,
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    ...extra,
  };
}

/** A signed-in profile whose token is for `upstream`, and a bridge to it spawned by the SDK client. */
async function bridge(upstream: TestUpstream, args: string[] = [], extra: Record<string, string> = {}) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const e = env(t.dir, upstream, extra);
  const login = await runCli(['login'], e);
  expect(login.code, login.stderr).toBe(0);
  const serve = await connectServe('modern', ['serve', ...args], e);
  cleanups.push(() => serve.close());
  return { dir: t.dir, client: serve.client as Client, stderr: serve.stderr };
}

describe('serve --upstream', () => {
  it('offers a 2026-07-28 upstream’s tools, resources and prompts as its own, with the bearer token', async () => {
    const { client } = await bridge(modern, ['--header', 'X-Team: platform']);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['seed_ping', 'whoami', 'echo', 'admin_op', 'slow']);
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(echo.isError, textOf(echo)).toBeFalsy();
    expect(textOf(echo)).toBe('echo: hi');
    expect(echo.structuredContent).toEqual({ text: 'hi', subject: 'alice' });
    expect(modern.lastHeaders['mcp-protocol-version']).toBe('2026-07-28');
    expect(modern.lastHeaders['x-team']).toBe('platform');
    expect(modern.lastHeaders.authorization).toBe('Bearer [present]');
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(['test://hello']);
    const read = await client.readResource({ uri: 'test://hello' });
    expect(read.contents[0]).toMatchObject({ uri: 'test://hello', text: 'hello from upstream' });
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(['greet']);
    const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
    expect(prompt.messages[0]?.content).toMatchObject({ type: 'text', text: 'Hello, Ada!' });
    // Our own whoami still answers for seed-mcp.
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'alice' });
  });

  it('bridges to an initialize-era upstream (SDK v1 server) as well', async () => {
    const { client } = await bridge(legacy);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'old' } });
    expect(textOf(echo)).toBe('echo: old');
    expect(legacy.lastHeaders['mcp-protocol-version']).toMatch(/^2025-/);
  });

  it('on a 401 refreshes once and retries, for any number of concurrent calls', async () => {
    const { client } = await bridge(modern);
    await client.callTool({ name: 'echo', arguments: { text: 'warm' } });
    modern.rejectCurrentTokens();
    const refreshes = idp.counts.refresh;
    const unauthorized = modern.counts.unauthorized;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => client.callTool({ name: 'echo', arguments: { text: `n${i}` } })));
    for (const r of results) expect(r.isError, textOf(r)).toBeFalsy();
    expect(modern.counts.unauthorized).toBeGreaterThan(unauthorized);
    expect(idp.counts.refresh - refreshes).toBe(1);
  });

  it('on a 403 insufficient_scope signs in again for the union of scopes, then the call succeeds', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const log = join(t.dir, 'browser.log');
    const { dir, client } = await bridge(modern, [], { SCRIPTED_BROWSER_LOG: log });
    // The call waits for the step-up sign-in, then goes through with a token that carries mcp:admin.
    const first = await client.callTool({ name: 'admin_op', arguments: {} });
    expect(first.isError, textOf(first)).toBeFalsy();
    expect(textOf(first)).toBe('admin done');
    expect(modern.counts.forbidden).toBeGreaterThan(0);
    // The first launch was the initial `login`; the second is the step-up.
    const [, launch] = await logLines(log, 2);
    const scope = new URL(launch.url).searchParams.get('scope')!.split(' ');
    expect(scope).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'offline_access', 'mcp:admin']));
    expect(JSON.parse(readFileSync(join(dir, 'tokens', 'default.json'), 'utf8')).scope).toContain('mcp:admin');
  });

  it('answers a clear tool error while the upstream is down and reconnects by itself when it is back', async () => {
    const { client } = await bridge(modern);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'up' } }))).toBe('echo: up');
    await modern.stop();
    try {
      let down = await client.callTool({ name: 'echo', arguments: { text: 'down' } });
      // A pooled socket may fail first with a socket error; the next attempt sees the refusal.
      if (!textOf(down).includes('ECONNREFUSED')) down = await client.callTool({ name: 'echo', arguments: { text: 'down' } });
      expect(down.isError).toBe(true);
      expect(textOf(down)).toMatch(/the upstream MCP server at http:\/\/127\.0\.0\.1:\d+\/mcp is unreachable \(ECONNREFUSED\)\. It may be restarting; retry in a moment/);
      // While it is down, the list still offers our own tools.
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['seed_ping', 'whoami']);
    } finally {
      await modern.restart();
    }
    const back = await client.callTool({ name: 'echo', arguments: { text: 'back' } });
    expect(back.isError, textOf(back)).toBeFalsy();
    expect(textOf(back)).toBe('echo: back');
  });

  it('goes through the proxy named by HTTP_PROXY / HTTPS_PROXY', async () => {
    // A forward proxy that relays absolute-form requests and counts them.
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const target = new URL(req.url!);
      const out = httpRequest({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      out.on('error', () => res.writeHead(502).end());
      req.pipe(out);
    });
    // undici tunnels every proxied request, http too, through CONNECT.
    proxy.on('connect', (req, socket, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = (req.url ?? '').split(':');
      const upstreamSocket = connect(Number(port), host!, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstreamSocket.write(head);
        upstreamSocket.pipe(socket);
        socket.pipe(upstreamSocket);
      });
      upstreamSocket.on('error', () => socket.destroy());
      socket.on('error', () => upstreamSocket.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    cleanups.push(
      () =>
        new Promise((r) => {
          proxy.close(r);
          proxy.closeAllConnections();
        }),
    );
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const { client } = await bridge(modern, [], { HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl });
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'via proxy' } });
    expect(textOf(echo)).toBe('echo: via proxy');
    expect(seen).toContain(`CONNECT 127.0.0.1:${modern.port}`);
  });
});

describe('bridge memory (issue #14)', () => {
  it('keeps no trace of finished calls on the connection’s abort signal', async () => {
    // The SDK transport combines its long-lived signal with each request's (AbortSignal.any);
    // Node 20 keeps one entry per call in the long-lived signal for good. Watch those signals.
    const sources = new Set<AbortSignal>();
    const any = AbortSignal.any;
    AbortSignal.any = (signals: AbortSignal[]) => {
      for (const s of signals) sources.add(s);
      return any.call(AbortSignal, signals);
    };
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const token = await idp.serviceToken({ resource: modern.url });
    const upstream = createBridge({
      url: modern.url,
      auth: {
        accessToken: async () => token,
        refreshAfter401: async () => {},
        stepUp: async () => {},
        caller: async () => ({ subject: 'svc' }) as never,
      },
      logger: silentLogger,
      clientInfo: { name: 'memory-test', version: '1' },
    });
    try {
      const calls = 3000;
      for (let done = 0; done < calls; done += 250) {
        const batch = await Promise.all(Array.from({ length: 250 }, () => upstream.callTool({ name: 'echo', arguments: { text: 'x' } })));
        expect(textOf(batch[0]!)).toBe('echo: x');
        for (let i = 0; i < 3; i++) {
          gc();
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      // The transport's signal took part in every call; today it holds one entry per call made.
      const most = Math.max(...[...sources].map(dependantCount));
      expect(most).toBeLessThan(calls / 3);
    } finally {
      AbortSignal.any = any;
      await upstream.close();
    }
  });
});
