/**
 * Opaque access tokens in `seed-mcp cloud` (INTROSPECTION): a real IdP (oidc-provider) issuing
 * opaque tokens and answering RFC 7662 introspection, the server in process, the MCP SDK's client
 * on the wire. Tools and scopes work as with JWTs, inactive and revoked tokens are refused, answers
 * are cached, an endpoint that is down answers 503, JWTs from another tenant still validate; and
 * the configuration reports every problem at once.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig, redactCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { createLogger } from '../src/shared/logger.js';
import { ROOT, tempDirs } from './support/cli.js';
import { configError, problems } from './support/config-error.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';

const SCOPES = ['checklist.list', 'checklist.read', 'process.read', 'process.search'];
const newDir = tempDirs('seed-mcp-introspection-');

let opaqueIdp: TestIdp;
let jwtIdp: TestIdp;
/** Introspection discovered from metadata, client_secret_basic, default cache. */
let server: RunningCloud;
/** An explicit endpoint, private_key_jwt, no cache (INTROSPECTION_CACHE_TTL=0). */
let uncached: RunningCloud;
/** An endpoint nobody listens on. */
let down: RunningCloud;
const logLines: string[] = [];
const usedTokens: string[] = [];

const mint = async (idp: TestIdp, scope = SCOPES.join(' ')) => {
  const token = await idp.serviceToken({ scope, resource: DEFAULT_RESOURCE });
  usedTokens.push(token);
  return token;
};

const post = (url: string, token: string, body: unknown = { jsonrpc: '2.0', id: 1, method: 'tools/list' }) =>
  fetch(`${url}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });

const introspections = () => opaqueIdp.requestLog.filter((r) => r.method === 'POST' && r.path === '/token/introspection').length;

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 't', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { authProvider: { token: async () => token } }));
  return client;
}

async function revoke(token: string): Promise<void> {
  const res = await fetch(opaqueIdp.url('/token/revocation'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('seed-service:service-secret').toString('base64')}` },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
  expect(res.status).toBe(200);
}

async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function start(env: Record<string, string>): Promise<RunningCloud> {
  const config = {
    ...loadCloudConfig({
      ALLOWED_ISSUERS: `${opaqueIdp.issuer},${jwtIdp.issuer}`,
      RESOURCE_IDENTIFIER: DEFAULT_RESOURCE,
      SCOPES_SUPPORTED: SCOPES.join(','),
      BASE_URL: 'http://127.0.0.1',
      CHECKLIST_DIR: join(ROOT, 'examples/documents/checklists'),
      PROCESS_DIR: join(ROOT, 'examples/documents/processes'),
      RATE_LIMIT_ENABLED: 'false',
      ...env,
    }),
    port: 0,
    host: '127.0.0.1',
  };
  return startCloud(config, { logger: createLogger({ format: 'json', write: (l) => logLines.push(l) }), version: 'test', collectDefaultMetrics: false });
}

beforeAll(async () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = { ...key.publicKey.export({ format: 'jwk' }), kid: 'rs-key-1', use: 'sig', alg: 'ES256' };
  [opaqueIdp, jwtIdp] = await Promise.all([
    startIdp({
      accessTokenFormat: 'opaque',
      introspection: true,
      extraScopes: SCOPES,
      extraClients: [
        {
          client_id: 'seed-rs-jwt',
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: 'ES256',
          jwks: { keys: [publicJwk] },
          redirect_uris: [],
          response_types: [],
          grant_types: [],
        },
      ],
    }),
    startIdp({ extraScopes: SCOPES }),
  ]);
  const dir = newDir();
  const secretFile = join(dir, 'rs-secret');
  writeFileSync(secretFile, 'rs-secret\n');
  const keyFile = join(dir, 'rs-key.pem');
  writeFileSync(keyFile, key.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  server = await start({ INTROSPECTION: JSON.stringify([{ issuer: opaqueIdp.issuer, client_id: 'seed-rs', client_secret_file: secretFile }]) });
  uncached = await start({
    INTROSPECTION: JSON.stringify([
      { issuer: opaqueIdp.issuer, endpoint: opaqueIdp.url('/token/introspection'), client_id: 'seed-rs-jwt', private_key_file: keyFile, key_id: 'rs-key-1' },
    ]),
    INTROSPECTION_CACHE_TTL: '0',
  });
  down = await start({
    INTROSPECTION: JSON.stringify([
      { issuer: opaqueIdp.issuer, endpoint: `http://127.0.0.1:${await deadPort()}/introspect`, client_id: 'seed-rs', client_secret_file: secretFile },
    ]),
  });
});

afterAll(async () => {
  await Promise.all([server?.close(), uncached?.close(), down?.close()]);
  await Promise.all([opaqueIdp?.close(), jwtIdp?.close()]);
});

describe('opaque access tokens (RFC 7662 introspection)', () => {
  it('serves tools to an opaque token, the caller as introspection tells it', async () => {
    const token = await mint(opaqueIdp);
    expect(token).not.toContain('.');
    const client = await connect(server.url, token);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('get_checklist');
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(who.structuredContent).toMatchObject({ subject: 'seed-service', issuer: opaqueIdp.issuer, scopes: expect.arrayContaining(SCOPES) });
    const list = await client.callTool({ name: 'list_checklists', arguments: {} });
    expect((list.structuredContent as { count: number }).count).toBe(3);
    await client.close();
    // Discovered from the metadata; this server authenticated as its own client, with Basic.
    expect(opaqueIdp.clientAuthLog.filter((r) => r.endpoint === 'introspection')).toContainEqual({
      endpoint: 'introspection',
      clientId: 'seed-rs',
      method: 'client_secret_basic',
      status: 200,
    });
  });

  it('enforces tool scopes from the introspected scope', async () => {
    const token = await mint(opaqueIdp, 'process.read');
    const res = await post(server.url, token, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_checklist', arguments: { id: 'onboarding' } } });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]+", scope="checklist.read"/);
    expect(await res.json()).toMatchObject({ error: 'INSUFFICIENT_SCOPE', scope: 'checklist.read' });
    const client = await connect(server.url, token);
    expect((await client.callTool({ name: 'get_process', arguments: { id: 'change-management' } })).isError).toBeFalsy();
    await client.close();
  });

  it('caches an answer: later requests with the same token do not introspect again, concurrent ones share one', async () => {
    const token = await mint(opaqueIdp);
    const before = introspections();
    const answers = await Promise.all([post(server.url, token), post(server.url, token), post(server.url, token)]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(introspections()).toBe(before + 1);
    const client = await connect(server.url, token);
    await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();
    expect(introspections()).toBe(before + 1);
  });

  it('refuses an unknown or revoked token with 401 invalid_token', async () => {
    const unknown = await post(server.url, 'no-such-token-0123456789abcdefghijklmnop');
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description="the token is not active/);
    expect(await unknown.json()).toMatchObject({ error: 'INVALID_TOKEN', message: expect.stringMatching(/^Action: /) });

    const revokedFirst = await mint(opaqueIdp);
    await revoke(revokedFirst);
    expect((await post(server.url, revokedFirst)).status).toBe(401);

    // Without a cache every request asks: revocation at the IdP takes effect at once.
    const token = await mint(opaqueIdp);
    const before = introspections();
    expect((await post(uncached.url, token)).status).toBe(200);
    expect((await post(uncached.url, token)).status).toBe(200);
    expect(introspections()).toBe(before + 2);
    await revoke(token);
    const refused = await post(uncached.url, token);
    expect(refused.status).toBe(401);
    expect((await refused.json()).error).toBe('INVALID_TOKEN');
    // That server authenticated with a signed client assertion (private_key_jwt, ES256).
    expect(opaqueIdp.clientAuthLog.filter((r) => r.clientId === 'seed-rs-jwt')).toContainEqual({
      endpoint: 'introspection',
      clientId: 'seed-rs-jwt',
      method: 'private_key_jwt',
      alg: 'ES256',
      status: 200,
    });
  });

  it('answers 503 with Retry-After and an Action when the introspection endpoint is down', async () => {
    const token = await mint(opaqueIdp);
    const res = await post(down.url, token);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('www-authenticate')).toBeNull();
    const body = (await res.json()) as Record<string, string>;
    expect(body).toMatchObject({
      error: 'INTROSPECTION_UNAVAILABLE',
      message: expect.stringMatching(/^Action: retry shortly; operators: check the IdP's token introspection endpoint/),
    });
    expect(JSON.stringify(body)).not.toMatch(/\n\s+at /);
    expect(logLines.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('still validates JWTs as before, next to opaque tokens', async () => {
    const jwt = await mint(jwtIdp);
    expect(jwt.split('.')).toHaveLength(3);
    const before = opaqueIdp.counts.introspections;
    const client = await connect(server.url, jwt);
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(who.structuredContent).toMatchObject({ subject: 'seed-service', issuer: jwtIdp.issuer });
    await client.close();
    expect(opaqueIdp.counts.introspections).toBe(before);
  });

  it('counts introspections with bounded labels and never logs a token', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(series))
          ?.split(' ')
          .pop(),
      );
    expect(value('token_introspection_total{result="active"}')).toBeGreaterThanOrEqual(3);
    expect(value('token_introspection_total{result="inactive"}')).toBeGreaterThanOrEqual(2);
    expect(text).toContain('# TYPE token_introspection_duration_seconds histogram');
    const downText = await (await fetch(`${down.url}/metrics`)).text();
    expect(downText).toMatch(/^token_introspection_total\{result="error"\} [1-9]/m);
    const log = logLines.join('\n');
    for (const token of usedTokens) expect(log).not.toContain(token);
    expect(log).not.toContain('rs-secret');
  });
});

describe('INTROSPECTION configuration', () => {
  const base = { ALLOWED_ISSUERS: 'https://idp.example.com,https://other.example.com', OIDC_AUDIENCE: 'api://seed' };

  it('reads entries, secret files and defaults; also from INTROSPECTION_FILE; redacts secrets', () => {
    const dir = newDir();
    const secret = join(dir, 'secret');
    writeFileSync(secret, 's3cr3t-value\n');
    const value = JSON.stringify([{ issuer: 'https://idp.example.com', client_id: 'rs', client_secret_file: secret }]);
    const c = loadCloudConfig({ ...base, INTROSPECTION: value });
    expect(c.introspection).toEqual({
      issuers: [{ issuer: 'https://idp.example.com', clientId: 'rs', authMethod: 'client_secret_basic', clientSecret: 's3cr3t-value', tokens: 'opaque', requireAudience: true }],
      cacheTtlSec: 60,
    });
    const file = join(dir, 'introspection.json');
    writeFileSync(file, value);
    expect(loadCloudConfig({ ...base, INTROSPECTION_FILE: file, INTROSPECTION_CACHE_TTL: '0' }).introspection).toMatchObject({ issuers: [{ clientId: 'rs' }], cacheTtlSec: 0 });
    expect(JSON.stringify(redactCloudConfig(c))).not.toContain('s3cr3t-value');
    expect(loadCloudConfig(base).introspection).toEqual({ issuers: [], cacheTtlSec: 60 });
  });

  it('reports bad JSON with the other problems, without quoting the value', () => {
    const err = configError(() =>
      loadCloudConfig({ ...base, INTROSPECTION: '[{"issuer": "https://idp.example.com", "client_secret": "hunter2"', INTROSPECTION_CACHE_TTL: 'soon' }),
    );
    expect(problems(err)).toEqual([
      expect.stringMatching(/^INTROSPECTION must be a JSON array .*it is not valid JSON$/),
      'INTROSPECTION_CACHE_TTL must be a whole number between 0 and 86400, got: soon',
    ]);
    expect(err.message).not.toContain('hunter2');
  });

  it('reports an unknown issuer, a missing secret file, a bad key and a missing client id all at once', () => {
    const dir = newDir();
    const notAKey = join(dir, 'not-a-key.pem');
    writeFileSync(notAKey, 'hello\n');
    const err = configError(() =>
      loadCloudConfig({
        ...base,
        PORT: '99999',
        INTROSPECTION: JSON.stringify([
          { issuer: 'https://evil.example.com', client_id: 'rs', client_secret: 'hunter2' },
          { issuer: 'https://idp.example.com', client_id: 'rs', client_secret_file: join(dir, 'missing') },
          { issuer: 'https://other.example.com', client_id: 'rs', private_key_file: notAKey, auth_method: 'client_secret_basic' },
          { issuer: 'http://plain.example.com', client_secret: 'x', colour: 'blue' },
        ]),
      }),
    );
    const found = problems(err);
    expect(found).toEqual(
      expect.arrayContaining([
        'PORT must be between 1 and 65535, got: 99999',
        expect.stringMatching(/^INTROSPECTION\[1\] \(https:\/\/idp\.example\.com\): client_secret_file could not be read: ENOENT/),
        expect.stringMatching(/^INTROSPECTION\[2\] \(https:\/\/other\.example\.com\): private_key_file must hold a PEM private key/),
        expect.stringMatching(/^INTROSPECTION\[2\] .*auth_method client_secret_basic needs client_secret_file or client_secret/),
        expect.stringMatching(/^INTROSPECTION\[3\] \(http:\/\/plain\.example\.com\): issuer must use https/),
        expect.stringMatching(/^INTROSPECTION\[3\] .*unknown key "colour"/),
        expect.stringMatching(/^INTROSPECTION\[3\] .*client_id is required/),
      ]),
    );
    expect(err.message).not.toContain('hunter2');
    // The unknown issuer of an otherwise valid entry is a cross-variable rule.
    const unknownIssuer = configError(() =>
      loadCloudConfig({ ...base, INTROSPECTION: JSON.stringify({ issuer: 'https://evil.example.com', client_id: 'rs', client_secret: 'hunter2' }), PORT: '0' }),
    );
    expect(problems(unknownIssuer)).toEqual([
      'PORT must be between 1 and 65535, got: 0',
      'INTROSPECTION names https://evil.example.com, which is not an allowed issuer (add it to ALLOWED_ISSUERS or OIDC_ISSUER)',
    ]);
  });
});
