/**
 * Sign-in against a plain OAuth 2.1 authorization server (issue #12, item 5): only RFC 8414
 * metadata (OpenID Connect discovery answers 404), a scope without `openid`, so no ID token and
 * no nonce. The CLI runs as a subprocess with the scripted browser against a real oidc-provider
 * posing as such a server, once with JWT access tokens (identity from their claims) and once with
 * opaque ones (identity unknown); `token` then refreshes against it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, SCRIPTED_BROWSER, tempDirs, expireSoon } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { identitySourceOf } from '../src/local/tokens.js';
import type { StoredTokens } from '../src/local/token-store/types.js';

const RESOURCE = 'https://mcp.example.test/mcp';
const SCOPE = 'mcp:tools';

let jwtAs: TestIdp;
let opaqueAs: TestIdp;
const allOutput: string[] = [];
const secrets = new Set<string>();
const newDir = tempDirs();

beforeAll(async () => {
  const common = { plainOAuth: true, resources: [RESOURCE], extraScopes: [SCOPE], refreshTokens: 'always' as const };
  jwtAs = await startIdp(common);
  opaqueAs = await startIdp({ ...common, accessTokenFormat: 'opaque' });
});

afterAll(async () => {
  await jwtAs?.close();
  await opaqueAs?.close();
  const printed = allOutput.join('\n');
  for (const s of secrets) expect(printed.includes(s), 'a token was printed').toBe(false);
});

function env(dir: string): Record<string, string> {
  return { SEED_MCP_CONFIG_DIR: dir, SEED_MCP_TOKEN_STORE: 'file', BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}` };
}

async function cli(args: string[], e: Record<string, string>, opts: { secretStdout?: boolean } = {}): Promise<CliResult> {
  const r = await runCli(args, e);
  allOutput.push(r.stderr);
  if (!opts.secretStdout) allOutput.push(r.stdout);
  return r;
}

function stored(dir: string): Record<string, any> {
  return JSON.parse(readFileSync(join(dir, 'tokens', 'default.json'), 'utf8'));
}

function rememberSecrets(dir: string): void {
  const t = stored(dir);
  for (const k of ['accessToken', 'refreshToken', 'idToken']) if (t[k]) secrets.add(t[k]);
}

const login = (as: TestIdp, dir: string) => cli(['login', '--issuer', as.issuer, '--client-id', as.clientId, '--scope', SCOPE, '--resource', RESOURCE], env(dir));

describe('plain OAuth 2.1 server with JWT access tokens', () => {
  const dir = newDir();

  it('signs in through RFC 8414 metadata, with no openid scope, nonce or ID token', async () => {
    const r = await login(jwtAs, dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/[?&]nonce=/);
    expect(r.stderr).not.toMatch(/[?&]scope=[^&]*openid/);
    expect(r.stdout).toMatch(/^Signed in to http:\/\/127\.0\.0\.1:\d+ as alice, token valid until /);
    // RFC 8414 metadata is tried first for an issuer without a path (the MCP spec's order) and answered.
    const discovery = jwtAs.requestLog.filter((e) => e.path.startsWith('/.well-known/'));
    expect(discovery).toEqual([{ method: 'GET', path: '/.well-known/oauth-authorization-server', status: 200 }]);
    expect(jwtAs.counts.authorizationCode).toBe(1);
    const t = stored(dir);
    rememberSecrets(dir);
    expect(t.idToken).toBeUndefined();
    expect(t.refreshToken).toEqual(expect.any(String));
    expect(t).toMatchObject({ identitySource: 'access_token', subject: 'alice', scope: SCOPE, resource: RESOURCE });
  });

  it('status says the identity comes from the access token', async () => {
    const j = await cli(['status', '--json'], env(dir));
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ signedIn: true, issuer: jwtAs.issuer, subject: 'alice', identitySource: 'access_token', scopes: [SCOPE] });
    const r = await cli(['status'], env(dir));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Signed in as alice');
    expect(r.stdout).toMatch(/identity: from the access token's claims\n/);
  });

  it('refreshes without an ID token and keeps the identity', async () => {
    const before = stored(dir);
    expireSoon(dir);
    const r = await cli(['token'], env(dir), { secretStdout: true });
    expect(r.code, r.stderr).toBe(0);
    expect(jwtAs.counts.refresh).toBe(1);
    expect(jwtAs.counts.failedRefresh).toBe(0);
    const after = stored(dir);
    rememberSecrets(dir);
    expect(r.stdout.trim()).toBe(after.accessToken);
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.idToken).toBeUndefined();
    expect(after).toMatchObject({ identitySource: 'access_token', subject: 'alice' });
    const { payload } = await jwtVerify(after.accessToken, createLocalJWKSet(jwtAs.keys as never), { issuer: jwtAs.issuer, audience: RESOURCE });
    expect(payload.sub).toBe('alice');
    // The refreshed token is used as is by the next call.
    const again = await cli(['token'], env(dir), { secretStdout: true });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(after.accessToken);
    expect(jwtAs.counts.refresh).toBe(1);
  });
});

describe('plain OAuth 2.1 server with opaque access tokens', () => {
  const dir = newDir();

  it('signs in; the identity is unknown', async () => {
    const r = await login(opaqueAs, dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Signed in to http:\/\/127\.0\.0\.1:\d+ as unknown user, /);
    const t = stored(dir);
    rememberSecrets(dir);
    expect(t.accessToken.split('.')).toHaveLength(1); // opaque, not a JWT
    expect(t.idToken).toBeUndefined();
    expect(t.subject).toBeUndefined();
    expect(t.identitySource).toBe('unknown');
  });

  it('status says the identity is unknown and why', async () => {
    const j = await cli(['status', '--json'], env(dir));
    expect(j.code, j.stderr).toBe(0);
    const s = JSON.parse(j.stdout);
    expect(s).toMatchObject({ signedIn: true, identitySource: 'unknown' });
    expect(s.subject).toBeUndefined();
    const r = await cli(['status'], env(dir));
    expect(r.stdout).toContain('identity: unknown: the authorization server sent no ID token and an opaque access token');
  });

  it('refreshes', async () => {
    const before = stored(dir);
    expireSoon(dir);
    const r = await cli(['token'], env(dir), { secretStdout: true });
    expect(r.code, r.stderr).toBe(0);
    expect(opaqueAs.counts.refresh).toBe(1);
    const after = stored(dir);
    rememberSecrets(dir);
    expect(r.stdout.trim()).toBe(after.accessToken);
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(after.identitySource).toBe('unknown');
  });
});

describe('identitySourceOf', () => {
  const base: StoredTokens = { version: 1, issuer: 'https://idp.test', clientId: 'c', accessToken: 'a', tokenType: 'bearer', scope: 'openid', obtainedAt: 0 };

  it('reads the recorded source, and infers it for sets stored before it was recorded', () => {
    expect(identitySourceOf({ ...base, identitySource: 'unknown', idToken: 'x.y.z' })).toBe('unknown');
    expect(identitySourceOf({ ...base, idToken: 'x.y.z', subject: 'alice' })).toBe('id_token');
    expect(identitySourceOf({ ...base, subject: 'alice' })).toBe('access_token');
    expect(identitySourceOf(base)).toBe('unknown');
  });
});
