/**
 * Two `seed-mcp cloud` processes sharing one real Redis behind a small load balancer (one public
 * BASE_URL), with the OAuth proxy's IdP client confidential (secret from a file):
 * - a sign-in authorized on replica A, called back on B, its code redeemed on A;
 * - a replayed callback refused;
 * - an access token revoked on B, refused on A within a second;
 * - the MCP rate limit counted across both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from './support/cli.js';
import { startStub, type Stub } from './support/http-stub.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { followLogin } from './support/scripted-browser.mjs';
import { redisUrlForTests } from './support/redis.js';
import { freePort } from './support/ports.js';
import { signingKeyPem } from './support/signing-key.js';

interface Replica {
  name: string;
  url: string;
  child: ChildProcess;
  stderr: () => string;
}

async function startReplica(name: string, port: number, env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, [BIN, 'cloud'], { env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const ready = await fetch(`${url}/health/ready`);
      if (ready.status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || child.exitCode !== null) throw new Error(`replica ${name} did not become ready: ${stderr.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, url, child, stderr: () => stderr };
}

/** A load balancer whose choice of replica the test sets per path. */
async function startBalancer(pick: (req: IncomingMessage) => Replica): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(pick(req).url);
    seen.push(req.url ?? '');
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const S256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const form = (params: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(params).toString(),
});

let idp: TestIdp;
let a: Replica;
let b: Replica;
let lb: Awaited<ReturnType<typeof startBalancer>>;
let route: (req: IncomingMessage) => Replica;
let callbacks: Stub;
const dir = tempDir();

beforeAll(async () => {
  const redisUrl = await redisUrlForTests();
  route = () => a;
  lb = await startBalancer((req) => route(req));
  const mcpUrl = `${lb.url}/mcp`;
  idp = await startIdp({
    resources: [mcpUrl],
    extraScopes: ['checklist.list'],
    extraClients: [
      {
        client_id: 'seed-proxy-web',
        client_secret: 'a-confidential-proxy-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [`${lb.url}/oauth/authorize/callback`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
  });
  const secretFile = join(dir.dir, 'oauth-client-secret');
  writeFileSync(secretFile, 'a-confidential-proxy-secret\n', { mode: 0o600 });
  // One signing key for both replicas: a token one issues, the other accepts.
  const keyFile = join(dir.dir, 'oauth-signing-keys.pem');
  writeFileSync(keyFile, signingKeyPem(), { mode: 0o600 });
  const env = {
    OIDC_ISSUER: idp.issuer,
    RESOURCE_IDENTIFIER: mcpUrl,
    BASE_URL: lb.url,
    OAUTH_PROXY_ENABLED: 'true',
    OAUTH_CLIENT_ID: 'seed-proxy-web',
    OAUTH_CLIENT_SECRET_FILE: secretFile,
    OAUTH_SIGNING_KEYS_FILE: keyFile,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: `seed-mcp-test-${randomBytes(4).toString('hex')}:`,
    MCP_RATE_LIMIT_MAX: '10',
    LOG_LEVEL: 'info',
  };
  const [portA, portB] = [await freePort(), await freePort()];
  [a, b] = await Promise.all([startReplica('A', portA, env), startReplica('B', portB, env)]);
  callbacks = await startStub((_req, res) => void res.writeHead(200).end('ok'));
}, 30_000);

afterAll(async () => {
  for (const r of [a, b]) {
    if (r && r.child.exitCode === null) await new Promise((done) => (r.child.once('close', done), r.child.kill('SIGTERM')));
  }
  await lb?.close();
  await callbacks?.close();
  await idp?.close();
  dir.cleanup();
});

const mcpCall = (replica: Replica, token: string) =>
  fetch(`${replica.url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
  });

describe('two replicas, one Redis', () => {
  let accessToken: string;
  let clientId: string;

  it('authorizes on A, takes the callback on B, redeems the code on A', async () => {
    const redirectUri = `${callbacks.url}/cb`;
    clientId = (
      await (
        await fetch(`${a.url}/oauth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' }),
        })
      ).json()
    ).client_id;
    const verifier = randomBytes(32).toString('base64url');
    route = (req) => ((req.url ?? '').startsWith('/oauth/authorize/callback') ? b : a);
    const start = `${lb.url}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', code_challenge: S256(verifier), code_challenge_method: 'S256', state: 'xyz', scope: 'openid offline_access checklist.list' })}`;
    const { callbackUrl } = await followLogin(start, { login: 'alice' });
    const back = new URL(callbackUrl).searchParams;
    expect(back.get('state')).toBe('xyz');
    expect(lb.seen.some((u) => u.startsWith('/oauth/authorize/callback'))).toBe(true);

    const tokens = await (
      await fetch(
        `${a.url}/oauth/token`,
        form({ grant_type: 'authorization_code', code: back.get('code')!, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier }),
      )
    ).json();
    expect(tokens.access_token).toBeTruthy();
    accessToken = tokens.access_token;
    // The proxy's own token (signed with the key both replicas share), not the IdP's.
    const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8'));
    expect(claims).toMatchObject({ iss: lb.url, aud: `${lb.url}/mcp`, client_id: clientId });
    for (const replica of [a, b]) {
      const res = await mcpCall(replica, accessToken);
      expect(res.status, replica.name).toBe(200);
      expect(await res.text()).toContain('alice');
    }
  });

  it('refuses the same IdP callback replayed on either replica', async () => {
    const callback = lb.seen.find((u) => u.startsWith('/oauth/authorize/callback'))!;
    for (const replica of [a, b]) {
      const res = await fetch(`${replica.url}${callback}`, { redirect: 'manual' });
      expect(res.status, replica.name).toBe(400);
      expect(await res.text()).toMatch(/expired or already completed/);
    }
  });

  it('revokes on B; A refuses the token within a second', async () => {
    const started = Date.now();
    expect((await fetch(`${b.url}/oauth/revoke`, form({ token: accessToken, client_id: clientId }))).status).toBe(200);
    let status = 0;
    while (Date.now() - started < 1_000) {
      status = (await mcpCall(a, accessToken)).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
    const res = await mcpCall(a, accessToken);
    expect((await res.json()).error).toBe('TOKEN_REVOKED');
  });

  it('serves an initialize-era session on both replicas without sticky sessions, and ends it', async () => {
    const token = await idp.serviceToken({ resource: `${lb.url}/mcp` });
    let turn = 0;
    const hits = { A: 0, B: 0 };
    route = () => {
      const replica = turn++ % 2 === 0 ? a : b;
      hits[replica.name as 'A' | 'B'] += 1;
      return replica;
    };
    const { Client: LegacyClient } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport: LegacyHttp } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const transport = new LegacyHttp(new URL(`${lb.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    const client = new LegacyClient({ name: 'legacy', version: '1' });
    await client.connect(transport);
    expect(transport.sessionId).toBeTruthy();
    for (let i = 0; i < 4; i++) {
      const result = await client.callTool({ name: 'whoami', arguments: {} });
      expect(JSON.stringify(result.content)).toContain('seed-service');
    }
    expect(hits.A).toBeGreaterThan(1);
    expect(hits.B).toBeGreaterThan(1);
    // Another principal cannot use the session, on either replica.
    const other = await idp.serviceToken({ client: 'other-service', resource: `${lb.url}/mcp` });
    for (const replica of [a, b]) {
      const res = await fetch(`${replica.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${other}`,
          'mcp-session-id': transport.sessionId!,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      });
      expect(res.status, replica.name).toBe(404);
    }
    await transport.terminateSession();
    await client.close();
  });

  it('counts the MCP rate limit across both replicas', async () => {
    // other-service has spent a few of its 10 requests above; alone, each replica would allow 10.
    const token = await idp.serviceToken({ client: 'other-service', resource: `${lb.url}/mcp` });
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++) statuses.push((await mcpCall(i % 2 === 0 ? a : b, token)).status);
    const allowed = statuses.filter((s) => s === 200).length;
    expect(allowed).toBeGreaterThan(0);
    expect(allowed).toBeLessThanOrEqual(10);
    expect(statuses).toEqual([...Array(allowed).fill(200), ...Array(24 - allowed).fill(429)]);
    const limited = await mcpCall(a, token);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('logs no token, code or secret on either replica', () => {
    for (const r of [a, b]) {
      expect(r.stderr()).not.toContain(accessToken);
      expect(r.stderr()).not.toContain('a-confidential-proxy-secret');
    }
  });
});
