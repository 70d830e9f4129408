/**
 * The gateway's direct `tools/call` to HTTP children of the `initialize` era (child.ts): the
 * gateway sends the JSON-RPC request itself on the connection the SDK made, and reads a plain JSON
 * answer itself; anything else is handed to the SDK's request as its transport's answer. Each case
 * is called through a child on the gateway's keep-alive client (direct) and through one whose
 * client the direct path cannot use (the SDK alone), against the same server: same results, same
 * errors, the child called once — and the direct child really took the direct path.
 *
 * Servers: a scripted initialize-era child (JSON answers, a session, one tool per kind of answer,
 * bearer tokens it can revoke, a restart that loses its sessions), and the real children of
 * test/support/upstream.ts (the v1 SDK's stateless server answers event streams; the v2 SDK's
 * negotiates the 2026-07-28 era, which the direct path leaves to the SDK).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChild, type Child, type ChildCall } from '../src/cloud/gateway/child.js';
import type { ChildCredential } from '../src/cloud/gateway/credentials.js';
import { createKeepAliveFetch, type KeepAliveFetch } from '../src/cloud/gateway/keepalive-fetch.js';
import type { ChildSpec } from '../src/cloud/gateway/types.js';
import { createLogger } from '../src/shared/logger.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

const CALL: ChildCall = { caller: { subject: 'alice', issuer: 'https://idp.test', scopes: [] } };
const logger = createLogger({ level: 'error' });

/** A scripted initialize-era MCP server: JSON answers unless a tool answers otherwise. */
function scriptedChild() {
  let sessions = new Set<string>();
  const valid = new Set<string>();
  const log: Array<{ method: string; headers: IncomingMessage['headers']; body: any }> = [];
  const counts = { toolCalls: 0, unauthorized: 0, notFound: 0 };
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  const answer = (id: unknown, result: unknown) => ({ jsonrpc: '2.0', id, result });
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !valid.has(token)) {
        counts.unauthorized++;
        return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      if (req.method !== 'POST') return res.writeHead(405).end();
      const msg = JSON.parse(text);
      log.push({ method: msg.method, headers: req.headers, body: msg });
      if (msg.method === 'initialize') {
        const session = randomUUID();
        sessions.add(session);
        return json(res, 200, answer(msg.id, { protocolVersion: msg.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'scripted', version: '1.0.0' } }), {
          'mcp-session-id': session,
        });
      }
      if (!sessions.has(String(req.headers['mcp-session-id']))) {
        counts.notFound++;
        return json(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } });
      }
      if (msg.id === undefined) return res.writeHead(202).end();
      if (msg.method === 'tools/list') return json(res, 200, answer(msg.id, { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] }));
      if (msg.method !== 'tools/call') return json(res, 200, { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
      counts.toolCalls++;
      const { name, arguments: args } = msg.params;
      const reply = (result: unknown) => json(res, 200, answer(msg.id, result));
      switch (name) {
        case 'echo':
          return reply({ content: [{ type: 'text', text: `echo: ${args?.text}` }] });
        case 'structured':
          return reply({ content: [{ type: 'text', text: '{"n":1}' }], structuredContent: { n: 1, args } });
        case 'fails':
          return reply({ content: [{ type: 'text', text: 'it failed' }], isError: true });
        case 'image':
          return reply({ content: [{ type: 'image', data: 'aGVsbG8=', mimeType: 'image/png' }], _meta: { note: 'x' } });
        case 'empty':
          return reply({});
        case 'invalid':
          return reply({ content: [{ type: 'text' }] });
        case 'rpc-error':
          return json(res, 200, { jsonrpc: '2.0', id: msg.id, error: { code: -32602, message: 'bad arguments', data: { field: 'text' } } });
        case 'sse':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          return res.end(`event: message\ndata: ${JSON.stringify(answer(msg.id, { content: [{ type: 'text', text: 'streamed' }] }))}\n\n`);
        case 'http-500':
          return res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
        case 'not-json':
          return res.writeHead(200, { 'content-type': 'application/json' }).end('{not json');
        case 'slow':
          return setTimeout(() => reply({ content: [{ type: 'text', text: 'late' }] }), Number(args?.ms ?? 0));
        default:
          return json(res, 200, { jsonrpc: '2.0', id: msg.id, error: { code: -32602, message: `Tool ${name} not found` } });
      }
    });
  });
  return {
    server,
    log,
    counts,
    valid,
    /** The server restarted: every session is gone. */
    loseSessions: () => (sessions = new Set()),
    async listen() {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    },
  };
}

/** A credential minting `tok-1`, `tok-2`… (each accepted by `accept`), a new one only after a rejection. */
function countingCredential(accept: (token: string) => void | Promise<void>, mint?: () => Promise<string>) {
  let n = 0;
  let current: string | undefined;
  const credential: ChildCredential & { mints: () => number } = {
    type: 'static',
    async token(request) {
      if (!current || request?.rejected === current) {
        n++;
        current = mint ? await mint() : `tok-${n}`;
        await accept(current);
      }
      return current;
    },
    status: () => ({ ok: true, detail: 'ok' }),
    close() {},
    mints: () => n,
  };
  return credential;
}

/** The gateway's keep-alive client, counting direct requests and the SDK's POSTs by JSON-RPC method. */
function spiedHttp(direct: boolean) {
  const http = createKeepAliveFetch();
  const seen = { direct: 0, posts: [] as string[] };
  const fetchFn = (input: string | URL | Request, init?: RequestInit) => {
    if (init?.method === 'POST' && typeof init.body === 'string') seen.posts.push(JSON.parse(init.body).method);
    return http(input, init);
  };
  const f = direct
    ? (Object.assign(fetchFn, {
        request: (...a: Parameters<KeepAliveFetch['request']>) => {
          seen.direct++;
          return http.request(...a);
        },
        response: http.response,
        close: http.close,
      }) as unknown as KeepAliveFetch)
    : (fetchFn as typeof fetch);
  return { fetch: f, seen, close: () => http.close() };
}

const spec = (name: string, url: string, timeoutMs = 5000): ChildSpec => ({ name, url, headers: { 'X-Team': 'platform' }, timeoutMs, auth: { type: 'none' }, scopes: [] });

/** What a call came to, comparable between the two paths. */
async function outcome(child: Child, tool: string, args?: Record<string, unknown>) {
  try {
    return { result: await child.callTool(tool, args, CALL) };
  } catch (err) {
    const e = err as Error & { code?: unknown; data?: unknown };
    return { error: { class: e.constructor.name, message: e.message, code: e.code, data: e.data } };
  }
}

describe('direct tools/call to a scripted initialize-era child (JSON answers, a session)', () => {
  const upstream = scriptedChild();
  let url: string;
  const made: Array<{ child: Child; close: () => void }> = [];
  const pair = (options: { timeoutMs?: number } = {}) => {
    const make = (direct: boolean) => {
      const http = spiedHttp(direct);
      const credential = countingCredential((t) => void upstream.valid.add(`${direct ? 'd' : 's'}-${t}`));
      // Distinct tokens per path, so the child's log says which path sent what.
      const prefixed: ChildCredential = { ...credential, token: async (r) => `${direct ? 'd' : 's'}-${await credential.token(r && { ...r, rejected: r.rejected?.slice(2) })}` };
      const child = createChild(spec('child', url, options.timeoutMs), {
        credential: prefixed,
        logger,
        clientInfo: { name: 'seed-mcp-gateway', version: 'test' },
        fetch: http.fetch,
        breaker: { failureThreshold: 100 },
      });
      made.push({ child, close: http.close });
      return { child, http, credential };
    };
    return { direct: make(true), sdk: make(false) };
  };

  beforeAll(async () => {
    url = await upstream.listen();
  });
  afterAll(async () => {
    for (const m of made) {
      await m.child.close();
      m.close();
    }
    upstream.server.close();
  });

  it('answers text, structured and isError results and JSON-RPC errors as the SDK does, sending what the SDK sends', async () => {
    const { direct, sdk } = pair();
    const cases: Array<[string, Record<string, unknown>?]> = [['echo', { text: 'hi' }], ['structured', { a: [1, 2] }], ['fails'], ['rpc-error', { x: 1 }], ['nope'], ['echo']];
    for (const [tool, args] of cases) {
      const before = upstream.counts.toolCalls;
      const expected = await outcome(sdk.child, tool, args);
      const got = await outcome(direct.child, tool, args);
      expect(got, tool).toEqual(expected);
      expect(upstream.counts.toolCalls - before, tool).toBe(2);
    }
    expect((await outcome(direct.child, 'structured')).result?.structuredContent).toEqual({ n: 1 });
    expect((await outcome(direct.child, 'fails')).result?.isError).toBe(true);
    expect((await outcome(direct.child, 'rpc-error')).error).toMatchObject({ class: 'ProtocolError', code: -32602, data: { field: 'text' } });
    // The direct child sent every tools/call itself; the SDK only initialized.
    expect(direct.http.seen.posts.filter((m) => m === 'tools/call')).toEqual([]);
    expect(direct.http.seen.direct).toBe(cases.length + 3);
    expect(sdk.http.seen.posts.filter((m) => m === 'tools/call')).toHaveLength(cases.length);
    // The same request on the wire: headers and JSON-RPC body (ids from each client's own counter).
    const calls = (prefix: string) => upstream.log.filter((l) => l.method === 'tools/call' && String(l.headers.authorization).startsWith(`Bearer ${prefix}-`));
    const [d, s] = [calls('d')[0]!, calls('s')[0]!];
    const comparable = (h: IncomingMessage['headers']) => {
      const { authorization, 'mcp-session-id': session, host, ...rest } = h;
      return { ...rest, authorization: String(authorization).replace(/^Bearer [ds]-/, 'Bearer '), session: typeof session === 'string' && session.length > 0 };
    };
    expect(comparable(d.headers)).toEqual(comparable(s.headers));
    expect(d.headers['x-team']).toBe('platform');
    expect(d.headers['mcp-protocol-version']).toMatch(/^2025-/);
    expect(d.body).toEqual(s.body);
  });

  it('hands every other answer to the SDK — images, _meta, content-less and invalid results, event streams, HTTP errors, non-JSON — the child called once', async () => {
    const { direct, sdk } = pair();
    for (const tool of ['image', 'empty', 'invalid', 'sse', 'http-500', 'not-json']) {
      const before = upstream.counts.toolCalls;
      const expected = await outcome(sdk.child, tool);
      const got = await outcome(direct.child, tool);
      expect(got, tool).toEqual(expected);
      expect(upstream.counts.toolCalls - before, tool).toBe(2);
    }
    expect((await outcome(direct.child, 'sse')).result).toEqual({ content: [{ type: 'text', text: 'streamed' }] });
    expect((await outcome(direct.child, 'empty')).result).toEqual({ content: [] });
    expect((await outcome(direct.child, 'http-500')).error?.class).toBe('ChildUnavailableError');
    // Sent directly each time; the SDK's POST of those calls was answered with what the child had said.
    expect(direct.http.seen.posts.filter((m) => m === 'tools/call')).toEqual([]);
  });

  it('a 401 from the child: one re-mint, one retry, then the answer', async () => {
    const { direct, sdk } = pair();
    for (const side of [sdk, direct]) {
      await outcome(side.child, 'echo', { text: 'warm' });
      upstream.valid.clear(); // the child revokes every token
      const mints = side.credential.mints();
      const unauthorized = upstream.counts.unauthorized;
      const got = await outcome(side.child, 'echo', { text: 'again' });
      expect(got).toEqual({ result: { content: [{ type: 'text', text: 'echo: again' }] } });
      expect(side.credential.mints() - mints).toBe(1);
      expect(upstream.counts.unauthorized - unauthorized).toBe(1);
    }
  });

  it('a child restarted mid-way (its session lost): the call fails as through the SDK, then the gateway reconnects and answers', async () => {
    const { direct, sdk } = pair();
    for (const side of [sdk, direct]) expect(await outcome(side.child, 'echo', { text: 'before' })).toMatchObject({ result: {} });
    upstream.loseSessions();
    const expected = await outcome(sdk.child, 'echo', { text: 'lost' });
    const got = await outcome(direct.child, 'echo', { text: 'lost' });
    expect(got).toEqual(expected);
    expect(got.error?.class).toBe('ChildUnavailableError');
    expect(got.error?.message).toContain('HTTP 404');
    for (const side of [sdk, direct]) expect(await outcome(side.child, 'echo', { text: 'after' })).toEqual({ result: { content: [{ type: 'text', text: 'echo: after' }] } });
    expect(direct.child.health().status).toBe('ok');
  });

  it('a call that outlives the timeout: the same timeout error and cancellation notice, then the next call answers', async () => {
    const { direct, sdk } = pair({ timeoutMs: 100 });
    const expected = await outcome(sdk.child, 'slow', { ms: 400 });
    const got = await outcome(direct.child, 'slow', { ms: 400 });
    expect(got).toEqual(expected);
    expect(got.error?.message).toContain('did not answer tools/call slow within 100 ms');
    await new Promise((r) => setTimeout(r, 50));
    const cancelled = (prefix: string) =>
      upstream.log.filter((l) => l.method === 'notifications/cancelled' && String(l.headers.authorization).startsWith(`Bearer ${prefix}-`)).length;
    expect(cancelled('d')).toBe(cancelled('s'));
    expect(await outcome(direct.child, 'echo', { text: 'next' })).toEqual({ result: { content: [{ type: 'text', text: 'echo: next' }] } });
  });

  it('the connection closed with a call in flight: the same error as through the SDK', async () => {
    const { direct, sdk } = pair();
    const ends = [];
    for (const side of [sdk, direct]) {
      await outcome(side.child, 'echo', { text: 'warm' });
      const pending = outcome(side.child, 'slow', { ms: 300 });
      await new Promise((r) => setTimeout(r, 50));
      await side.child.close();
      ends.push(await pending);
    }
    expect(ends[1]).toEqual(ends[0]);
    expect(ends[1]!.error?.class).toBe('ChildUnavailableError');
    expect(ends[1]!.error?.message).toContain('Connection closed');
  });

  it('many calls at once: each gets its own answer', async () => {
    const { direct } = pair();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => outcome(direct.child, 'echo', { text: String(i) })));
    expect(results.map((r) => r.result?.content[0])).toEqual(Array.from({ length: 40 }, (_, i) => ({ type: 'text', text: `echo: ${i}` })));
  });
});

describe('direct tools/call to the real children of test/support/upstream.ts', () => {
  let idp: TestIdp;
  let legacy: TestUpstream;
  let modern: TestUpstream;
  const made: Array<{ child: Child; close: () => void }> = [];

  beforeAll(async () => {
    legacy = await startUpstream({ era: 'legacy' });
    modern = await startUpstream({ era: 'modern' });
    idp = await startIdp({ resources: [legacy.url, modern.url] });
    legacy.trust(idp);
    modern.trust(idp);
  });
  afterAll(async () => {
    for (const m of made) {
      await m.child.close();
      m.close();
    }
    await legacy?.close();
    await modern?.close();
    await idp?.close();
  });

  const make = (upstream: TestUpstream, direct: boolean) => {
    const http = spiedHttp(direct);
    const credential = countingCredential(
      () => {},
      () => idp.serviceToken({ client: 'seed-service', resource: upstream.url }),
    );
    const child = createChild(spec('child', upstream.url), { credential, logger, clientInfo: { name: 'seed-mcp-gateway', version: 'test' }, fetch: http.fetch });
    made.push({ child, close: http.close });
    return { child, http, credential };
  };

  it('the v1 SDK child (event-stream answers): the same results and errors, the child called once, a 401 re-minted once', async () => {
    const direct = make(legacy, true);
    const sdk = make(legacy, false);
    for (const [tool, args] of [
      ['echo', { text: 'hi' }],
      ['admin_op', undefined],
      ['echo', { text: 5 }],
      ['missing', undefined],
    ] as const) {
      const before = legacy.counts.requests;
      const expected = await outcome(sdk.child, tool, args as Record<string, unknown> | undefined);
      const got = await outcome(direct.child, tool, args as Record<string, unknown> | undefined);
      const normalise = (o: typeof got) => JSON.parse(JSON.stringify(o).replace(/"subject":"[^"]*"/g, '"subject":"x"'));
      expect(normalise(got), tool).toEqual(normalise(expected));
      if (before > 4) expect(legacy.counts.requests - before, tool).toBe(2);
    }
    expect(direct.http.seen.direct).toBe(4);
    expect(direct.http.seen.posts.filter((m) => m === 'tools/call')).toEqual([]); // each answer replayed to the SDK, not asked again
    legacy.rejectCurrentTokens();
    const mints = direct.credential.mints();
    const unauthorized = legacy.counts.unauthorized;
    expect(await outcome(direct.child, 'echo', { text: 'after 401' })).toMatchObject({ result: { content: [{ type: 'text', text: 'echo: after 401' }] } });
    expect(direct.credential.mints() - mints).toBe(1);
    expect(legacy.counts.unauthorized - unauthorized).toBe(1);
  });

  it('the v2 SDK child negotiates 2026-07-28: left to the SDK (the protocol _meta envelope)', async () => {
    const direct = make(modern, true);
    const sdk = make(modern, false);
    const expected = await outcome(sdk.child, 'echo', { text: 'hi' });
    const got = await outcome(direct.child, 'echo', { text: 'hi' });
    expect(got).toEqual(expected);
    expect(got.result?.content).toEqual([{ type: 'text', text: 'echo: hi' }]);
    expect(direct.http.seen.direct).toBe(0);
  });
});
