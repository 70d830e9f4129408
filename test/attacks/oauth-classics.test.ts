/**
 * The OAuth proxy's classics (issue #11), against `seed-mcp cloud` with OAUTH_PROXY_ENABLED in
 * front of a real IdP, a scripted browser with its cookies, and MCP clients registered as an
 * attacker would: redirect URI tricks at registration and at authorization (and no open redirect),
 * PKCE downgrades, codes redeemed twice, by another client or for another redirect URI, `state`,
 * refresh tokens stolen or revoked across clients, client authentication at the token endpoint and
 * resources that are not this server. After each group a normal sign-in still ends in a tool call;
 * at the end, no code, token, verifier or secret is in the log.
 *
 * The token answers are checked for `access_token`, `refresh_token` and `token_type` only: what the
 * tokens are made of is the proxy's business.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCloud } from '../../src/cloud/start.js';
import { startStub, type Stub } from '../support/http-stub.js';
import { startIdp, type TestIdp } from '../support/idp.js';
import { freePort } from '../support/ports.js';
import {
  authorization,
  basicAuth,
  newVerifier,
  postForm,
  PROXY_CLIENT_ID,
  proxyIdpClient,
  registerClient,
  registerRequest,
  S256,
  startProxyCloud,
  type RegisteredClient,
} from '../support/proxy-fixture.js';
import { CookieJar, followLogin } from '../support/scripted-browser.mjs';

const SCOPES = ['checklist.list', 'checklist.read'];
const SCOPE = SCOPES.join(' ');
const PROXY_SECRET = randomBytes(16).toString('hex');
let idp: TestIdp;
let server: RunningCloud;
let baseUrl: string;
let mcpUrl: string;
let callbackUrl: string;
/** The MCP clients' redirect listener: any path answers 200. */
let callbacks: Stub;
const logLines: string[] = [];
/** Every code, verifier, token and client secret seen: none may reach the log. */
const secrets: string[] = [PROXY_SECRET];
/** What the IdP was asked at its authorization endpoint (by the proxy), in order. */
const atIdp: Array<{ client_id?: string; redirect_uri?: string; state?: string; code_challenge?: string }> = [];

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  mcpUrl = `${baseUrl}/mcp`;
  callbackUrl = `${baseUrl}/oauth/authorize/callback`;
  // Refresh tokens for every sign-in, without offline_access (and the consent prompt it brings).
  idp = await startIdp({ resources: [mcpUrl], extraScopes: SCOPES, refreshTokens: 'always', extraClients: [proxyIdpClient(PROXY_SECRET, [callbackUrl])] });
  idp.provider.on('authorization.success', (ctx: { oidc: { params: Record<string, string | undefined> } }) => {
    const { client_id, redirect_uri, state, code_challenge } = ctx.oidc.params;
    atIdp.push({ client_id, redirect_uri, state, code_challenge });
  });
  server = await startProxyCloud({ idp, port, scopes: SCOPES, clientSecret: PROXY_SECRET, logLines });
  callbacks = await startStub((_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
});

afterAll(async () => {
  await server?.close();
  await callbacks?.close();
  await idp?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** A sign-in that reached the client's redirect URI: what the client got and what it holds. */
interface SignedIn {
  client: RegisteredClient;
  redirectUri: string;
  verifier: string;
  state: string;
  /** The callback's parameters. */
  back: URLSearchParams;
  code: string;
}

/** The browser (`jar`) signs in through `client` for `redirectUri`, approving on seed-mcp's page if asked. */
async function signIn(
  client: RegisteredClient,
  redirectUri: string,
  jar: CookieJar,
  options: { login?: string; state?: string; verifier?: string; params?: Record<string, string> } = {},
): Promise<SignedIn> {
  const link = authorization(baseUrl, client.clientId, redirectUri, { scope: SCOPE, ...options });
  const { callbackUrl: landed } = await followLogin(link.url, { jar, login: options.login ?? 'alice' });
  const back = new URL(landed).searchParams;
  expect(back.get('error'), back.get('error_description') ?? '').toBeNull();
  const code = back.get('code')!;
  expect(code).toBeTruthy();
  secrets.push(code, link.verifier);
  return { client, redirectUri, verifier: link.verifier, state: link.state, back, code };
}

/** Drops the parameters whose value is '' (to send a request without them). */
const present = (params: Record<string, string>) => Object.fromEntries(Object.entries(params).filter(([, v]) => v !== ''));

/** The code exchange of `flow` as its client would send it, with `change` over it. */
function redeem(flow: SignedIn, change: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return postForm(
    baseUrl,
    '/oauth/token',
    present({ grant_type: 'authorization_code', code: flow.code, client_id: flow.client.clientId, redirect_uri: flow.redirectUri, code_verifier: flow.verifier, ...change }),
    headers,
  );
}

function refresh(refreshToken: string, clientId: string, change: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return postForm(baseUrl, '/oauth/token', present({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, ...change }), headers);
}

function revoke(token: string, clientId: string, change: Record<string, string> = {}) {
  return postForm(baseUrl, '/oauth/revoke', present({ token, client_id: clientId, ...change }));
}

type Answer = Awaited<ReturnType<typeof postForm>>;

/** A token answer: its tokens (remembered as secrets), and nothing more is assumed of it. */
function tokensOf(answer: Answer, label = 'token answer'): { access: string; refresh: string } {
  expect(answer.status, `${label}: ${JSON.stringify(answer.body.error ?? '')}`).toBe(200);
  const { access_token, refresh_token, token_type } = answer.body;
  expect(access_token, label).toEqual(expect.any(String));
  expect(refresh_token, label).toEqual(expect.any(String));
  expect(token_type, label).toMatch(/^bearer$/i);
  expect(answer.headers.get('cache-control')).toBe('no-store');
  secrets.push(access_token as string, refresh_token as string);
  return { access: access_token as string, refresh: refresh_token as string };
}

/** An OAuth error answer (RFC 6749 §5.2) with nothing secret in it. */
function expectOAuthError(answer: Answer, status: number, error: string, label = error): void {
  expect([answer.status, answer.body.error], label).toEqual([status, error]);
  expect(answer.body.error_description, label).toEqual(expect.any(String));
  expect(answer.body).not.toHaveProperty('access_token');
  const text = JSON.stringify(answer.body);
  for (const secret of secrets) expect(text, label).not.toContain(secret);
}

/** tools/call seed_ping with `accessToken`: the status and the body. */
async function callTool(accessToken: string): Promise<{ status: number; text: string }> {
  const res = await fetch(mcpUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }),
  });
  return { status: res.status, text: await res.text() };
}

/** The access token calls a tool: 200 and the ping's answer. */
async function callsTool(accessToken: string): Promise<void> {
  const { status, text } = await callTool(accessToken);
  expect(status).toBe(200);
  expect(text).toContain('status');
}

let stillCount = 0;
/** After an attack: a new client, a new browser, a normal sign-in, tokens, and a tool call. */
async function stillWorks(): Promise<void> {
  const redirectUri = `${callbacks.url}/still-${(stillCount += 1)}`;
  const client = await registerClient(baseUrl, [redirectUri], { name: 'Honest Client' });
  const flow = await signIn(client, redirectUri, new CookieJar(), { login: `honest-${stillCount}` });
  await callsTool(tokensOf(await redeem(flow)).access);
}

/** GET /oauth/authorize with `params`, not following redirects. */
async function authorize(params: Record<string, string>): Promise<{ status: number; location: string | null; type: string | null; text: string }> {
  const url = new URL(`${baseUrl}/oauth/authorize`);
  for (const [k, v] of Object.entries(params)) url.searchParams.append(k, v);
  return authorizeAt(url.href);
}

async function authorizeAt(url: string) {
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), type: res.headers.get('content-type'), text: await res.text() };
}

/** The answer is a page for the person, not a redirect to anywhere. */
function expectPage(answer: Awaited<ReturnType<typeof authorize>>, label: string): void {
  expect(answer.status, label).toBe(400);
  expect(answer.location, label).toBeNull();
  expect(answer.type, label).toMatch(/^text\/html/);
  expect(answer.text, label).toMatch(/Action: /);
  // What the attacker wrote is not reflected.
  expect(answer.text, label).not.toMatch(/evil|javascript:/i);
}

/** The answer redirects to `redirectUri` with `error`, the client's state and this issuer, and no code. */
function expectErrorRedirect(answer: Awaited<ReturnType<typeof authorize>>, redirectUri: string, error: string, state: string, label = error): void {
  expect(answer.status, label).toBe(302);
  const to = new URL(answer.location!);
  expect(`${to.origin}${to.pathname}`, label).toBe(redirectUri);
  expect(to.searchParams.get('error'), label).toBe(error);
  expect(to.searchParams.get('state'), label).toBe(state);
  expect(to.searchParams.get('iss'), label).toBe(baseUrl);
  expect(to.searchParams.has('code'), label).toBe(false);
}

/** A group's own public client, registered for `<callbacks>/<path>` before its tests, and a browser. */
function groupClient(path: string): { client: RegisteredClient; redirectUri: string; jar: CookieJar } {
  const group = { jar: new CookieJar() } as { client: RegisteredClient; redirectUri: string; jar: CookieJar };
  beforeAll(async () => {
    group.redirectUri = `${callbacks.url}${path}`;
    group.client = await registerClient(baseUrl, [group.redirectUri]);
  });
  return group;
}

const AFTERWARDS = 'afterwards: a normal sign-in still ends in a tool call';

// ---------------------------------------------------------------------------------------------

describe('redirect URIs at registration', () => {
  const tricks = [
    'https://good.example/cb#fragment',
    'https://good.example/cb#',
    'https://good.example@evil.example/cb',
    'https://user:password@good.example/cb',
    'http://good.example/cb',
    'http://127.0.0.1.evil.example/cb',
    'http://localhost.evil.example/cb',
    'javascript:alert(document.cookie)',
    'data:text/html,<script>alert(1)</script>',
    'file:///etc/passwd',
    'myapp://callback',
    '//evil.example/cb',
    '/cb',
    `https://good.example/${'x'.repeat(2100)}`,
  ];
  it.each(tricks)('refuses %s with invalid_redirect_uri', async (uri) => {
    const res = await registerRequest(baseUrl, { redirect_uris: [uri], token_endpoint_auth_method: 'none' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; client_id?: string };
    expect(body.error).toBe('invalid_redirect_uri');
    expect(body.client_id).toBeUndefined();
  });

  it('refuses the whole registration for one bad URI among good ones, a string instead of a list, and more than ten', async () => {
    for (const redirect_uris of [
      ['https://good.example/cb', 'https://good.example@evil.example/cb'],
      'https://good.example/cb',
      [],
      Array.from({ length: 11 }, (_, i) => `https://good.example/cb${i}`),
    ]) {
      const res = await registerRequest(baseUrl, { redirect_uris, token_endpoint_auth_method: 'none' });
      expect(res.status, JSON.stringify(redirect_uris).slice(0, 60)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_redirect_uri');
    }
  });

  it(AFTERWARDS, stillWorks);
});

describe('redirect URIs at authorization', () => {
  let good: RegisteredClient;
  let loopback: RegisteredClient;
  beforeAll(async () => {
    good = await registerClient(baseUrl, ['https://good.example/cb'], { name: 'Good' });
    loopback = await registerClient(baseUrl, ['http://127.0.0.1/cb'], { name: 'Loopback' });
  });
  const ask = (clientId: string, redirectUri: string) => authorizeAt(authorization(baseUrl, clientId, redirectUri, { scope: SCOPE }).url);

  it('the registered https URI itself reaches the consent page (control)', async () => {
    const answer = await ask(good.clientId, 'https://good.example/cb');
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('id="seed-mcp-consent"');
  });

  it.each([
    'https://good.example/cb/../evil',
    'https://good.example/evil',
    'https://good.example/cb%2F..%2Fevil',
    'https://good.example.evil.example/cb',
    'https://good.example/cb?x=1',
    'https://good.example/cb?',
    'https://good.example:8443/cb',
    'https://good.example:443/cb',
    'https://good.example@evil.example/cb',
    'https://good.example/cb#evil',
    'https://GOOD.example/cb',
    'https://good.example/CB',
    'https://good.example/cb/',
    'http://good.example/cb',
    'https://evil.example/cb',
  ])('refuses %s for a client registered with https://good.example/cb, on a page', async (requested) => {
    expectPage(await ask(good.clientId, requested), requested);
  });

  it('a loopback registration (http://127.0.0.1/cb) takes any port (RFC 8252 §7.3): the code arrives there and redeems', async () => {
    const redirectUri = `${callbacks.url}/cb`;
    const before = callbacks.requests.filter((r) => r.path === '/cb').length;
    const flow = await signIn(loopback, redirectUri, new CookieJar(), { login: 'lou' });
    expect(callbacks.requests.filter((r) => r.path === '/cb').length).toBe(before + 1);
    await callsTool(tokensOf(await redeem(flow)).access);
  });

  it.each(['/other', '/cb/', '/cb?x=1', '/CB'])('refuses the loopback registration with another path or query on another port: %s', async (rest) => {
    expectPage(await ask(loopback.clientId, `${callbacks.url}${rest}`), rest);
  });

  it('refuses the loopback registration under another loopback name or scheme', async () => {
    const { port } = new URL(callbacks.url);
    for (const requested of [`http://localhost:${port}/cb`, `http://[::1]:${port}/cb`, `https://127.0.0.1:${port}/cb`, `http://127.0.0.2:${port}/cb`]) {
      expectPage(await ask(loopback.clientId, requested), requested);
    }
  });

  it(AFTERWARDS, stillWorks);
});

describe('no open redirect: errors before the redirect URI is checked stay on a page', () => {
  const g = groupClient('/open');
  const challenge = () => ({ code_challenge: S256(newVerifier()), code_challenge_method: 'S256', state: 'st' });

  it('an unknown client, no client, an unregistered URI with any other error, repeated or missing parameters', async () => {
    const cases: Array<[string, Record<string, string> | string]> = [
      ['unknown client', { client_id: 'mcp_unknown', redirect_uri: 'https://evil.example/cb', response_type: 'code', ...challenge() }],
      ['no client_id', { redirect_uri: 'https://evil.example/cb', response_type: 'code', ...challenge() }],
      ['unregistered URI and response_type token', { client_id: g.client.clientId, redirect_uri: 'https://evil.example/cb', response_type: 'token', ...challenge() }],
      ['unregistered URI and no PKCE', { client_id: g.client.clientId, redirect_uri: 'https://evil.example/cb', response_type: 'code', state: 'st' }],
      [
        'unregistered URI and another resource',
        { client_id: g.client.clientId, redirect_uri: 'https://evil.example/cb', response_type: 'code', resource: 'https://evil.example/mcp', ...challenge() },
      ],
      ['a javascript: URI', { client_id: g.client.clientId, redirect_uri: 'javascript:alert(1)', response_type: 'code', ...challenge() }],
      ['no redirect_uri', { client_id: g.client.clientId, response_type: 'code', ...challenge() }],
      [
        'redirect_uri twice (registered, then evil)',
        `client_id=${g.client.clientId}&redirect_uri=${encodeURIComponent(g.redirectUri)}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code`,
      ],
      ['client_id twice', `client_id=${g.client.clientId}&client_id=mcp_other&redirect_uri=${encodeURIComponent(g.redirectUri)}&response_type=code`],
    ];
    const before = atIdp.length;
    for (const [label, params] of cases) {
      const answer = typeof params === 'string' ? await authorizeAt(`${baseUrl}/oauth/authorize?${params}`) : await authorize(params);
      expectPage(answer, label);
    }
    expect(atIdp.length).toBe(before);
  });

  it('once the URI is checked, the same errors go back to it with the state (not to anywhere else)', async () => {
    const answer = await authorize({ client_id: g.client.clientId, redirect_uri: g.redirectUri, response_type: 'token', ...challenge() });
    expectErrorRedirect(answer, g.redirectUri, 'unsupported_response_type', 'st');
  });

  it(AFTERWARDS, stillWorks);
});

describe('PKCE downgrades', () => {
  const g = groupClient('/pkce');

  it('at authorization: no challenge, plain, no method, s256, a short or non-base64url challenge: invalid_request, before the IdP', async () => {
    const verifier = newVerifier();
    const cases: Array<[string, Record<string, string>]> = [
      ['no challenge', { code_challenge: '', code_challenge_method: '' }],
      ['no challenge, method S256', { code_challenge: '' }],
      ['plain', { code_challenge: verifier, code_challenge_method: 'plain' }],
      ['no method', { code_challenge_method: '' }],
      ['method s256', { code_challenge_method: 's256' }],
      ['a 42-character challenge', { code_challenge: S256(verifier).slice(0, 42) }],
      ['a challenge in standard base64', { code_challenge: Buffer.from(S256(verifier), 'base64url').toString('base64') }],
    ];
    const before = atIdp.length;
    for (const [label, params] of cases) {
      const link = authorization(baseUrl, g.client.clientId, g.redirectUri, { scope: SCOPE, verifier, state: `st-${label}`, params });
      expectErrorRedirect(await authorizeAt(link.url), g.redirectUri, 'invalid_request', `st-${label}`, label);
    }
    expect(atIdp.length).toBe(before);
  });

  it('at the token endpoint: a verifier that does not match, of the wrong length, the challenge itself, or none: refused, and the code is spent', async () => {
    const mismatch = await signIn(g.client, g.redirectUri, g.jar);
    expectOAuthError(await redeem(mismatch, { code_verifier: newVerifier() }), 400, 'invalid_grant', 'another verifier');
    // One try: the right verifier comes too late.
    expectOAuthError(await redeem(mismatch), 400, 'invalid_grant', 'the right verifier after a wrong one');

    const asChallenge = await signIn(g.client, g.redirectUri, g.jar);
    expectOAuthError(await redeem(asChallenge, { code_verifier: S256(asChallenge.verifier) }), 400, 'invalid_grant', 'the challenge as verifier (plain)');

    // Verifiers outside RFC 7636's 43–128 characters, whose S256 is the challenge sent.
    for (const verifier of [newVerifier().slice(0, 42), 'v'.repeat(129), `${newVerifier()}=`]) {
      const flow = await signIn(g.client, g.redirectUri, g.jar, { verifier });
      expectOAuthError(await redeem(flow), 400, 'invalid_grant', `a verifier of ${verifier.length} characters`);
    }

    const none = await signIn(g.client, g.redirectUri, g.jar);
    const answer = await redeem(none, { code_verifier: '' });
    expect(answer.status).toBe(400);
    expect(['invalid_request', 'invalid_grant']).toContain(answer.body.error);
    expectOAuthError(await redeem(none), 400, 'invalid_grant', 'the right verifier after none');
  });

  it(AFTERWARDS, stillWorks);
});

describe('codes', () => {
  let a: RegisteredClient;
  let b: RegisteredClient;
  let c: RegisteredClient;
  let first: string;
  let second: string;
  const jar = new CookieJar();
  beforeAll(async () => {
    first = `${callbacks.url}/codes-1`;
    second = `${callbacks.url}/codes-2`;
    a = await registerClient(baseUrl, [first, second], { name: 'A' });
    // B and C registered the very same redirect URI: only the code's own client may redeem it.
    b = await registerClient(baseUrl, [first], { name: 'B' });
    c = await registerClient(baseUrl, [first], { name: 'C', authMethod: 'client_secret_basic' });
    secrets.push(c.secret!);
  });

  it('a code redeemed twice is refused the second time, and what it gave the first time is revoked', async () => {
    const flow = await signIn(a, first, jar);
    const { access, refresh: refreshToken } = tokensOf(await redeem(flow));
    await callsTool(access);
    expectOAuthError(await redeem(flow), 400, 'invalid_grant');
    // RFC 6749 §4.1.2: someone else has the code; the tokens it was exchanged for are revoked.
    const call = await callTool(access);
    expect(call.status).toBe(401);
    expect(JSON.parse(call.text)).toMatchObject({ error: 'TOKEN_REVOKED' });
    expectOAuthError(await refresh(refreshToken, a.clientId), 400, 'invalid_grant', 'the refresh token of a replayed code');
  });

  it('a code redeemed by another client (public, or confidential with its own secret) is refused, and spent', async () => {
    const flow = await signIn(a, first, jar);
    expectOAuthError(await redeem(flow, { client_id: b.clientId }), 400, 'invalid_grant', 'public B');
    expectOAuthError(await redeem(flow), 400, 'invalid_grant', 'A after B');

    const again = await signIn(a, first, jar);
    expectOAuthError(await redeem(again, { client_id: '' }, { authorization: basicAuth(c.clientId, c.secret!) }), 400, 'invalid_grant', 'confidential C');
  });

  it('a code redeemed with another redirect_uri (even one the client registered), or none, is refused', async () => {
    expectOAuthError(await redeem(await signIn(a, first, jar), { redirect_uri: second }), 400, 'invalid_grant', 'the other registered URI');
    expectOAuthError(await redeem(await signIn(a, first, jar), { redirect_uri: `${first}/` }), 400, 'invalid_grant', 'a trailing slash');
    expectOAuthError(await redeem(await signIn(a, first, jar), { redirect_uri: '' }), 400, 'invalid_grant', 'no redirect_uri');
  });

  it('a made-up code is refused; a code without a client is an unauthenticated client', async () => {
    const flow = await signIn(a, first, jar);
    expectOAuthError(await redeem(flow, { code: randomBytes(32).toString('base64url') }), 400, 'invalid_grant', 'made up');
    const anonymous = await redeem(flow, { client_id: '' });
    expectOAuthError(anonymous, 401, 'invalid_client', 'no client');
    // Not spent by a request that named no client.
    tokensOf(await redeem(flow));
  });

  it(AFTERWARDS, stillWorks);
});

describe('state', () => {
  const g = groupClient('/state');

  it("comes back unchanged, and the proxy's state (and PKCE) at the IdP is never the client's", async () => {
    const odd = `client-state ${randomBytes(6).toString('hex')} &x=1/é?#<>"'+%20`;
    const before = atIdp.length;
    const flow = await signIn(g.client, g.redirectUri, g.jar, { state: odd });
    expect(flow.back.get('state')).toBe(odd);
    expect(flow.back.get('iss')).toBe(baseUrl);
    expect(atIdp.length).toBe(before + 1);
    const seen = atIdp.at(-1)!;
    expect(seen).toMatchObject({ client_id: PROXY_CLIENT_ID, redirect_uri: callbackUrl });
    expect(seen.state).toEqual(expect.any(String));
    expect(seen.state).not.toBe(odd);
    expect(seen.state).not.toContain(odd.split(' ')[1]);
    expect(seen.code_challenge).not.toBe(S256(flow.verifier));

    // The same client state twice: two states at the IdP.
    await signIn(g.client, g.redirectUri, g.jar, { state: odd });
    expect(atIdp.at(-1)!.state).not.toBe(seen.state);
    tokensOf(await redeem(flow));
  });

  it('comes back unchanged with an error too, and is not invented when the client sent none', async () => {
    const odd = `err ${randomBytes(4).toString('hex')} &<>`;
    const answer = await authorizeAt(authorization(baseUrl, g.client.clientId, g.redirectUri, { scope: SCOPE, state: odd, params: { code_challenge_method: 'plain' } }).url);
    expectErrorRedirect(answer, g.redirectUri, 'invalid_request', odd);
    const none = await signIn(g.client, g.redirectUri, g.jar, { params: { state: '' } });
    expect(none.back.has('state')).toBe(false);
  });

  it(AFTERWARDS, stillWorks);
});

describe('refresh tokens across clients', () => {
  let a: RegisteredClient;
  let b: RegisteredClient;
  let c: RegisteredClient;
  let redirectUri: string;
  const jar = new CookieJar();
  beforeAll(async () => {
    redirectUri = `${callbacks.url}/refresh`;
    a = await registerClient(baseUrl, [redirectUri], { name: 'A' });
    b = await registerClient(baseUrl, [redirectUri], { name: 'B' });
    c = await registerClient(baseUrl, [redirectUri], { name: 'C', authMethod: 'client_secret_post' });
    secrets.push(c.secret!);
  });
  const grantOfA = async () => tokensOf(await redeem(await signIn(a, redirectUri, jar, { login: 'rita' })));

  it("another client presenting A's refresh token gets invalid_grant, and the stolen token is good for no one", async () => {
    const thieves: Array<[string, (token: string) => Promise<Answer>]> = [
      ['public B', (token) => refresh(token, b.clientId)],
      ['confidential C with its own secret', (token) => refresh(token, c.clientId, { client_secret: c.secret! })],
    ];
    for (const [label, thief] of thieves) {
      const { refresh: stolen } = await grantOfA();
      expectOAuthError(await thief(stolen), 400, 'invalid_grant', label);
      expectOAuthError(await thief(stolen), 400, 'invalid_grant', `${label} again`);
      // A stolen refresh token ends its grant (RFC 9700 §4.14.2): the owner signs in again.
      expectOAuthError(await refresh(stolen, a.clientId), 400, 'invalid_grant', `A after ${label}`);
    }
  });

  it("another client revoking A's tokens: 200, and they still work for A (RFC 7009 §2.1)", async () => {
    let { access, refresh: current } = await grantOfA();
    for (const hint of ['refresh_token', 'access_token', '']) {
      expect((await revoke(current, b.clientId, { token_type_hint: hint })).status, `refresh token, hint ${hint || 'none'}`).toBe(200);
      expect((await revoke(access, b.clientId, { token_type_hint: hint })).status, `access token, hint ${hint || 'none'}`).toBe(200);
    }
    expect((await revoke(current, c.clientId, { client_secret: c.secret! })).status).toBe(200);
    expect((await revoke(access, c.clientId, { client_secret: c.secret! })).status).toBe(200);
    await callsTool(access);
    ({ access, refresh: current } = tokensOf(await refresh(current, a.clientId), 'A after the revocation attempts'));
    await callsTool(access);
    // A revoking its own refresh token does revoke it: the control that makes the above mean something.
    expect((await revoke(current, a.clientId, { token_type_hint: 'refresh_token' })).status).toBe(200);
    expectOAuthError(await refresh(current, a.clientId), 400, 'invalid_grant', 'A after its own revocation');
  });

  it(AFTERWARDS, stillWorks);
});

describe('client authentication at the token endpoint', () => {
  let d: RegisteredClient;
  let redirectUri: string;
  beforeAll(async () => {
    redirectUri = `${callbacks.url}/confidential`;
    d = await registerClient(baseUrl, [redirectUri], { name: 'D', authMethod: 'client_secret_basic' });
    secrets.push(d.secret!);
  });

  it('refuses a wrong, missing or malformed secret with 401 invalid_client and a Basic challenge, without spending the code', async () => {
    const flow = await signIn(d, redirectUri, new CookieJar(), { login: 'dora' });
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const attempts: Array<[string, Record<string, string>, Record<string, string>]> = [
      ['a wrong secret (Basic)', { client_id: '' }, { authorization: basicAuth(d.clientId, 'wrong-secret') }],
      ['a wrong secret (post)', { client_secret: 'wrong-secret' }, {}],
      ['no secret', {}, {}],
      ['an empty secret (Basic)', { client_id: '' }, { authorization: basicAuth(d.clientId, '') }],
      ['the secret of another client', { client_id: '' }, { authorization: basicAuth(d.clientId, PROXY_SECRET) }],
      ['Basic that is not base64', { client_id: '' }, { authorization: 'Basic !!!not-base64!!!' }],
      ['Basic without a colon', { client_id: '' }, { authorization: `Basic ${b64(`${d.clientId}${d.secret}`)}` }],
      ['Basic with broken percent-encoding', { client_id: '' }, { authorization: `Basic ${b64(`%zz${d.clientId}:%zz`)}` }],
      ['Basic with no client id', { client_id: '' }, { authorization: `Basic ${b64(`:${d.secret}`)}` }],
      ['Basic and nothing', { client_id: '' }, { authorization: 'Basic' }],
    ];
    for (const [label, change, headers] of attempts) {
      const answer = await redeem(flow, change, headers);
      expectOAuthError(answer, 401, 'invalid_client', label);
      expect(answer.headers.get('www-authenticate'), label).toMatch(/^Basic /);
    }
    const { refresh: refreshToken } = tokensOf(await redeem(flow, { client_id: '' }, { authorization: basicAuth(d.clientId, d.secret!) }), 'the right secret');

    // The refresh and revocation endpoints ask for the secret too.
    expectOAuthError(await refresh(refreshToken, d.clientId, { client_secret: 'wrong-secret' }), 401, 'invalid_client', 'refresh with a wrong secret');
    expectOAuthError(await revoke(refreshToken, d.clientId, { client_secret: 'wrong-secret' }), 401, 'invalid_client', 'revoke with a wrong secret');
    tokensOf(await refresh(refreshToken, d.clientId, { client_secret: d.secret! }), 'refresh with the right secret');
  });

  it(AFTERWARDS, stillWorks);
});

describe('resources that are not this server', () => {
  const g = groupClient('/resource');

  it('at authorization: invalid_target back to the client, before the IdP', async () => {
    const before = atIdp.length;
    for (const resource of ['https://evil.example/mcp', `${mcpUrl}/`, baseUrl, idp.issuer]) {
      const link = authorization(baseUrl, g.client.clientId, g.redirectUri, { scope: SCOPE, state: 'rs', params: { resource } });
      expectErrorRedirect(await authorizeAt(link.url), g.redirectUri, 'invalid_target', 'rs', resource);
    }
    expect(atIdp.length).toBe(before);
  });

  it('at the token endpoint and at refresh: invalid_target; this server as the resource works', async () => {
    expectOAuthError(await redeem(await signIn(g.client, g.redirectUri, g.jar), { resource: 'https://evil.example/mcp' }), 400, 'invalid_target', 'code');
    const flow = await signIn(g.client, g.redirectUri, g.jar, { params: { resource: mcpUrl } });
    const { access, refresh: refreshToken } = tokensOf(await redeem(flow, { resource: mcpUrl }));
    await callsTool(access);
    expectOAuthError(await refresh(refreshToken, g.client.clientId, { resource: 'https://evil.example/mcp' }), 400, 'invalid_target', 'refresh');
    tokensOf(await refresh(refreshToken, g.client.clientId, { resource: mcpUrl }), 'refresh for this server');
  });

  it(AFTERWARDS, stillWorks);
});

describe('the log', () => {
  it('holds no code, token, verifier or secret', () => {
    const log = logLines.join('\n');
    expect(secrets.length).toBeGreaterThan(50);
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    expect(log).toContain('oauth_consent_asked');
  });
});
