/**
 * Issue #14, "Shutdown resets connections": after close() (what SIGTERM calls), readiness turns
 * 503 first, a request in flight finishes, and a request sent on a kept-alive connection that was
 * already open gets an answer with `Connection: close`, never ECONNRESET. A real server instance,
 * real sockets.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { silentLogger } from '../src/shared/logger.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Sent on a connection the agent had kept alive. */
  reused: boolean;
}

const PING = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };

let server: RunningCloud | undefined;
const agents: Agent[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const a of agents.splice(0)) a.destroy();
});

async function start(): Promise<RunningCloud> {
  const config = { ...loadCloudConfig({ AUTH_REQUIRED: 'false', BASE_URL: 'http://127.0.0.1' }), port: 0, host: '127.0.0.1' };
  server = await startCloud(config, { logger: silentLogger, version: 'test', collectDefaultMetrics: false, shutdownGraceMs: 5_000 });
  return server;
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  return agent;
}

function send(port: number, agent: Agent | false, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, headers: body === undefined ? {} : { ...MCP_HEADERS, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, reused: req.reusedSocket }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('graceful shutdown with kept-alive connections', () => {
  it('readiness 503 first, the request in flight finishes, requests on open connections get Connection: close', async () => {
    const { port } = await start();
    const probe = keepAliveAgent();
    const client = keepAliveAgent();
    // Two kept-alive connections, idle in their agents' pools.
    expect((await send(port, probe, 'GET', '/health/ready')).status).toBe(200);
    expect((await send(port, client, 'POST', '/mcp', PING)).status).toBe(200);

    // A slow request in flight: headers sent, body still coming.
    let inflightSent!: (rest: string) => void;
    const inflight = new Promise<Answer>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', path: '/mcp', agent: false, headers: { ...MCP_HEADERS, 'content-length': Buffer.byteLength(PING) } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, reused: false }));
        },
      );
      req.on('error', reject);
      req.write(PING.slice(0, 10));
      inflightSent = (rest) => req.end(rest);
    });
    await sleep(100);

    const closing = server!.close();
    await sleep(50);

    // Readiness first: unready, answered on the connection that was open.
    const ready = await send(port, probe, 'GET', '/health/ready');
    expect(ready.reused).toBe(true);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).checks.shutdown.status).toBe('shutting_down');
    expect(ready.headers.connection).toBe('close');

    // A request on the other open connection: an answer, and the connection closes after it.
    const late = await send(port, client, 'POST', '/mcp', PING);
    expect(late.reused).toBe(true);
    expect(late.status).toBe(200);
    expect(late.body).toContain('"status":"ok"');
    expect(late.headers.connection).toBe('close');

    // No new connections.
    await expect(send(port, false, 'GET', '/health')).rejects.toThrow(/ECONNREFUSED/);

    // The request in flight finishes, also with Connection: close.
    inflightSent(PING.slice(10));
    const finished = await inflight;
    expect(finished.status).toBe(200);
    expect(finished.body).toContain('"status":"ok"');
    expect(finished.headers.connection).toBe('close');
    await closing;
  });

  it('an idle kept-alive connection still gets an answer right after close(), and close() ends within the linger', async () => {
    const { port } = await start();
    const client = keepAliveAgent();
    expect((await send(port, client, 'POST', '/mcp', PING)).status).toBe(200);
    const began = Date.now();
    const closing = server!.close();
    // Sent at once after close(), on the open connection: no reset.
    const late = await send(port, client, 'POST', '/mcp', PING);
    expect(late.reused).toBe(true);
    expect(late.status).toBe(200);
    expect(late.headers.connection).toBe('close');
    await closing;
    // Every connection closed: the drain ended without waiting for the grace (5 s).
    expect(Date.now() - began).toBeLessThan(3_000);
  });
});
