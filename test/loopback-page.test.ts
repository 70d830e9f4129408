/**
 * The page the browser lands on after signing in (the loopback redirect): the CLI as a subprocess
 * with --no-browser, a real oidc-provider, and the person played over plain HTTP by the scripted
 * browser. The page waits for the token exchange, then says who signed in, the profile, the MCP
 * server, the identity provider and until when — never a token or the code — under a strict CSP;
 * a failure page says what failed and the command to run next, with the IdP's words escaped.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLoopback } from '../src/local/loopback.js';
import { type CliResult, startCli, tempDirs } from './support/cli.js';
import { json, startStub, type Stub } from './support/http-stub.js';
import { startIdp, startIdpWithBrokenIdTokens, type TestIdp } from './support/idp.js';
import { type FollowLoginOptions, followLogin } from './support/scripted-browser.mjs';

let idp: TestIdp;
let mcp: Stub;
const cleanups: Array<() => unknown> = [];
const newDir = tempDirs();

beforeAll(async () => {
  // An MCP server whose 401 names the IdP (RFC 9728), so that the page has a server to show.
  mcp = await startStub((req, res, base) => {
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      json(res, 200, { resource: `${base}/mcp`, authorization_servers: [idp.issuer], scopes_supported: ['openid', 'profile', 'email'] });
    } else {
      json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` });
    }
  });
  idp = await startIdp({ resources: [`${mcp.url}/mcp`] });
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await idp?.close();
  await mcp?.close();
});

interface Page {
  status: number;
  body: string;
  headers: Headers;
}

/** `seed-mcp login ARGS --no-browser`: resolves with the printed authorization URL and the run. */
async function startLogin(args: string[], dir: string) {
  const running = startCli(['login', ...args, '--no-browser', '--timeout', '30'], { SEED_MCP_CONFIG_DIR: dir, SEED_MCP_TOKEN_STORE: 'file' });
  cleanups.push(() => running.child.exitCode === null && running.child.kill());
  const [, url] = await running.waitForStderr(/Open this URL in a browser to sign in:\n {2}(\S+)\n/);
  return { url: new URL(url!), done: running.done };
}

/** The person signs in (or cancels) at `url`; the loopback's answer with its headers. */
async function browse(url: URL, options: FollowLoginOptions = {}): Promise<Page & { callbackUrl: URL }> {
  const spy = vi.spyOn(globalThis, 'fetch');
  try {
    const result = await followLogin(url.href, options);
    const i = spy.mock.calls.findIndex(([input]) => String(input) === result.callbackUrl);
    expect(i, 'the callback was requested').toBeGreaterThanOrEqual(0);
    const res = (await spy.mock.results[i]!.value) as Response;
    return { status: result.status, body: result.body, headers: res.headers, callbackUrl: new URL(result.callbackUrl) };
  } finally {
    spy.mockRestore();
  }
}

/** A redirect the IdP never sent, straight to the loopback: the state (or not) and `params`. */
async function forgeCallback(url: URL, params: Record<string, string>): Promise<Page> {
  const callback = new URL(url.searchParams.get('redirect_uri')!);
  callback.search = new URLSearchParams(params).toString();
  const res = await fetch(callback);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** The page's text without tags, entities decoded. */
function textOf(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/\s+/g, ' ');
}

/** A CSP that lets only the page's own style apply: no script, no other origin, no framing. */
function expectStrictPage(page: Page): void {
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(page.headers.get('cache-control')).toBe('no-store');
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toMatch(/^default-src 'none'; /);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("base-uri 'none'");
  expect(csp).toContain("form-action 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toMatch(/script-src|https?:|\*/);
  // The one inline style is allowed by its hash, so that a browser really applies it.
  const style = /<style>([\s\S]*?)<\/style>/.exec(page.body)?.[1] ?? '';
  expect(csp).toContain(`style-src 'sha256-${createHash('sha256').update(style).digest('base64')}'`);
  expect(page.body.match(/<style>/g)).toHaveLength(1);
  // Nothing loaded from anywhere: no src/href attribute, no CSS url() or @import, no script.
  expect(page.body).not.toMatch(/<[^>]*\s(src|href)\s*=|url\(|@import|<script/i);
}

describe('the page after signing in', () => {
  it('says who, the profile, the server, the IdP and until when, under a strict CSP, with no token or code', async () => {
    const dir = newDir();
    const login = await startLogin([`${mcp.url}/mcp`, '--client-id', idp.clientId, '--profile', 'work'], dir);
    const page = await browse(login.url);
    const r: CliResult = await login.done;
    expect(r.code, r.stderr).toBe(0);

    expect(page.status).toBe(200);
    expectStrictPage(page);
    const text = textOf(page.body);
    expect(text).toContain('Signed in');
    expect(text).toContain('seed-mcp is signed in as Alice Example');
    expect(text).toMatch(/Account Alice Example · alice@example\.test · subject alice /);
    expect(text).toMatch(/Profile work /);
    expect(text).toContain(`MCP server ${mcp.url}/mcp `);
    expect(text).toContain(`Identity provider ${idp.issuer} `);
    expect(text).toMatch(/Access until \w{3} \d{1,2}, \d{4}, \d{1,2}:\d{2} [AP]M \S+ \(in 60 min\)/);
    expect(text).toContain('Then renewed automatically with the refresh token');

    // The time shown is the stored access token's expiry.
    const tokens = JSON.parse(readFileSync(join(dir, 'tokens', 'work.json'), 'utf8'));
    expect(tokens.refreshToken).toBeTruthy();
    const datetime = /<time datetime="([^"]+)">/.exec(page.body)?.[1];
    expect(Math.abs(Date.parse(datetime!) / 1000 - tokens.expiresAt)).toBeLessThanOrEqual(2);

    // Never a secret: not the code, the state, or any token (nor a piece of one).
    const secrets = [page.callbackUrl.searchParams.get('code')!, page.callbackUrl.searchParams.get('state')!, tokens.accessToken, tokens.refreshToken, tokens.idToken];
    for (const s of secrets) {
      expect(s).toBeTruthy();
      expect(page.body).not.toContain(s);
      expect(page.body).not.toContain(s.slice(0, 16));
    }
    expect(page.body).not.toMatch(/eyJ[A-Za-z0-9_-]{8}/);
  });

  it('a token exchange that fails shows what failed and what to do; the CLI exits 1 and stores nothing', async () => {
    // Every ID token's signature broken: the code arrives, the exchange then fails validation.
    const tampering = await startIdpWithBrokenIdTokens();
    cleanups.push(() => tampering.close());
    const dir = newDir();
    const login = await startLogin(['--issuer', tampering.issuer, '--client-id', tampering.clientId, '--profile', 'broken'], dir);
    const page = await browse(login.url);
    const r = await login.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not sign in: the ID token failed validation');
    expect(existsSync(join(dir, 'tokens', 'broken.json'))).toBe(false);
    expectStrictPage(page);
    const text = textOf(page.body);
    expect(text).toContain('Sign-in failed');
    expect(text).toContain('could not sign in: the ID token failed validation');
    expect(text).toContain('What to do: nothing was stored;');
    expect(text).toContain('then run seed-mcp login --profile broken again');
    expect(page.body).toContain('<code>seed-mcp login --profile broken</code>');
    expect(text).not.toContain('Signed in');
  });
});

describe('the page when the sign-in fails', () => {
  it('the person cancels at the IdP: access_denied, the command to run again, exit 1', async () => {
    const dir = newDir();
    const login = await startLogin(['--issuer', idp.issuer, '--client-id', idp.clientId, '--profile', 'denied'], dir);
    const page = await browse(login.url, { action: 'deny' });
    const r = await login.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not sign in: access was denied at the identity provider');
    expect(page.callbackUrl.searchParams.get('error')).toBe('access_denied');
    expectStrictPage(page);
    const text = textOf(page.body);
    expect(text).toContain('Sign-in cancelled');
    expect(text).toContain('could not sign in: access was denied at the identity provider');
    expect(text).toContain('What to do: run seed-mcp login --profile denied again and approve the request');
    expect(page.body).toContain('<code>seed-mcp login --profile denied</code>');
  });

  it("the IdP's error_description is shown escaped", async () => {
    const dir = newDir();
    const login = await startLogin(['--issuer', idp.issuer, '--client-id', idp.clientId, '--profile', 'esc'], dir);
    const page = await forgeCallback(login.url, {
      state: login.url.searchParams.get('state')!,
      error: 'access_denied',
      error_description: 'policy says <script>alert("x")</script> & <img src=x> no',
    });
    const r = await login.done;
    expect(r.code).toBe(1);
    expectStrictPage(page);
    expect(page.body).not.toContain('<script>');
    expect(page.body).not.toContain('<img');
    expect(page.body).toContain('policy says &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#60;img src=x&#62; no');
    expect(textOf(page.body)).toContain('What to do: run seed-mcp login --profile esc again and approve the request');
  });

  it('a state that does not match: says so and what to run, exit 1', async () => {
    const dir = newDir();
    const login = await startLogin(['--issuer', idp.issuer, '--client-id', idp.clientId, '--profile', 'stale'], dir);
    const page = await forgeCallback(login.url, { state: 'not-the-state', code: 'forged-code' });
    const r = await login.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not sign in: the callback carried a state that does not match this sign-in');
    expect(page.status).toBe(400);
    expectStrictPage(page);
    const text = textOf(page.body);
    expect(text).toContain('Sign-in failed: state mismatch');
    expect(text).toContain('What to do: a stale or forged redirect reached the loopback port; run seed-mcp login --profile stale again');
    expect(page.body).not.toContain('forged-code');
  });
});

describe('the browser never hangs', () => {
  it('a code whose exchange does not finish in time gets a page that points to the terminal', async () => {
    const loopback = await startLoopback({ port: 0, redirectHost: '127.0.0.1', expectedState: 's1', timeoutMs: 10_000, profile: 'slow', holdMs: 300 });
    cleanups.push(() => loopback.close());
    const started = Date.now();
    const answer = fetch(`${loopback.redirectUri}?state=s1&code=c1`);
    expect((await loopback.callback).searchParams.get('code')).toBe('c1');
    // Nobody calls finish(): the exchange hangs.
    const res = await answer;
    const elapsed = Date.now() - started;
    const page = { status: res.status, body: await res.text(), headers: res.headers };
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5_000);
    expect(page.status).toBe(200);
    expectStrictPage(page);
    expect(textOf(page.body)).toContain('the terminal, which shows the result');
    expect(page.body).not.toContain('c1');
    await loopback.close();
  });
});
