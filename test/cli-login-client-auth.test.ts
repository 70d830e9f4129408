/**
 * Token endpoint authentication (`none`, `client_secret_basic`, `client_secret_post`,
 * `private_key_jwt` with EC and RSA keys) and `--auth-param`, through the CLI against the real
 * test IdP: login, refresh, logout with revocation, the client credentials grant; the method the
 * IdP saw is read from its own request log, and the key, secret and assertions never show.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientCredentialsSource } from '../src/local/client-credentials.js';
import { chooseAuthMethod, readClientKey } from '../src/local/oidc/client-auth.js';
import { resolveAuthParams, resolveLocalSettings } from '../src/local/settings.js';
import { type CliResult, logLines, runCli, SCRIPTED_BROWSER, tempDirs, expireSoon } from './support/cli.js';
import { json, startStub, type Stub } from './support/http-stub.js';
import { startIdp, type IdpClientMetadata, type TestIdp } from './support/idp.js';
import { connectServe, textOf } from './support/mcp-clients.js';

const newDir = tempDirs();
const keysDir = newDir();
const POST_SECRET = 'post-secret-0123456789abcdef0123456789abcdef';

function keyPair(kind: 'ec' | 'rsa'): { privateKey: KeyObject; publicKey: KeyObject } {
  return kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
}
const ec = keyPair('ec');
const rsa = keyPair('rsa');
// SEC1 and PKCS#1 PEMs (what `openssl ecparam -genkey` / `genrsa` write), not only PKCS#8.
const ecPem = ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString();
const rsaPem = rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
const ecFile = join(keysDir, 'ec.pem');
const rsaFile = join(keysDir, 'rsa.pem');
const secretFile = join(keysDir, 'secret.txt');
writeFileSync(ecFile, ecPem, { mode: 0o600 });
writeFileSync(rsaFile, rsaPem, { mode: 0o600 });
writeFileSync(secretFile, `${POST_SECRET}\n`, { mode: 0o600 });
/** Lines of key material: none may ever be printed or saved. */
const keyLines = [ecPem, rsaPem].flatMap((pem) => pem.split('\n').filter((l) => l.length > 40));

const loopback = { application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'], response_types: ['code'] };
const grants = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
const jwks = (k: KeyObject) => ({ keys: [k.export({ format: 'jwk' })] });
const extraClients: IdpClientMetadata[] = [
  { client_id: 'key-ec-cli', ...loopback, grant_types: grants, token_endpoint_auth_method: 'private_key_jwt', jwks: jwks(ec.publicKey) },
  { client_id: 'key-rsa-cli', ...loopback, grant_types: grants, token_endpoint_auth_method: 'private_key_jwt', jwks: jwks(rsa.publicKey) },
  { client_id: 'post-cli', ...loopback, grant_types: grants, token_endpoint_auth_method: 'client_secret_post', client_secret: POST_SECRET },
  { client_id: 'basic-cli', ...loopback, grant_types: grants, token_endpoint_auth_method: 'client_secret_basic', client_secret: POST_SECRET },
  {
    client_id: 'key-service',
    redirect_uris: [],
    response_types: [],
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: jwks(ec.publicKey),
  },
];

let idp: TestIdp;
/** Lists only client_secret_post among the secret methods, and no private_key_jwt. */
let postOnly: TestIdp;
/** An MCP server whose RFC 9728 metadata names `idp`. */
let mcp: Stub;
const allOutput: string[] = [];

beforeAll(async () => {
  mcp = await startStub((req, res, base) => {
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      json(res, 200, { resource: `${base}/mcp`, authorization_servers: [idp.issuer] });
    } else {
      json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` });
    }
  });
  idp = await startIdp({ extraClients, resources: ['https://mcp.example.test/mcp', `${mcp.url}/mcp`] });
  postOnly = await startIdp({
    clientAuthMethods: ['none', 'client_secret_post'],
    extraClients: [{ client_id: 'post-cli', ...loopback, grant_types: grants, token_endpoint_auth_method: 'client_secret_post', client_secret: POST_SECRET }],
  });
});

afterAll(async () => {
  await idp?.close();
  await postOnly?.close();
  await mcp?.close();
  const printed = allOutput.join('\n');
  expect(printed).not.toContain('PRIVATE KEY');
  expect(printed).not.toContain(POST_SECRET);
  for (const line of keyLines) expect(printed).not.toContain(line);
  expect(printed).not.toMatch(/client_assertion/);
});

function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { SEED_MCP_CONFIG_DIR: dir, SEED_MCP_TOKEN_STORE: 'file', BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`, LOG_LEVEL: 'debug', ...extra };
}

async function cli(args: string[], e: Record<string, string>): Promise<CliResult> {
  const r = await runCli(args, e);
  allOutput.push(r.stderr, r.stdout);
  return r;
}

function savedProfile(dir: string, profile = 'default'): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).profiles[profile];
}

const lastAuth = (server: TestIdp, endpoint: 'token' | 'revocation') => server.clientAuthLog.filter((r) => r.endpoint === endpoint).at(-1);

describe.each([
  { name: 'private_key_jwt with an EC P-256 key', clientId: 'key-ec-cli', flag: ['--client-key-file', ecFile], method: 'private_key_jwt', alg: 'ES256' },
  { name: 'private_key_jwt with an RSA key', clientId: 'key-rsa-cli', flag: ['--client-key-file', rsaFile], method: 'private_key_jwt', alg: 'RS256' },
  { name: 'client_secret_post (a secret, by default)', clientId: 'basic-cli', flag: ['--client-secret-file', secretFile], method: 'client_secret_post', alg: undefined },
  { name: 'none (a public client, PKCE)', clientId: 'seed-cli', flag: [], method: 'none', alg: undefined },
])('$name', ({ clientId, flag, method, alg }) => {
  const dir = newDir();

  it('signs in, authenticating the code exchange with it', async () => {
    const r = await cli(['login', '--issuer', idp.issuer, '--client-id', clientId, ...flag], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(lastAuth(idp, 'token')).toMatchObject({ clientId, method, status: 200, ...(alg ? { alg } : {}) });
    const saved = savedProfile(dir);
    if (flag[0] === '--client-key-file') expect(saved.clientKeyFile).toBe(flag[1]);
    if (flag[0] === '--client-secret-file') expect(saved.clientSecretFile).toBe(flag[1]);
    const config = readFileSync(join(dir, 'config.json'), 'utf8');
    for (const line of keyLines) expect(config).not.toContain(line);
  });

  it('refreshes with it, from the saved profile (no flag)', async () => {
    expireSoon(dir);
    const before = idp.counts.refresh;
    const r = await cli(['token'], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(idp.counts.refresh - before).toBe(1);
    expect(lastAuth(idp, 'token')).toMatchObject({ clientId, method, status: 200, ...(alg ? { alg } : {}) });
  });

  it('revokes with it on logout', async () => {
    const before = idp.counts.revocations;
    const r = await cli(['logout'], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('the IdP revoked the session');
    expect(idp.counts.revocations - before).toBe(1);
    expect(lastAuth(idp, 'revocation')).toMatchObject({ clientId, method, status: 200 });
  });
});

describe('client secrets', () => {
  it('sends client_secret_post when the server lists both (what seed-mcp always sent)', async () => {
    const dir = newDir();
    const r = await cli(['login', '--issuer', idp.issuer, '--client-id', 'post-cli', '--client-secret-file', secretFile], env(dir));
    // oidc-provider accepts either secret method; what matters is which one was sent.
    expect(lastAuth(idp, 'token')).toMatchObject({ clientId: 'post-cli', method: 'client_secret_post' });
    expect(r.code, r.stderr).toBe(0);
  });

  it('uses client_secret_post for login, refresh and logout when the server lists only post', async () => {
    const dir = newDir();
    const r = await cli(['login', '--issuer', postOnly.issuer, '--client-id', 'post-cli', '--client-secret-file', secretFile], env(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(lastAuth(postOnly, 'token')).toMatchObject({ clientId: 'post-cli', method: 'client_secret_post', status: 200 });
    expect(savedProfile(dir).clientSecretFile).toBe(secretFile);
    expireSoon(dir);
    const t = await cli(['token'], env(dir));
    expect(t.code, t.stderr).toBe(0);
    expect(postOnly.counts.refresh).toBe(1);
    expect(lastAuth(postOnly, 'token')).toMatchObject({ method: 'client_secret_post', status: 200 });
    const out = await cli(['logout'], env(dir));
    expect(out.code, out.stderr).toBe(0);
    expect(postOnly.counts.revocations).toBe(1);
    expect(lastAuth(postOnly, 'revocation')).toMatchObject({ method: 'client_secret_post', status: 200 });
  });

  it('refuses a key file when the server does not list private_key_jwt, before any browser', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const r = await cli(['login', '--issuer', postOnly.issuer, '--client-id', 'post-cli', '--client-key-file', ecFile], env(dir, { SCRIPTED_BROWSER_LOG: log }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('does not accept private_key_jwt (it lists none, client_secret_post)');
    expect(r.stderr).toContain('--client-secret-file');
  });

  it('refuses an unusable key file with the reason, never its content', async () => {
    const dir = newDir();
    const bad = join(dir, 'p384.pem');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    writeFileSync(bad, p384);
    const r = await cli(['login', '--issuer', idp.issuer, '--client-id', 'key-ec-cli', '--client-key-file', bad], env(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('holds an EC key on secp384r1; use an EC P-256 key (ES256) or an RSA key (RS256)');
    expect(r.stderr).not.toContain(p384.split('\n')[1]);
    const missing = await cli(['login', '--issuer', idp.issuer, '--client-id', 'key-ec-cli'], env(dir, { SEED_MCP_CLIENT_KEY_FILE: join(dir, 'nope.pem') }));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.pem cannot be read: ENOENT');
  });
});

describe('the client credentials grant with a private key', () => {
  it('serve --grant client_credentials --client-key-file mints a service token (ES256 assertion)', async () => {
    const dir = newDir();
    const c = await connectServe('modern', ['serve', '--grant', 'client_credentials', '--client-key-file', ecFile], {
      ...env(dir),
      SEED_MCP_ISSUER: idp.issuer,
      SEED_MCP_CLIENT_ID: 'key-service',
    });
    try {
      const before = idp.counts.clientCredentials;
      const r = await c.client.callTool({ name: 'whoami', arguments: {} });
      expect(r.isError, textOf(r)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ subject: 'key-service', clientId: 'key-service', issuer: idp.issuer });
      expect(idp.counts.clientCredentials - before).toBe(1);
      expect(lastAuth(idp, 'token')).toMatchObject({ clientId: 'key-service', method: 'private_key_jwt', alg: 'ES256', status: 200 });
    } finally {
      allOutput.push(c.stderr());
      await c.close();
    }
  });

  it('finds the authorization server from the upstream MCP server when no issuer is set', async () => {
    const dir = newDir();
    const settings = resolveLocalSettings({ clientKeyFile: ecFile, clientId: 'key-service', upstream: `${mcp.url}/mcp` }, { SEED_MCP_CONFIG_DIR: dir }, {});
    const source = createClientCredentialsSource(settings);
    const tokens = await source.get();
    expect(tokens.issuer).toBe(idp.issuer);
    expect(tokens.resource).toBe(`${mcp.url}/mcp`);
    expect(tokens.subject).toBe('key-service');
    expect(lastAuth(idp, 'token')).toMatchObject({ clientId: 'key-service', method: 'private_key_jwt', status: 200 });
  });

  it('with a secret the server lists only post for, posts it', async () => {
    const settings = resolveLocalSettings({ clientSecretFile: secretFile, clientId: 'post-cli', issuer: postOnly.issuer, scope: 'openid' }, {}, {});
    // post-cli may not use client_credentials: the IdP refuses the grant, but after authenticating it.
    await expect(createClientCredentialsSource(settings).get()).rejects.toThrow(/unauthorized_client|grant/);
    expect(lastAuth(postOnly, 'token')).toMatchObject({ clientId: 'post-cli', method: 'client_secret_post' });
  });
});

describe('--auth-param', () => {
  const dir = newDir();
  const log = join(dir, 'browser.log');

  it('reaches the authorization URL and is saved in the profile', async () => {
    const r = await cli(
      ['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--auth-param', 'audience=https://api.example.test', '--auth-param', 'organization=org_1'],
      env(dir, { SCRIPTED_BROWSER_LOG: log }),
    );
    expect(r.code, r.stderr).toBe(0);
    const [launch] = await logLines(log);
    const url = new URL(launch.url);
    expect(url.searchParams.get('audience')).toBe('https://api.example.test');
    expect(url.searchParams.get('organization')).toBe('org_1');
    expect(url.searchParams.get('client_id')).toBe(idp.clientId);
    expect(savedProfile(dir).authParams).toEqual({ audience: 'https://api.example.test', organization: 'org_1' });
  });

  it('is reused by a later login without the flag', async () => {
    const r = await cli(['login'], env(dir, { SCRIPTED_BROWSER_LOG: log }));
    expect(r.code, r.stderr).toBe(0);
    const launches = await logLines(log, 2);
    expect(new URL(launches[1].url).searchParams.get('audience')).toBe('https://api.example.test');
  });

  it('comes from SEED_MCP_AUTH_PARAMS as k=v&k2=v2 (URL-encoded)', async () => {
    const other = newDir();
    const otherLog = join(other, 'browser.log');
    const r = await cli(
      ['login', '--issuer', idp.issuer, '--client-id', idp.clientId],
      env(other, { SCRIPTED_BROWSER_LOG: otherLog, SEED_MCP_AUTH_PARAMS: 'audience=https%3A%2F%2Fapi.example.test%2Fv1&acr_values=mfa' }),
    );
    expect(r.code, r.stderr).toBe(0);
    const url = new URL((await logLines(otherLog))[0].url);
    expect(url.searchParams.get('audience')).toBe('https://api.example.test/v1');
    expect(url.searchParams.get('acr_values')).toBe('mfa');
  });

  it.each([
    ['scope=admin', '--scope'],
    ['resource=https://x.example', '--resource'],
    ['code_challenge_method=plain', 'PKCE S256'],
    ['redirect_uri=https://evil.example/cb', '--redirect-host'],
    ['state=fixed', 'fresh one'],
    ['client_id=other', '--client-id'],
  ])('refuses %s with a usage error (exit 2)', async (pair, hint) => {
    const r = await cli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--auth-param', pair], env(newDir()));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`seed-mcp sets "${pair.split('=')[0]}" itself`);
    expect(r.stderr).toContain(hint);
  });

  it('refuses a pair without "=" and a reserved name in the env', async () => {
    const r = await cli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--auth-param', 'audience'], env(newDir()));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('could not use --auth-param "audience": expected key=value');
    const e = await cli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId], env(newDir(), { SEED_MCP_AUTH_PARAMS: 'audience=a&nonce=n' }));
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('could not use SEED_MCP_AUTH_PARAMS nonce');
  });
});

describe('the choice rule', () => {
  const key = readClientKey(ecFile, ecPem);
  if (typeof key === 'string') throw new Error(key);

  it('a key → private_key_jwt; a secret → post unless only basic is listed, or as registered; nothing → none', () => {
    expect(chooseAuthMethod({ clientKey: key }, undefined, 'x')).toBe('private_key_jwt');
    expect(chooseAuthMethod({ clientKey: key, clientSecret: 's' }, ['client_secret_basic', 'private_key_jwt'], 'x')).toBe('private_key_jwt');
    expect(() => chooseAuthMethod({ clientKey: key }, ['client_secret_basic'], 'https://as.example')).toThrow(/does not accept private_key_jwt/);
    expect(chooseAuthMethod({ clientSecret: 's' }, undefined, 'x')).toBe('client_secret_post');
    expect(chooseAuthMethod({ clientSecret: 's' }, ['client_secret_basic', 'client_secret_post'], 'x')).toBe('client_secret_post');
    expect(chooseAuthMethod({ clientSecret: 's' }, ['none', 'client_secret_post'], 'x')).toBe('client_secret_post');
    expect(chooseAuthMethod({ clientSecret: 's' }, ['none', 'client_secret_basic'], 'x')).toBe('client_secret_basic');
    expect(chooseAuthMethod({ clientSecret: 's', registeredMethod: 'client_secret_post' }, ['client_secret_basic'], 'x')).toBe('client_secret_post');
    expect(chooseAuthMethod({ clientSecret: 's', registeredMethod: 'client_secret_basic' }, undefined, 'x')).toBe('client_secret_basic');
    expect(chooseAuthMethod({}, ['client_secret_basic'], 'x')).toBe('none');
  });

  it('reads the alg from the key', () => {
    expect(key.alg).toBe('ES256');
    expect((readClientKey(rsaFile, rsaPem) as { alg: string }).alg).toBe('RS256');
    expect(readClientKey('f', 'not a key')).toMatch(/holds no PEM private key/);
  });

  it('auth params: flags win over the env, the env over the profile', () => {
    expect(resolveAuthParams(['a=1'], 'b=2', { c: '3' })).toEqual({ a: '1' });
    expect(resolveAuthParams([], 'b=2&d=x%3Dy', { c: '3' })).toEqual({ b: '2', d: 'x=y' });
    expect(resolveAuthParams(undefined, undefined, { c: '3' })).toEqual({ c: '3' });
    expect(resolveAuthParams(['a=b=c'], undefined, undefined)).toEqual({ a: 'b=c' });
  });
});
