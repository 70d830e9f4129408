/**
 * HTTP abuse against a running `seed-mcp cloud` with a real IdP: headers (two Authorization
 * headers, foreign Host names), bodies (deep nesting, declared sizes), and a policy denial that must
 * not read as a scope request. Each case checks the status and code, that the server still serves a
 * good token afterwards, and that no token reaches the log.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../../src/cloud/start.js';
import { createLogger } from '../../src/shared/logger.js';
import { ROOT } from '../support/cli.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from '../support/idp.js';

let idp: TestIdp;
let server: RunningCloud;
let token: string;
const logLines: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-attacks-http-'));

beforeAll(async () => {
  idp = await startIdp();
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'rules:\n  - tools: [seed_ping, list_checklists, get_checklist]\n    allow: { any: true }\n');
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: idp.issuer,
      OIDC_AUDIENCE: DEFAULT_RESOURCE,
      BASE_URL: 'https://mcp.example.test',
      CHECKLIST_DIR: join(ROOT, 'examples/documents/checklists'),
      PROCESS_DIR: join(ROOT, 'examples/documents/processes'),
      TOOL_POLICY_FILE: policy,
      RATE_LIMIT_ENABLED: 'false',
    }),
    port: 0,
    host: '127.0.0.1',
  };
  server = await startCloud(config, { logger: createLogger({ format: 'json', write: (l) => logLines.push(l) }), version: 'test', collectDefaultMetrics: false });
  token = await idp.serviceToken({ scope: 'checklist.list checklist.read process.read process.search' });
});

afterAll(async () => {
  await server?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** One request written byte for byte (fetch would merge headers and set Host itself). */
function raw(lines: string[], body = ''): Promise<RawAnswer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', reject);
    socket.on('end', () => {
      const cut = text.indexOf('\r\n\r\n');
      const head = text.slice(0, cut);
      const rest = text.slice(cut + 4);
      resolve({ status: Number(head.split(' ')[1]), head: head.toLowerCase(), body: /transfer-encoding: chunked/i.test(head) ? dechunk(rest) : rest });
    });
    socket.end(`${[...lines, `content-length: ${Buffer.byteLength(body)}`, 'connection: close'].join('\r\n')}\r\n\r\n${body}`);
  });
}

/** The body of a chunked answer. */
function dechunk(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    const size = parseInt(text.slice(at, eol), 16);
    if (!size) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

const call = (name: string, args: unknown = {}) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } });
const mcpHeaders = (host = 'mcp.example.test') => [
  'POST /mcp HTTP/1.1',
  `host: ${host}`,
  'content-type: application/json',
  'accept: application/json, text/event-stream',
  'mcp-protocol-version: 2025-06-18',
];

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
