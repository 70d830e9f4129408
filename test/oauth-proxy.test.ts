/**
 * The OAuth proxy end to end: the SDK's MCP client with its OAuth client provider against
 * `seed-mcp cloud` with OAUTH_PROXY_ENABLED in front of the real test IdP. Discovery (RFC 9728 →
 * RFC 8414), registration (RFC 7591) or a client ID metadata document, the browser sign-in
 * (scripted), the code exchange, a tool call, refresh, revocation and the 401 after it. Then the
 * endpoints' refusals one by one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { auth, Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestIdp } from './support/idp.js';
import { createTestOAuthClient, type TestOAuthClient } from './support/oauth-client.js';
import { startProxiedCloud, type ProxiedCloud } from './support/oauth-proxy.js';
import { followLogin } from './support/scripted-browser.mjs';
import { startStub, type Stub } from './support/http-stub.js';
import { freePort } from './support/ports.js';
import { selfSigned } from './support/self-signed.js';

let cloud: ProxiedCloud;
let idp: TestIdp;
let baseUrl: string;
let mcpUrl: string;
let documents: HttpsServer;
let documentUrl: string;
let documentBody: () => string;
let logLines: string[];
const clients: TestOAuthClient[] = [];

beforeAll(async () => {
  // The https server of client ID metadata documents.
  const { key, cert } = selfSigned();
  documentBody = () => '{}';
  documents = createHttpsServer({ key, cert }, (req, res) => {
    if (req.url === '/huge.json')
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ client_id: `${documentUrl.replace('/client.json', '/huge.json')}`, redirect_uris: ['http://127.0.0.1/cb'], padding: 'x'.repeat(20_000) }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(documentBody());
  });
  await new Promise<void>((r) => documents.listen(0, '127.0.0.1', r));
  documentUrl = `https://127.0.0.1:${(documents.address() as AddressInfo).port}/client.json`;
  const trusting = new Agent({ connect: { ca: cert } });
  const fetchWithCa = ((url: string, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: trusting })) as unknown as typeof fetch;

  cloud = await startProxiedCloud({
    env: {
      DCR_RATE_LIMIT_MAX: '25',
      // The metadata documents are served on loopback, which is refused unless allowed.
      FETCH_ALLOWED_HOSTS: '127.0.0.1',
    },
    fetch: fetchWithCa,
  });
  ({ idp, baseUrl, mcpUrl, logLines } = cloud);
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await cloud?.close();
  await new Promise<void>((r) => (documents ? documents.close(() => r()) : r()));
});

async function newClient(options: Parameters<typeof createTestOAuthClient>[0] = {}) {
  const c = await createTestOAuthClient(options);
  clients.push(c);
  return c;
}

/** connect → 401 → the SDK registers and opens the browser → finishAuth(code) → connected. */
async function signIn(oauth: TestOAuthClient): Promise<void> {
  const first = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth.provider });
  await expect(new Client({ name: 'test', version: '1' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
  const callback = oauth.lastCallback();
  expect(callback?.error).toBeUndefined();
  expect(callback?.iss).toBe(baseUrl);
  await first.finishAuth(callback!.code!, callback!.iss);
}

async function connected(oauth: TestOAuthClient): Promise<Client> {
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: oauth.provider }));
  return client;
}

const form = (params: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(params).toString(),
});

describe('the OAuth proxy with the SDK client', () => {
  it('publishes RFC 8414 metadata, and protected-resource metadata that points at it', async () => {
    const prm = await (await fetch(`${baseUrl}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(prm).toMatchObject({ resource: mcpUrl, authorization_servers: [baseUrl] });
    const as = await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`)).json();
    expect(as).toMatchObject({
      issuer: baseUrl,
      authorization_endpoint: `${baseUrl}/oauth/authorize`,
      token_endpoint: `${baseUrl}/oauth/token`,
      registration_endpoint: `${baseUrl}/oauth/register`,
      revocation_endpoint: `${baseUrl}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
    });
  });

  it('discovery → registration → browser sign-in → token → tool call → refresh → revoke → 401', async () => {
    const oauth = await newClient({ login: 'alice' });
    await signIn(oauth);
    expect(oauth.clientInformation()?.client_id).toMatch(/^mcp_/);
    expect(oauth.tokens()?.refresh_token).toBeTruthy();

    const client = await connected(oauth);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('whoami');
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(JSON.stringify(who.content)).toContain('alice');
    await client.close();

    // Refresh: the SDK's own refresh branch, through the proxy to the IdP.
    const before = oauth.tokens()!;
    const refreshes = idp.counts.refresh;
    expect(await auth(oauth.provider, { serverUrl: mcpUrl })).toBe('AUTHORIZED');
    expect(idp.counts.refresh).toBe(refreshes + 1);
    const after = oauth.tokens()!;
    expect(after.access_token).not.toBe(before.access_token);
    const again = await connected(oauth);
    expect(JSON.stringify((await again.callTool({ name: 'whoami', arguments: {} })).content)).toContain('alice');
    await again.close();

    // The old refresh token was rotated away: the proxy no longer honours it.
    const clientId = oauth.clientInformation()!.client_id;
    const stale = await fetch(`${baseUrl}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: before.refresh_token!, client_id: clientId }));
    expect(stale.status).toBe(400);
    expect((await stale.json()).error).toBe('invalid_grant');

    // Revoke the access token: the next request with it is refused.
    const revoked = await fetch(`${baseUrl}/oauth/revoke`, form({ token: after.access_token, token_type_hint: 'access_token', client_id: clientId }));
    expect(revoked.status).toBe(200);
    const call = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${after.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
    });
    expect(call.status).toBe(401);
    expect((await call.json()).error).toBe('TOKEN_REVOKED');
    expect(call.headers.get('www-authenticate')).toContain('error="invalid_token"');

    // Revoke the refresh token: passed to the IdP, and refreshing with it fails.
    const idpRevocations = idp.counts.revocations;
    expect((await fetch(`${baseUrl}/oauth/revoke`, form({ token: after.refresh_token!, token_type_hint: 'refresh_token', client_id: clientId }))).status).toBe(200);
    expect(idp.counts.revocations).toBe(idpRevocations + 1);
    const refused = await fetch(`${baseUrl}/oauth/token`, form({ grant_type: 'refresh_token', refresh_token: after.refresh_token!, client_id: clientId }));
    expect((await refused.json()).error).toBe('invalid_grant');

    // Nothing secret reached the log.
    const log = logLines.join('\n');
    for (const secret of [before.access_token, after.access_token, after.refresh_token!, oauth.lastCallback()!.code!]) expect(log).not.toContain(secret);
  });

  it('signs in with a client ID metadata document instead of registering', async () => {
    const oauth = await newClient({ login: 'bob', clientMetadataUrl: documentUrl });
    documentBody = () =>
      JSON.stringify({
        client_id: documentUrl,
        client_name: 'CIMD client',
        redirect_uris: [oauth.redirectUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      });
    await signIn(oauth);
    expect(oauth.clientInformation()?.client_id).toBe(documentUrl);
    const client = await connected(oauth);
    expect(JSON.stringify((await client.callTool({ name: 'whoami', arguments: {} })).content)).toContain('bob');
    await client.close();
  });
});

// ---------------------------------------------------------------------------------------------

const S256 = (v: string) => createHash('sha256').update(v).digest('base64url');

async function register(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('registration (RFC 7591)', () => {
  it('refuses redirect URIs that are not https or loopback http, fragments and credentials', async () => {
    for (const uri of [
      'http://evil.example/cb',
      'javascript:alert(1)',
      'myapp://cb',
      'https://a.example/cb#frag',
      'https://user:pw@a.example/cb',
      '/relative',
      'http://127.0.0.1.evil.example/cb',
    ]) {
      const res = await register({ redirect_uris: [uri], token_endpoint_auth_method: 'none' }, { 'x-forwarded-for': `10.0.0.${Math.random()}` });
      expect(res.status, uri).toBe(400);
      expect((await res.json()).error, uri).toBe('invalid_redirect_uri');
    }
    const none = await register({ token_endpoint_auth_method: 'none' });
    expect((await none.json()).error).toBe('invalid_redirect_uri');
    const grants = await register({ redirect_uris: ['https://a.example/cb'], grant_types: ['client_credentials'] });
    expect((await grants.json()).error).toBe('invalid_client_metadata');
    const notJson = await register('not json');
    expect((await notJson.json()).error).toBe('invalid_client_metadata');
  });

  it('issues a secret to a confidential client once, and checks it at the token endpoint', async () => {
    const res = await register({ redirect_uris: ['https://app.example/cb'], client_name: 'web app' });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://app.example/cb'] });
    expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body).not.toHaveProperty('secret_hash');
    const wrong = await fetch(`${baseUrl}/oauth/token`, {
      ...form({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://app.example/cb', code_verifier: 'v'.repeat(43) }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${body.client_id}:nope`).toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error).toBe('invalid_client');
    const right = await fetch(`${baseUrl}/oauth/token`, {
      ...form({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://app.example/cb', code_verifier: 'v'.repeat(43) }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${body.client_id}:${body.client_secret}`).toString('base64')}` },
    });
    expect((await right.json()).error).toBe('invalid_grant'); // authenticated; the code is simply unknown
  });

  it('refuses a metadata document that is too large, names another client_id, or cannot be fetched, with one message', async () => {
    const huge = documentUrl.replace('/client.json', '/huge.json');
    const authorizeWith = (clientId: string) =>
      fetch(
        `${baseUrl}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: 'http://127.0.0.1/cb', response_type: 'code', code_challenge: S256('v'.repeat(43)), code_challenge_method: 'S256' })}`,
        { redirect: 'manual' },
      );
    const tooBig = await authorizeWith(huge);
    expect(tooBig.status).toBe(400);
    const page = await tooBig.text();
    expect(page).toContain('the client metadata document could not be used');
    documentBody = () => JSON.stringify({ client_id: 'https://someone.else/client.json', redirect_uris: ['http://127.0.0.1/cb'] });
    const other = await authorizeWith(`${documentUrl}?v=2`);
    expect([other.status, await other.text()]).toEqual([400, page]);
    const unreachable = await authorizeWith(`https://127.0.0.1:${await freePort()}/client.json`);
    expect([unreachable.status, await unreachable.text()]).toEqual([400, page]);
    // The reasons are in the server log, not in the answers.
    const reasons = logLines.filter((l) => l.includes('oauth_client_metadata_refused')).join('\n');
    expect(reasons).toContain('the body is larger than 5120 bytes');
    expect(reasons).toContain('does not name its own URL as client_id');
    expect(reasons).toContain('ECONNREFUSED');
  });
});

describe('authorize and token refusals', () => {
  let clientId: string;
  let redirectUri: string;
  let callbacks: Stub;
  beforeAll(async () => {
    callbacks = await startStub((_req, res) => void res.writeHead(200).end('ok'));
    redirectUri = `${callbacks.url}/cb`;
    clientId = (await (await register({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' })).json()).client_id;
  });
  afterAll(() => callbacks?.close());
  const authorize = (params: Record<string, string>) => fetch(`${baseUrl}/oauth/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });

  it('never redirects to an unregistered URI or for an unknown client: a page says what to do', async () => {
    const unknown = await authorize({ client_id: 'mcp_nope', redirect_uri: redirectUri, response_type: 'code' });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('location')).toBeNull();
    expect(await unknown.text()).toMatch(/Action: .*re-add this server/);
    const elsewhere = await authorize({ client_id: clientId, redirect_uri: 'https://evil.example/cb', response_type: 'code' });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.headers.get('location')).toBeNull();
  });

  it('redirects errors back to the client: no PKCE, plain PKCE, another resource, another response type', async () => {
    const challenge = S256('v'.repeat(43));
    const cases: [Record<string, string>, string][] = [
      [{ response_type: 'code' }, 'invalid_request'],
      [{ response_type: 'code', code_challenge: challenge, code_challenge_method: 'plain' }, 'invalid_request'],
      [{ response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', resource: 'https://other.example/mcp' }, 'invalid_target'],
      [{ response_type: 'token', code_challenge: challenge, code_challenge_method: 'S256' }, 'unsupported_response_type'],
    ];
    for (const [params, error] of cases) {
      const res = await authorize({ client_id: clientId, redirect_uri: redirectUri, state: 'st', ...params });
      expect(res.status).toBe(302);
      const to = new URL(res.headers.get('location')!);
      expect(`${to.origin}${to.pathname}`).toBe(redirectUri);
      expect(Object.fromEntries(to.searchParams)).toMatchObject({ error, state: 'st', iss: baseUrl });
    }
  });

  it('passes the IdP refusing the sign-in back to the client as access_denied', async () => {
    const start = `${baseUrl}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', code_challenge: S256('v'.repeat(43)), code_challenge_method: 'S256', state: 'no' })}`;
    const { callbackUrl } = await followLogin(start, { login: 'dave', action: 'deny' });
    expect(Object.fromEntries(new URL(callbackUrl).searchParams)).toMatchObject({ error: 'access_denied', state: 'no', iss: baseUrl });
  });

  it('binds the code to the client, its redirect URI and its PKCE verifier, once', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const start = `${baseUrl}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', code_challenge: S256(verifier), code_challenge_method: 'S256', state: 's1', scope: 'openid offline_access checklist.list' })}`;
    const { callbackUrl } = await followLogin(start, { login: 'carol' });
    const back = new URL(callbackUrl).searchParams;
    expect(back.get('state')).toBe('s1');
    const code = back.get('code')!;
    const other = (await (await register({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' })).json()).client_id;

    const exchange = (params: Record<string, string>) =>
      fetch(`${baseUrl}/oauth/token`, form({ grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier, ...params }));
    const wrongClient = await exchange({ client_id: other });
    expect((await wrongClient.json()).error).toBe('invalid_grant');
    // A failed attempt uses the code up: one try, as a code must be.
    const afterwards = await exchange({});
    expect((await afterwards.json()).error).toBe('invalid_grant');
  });

  it('issues tokens for the right verifier and redirect URI, refuses a wrong one', async () => {
    const run = async (params: Record<string, string>) => {
      const verifier = randomBytes(32).toString('base64url');
      const start = `${baseUrl}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', code_challenge: S256(verifier), code_challenge_method: 'S256', scope: 'openid offline_access checklist.list' })}`;
      const code = new URL((await followLogin(start, { login: 'erin' })).callbackUrl).searchParams.get('code')!;
      return fetch(`${baseUrl}/oauth/token`, form({ grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier, ...params }));
    };
    expect((await (await run({ code_verifier: randomBytes(32).toString('base64url') })).json()).error).toBe('invalid_grant');
    expect((await (await run({ redirect_uri: `${callbacks.url}/other` })).json()).error).toBe('invalid_grant');
    expect((await (await run({ resource: 'https://other.example/mcp' })).json()).error).toBe('invalid_target');
    const ok = await run({ resource: mcpUrl });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    const tokens = await ok.json();
    expect(tokens).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), access_token: expect.any(String), refresh_token: expect.any(String) });
    expect(tokens).not.toHaveProperty('id_token');
    // A grant type the proxy does not offer.
    const cc = await fetch(`${baseUrl}/oauth/token`, form({ grant_type: 'client_credentials', client_id: clientId }));
    expect((await cc.json()).error).toBe('unsupported_grant_type');
  });
});

describe("the proxy's metrics", () => {
  it('counts authorizations, token exchanges by grant type and registrations, with closed labels', async () => {
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    const value = (line: RegExp) =>
      Number(
        text
          .split('\n')
          .find((l) => line.test(l))
          ?.split(' ')
          .pop() ?? NaN,
      );
    expect(value(/^oauth_authorization_requests_total\{result="success"\}/)).toBeGreaterThanOrEqual(3);
    expect(value(/^oauth_authorization_requests_total\{result="failure"\}/)).toBeGreaterThanOrEqual(4);
    expect(value(/^oauth_token_exchanges_total\{grant_type="authorization_code",result="success"\}/)).toBeGreaterThanOrEqual(2);
    expect(value(/^oauth_token_exchanges_total\{grant_type="refresh_token",result="success"\}/)).toBeGreaterThanOrEqual(1);
    expect(value(/^oauth_token_exchanges_total\{grant_type="refresh_token",result="failure"\}/)).toBeGreaterThanOrEqual(1);
    expect(value(/^oauth_token_exchange_duration_seconds_count /)).toBeGreaterThanOrEqual(4);
    expect(value(/^dcr_registrations_total\{result="success"\}/)).toBeGreaterThanOrEqual(2);
    expect(value(/^dcr_registrations_total\{result="failure"\}/)).toBeGreaterThanOrEqual(5);
    // No client id, code or token ever becomes a label.
    expect(text).not.toMatch(/"mcp_[A-Za-z0-9_-]{22}"/);
  });
});

// Last: it uses up this address's registrations for the hour.
describe('registration abuse', () => {
  it('limits registrations per IP per hour (DCR_RATE_LIMIT_MAX) with 429 and Retry-After', async () => {
    const ip = `192.0.2.${Math.floor(Math.random() * 200)}`;
    // TRUST_PROXY is off: every request here counts for 127.0.0.1, whatever it claims.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await register({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }, { 'x-forwarded-for': ip })).status);
    expect(statuses).toContain(429);
    const limited = await register({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.json()).message).toMatch(/^Action: /);
  });
});
