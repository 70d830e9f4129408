/**
 * The confused deputy, end to end: `seed-mcp cloud` with the OAuth proxy in front of a real IdP
 * that remembers consent, a victim's browser (scripted, with its cookies) and an attacker who
 * registered a client of their own. Without the victim's answer on seed-mcp's consent page, no
 * code reaches the attacker; with it, the flow completes. Then the page's own defences (browser
 * binding, Origin, framing, escaping), remembered and revoked approvals, and two replicas.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCloud } from '../../src/cloud/start.js';
import { startStub, type Stub } from '../support/http-stub.js';
import { startIdp, type TestIdp } from '../support/idp.js';
import { freePort } from '../support/ports.js';
import { authorization, codeOf, proxyIdpClient, register, startProxyCloud } from '../support/proxy-fixture.js';
import { redisUrlForTests } from '../support/redis.js';
import { CookieJar, followLogin } from '../support/scripted-browser.mjs';
import { signingKeyPem } from '../support/signing-key.js';

const SCOPES = ['checklist.list', 'checklist.read'];
const PROXY_SECRET = randomBytes(16).toString('hex');
let idp: TestIdp;
let server: RunningCloud;
let replica: RunningCloud;
let lenient: RunningCloud;
let baseUrl: string;
let attacker: Stub;
let client: Stub;
const logLines: string[] = [];

const start = (port: number, env: Record<string, string>, base?: string): Promise<RunningCloud> =>
  startProxyCloud({ idp, port, ...(base ? { base } : {}), scopes: SCOPES, clientSecret: PROXY_SECRET, env, logLines });

beforeAll(async () => {
  const [port, replicaPort, lenientPort] = await Promise.all([freePort(), freePort(), freePort()]);
  baseUrl = `http://127.0.0.1:${port}`;
  idp = await startIdp({
    resources: [`${baseUrl}/mcp`, `http://127.0.0.1:${lenientPort}/mcp`],
    extraScopes: SCOPES,
    // A web (confidential) client: oidc-provider then remembers consent, where a native one
    // always asks again. An IdP that remembers is the one the confused deputy needs.
    extraClients: [proxyIdpClient(PROXY_SECRET, [`${baseUrl}/oauth/authorize/callback`, `http://127.0.0.1:${lenientPort}/oauth/authorize/callback`])],
  });
  // Two replicas on one Redis, behind one BASE_URL; and a server whose operator lets loopback
  // redirect URIs skip the page (OAUTH_CONSENT_SKIP_LOOPBACK), to show what the page prevents.
  const shared = { OAUTH_SIGNING_KEYS: signingKeyPem(), REDIS_URL: await redisUrlForTests(), REDIS_KEY_PREFIX: `seed-mcp-consent-${randomBytes(4).toString('hex')}:` };
  server = await start(port, shared);
  replica = await start(replicaPort, shared, baseUrl);
  lenient = await start(lenientPort, { OAUTH_CONSENT_SKIP_LOOPBACK: 'true' });
  const answer = (_req: unknown, res: import('node:http').ServerResponse) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  attacker = await startStub(answer);
  client = await startStub(answer);
});

afterAll(async () => {
  await Promise.all([server?.close(), replica?.close(), lenient?.close()]);
  await Promise.all([attacker?.close(), client?.close()]);
  await idp?.close();
});

/** An authorization link as a client (or an attacker) builds it. */
const authorizeUrl = (on: string, clientId: string, redirectUri: string, scope = SCOPES.join(' ')): string => authorization(on, clientId, redirectUri, { scope }).url;

/** Copies `jar`'s cookies of `from` to the host of `to` (this jar keys cookies by port too; browsers do not). */
function copyCookies(jar: CookieJar, from: string, to: string): void {
  const headers = new Headers();
  for (const pair of (jar.header(new URL(`${from}/oauth/authorize`)) ?? '').split('; ').filter(Boolean)) headers.append('set-cookie', `${pair}; Path=/`);
  jar.store(new URL(`${to}/`), headers);
}

describe('the confused deputy', () => {
  // The victim: one browser (one cookie jar) that signs in once through a client of their own.
  const victim = new CookieJar();

  it("the victim signs in once: asked on seed-mcp's page, then at the IdP", async () => {
    const redirectUri = `${client.url}/callback`;
    const id = await register(baseUrl, redirectUri, 'Victim Desktop');
    const result = await followLogin(authorizeUrl(baseUrl, id, redirectUri), { jar: victim, login: 'victim' });
    expect(codeOf(result.callbackUrl)).toBeTruthy();
  });

  it("an attacker's client gets no code without the victim's answer, although the IdP remembers consent", async () => {
    const redirectUri = `${attacker.url}/steal`;
    const id = await register(baseUrl, redirectUri, 'Totally Legit <img src=x onerror=alert(1)>');
    // The scope without offline_access: the IdP would not ask again.
    const link = authorizeUrl(baseUrl, id, redirectUri, 'openid checklist.list');
    const stopped = await followLogin(link, { jar: victim, consent: 'stop' });
    expect(stopped.consentPage).toBeDefined();
    expect(stopped.consentPage).toContain(new URL(attacker.url).host);
    expect(stopped.consentPage).toContain('checklist.list');
    expect(stopped.consentPage).toContain('Totally Legit &#60;img src=x onerror=alert(1)&#62;');
    expect(stopped.consentPage).not.toContain('<img');
    expect(attacker.requests).toEqual([]);

    // Denying sends the browser back with access_denied and no code.
    const denied = await followLogin(link, { jar: victim, consent: 'deny' });
    expect(new URL(denied.callbackUrl).searchParams.get('error')).toBe('access_denied');
    expect(codeOf(denied.callbackUrl)).toBeNull();

    // Only the victim's own Allow lets it through.
    const allowed = await followLogin(link, { jar: victim, consent: 'approve' });
    expect(codeOf(allowed.callbackUrl)).toBeTruthy();
    expect(attacker.requests.some((r) => r.path === '/steal')).toBe(true);
  });

  it('without the page (OAUTH_CONSENT_SKIP_LOOPBACK), the same link hands the attacker a code at once: what the page prevents', async () => {
    const lenientUrl = lenient.url;
    const redirectUri = `${attacker.url}/lenient`;
    const id = await register(lenientUrl, redirectUri, 'Attacker');
    const jar = new CookieJar();
    // Signed in at the IdP once (as the victim would be).
    const first = await followLogin(authorizeUrl(lenientUrl, id, redirectUri), { jar, login: 'victim' });
    expect(codeOf(first.callbackUrl)).toBeTruthy();
    const log: string[] = [];
    const silent = await followLogin(authorizeUrl(lenientUrl, id, redirectUri, 'openid checklist.list'), { jar, consent: 'stop', log: (l) => log.push(l) });
    expect(silent.consentPage).toBeUndefined();
    expect(codeOf(silent.callbackUrl)).toBeTruthy();
    // Neither seed-mcp nor the IdP showed a page: every step was a redirect.
    expect(log.some((l) => l.includes('/interaction/'))).toBe(false);
  });
});

describe('the consent page', () => {
  it('is bound to the browser that saw it: an answer from another browser, or another site, is refused', async () => {
    const redirectUri = `${attacker.url}/csrf`;
    const id = await register(baseUrl, redirectUri, 'Attacker');
    // The attacker opens the link in their own browser and reads the transaction id off the page.
    const attackerJar = new CookieJar();
    const page = await followLogin(authorizeUrl(baseUrl, id, redirectUri), { jar: attackerJar, consent: 'stop' });
    const transaction = /name="transaction" value="([^"]+)"/.exec(page.consentPage ?? '')?.[1];
    expect(transaction).toBeTruthy();
    const answer = (headers: Record<string, string>) =>
      fetch(`${baseUrl}/oauth/consent`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ transaction: transaction!, decision: 'approve' }),
      });
    // The victim's browser has no cookie of that transaction (a cross-site form post).
    const forged = await answer({ origin: 'https://evil.example' });
    expect(forged.status).toBe(403);
    const noCookie = await answer({});
    expect(noCookie.status).toBe(403);
    // Even with the attacker's own cookie, another origin is refused.
    const cookie = attackerJar.header(new URL(`${baseUrl}/oauth/consent`))!;
    expect((await answer({ cookie, origin: 'https://evil.example' })).status).toBe(403);
    // The real answer, from the page's browser and origin, goes on to the IdP.
    const real = await answer({ cookie, origin: baseUrl });
    expect(real.status).toBe(302);
    expect(real.headers.get('location')).toContain(idp.issuer);
    expect(attacker.requests.filter((r) => r.path === '/csrf')).toEqual([]);
  });

  it('cannot be framed, runs no script, and is never cached', async () => {
    const id = await register(baseUrl, `${client.url}/frame`, 'Frame');
    const res = await fetch(authorizeUrl(baseUrl, id, `${client.url}/frame`), { redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    // Same-origin referrers only: the page's own form must carry its Origin, never `null`.
    expect(res.headers.get('referrer-policy')).toBe('same-origin');
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Lax/);
    expect(await res.text()).not.toMatch(/<script/i);
  });
});

describe('approvals', () => {
  it('are remembered per user and client, seen by every replica, listed and revocable', async () => {
    const jar = new CookieJar();
    const redirectUri = `${client.url}/remember`;
    const id = await register(baseUrl, redirectUri, 'Remembered Client');
    const first = await followLogin(authorizeUrl(baseUrl, id, redirectUri), { jar, login: 'carol' });
    expect(codeOf(first.callbackUrl)).toBeTruthy();
    // Again, through the other replica: no page.
    copyCookies(jar, baseUrl, replica.url);
    const replicaLink = authorizeUrl(baseUrl, id, redirectUri).replace(baseUrl, replica.url);
    const again = await followLogin(replicaLink, { jar, consent: 'stop' });
    expect(again.consentPage).toBeUndefined();
    expect(codeOf(again.callbackUrl)).toBeTruthy();
    // More scopes than approved: asked again.
    const wider = await followLogin(authorizeUrl(baseUrl, id, redirectUri, `${SCOPES.join(' ')} offline_access`), { jar, consent: 'stop' });
    expect(wider.consentPage).toBeDefined();

    // The list, and revoking from it (with its form token, from its own origin).
    const cookie = jar.header(new URL(`${baseUrl}/oauth/consents`))!;
    const list = await (await fetch(`${baseUrl}/oauth/consents`, { headers: { cookie } })).text();
    expect(list).toContain('Remembered Client');
    const csrf = /name="csrf" value="([^"]+)"/.exec(list)?.[1];
    const revoke = (token: string) =>
      fetch(`${replica.url}/oauth/consents`, {
        method: 'POST',
        headers: { cookie, origin: baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: token, client_id: id, decision: 'revoke' }),
      });
    expect((await revoke('forged-token')).status).toBe(403);
    const revoked = await revoke(csrf!);
    expect(revoked.status).toBe(200);
    expect(await revoked.text()).not.toContain('Remembered Client');
    const asked = await followLogin(authorizeUrl(baseUrl, id, redirectUri), { jar, consent: 'stop' });
    expect(asked.consentPage).toBeDefined();
    // Without a session, the list says what to do.
    expect((await fetch(`${baseUrl}/oauth/consents`)).status).toBe(401);
  });

  it('count only for the user who gave them: another account at the IdP is stopped', async () => {
    const jar = new CookieJar();
    const redirectUri = `${client.url}/switch`;
    const id = await register(baseUrl, redirectUri, 'Switch');
    expect(codeOf((await followLogin(authorizeUrl(baseUrl, id, redirectUri), { jar, login: 'dave' })).callbackUrl)).toBeTruthy();
    // The IdP session ends (its cookies gone) while seed-mcp's remain; erin signs in this time.
    const seedOnly = new CookieJar();
    for (const pair of (jar.header(new URL(`${baseUrl}/oauth/authorize`)) ?? '').split('; ').filter(Boolean)) {
      const headers = new Headers({ 'set-cookie': `${pair}; Path=/` });
      seedOnly.store(new URL(`${baseUrl}/`), headers);
    }
    await expect(followLogin(authorizeUrl(baseUrl, id, redirectUri), { jar: seedOnly, login: 'erin', consent: 'stop' })).rejects.toThrow(/403.*someone else/);
  });

  it('never put a token, code or secret in the log', () => {
    const log = logLines.join('\n');
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    expect(log).not.toMatch(/"code":"[A-Za-z0-9_-]{20,}"/);
    expect(log).toContain('oauth_consent_asked');
  });
});
