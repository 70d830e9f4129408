/**
 * The whole CLI as a subprocess against a real oidc-provider: login through a scripted browser
 * given as BROWSER, status, token, expiry → refresh (with rotation and one refresh across
 * processes), logout with revocation, the device flow, discovery from an MCP server URL, and the
 * failures a person can meet, each with its message and exit code.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveDevice } from './support/scripted-browser.mjs';
import { type CliResult, logLines, ROOT, runCli, SCRIPTED_BROWSER, startCli, tempDirs, expireSoon } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { json, startStub, type Stub } from './support/http-stub.js';

let idp: TestIdp;
let mcp: Stub;
/** A protected resource whose 401 carries no resource_metadata: found through the well-known URLs. */
let quiet: Stub;
const cleanups: Array<() => unknown> = [];
/** Every byte any CLI run printed, to check that no secret ever appears. */
const allOutput: string[] = [];
const secrets = new Set<string>();

beforeAll(async () => {
  // A protected resource that answers 401 with RFC 9728 metadata naming the IdP.
  mcp = await startStub((req, res, base) => {
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      json(res, 200, { resource: `${base}/mcp`, authorization_servers: [idp.issuer], scopes_supported: ['openid'], bearer_methods_supported: ['header'] });
    } else {
      json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` });
    }
  });
  quiet = await startStub((req, res, base) => {
    if (req.url === '/.well-known/oauth-protected-resource') {
      json(res, 200, { resource: `${base}/mcp`, authorization_servers: [idp.issuer] });
    } else if (req.url?.startsWith('/.well-known/')) {
      json(res, 404, { error: 'not_found' });
    } else {
      json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer realm="mcp"' });
    }
  });
  idp = await startIdp({ resources: ['https://mcp.example.test/mcp', `${mcp.url}/mcp`, `${quiet.url}/mcp`] });
});

afterAll(async () => {
  for (const c of cleanups) await c();
  await idp?.close();
  await mcp?.close();
  await quiet?.close();
  const printed = allOutput.join('\n');
  for (const s of secrets) expect(printed.includes(s), 'a token or code was printed').toBe(false);
});

function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: dir,
    SEED_MCP_TOKEN_STORE: 'file',
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    ...extra,
  };
}

async function cli(args: string[], e: Record<string, string>, opts: { secretStdout?: boolean } = {}): Promise<CliResult> {
  const r = await runCli(args, e);
  allOutput.push(r.stderr);
  if (!opts.secretStdout) allOutput.push(r.stdout);
  return r;
}

const newDir = tempDirs();

function stored(dir: string, profile = 'default'): Record<string, any> {
  return JSON.parse(readFileSync(join(dir, 'tokens', `${profile}.json`), 'utf8'));
}

function rememberSecrets(dir: string, profile = 'default'): void {
  const t = stored(dir, profile);
  for (const k of ['accessToken', 'refreshToken', 'idToken']) if (t[k]) secrets.add(t[k]);
}

describe('login → status → token → refresh → logout', () => {
  const dir = newDir();
  const base = () => ['--issuer', idp.issuer, '--client-id', idp.clientId];

  it('signs in through the browser and says who, until when, and where', async () => {
    const log = join(dir, 'browser.log');
    const r = await cli(['login', ...base()], env(dir, { SCRIPTED_BROWSER_LOG: log }));
    expect(r.stderr).toContain(`${idp.issuer}/auth?`); // the URL is always printed
    expect(r.stderr).toMatch(/code_challenge_method=S256/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Signed in to http:\/\/127\.0\.0\.1:\d+ as Alice Example <alice@example\.test>, token valid until .+ Tokens stored in file .+default\.json \(mode 0600\)\.\n$/,
    );
    const launches = await logLines(log);
    expect(launches).toHaveLength(1);
    expect(launches[0].callbackStatus).toBe(200);
    rememberSecrets(dir);
    expect(idp.counts.authorizationCode).toBe(1);
  });

  it('reports the signed-in user with status (exit 0) and --json', async () => {
    const r = await cli(['status'], env(dir));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Signed in as Alice Example <alice@example.test>');
    expect(r.stdout).toMatch(/stored: +file .+\(mode 0600\)/);
    expect(r.stdout).toMatch(/identity: from the ID token\n/);
    const j = await cli(['status', '--json'], env(dir));
    const s = JSON.parse(j.stdout);
    expect(s).toMatchObject({
      profile: 'default',
      signedIn: true,
      issuer: idp.issuer,
      subject: 'alice',
      email: 'alice@example.test',
      identitySource: 'id_token',
      accessTokenValid: true,
      canRefresh: true,
      store: { kind: 'file' },
    });
    expect(s.scopes).toContain('openid');
  });

  it('prints only a valid access token with token', async () => {
    const r = await cli(['token'], env(dir), { secretStdout: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const token = r.stdout.trim();
    expect(r.stdout).toBe(token + '\n');
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(idp.keys as never), { issuer: idp.issuer, audience: 'https://mcp.example.test/mcp' });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.sub).toBe('alice');
    expect(idp.counts.refresh).toBe(0);
  });

  it('refreshes a token about to expire and saves the rotated refresh token', async () => {
    const before = stored(dir);
    expireSoon(dir);
    const r = await cli(['token'], env(dir), { secretStdout: true });
    expect(r.code, r.stderr).toBe(0);
    expect(idp.counts.refresh).toBe(1);
    const after = stored(dir);
    rememberSecrets(dir);
    expect(r.stdout.trim()).toBe(after.accessToken);
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.refreshToken).not.toBe(before.refreshToken); // rotated, and the new one saved
    expect(after.expiresAt).toBeGreaterThan(Math.floor(Date.now() / 1000) + 3000);
    // The saved (rotated) refresh token works: a second refresh succeeds.
    expireSoon(dir);
    const again = await cli(['token'], env(dir), { secretStdout: true });
    expect(again.code, again.stderr).toBe(0);
    expect(idp.counts.refresh).toBe(2);
    rememberSecrets(dir);
  });

  it('makes one refresh for concurrent token calls in separate processes', async () => {
    expireSoon(dir);
    const before = idp.counts.refresh;
    const runs = await Promise.all(Array.from({ length: 5 }, () => cli(['token'], env(dir), { secretStdout: true })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(idp.counts.refresh - before).toBe(1);
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1);
    expect(idp.counts.failedRefresh).toBe(0);
    rememberSecrets(dir);
  });

  it('logs out with revocation at the IdP, then is idempotent', async () => {
    const r = await cli(['logout'], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Signed out of profile default; the IdP revoked the session');
    expect(idp.counts.revocations).toBe(1);
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(false);
    const s = await cli(['status'], env(dir));
    expect(s.code).toBe(1);
    expect(s.stdout).toContain('Not signed in');
    expect(s.stdout).toContain('run `seed-mcp login`');
    const again = await cli(['logout'], env(dir));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to do');
    const t = await cli(['token'], env(dir));
    expect(t.code).toBe(1);
    expect(t.stdout).toBe('');
    expect(t.stderr).toContain('is not signed in');
  });
});

describe('profiles, discovery and the device flow', () => {
  it('discovers the IdP from an MCP server URL and asks for a token for that resource', async () => {
    const dir = newDir();
    const r = await cli(['login', `${mcp.url}/mcp`, '--client-id', idp.clientId, '--profile', 'work', '--json'], env(dir));
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    // No --scope: the MCP spec's choice, the resource's scopes_supported (openid) and offline_access, which the server lists.
    expect(result).toMatchObject({ profile: 'work', issuer: idp.issuer, resource: `${mcp.url}/mcp`, subject: 'alice', identitySource: 'id_token', clientSource: 'given' });
    expect([...result.scopes].sort()).toEqual(['offline_access', 'openid']);
    rememberSecrets(dir, 'work');
    const token = stored(dir, 'work').accessToken as string;
    await jwtVerify(token, createLocalJWKSet(idp.keys as never), { audience: `${mcp.url}/mcp` });
    expect(mcp.requests.map((q) => q.path)).toEqual(['/mcp', '/.well-known/oauth-protected-resource/mcp']);
    // The profile remembers its settings: no flags needed afterwards; the default profile is untouched.
    expect((await cli(['status', '--profile', 'work'], env(dir))).code).toBe(0);
    expect((await cli(['status'], env(dir))).code).toBe(1);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(saved.profiles.work).toEqual({ issuer: idp.issuer, clientId: idp.clientId, resource: `${mcp.url}/mcp`, upstream: `${mcp.url}/mcp`, discovered: true });
  });

  it('falls back to the well-known metadata URLs in the spec order when the 401 names none', async () => {
    const dir = newDir();
    const r = await cli(['login', `${quiet.url}/mcp`, '--client-id', idp.clientId, '--json'], env(dir));
    expect(r.code, r.stderr).toBe(0);
    // No --profile and no issuer given: the profile is named after the server's host and port.
    const profile = new URL(quiet.url).host.replace(':', '-');
    expect(JSON.parse(r.stdout)).toMatchObject({ profile, issuer: idp.issuer, resource: `${quiet.url}/mcp` });
    expect(quiet.requests.map((q) => q.path)).toEqual(['/mcp', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']);
    rememberSecrets(dir, profile);
    expect((await cli(['status', '--profile', profile], env(dir))).code).toBe(0);
  });

  it('signs in with the device flow, showing the code and URL', async () => {
    const dir = newDir();
    const running = startCli(['login', '--device', '--issuer', idp.issuer, '--client-id', idp.clientId, '--profile', 'ssh'], env(dir, { BROWSER: 'false' }));
    const m = await running.waitForStderr(/open (\S+) and enter the code (\S+)\n {2}\(or open (\S+)\)/);
    expect(m[2]).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    const approved = await approveDevice(m[3]!, { login: 'bob' });
    expect(approved.outcome).toBe('approved');
    const r = await running.done;
    allOutput.push(r.stdout, r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('as Bob Example <bob@example.test> (profile ssh)');
    expect(idp.counts.deviceCode).toBeGreaterThanOrEqual(1);
    rememberSecrets(dir, 'ssh');
  });
});

describe('failures say what to do next, with the contract exit codes', () => {
  const base = () => ['--issuer', idp.issuer, '--client-id', idp.clientId];

  it('the user denies consent → exit 1, access denied', async () => {
    const dir = newDir();
    const r = await cli(['login', ...base()], env(dir, { SCRIPTED_BROWSER_ACTION: 'deny' }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('✖ could not sign in: access was denied at the identity provider');
    expect(r.stderr).toContain('→ run `seed-mcp login --profile default` again and approve the request');
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(false);
  });

  it('a forged state on the callback → exit 1, state mismatch, nothing stored', async () => {
    const dir = newDir();
    const log = join(dir, 'rogue.log');
    const r = await cli(['login', ...base()], env(dir, { BROWSER: `${process.execPath} ${ROOT}/test/support/rogue-browser.mjs`, ROGUE_MODE: 'forged-state', ROGUE_LOG: log }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not sign in: the callback carried a state that does not match this sign-in');
    const [entry] = await logLines(log);
    expect(entry.first.status).toBe(400);
    expect(entry.first.body).toContain('state mismatch');
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(false);
  });

  it('a second callback is refused; the first sign-in stands', async () => {
    const dir = newDir();
    const log = join(dir, 'rogue.log');
    const r = await cli(['login', ...base()], env(dir, { BROWSER: `${process.execPath} ${ROOT}/test/support/rogue-browser.mjs`, ROGUE_MODE: 'twice', ROGUE_LOG: log }));
    expect(r.code, r.stderr).toBe(0);
    rememberSecrets(dir);
    const [entry] = await logLines(log);
    expect(entry.first.status).toBe(200);
    // Never a second success: an "already completed" page while the listener closes, or no listener.
    if (entry.second.status !== undefined) {
      expect(entry.second.status, JSON.stringify(entry)).toBe(400);
      expect(entry.second.body).toContain('already');
    } else {
      expect(entry.second.error, JSON.stringify(entry)).toMatch(/ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET|other side closed/);
    }
  });

  it('no browser answer → exit 1 after the timeout, with what to do', async () => {
    const dir = newDir();
    const r = await cli(['login', ...base(), '--no-browser', '--timeout', '1'], env(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Open this URL in a browser to sign in:');
    expect(r.stderr).toContain('could not sign in: no answer from the browser within 1 s');
    expect(r.stderr).toMatch(/→ .*--device/);
  });

  it('a wrong client id → exit 1 before any browser opens', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const r = await cli(['login', '--issuer', idp.issuer, '--client-id', 'no-such-client'], env(dir, { SCRIPTED_BROWSER_LOG: log }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not sign in: the identity provider does not know client id "no-such-client"');
    expect(r.stderr).toContain('→ check --client-id');
    expect(existsSync(log)).toBe(false);
  });

  it('a dead IdP → exit 3', async () => {
    const dir = newDir();
    const dead = await startStub(() => {});
    const url = dead.url;
    await dead.close();
    const r = await cli(['login', '--issuer', url, '--client-id', 'x'], env(dir));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`could not reach ${url}: connection refused (ECONNREFUSED)`);
    expect(r.stderr).toContain(`→ check that ${url} is the identity provider you meant and that it is running, then the network`);
  });

  it('an issuer whose metadata names another issuer → exit 1, refused', async () => {
    const dir = newDir();
    const evil = await startStub(async (req, res) => {
      const real = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
      json(res, 200, real); // names idp.issuer, not this server
    });
    cleanups.push(evil.close);
    const r = await cli(['login', '--issuer', evil.url, '--client-id', idp.clientId], env(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`could not use issuer ${evil.url}: its metadata names another issuer`);
  });

  it('an IdP that does not advertise S256 → exit 1, refused', async () => {
    const dir = newDir();
    const plain = await startStub(async (req, res, base) => {
      const real = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      json(res, 200, { ...real, issuer: base, code_challenge_methods_supported: ['plain'] });
    });
    cleanups.push(plain.close);
    const r = await cli(['login', '--issuer', plain.url, '--client-id', idp.clientId], env(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not advertise PKCE S256');
    expect(plain.requests.map((q) => q.path)).toEqual(['/.well-known/oauth-authorization-server']);
  });

  it('invalid_grant on refresh clears the profile and says to log in again', async () => {
    const dir = newDir();
    expect((await cli(['login', ...base()], env(dir))).code).toBe(0);
    rememberSecrets(dir);
    // Revoke the grant behind the CLI's back, as an admin would.
    const t = stored(dir);
    const rev = await fetch(`${idp.issuer}/token/revocation`, { method: 'POST', body: new URLSearchParams({ token: t.refreshToken, client_id: idp.clientId }) });
    expect(rev.status).toBe(200);
    expireSoon(dir);
    const r = await cli(['token'], env(dir));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid_grant');
    expect(r.stderr).toContain('the stored tokens of profile "default" were cleared');
    expect(r.stderr).toContain('→ sign in again: `seed-mcp login --profile default`');
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(false);
  });

  it('no issuer → exit 2 with the flag to pass; bad flags → exit 2', async () => {
    const dir = newDir();
    const r = await cli(['login', '--client-id', 'x'], env(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('→ pass an MCP server URL');
    expect(r.stderr).toContain('--issuer https://idp.example.com');
    const bad = await cli(['login', '--issuer', 'not a url', '--port', '99999'], env(dir));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('issuer must be a URL');
    expect(bad.stderr).toContain('--port must be between 0 and 65535');
    const unknown = await cli(['login', '--frobnicate'], env(dir));
    expect(unknown.code).toBe(2);
  });
});
