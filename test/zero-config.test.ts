/**
 * `seed-mcp serve --upstream URL` and nothing else (issue #12, items 1 and 3): the MCP server's
 * 401 names its authorization server, seed-mcp registers itself there (RFC 7591) and keeps the
 * registration per authorization server, signs in once in the browser, and serves the upstream's
 * tools; a second run reuses the registration and the tokens without a browser. Against the real
 * oidc-provider with open registration (no client pre-registered for seed-mcp), and through
 * seed-mcp cloud's own OAuth proxy. The SDK's MCP client spawns `serve` as Claude Desktop does.
 */
import type { Client } from '@modelcontextprotocol/client';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, runCli, SCRIPTED_BROWSER, tempDir } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { connectServe, textOf } from './support/mcp-clients.js';
import { startProxiedCloud, type ProxiedCloud } from './support/oauth-proxy.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

let idp: TestIdp;
let upstream: TestUpstream;
let proxied: ProxiedCloud;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  upstream = await startUpstream({ era: 'modern', requiredScopes: { admin_op: 'mcp:admin' } });
  idp = await startIdp({ resources: [upstream.url], extraScopes: ['mcp:admin'], registration: true });
  upstream.trust(idp);
  // The cloud serves the example checklists: tools of its own that the bridge must pass on.
  proxied = await startProxiedCloud({ env: { CHECKLIST_DIR: join(import.meta.dirname, '..', 'examples', 'documents', 'checklists') } });
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([upstream?.close(), idp?.close(), proxied?.close()]);
});

/** Only what a desktop app's entry carries: no issuer, no client id, no profile. */
function env(dir: string): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: dir,
    SEED_MCP_TOKEN_STORE: 'file',
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    SCRIPTED_BROWSER_LOG: join(dir, 'browser.log'),
  };
}

const launches = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);
const hostProfile = (url: string) => new URL(url).host.replace(':', '-');

async function serve(url: string, dir: string) {
  const c = await connectServe('modern', ['serve', '--upstream', url], env(dir));
  cleanups.push(() => c.close());
  return { client: c.client as Client, stderr: c.stderr, close: () => c.close() };
}

describe('serve --upstream URL with nothing else', () => {
  it('registers at the authorization server, signs in once, serves the tools; the second run needs no browser', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const log = join(t.dir, 'browser.log');
    const profile = hostProfile(upstream.url);

    const first = await serve(upstream.url, t.dir);
    // The first call waits for the sign-in it started, then answers with the upstream's tools.
    const { tools } = await first.client.listTools();
    expect(tools.map((x) => x.name)).toEqual(expect.arrayContaining(['echo', 'admin_op', 'whoami']));
    expect(textOf(await first.client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('echo: hi');
    expect(launches(log)).toBe(1);
    const [launch] = await logLines(log, 1);
    const authorize = new URL(launch.url);
    // No scope configured and none in the challenge: the resource's scopes_supported, plus offline_access (listed by the server).
    expect(authorize.searchParams.get('scope')!.split(' ').sort()).toEqual(['mcp:admin', 'offline_access']);
    expect(authorize.searchParams.get('resource')).toBe(upstream.url);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');

    // The registration is kept per authorization server, with the loopback redirect it was registered with.
    const registrations = JSON.parse(readFileSync(join(t.dir, 'registrations.json'), 'utf8'));
    const reg = registrations.servers[idp.issuer];
    expect(reg.clientId).toBe(authorize.searchParams.get('client_id'));
    expect(reg.redirectUris).toEqual([authorize.searchParams.get('redirect_uri')]);
    expect(reg.tokenEndpointAuthMethod).toBe('none');
    // The profile is named after the upstream's host and remembers where to sign in.
    const config = JSON.parse(readFileSync(join(t.dir, 'config.json'), 'utf8'));
    expect(config.profiles[profile]).toMatchObject({ issuer: idp.issuer, resource: upstream.url, upstream: upstream.url, discovered: true });
    expect(config.profiles[profile].clientId).toBeUndefined();
    await first.close();

    // status, token and logout work on that profile.
    const status = await runCli(['status', '--profile', profile, '--json'], env(t.dir));
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ profile, issuer: idp.issuer, signedIn: true });
    const token = await runCli(['token', '--profile', profile], env(t.dir));
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim()).toMatch(/^eyJ/);

    // Second run: same registration, stored tokens, no browser.
    const second = await serve(upstream.url, t.dir);
    expect(textOf(await second.client.callTool({ name: 'echo', arguments: { text: 'again' } }))).toBe('echo: again');
    expect(launches(log)).toBe(1);
    expect(JSON.parse(readFileSync(join(t.dir, 'registrations.json'), 'utf8')).servers[idp.issuer].clientId).toBe(reg.clientId);
    await second.close();

    // Tokens expire: the refresh authenticates as the registered client, still without a browser.
    const tokensFile = join(t.dir, 'tokens', `${profile}.json`);
    const stored = JSON.parse(readFileSync(tokensFile, 'utf8'));
    expect(stored.refreshToken).toBeTruthy();
    const before = idp.counts.refresh;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(tokensFile, JSON.stringify({ ...stored, expiresAt: Math.floor(Date.now() / 1000) + 10, obtainedAt: Math.floor(Date.now() / 1000) + 10 - 3600 }), { mode: 0o600 });
    const third = await serve(upstream.url, t.dir);
    expect(textOf(await third.client.callTool({ name: 'echo', arguments: { text: 'refreshed' } }))).toBe('echo: refreshed');
    expect(idp.counts.refresh - before).toBe(1);
    expect(launches(log)).toBe(1);

    const logout = await runCli(['logout', '--profile', profile], env(t.dir));
    expect(logout.code, logout.stderr).toBe(0);
    for (const out of [first.stderr(), second.stderr(), third.stderr(), status.stdout, status.stderr]) {
      for (const secret of [stored.accessToken, stored.refreshToken]) expect(out.includes(secret)).toBe(false);
    }
  });

  it('through seed-mcp cloud’s OAuth proxy: registers there, one browser sign-in (IdP and consent), then none', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const log = join(t.dir, 'browser.log');
    const first = await serve(proxied.mcpUrl, t.dir);
    const { tools } = await first.client.listTools();
    expect(
      tools.map((x) => x.name),
      first.stderr(),
    ).toEqual(expect.arrayContaining(['whoami', 'list_checklists']));
    // The cloud's own tool answers, through the bridge, with the token the proxy issued.
    const listed = await first.client.callTool({ name: 'list_checklists', arguments: {} });
    expect(listed.isError, textOf(listed)).toBeFalsy();
    expect(textOf(listed)).toContain('onboarding');
    expect(launches(log)).toBe(1);
    const [launch] = await logLines(log, 1);
    expect(launch.consented).toBe(true);
    expect(new URL(launch.url).origin).toBe(new URL(proxied.baseUrl).origin);
    const reg = JSON.parse(readFileSync(join(t.dir, 'registrations.json'), 'utf8')).servers[proxied.baseUrl];
    expect(reg.clientId).toBeTruthy();
    await first.close();

    const second = await serve(proxied.mcpUrl, t.dir);
    expect((await second.client.listTools()).tools.length).toBe(tools.length);
    expect(launches(log)).toBe(1);
  });

  it('login URL shares it: registers on the first sign-in, reuses the registration on the next', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const first = await runCli(['login', upstream.url, '--json'], env(t.dir));
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout);
    expect(r1).toMatchObject({ profile: hostProfile(upstream.url), issuer: idp.issuer, clientSource: 'registered', resource: upstream.url });
    const second = await runCli(['login', upstream.url, '--json'], env(t.dir));
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ clientSource: 'registration-reused' });
    const servers = JSON.parse(readFileSync(join(t.dir, 'registrations.json'), 'utf8')).servers;
    expect(Object.keys(servers)).toEqual([idp.issuer]);
    expect(launches(join(t.dir, 'browser.log'))).toBe(2);

    // The server forgot the registration (restarted, expired): the next sign-in finds out before
    // the browser opens, registers again, and goes on.
    const file = join(t.dir, 'registrations.json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    saved.servers[idp.issuer].clientId = 'forgotten-by-the-server';
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, JSON.stringify(saved), { mode: 0o600 });
    const third = await runCli(['login', upstream.url, '--json'], env(t.dir));
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout)).toMatchObject({ clientSource: 'registered' });
    expect(third.stderr).toContain('no longer knows seed-mcp');
    expect(JSON.parse(readFileSync(file, 'utf8')).servers[idp.issuer].clientId).not.toBe('forgotten-by-the-server');
    expect(launches(join(t.dir, 'browser.log'))).toBe(3);
  });

  it('login URL --device with no client id says what to do instead (exit 2), before any request for a code', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const r = await runCli(['login', upstream.url, '--device'], env(t.dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('needs a client id registered for the device flow');
    expect(r.stderr).toContain('sign in without --device');
    expect(existsSync(join(t.dir, 'registrations.json'))).toBe(false);
  });

  it('an authorization server with neither registration nor a client id: one clear error naming what to register', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const closed = await startUpstream({ era: 'modern' });
    cleanups.push(() => closed.close());
    const noReg = await startIdp({ resources: [closed.url] });
    cleanups.push(() => noReg.close());
    closed.trust(noReg);
    const c = await serve(closed.url, t.dir);
    const r = await c.client.callTool({ name: 'whoami', arguments: {} });
    expect(r.isError).toBe(true);
    // The answer says why and what to register where, not that a browser opened.
    const text = textOf(r);
    expect(text).toContain(`could not sign in at ${noReg.issuer}: it offers no dynamic client registration`);
    expect(text).toContain(`register a public client for seed-mcp at ${noReg.issuer}`);
    expect(text).toContain('--client-id');
    expect(text).not.toMatch(/browser window|in progress/i);
    expect(launches(join(t.dir, 'browser.log'))).toBe(0);
  });
});
