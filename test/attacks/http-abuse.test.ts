/**
 * HTTP abuse against a running `seed-mcp cloud` with a real IdP: headers (two Authorization
 * headers, foreign Host names), bodies (deep nesting, declared sizes), and a policy denial that must
 * not read as a scope request. Each case checks the status and code, that the server still serves a
 * good token afterwards, and that no token reaches the log.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCloud } from '../../src/cloud/start.js';
import { startIdp, type TestIdp } from '../support/idp.js';
import { mcpRequestLines, rawRequest, toolCall } from '../support/raw-http.js';
import { startResourceServer } from '../support/resource-server.js';

let idp: TestIdp;
let server: RunningCloud;
let token: string;
const logLines: string[] = [];

beforeAll(async () => {
  idp = await startIdp();
  // Short client timeouts, so that the slow clients below are cut off within the test.
  server = await startResourceServer({
    issuer: idp.issuer,
    allowTools: ['seed_ping', 'list_checklists', 'get_checklist'],
    logLines,
    httpTimeouts: { headersMs: 600, requestMs: 1_500 },
  });
  token = await idp.serviceToken({ scope: 'checklist.list checklist.read process.read process.search' });
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

/** One request written byte for byte (fetch would merge headers and set Host itself). */
const raw = (lines: string[], body = '') => rawRequest(Number(new URL(server.url).port), lines, body);
const call = toolCall;
const mcpHeaders = (host = 'mcp.example.test') => mcpRequestLines(host);

/** The server still answers a good token after an attack. */
async function stillServes(): Promise<void> {
  const ok = await raw([...mcpHeaders(), `authorization: Bearer ${token}`], call('seed_ping'));
  expect(ok.status).toBe(200);
  expect(ok.body).toContain('status');
}

function noTokenInLog(): void {
  const log = logLines.join('\n');
  for (const part of token.split('.')) expect(log).not.toContain(part);
}

describe('headers', () => {
  it('refuses two Authorization headers with 400 invalid_request, whichever comes first', async () => {
    for (const order of [
      [`authorization: Bearer ${token}`, 'authorization: Bearer forged'],
      ['authorization: Bearer forged', `authorization: Bearer ${token}`],
      [`authorization: Bearer ${token}`, `Authorization: Bearer ${token}`],
    ]) {
      const answer = await raw([...mcpHeaders(), ...order], call('seed_ping'));
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'INVALID_REQUEST', message: expect.stringMatching(/^Action: /) });
      expect(answer.head).toContain('www-authenticate: bearer error="invalid_request"');
    }
    await stillServes();
    noTokenInLog();
  });

  it('answers only for its own host names (DNS rebinding), and health for any', async () => {
    const foreign = await raw([...mcpHeaders('attacker.example'), `authorization: Bearer ${token}`], call('seed_ping'));
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ error: 'forbidden_host', message: expect.stringMatching(/ALLOWED_HOSTS/) });
    const suffixed = await raw([...mcpHeaders('mcp.example.test.attacker.example'), `authorization: Bearer ${token}`], call('seed_ping'));
    expect(suffixed.status).toBe(403);
    const prm = await raw(['GET /.well-known/oauth-protected-resource HTTP/1.1', 'host: attacker.example']);
    expect(prm.status).toBe(403);
    // Its own name on any port, and loopback names, are served.
    expect((await raw([...mcpHeaders('mcp.example.test:8443'), `authorization: Bearer ${token}`], call('seed_ping'))).status).toBe(200);
    expect((await raw([...mcpHeaders('127.0.0.1:9'), `authorization: Bearer ${token}`], call('seed_ping'))).status).toBe(200);
    expect((await raw([...mcpHeaders('localhost'), `authorization: Bearer ${token}`], call('seed_ping'))).status).toBe(200);
    // Probes and scrapers use the pod's address.
    expect((await raw(['GET /health HTTP/1.1', 'host: 10.1.2.3:3000'])).status).toBe(200);
    expect((await raw(['GET /health/ready HTTP/1.1', 'host: 10.1.2.3:3000'])).status).toBe(200);
    expect((await raw(['GET /metrics HTTP/1.1', 'host: 10.1.2.3:3000'])).status).toBe(200);
    await stillServes();
  });
});

describe('connections', () => {
  /** Opens a socket that starts a request and then sends one header byte every `everyMs`. */
  function slowClient(port: number, everyMs: number): { closed: Promise<string> } {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', () => {});
    socket.write('POST /mcp HTTP/1.1\r\nhost: mcp.example.test\r\nx-slow: ');
    const timer = setInterval(() => socket.write('a'), everyMs);
    return {
      closed: new Promise((resolve) =>
        socket.on('close', () => {
          clearInterval(timer);
          resolve(answer);
        }),
      ),
    };
  }

  it('serves good requests while 200 slow clients trickle their headers, and cuts the slow ones off (408)', async () => {
    const port = Number(new URL(server.url).port);
    const started = Date.now();
    const slow = Array.from({ length: 200 }, () => slowClient(port, 100));
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 3; i++) await stillServes();
    const answers = await Promise.all(slow.map((s) => s.closed));
    // Cut off after the headers timeout (600 ms) plus at most one check interval, not after minutes.
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const a of answers) expect(a === '' || a.startsWith('HTTP/1.1 408')).toBe(true);
    await stillServes();
  });

  it('cuts off a client that sends its headers but trickles its body', async () => {
    const port = Number(new URL(server.url).port);
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', () => {});
    socket.write([...mcpHeaders(), `authorization: Bearer ${token}`, 'content-length: 1000', '', ''].join('\r\n'));
    const timer = setInterval(() => socket.write('x'), 100);
    const started = Date.now();
    await new Promise((resolve) => socket.on('close', resolve));
    clearInterval(timer);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(answer === '' || /^HTTP\/1\.1 (408|400)/.test(answer)).toBe(true);
    await stillServes();
  });

  it('refuses a page of another origin (403 forbidden_origin) and serves its own', async () => {
    const foreign = await raw([...mcpHeaders(), `authorization: Bearer ${token}`, 'origin: https://evil.example'], call('seed_ping'));
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ error: 'forbidden_origin', message: expect.stringMatching(/CORS_EXTRA_ORIGINS/) });
    expect(foreign.head).not.toContain('access-control-allow-origin');
    const own = await raw([...mcpHeaders(), `authorization: Bearer ${token}`, 'origin: https://mcp.example.test'], call('seed_ping'));
    expect(own.status).toBe(200);
    expect(own.head).toContain('access-control-allow-origin: https://mcp.example.test');
  });
});

describe('bodies', () => {
  it('refuses deep nesting with 400, never 500, and keeps serving', async () => {
    for (const depth of [65, 5_000, 200_000]) {
      const nested = '['.repeat(depth) + ']'.repeat(depth);
      const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"seed_ping","arguments":{"a":${nested}}}}`;
      const answer = await raw([...mcpHeaders(), `authorization: Bearer ${token}`], body);
      expect(answer.status, `depth ${depth}`).toBe(400);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: -32600 } });
    }
    // Brackets inside strings are text, not nesting.
    const inString = await raw([...mcpHeaders(), `authorization: Bearer ${token}`], call('seed_ping', { note: '['.repeat(500) }));
    expect(inString.status).toBe(200);
    await stillServes();
  });

  it('refuses a declared body over the cap before reading it', async () => {
    const { port } = new URL(server.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => {
        text += c;
        // The answer arrives although not one byte of the announced 50 MiB was sent.
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      socket.write([...mcpHeaders(), `authorization: Bearer ${token}`, `content-length: ${50 * 1024 * 1024}`].join('\r\n') + '\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413/);
    await stillServes();
  });
});

describe('authorization answers', () => {
  it('answers a policy denial with ACCESS_DENIED and no insufficient_scope challenge', async () => {
    const denied = await raw([...mcpHeaders(), `authorization: Bearer ${token}`], call('whoami'));
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toMatchObject({ error: 'ACCESS_DENIED' });
    expect(denied.head).not.toContain('insufficient_scope');
    // A missing scope still asks for it, once.
    const narrow = await idp.serviceToken({ scope: 'checklist.list' });
    const scope = await raw([...mcpHeaders(), `authorization: Bearer ${narrow}`], call('get_checklist', { id: 'x' }));
    expect(scope.status).toBe(403);
    expect(scope.head).toContain('error="insufficient_scope"');
    expect(JSON.parse(scope.body).message).toMatch(/^Action: (?!Action:)/);
    await stillServes();
    noTokenInLog();
  });
});
