/**
 * The gateway's HTTP client toward its children (src/cloud/gateway/keepalive-fetch.ts) answers as
 * `fetch` does for what the MCP client SDK asks of it: the same status, headers and body as
 * `fetch` against the same server, an event stream as it arrives, `redirect: 'manual'`, aborts,
 * compressed bodies, network failures, and kept-alive sockets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeepAliveFetch } from '../src/cloud/gateway/keepalive-fetch.js';
import { freePort } from './support/ports.js';

let server: Server;
let base: string;
const sockets = new Set<unknown>();
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
const keepAlive = createKeepAliveFetch();

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    sockets.add(req.socket);
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      switch (req.url) {
        case '/json':
          res.writeHead(200, { 'content-type': 'application/json', 'x-test': 'a' }).end(JSON.stringify({ echo: body }));
          return;
        case '/gzip':
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync('{"zipped":true}'));
          return;
        case '/sse':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: one\n\n');
          setTimeout(() => res.end('data: two\n\n'), 50);
          return;
        case '/redirect':
          res.writeHead(307, { location: '/json' }).end();
          return;
        case '/empty':
          res.writeHead(202).end();
          return;
        case '/error':
          res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
          return;
        case '/hang':
          return; // never answers
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  keepAlive.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function view(res: Response) {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== 'date' && k !== 'keep-alive' && k !== 'connection') headers[k] = v;
  });
  return { status: res.status, statusText: res.statusText, ok: res.ok, headers, text: await res.text() };
}

describe('keep-alive fetch', () => {
  it('answers a JSON POST as fetch does, with the headers given and fetch defaults, on one kept-alive socket', async () => {
    const init = { method: 'POST', headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer x', 'mcp-protocol-version': '2025-06-18' }), body: '{"a":1}' };
    const mine = await keepAlive(`${base}/json`, init);
    const theirs = await fetch(`${base}/json`, init);
    expect(await view(mine)).toEqual(await view(theirs));
    const sent = seen.at(-2)!;
    expect(sent.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer x', 'mcp-protocol-version': '2025-06-18', accept: '*/*' });
    expect(sent.body).toBe('{"a":1}');
    const before = sockets.size;
    for (let i = 0; i < 5; i++) expect((await keepAlive(new URL(`${base}/json`), { method: 'POST', body: 'x' })).status).toBe(200);
    expect(sockets.size - before).toBeLessThanOrEqual(1);
  });

  it('decodes a compressed body, and answers 202, 404 and 500 as fetch does', async () => {
    expect(await (await keepAlive(`${base}/gzip`)).json()).toEqual({ zipped: true });
    for (const path of ['/empty', '/error', '/nowhere'])
      expect(await view(await keepAlive(`${base}${path}`, { method: 'POST', body: '{}' }))).toEqual(await view(await fetch(`${base}${path}`, { method: 'POST', body: '{}' })));
  });

  it('streams an event stream as it arrives', async () => {
    const res = await keepAlive(`${base}/sse`, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe('data: one\n\n');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: two\n\n');
  });

  it("answers a redirect itself under redirect: 'manual' (the SDK follows it), and follows it otherwise", async () => {
    const manual = await keepAlive(`${base}/redirect`, { method: 'POST', body: '{}', redirect: 'manual' });
    expect(manual.status).toBe(307);
    expect(manual.headers.get('location')).toBe('/json');
    const followed = await keepAlive(`${base}/redirect`, { method: 'POST', body: 'again' });
    expect(followed.status).toBe(200);
    expect(await followed.json()).toEqual({ echo: 'again' });
  });

  it('rejects with the abort reason when aborted before or during the request', async () => {
    const before = AbortSignal.abort(new Error('stopped before'));
    await expect(keepAlive(`${base}/json`, { signal: before })).rejects.toThrow('stopped before');
    const controller = new AbortController();
    const pending = keepAlive(`${base}/hang`, { method: 'POST', body: '{}', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stopped during')), 50);
    await expect(pending).rejects.toThrow('stopped during');
  });

  it("fails as fetch does when nothing listens: TypeError('fetch failed') with the system error as cause", async () => {
    const port = await freePort();
    const err = await keepAlive(`http://127.0.0.1:${port}/mcp`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    const theirs = await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe((theirs as Error).message);
    expect(((err as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });
});
