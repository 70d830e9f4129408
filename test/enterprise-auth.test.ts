/**
 * Enterprise-managed authorization (MCP ext-auth SEP-990, cross-app access): `serve --upstream`
 * with an ID token from the company IdP, exchanged there for an ID-JAG (RFC 8693) and redeemed at
 * the MCP authorization server (RFC 7523 JWT-bearer), with no browser. Real HTTP on 127.0.0.1, real
 * signatures; the bridge is spawned and driven by the SDK's client.
 */
import type { JsonWebKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeProfileConfig } from '../src/local/profile-config.js';
import { createFileStore } from '../src/local/token-store/file.js';
import type { StoredTokens } from '../src/local/token-store/types.js';
import { runCli, tempDir } from './support/cli.js';
import { ID_JAG_TYPE, ID_TOKEN_TYPE, startEnterpriseIdp, startMcpAuthorizationServer, TOKEN_EXCHANGE, type EnterpriseIdp, type McpAuthorizationServer } from './support/id-jag.js';
import { connectServe, textOf } from './support/mcp-clients.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

const IDP_CLIENT = 'seed-mcp-at-idp';
const MCP_CLIENT = 'seed-mcp-at-mcp';
const MCP_SECRET = 'mcp-client-secret-value-42';

let idp: EnterpriseIdp;
let as: McpAuthorizationServer;
let upstream: TestUpstream;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  upstream = await startUpstream({ era: 'modern' });
  idp = await startEnterpriseIdp({ clientId: IDP_CLIENT, mcpClientId: MCP_CLIENT });
  as = await startMcpAuthorizationServer({ idp, clientId: MCP_CLIENT, clientSecret: MCP_SECRET, resource: () => upstream.url });
  upstream.trust({ issuer: as.issuer, jwks: () => as.jwks as { keys: JsonWebKey[] } });
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([upstream?.close(), idp?.close(), as?.close()]);
});

/** A temp config dir with the MCP client's secret file; file token store. */
function setup() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const secretFile = join(t.dir, 'mcp-client-secret');
  writeFileSync(secretFile, `${MCP_SECRET}\n`, { mode: 0o600 });
  const env = { SEED_MCP_CONFIG_DIR: t.dir, SEED_MCP_TOKEN_STORE: 'file', LOG_LEVEL: 'debug' };
  return { dir: t.dir, secretFile, env };
}

async function serve(args: string[], env: Record<string, string>) {
  const s = await connectServe('modern', ['serve', '--upstream', upstream.url, '--login', 'never', ...args], env);
  cleanups.push(() => s.close());
  return { client: s.client as Client, stderr: s.stderr };
}

/** No token, assertion or secret in what the bridge printed. */
function expectNoSecrets(text: string, ...secrets: string[]) {
  expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/);
  for (const s of [MCP_SECRET, ...secrets]) expect(text).not.toContain(s);
}

describe('serve with enterprise-managed authorization (ID-JAG)', () => {
  it('--id-token-file: exchanges the workload ID token for an ID-JAG, redeems it, and bridges with no browser', async () => {
    const { dir, secretFile, env } = setup();
    const tokenFile = join(dir, 'id-token');
    const aliceToken = await idp.idToken({ sub: 'alice', email: 'alice@example.com' });
    writeFileSync(tokenFile, `${aliceToken}\n`);
    const exchanges = idp.exchanges.length;
    const grants = as.grants.length;
    const { client, stderr } = await serve(
      ['--id-token-file', tokenFile, '--idp-issuer', idp.issuer, '--idp-client-id', IDP_CLIENT, '--client-id', MCP_CLIENT, '--client-secret-file', secretFile],
      env,
    );
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['seed_ping', 'whoami', 'echo']));
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(echo.isError, textOf(echo)).toBeFalsy();
    expect(echo.structuredContent).toEqual({ text: 'hi', subject: 'alice' });
    expect(upstream.lastHeaders.authorization).toBe('Bearer [present]');

    // One exchange and one redemption, each carrying every parameter the specs require.
    expect(idp.exchanges.length - exchanges).toBe(1);
    const exchange = idp.exchanges.at(-1)!;
    expect(exchange.params).toEqual({
      grant_type: TOKEN_EXCHANGE,
      requested_token_type: ID_JAG_TYPE,
      subject_token: '[present]',
      subject_token_type: ID_TOKEN_TYPE,
      audience: as.issuer,
      resource: upstream.url,
      client_id: IDP_CLIENT,
    });
    expect(exchange.subjectSub).toBe('alice');
    expect(as.grants.length - grants).toBe(1);
    const grant = as.grants.at(-1)!;
    expect(grant).toMatchObject({ clientAuth: 'basic', idJagTyp: 'oauth-id-jag+jwt', sub: 'alice' });
    expect(grant.params).toEqual({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: '[present]', resource: upstream.url });

    // whoami shows the ID token's identity.
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(who.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.com', issuer: as.issuer, clientId: MCP_CLIENT });

    // The token is kept: no new exchange for the next calls.
    await client.callTool({ name: 'echo', arguments: { text: 'again' } });
    expect(idp.exchanges.length - exchanges).toBe(1);

    // The platform rotates the file; after a 401 the bridge exchanges the new one (read again).
    writeFileSync(tokenFile, await idp.idToken({ sub: 'bob', email: 'bob@example.com' }));
    upstream.rejectCurrentTokens();
    const after = await client.callTool({ name: 'echo', arguments: { text: 'rotated' } });
    expect(after.isError, textOf(after)).toBeFalsy();
    expect(after.structuredContent).toEqual({ text: 'rotated', subject: 'bob' });
    expect(idp.exchanges.length - exchanges).toBe(2);

    expectNoSecrets(stderr(), aliceToken);
  });

  it('--idp-profile: exchanges the ID token of a signed-in profile (its issuer and client from its config)', async () => {
    const { dir, secretFile, env } = setup();
    await writeProfileConfig(dir, 'corp', { issuer: idp.issuer, clientId: IDP_CLIENT, scopes: 'openid profile email offline_access' });
    const idToken = await idp.idToken({ sub: 'carol', email: 'carol@example.com' });
    const now = Math.floor(Date.now() / 1000);
    const stored: StoredTokens = {
      version: 1,
      issuer: idp.issuer,
      clientId: IDP_CLIENT,
      accessToken: 'corp-access-token',
      tokenType: 'bearer',
      expiresAt: now + 3600,
      idToken,
      scope: 'openid profile email offline_access',
      subject: 'carol',
      identitySource: 'id_token',
      obtainedAt: now,
    };
    await createFileStore({ dir }).set('corp', stored);
    const exchanges = idp.exchanges.length;
    const { client, stderr } = await serve(['--idp-profile', 'corp', '--client-id', MCP_CLIENT, '--client-secret-file', secretFile], env);
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'corp' } });
    expect(echo.isError, textOf(echo)).toBeFalsy();
    expect(echo.structuredContent).toEqual({ text: 'corp', subject: 'carol' });
    expect(idp.exchanges.length - exchanges).toBe(1);
    expect(idp.exchanges.at(-1)!.params).toMatchObject({ client_id: IDP_CLIENT, audience: as.issuer, resource: upstream.url, requested_token_type: ID_JAG_TYPE });
    expectNoSecrets(stderr(), idToken, 'corp-access-token');
  });

  it('--idp-profile: an expired ID token is refreshed through the profile first, then exchanged', async () => {
    const { dir, secretFile, env } = setup();
    await writeProfileConfig(dir, 'corp', { issuer: idp.issuer, clientId: IDP_CLIENT });
    const refreshToken = `rt-${Math.random().toString(36).slice(2)}`;
    idp.refreshTokens.set(refreshToken, 'dave');
    const now = Math.floor(Date.now() / 1000);
    await createFileStore({ dir }).set('corp', {
      version: 1,
      issuer: idp.issuer,
      clientId: IDP_CLIENT,
      accessToken: 'still-valid-access-token',
      tokenType: 'bearer',
      expiresAt: now + 3600,
      refreshToken,
      idToken: await idp.idToken({ sub: 'dave', expiresIn: -60 }),
      scope: 'openid profile email offline_access',
      obtainedAt: now - 3600,
    });
    const refreshes = idp.refreshes;
    const { client } = await serve(['--idp-profile', 'corp', '--client-id', MCP_CLIENT, '--client-secret-file', secretFile], env);
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'fresh' } });
    expect(echo.isError, textOf(echo)).toBeFalsy();
    expect(echo.structuredContent).toEqual({ text: 'fresh', subject: 'dave' });
    expect(idp.refreshes - refreshes).toBe(1);
    // The refreshed set (new ID token, rotated refresh token) was stored for the profile.
    const saved = JSON.parse(readFileSync(join(dir, 'tokens', 'corp.json'), 'utf8')) as StoredTokens;
    expect(saved.refreshToken).not.toBe(refreshToken);
    expect(saved.accessToken).not.toBe('still-valid-access-token');
  });

  it('--idp-profile not signed in: the tool call says which profile to sign in', async () => {
    const { dir, secretFile, env } = setup();
    await writeProfileConfig(dir, 'corp', { issuer: idp.issuer, clientId: IDP_CLIENT });
    const { client } = await serve(['--idp-profile', 'corp', '--client-id', MCP_CLIENT, '--client-secret-file', secretFile], env);
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(echo.isError).toBe(true);
    expect(textOf(echo)).toContain('profile "corp"');
    // (serve's generic "not signed in" answer then also names its own profile: see local-auth.ts.)
    expect(textOf(echo)).toContain('run `seed-mcp login --profile corp` to sign in to your company IdP');
  });

  it('--scope given: the exchange and the redemption ask for it; without it neither does', async () => {
    const { dir, secretFile, env } = setup();
    const tokenFile = join(dir, 'id-token');
    writeFileSync(tokenFile, await idp.idToken({ sub: 'gina' }));
    const { client } = await serve(
      [
        '--id-token-file',
        tokenFile,
        '--idp-issuer',
        idp.issuer,
        '--idp-client-id',
        IDP_CLIENT,
        '--client-id',
        MCP_CLIENT,
        '--client-secret-file',
        secretFile,
        '--scope',
        'mcp:tools mcp:read',
      ],
      env,
    );
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'scoped' } });
    expect(echo.isError, textOf(echo)).toBeFalsy();
    expect(idp.exchanges.at(-1)!.params.scope).toBe('mcp:tools mcp:read');
    expect(as.grants.at(-1)!.params.scope).toBe('mcp:tools mcp:read');
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    expect(who.structuredContent).toMatchObject({ subject: 'gina', scopes: ['mcp:tools', 'mcp:read'] });
  });

  it('the IdP refusing the exchange: the tool call says what happened and what to do, and no token is printed', async () => {
    const { dir, secretFile, env } = setup();
    const tokenFile = join(dir, 'id-token');
    const idToken = await idp.idToken({ sub: 'erin' });
    writeFileSync(tokenFile, idToken);
    idp.refuse = { error: 'invalid_grant', error_description: 'cross-app access to this application is not allowed for the user' };
    try {
      const { client, stderr } = await serve(
        ['--id-token-file', tokenFile, '--idp-issuer', idp.issuer, '--idp-client-id', IDP_CLIENT, '--client-id', MCP_CLIENT, '--client-secret-file', secretFile],
        env,
      );
      const echo = await client.callTool({ name: 'echo', arguments: { text: 'no' } });
      expect(echo.isError).toBe(true);
      const text = textOf(echo);
      expect(text).toContain(`could not get an identity assertion (ID-JAG) for ${as.issuer} from ${idp.issuer}`);
      expect(text).toContain('cross-app access to this application is not allowed for the user');
      expect(text).toContain(`check that ${tokenFile} holds a current ID token`);
      expectNoSecrets(text, idToken);
      expectNoSecrets(stderr(), idToken);
    } finally {
      delete idp.refuse;
    }
  });

  it('a wrong MCP client secret: the tool call names the client and the flags to check', async () => {
    const { dir, env } = setup();
    const tokenFile = join(dir, 'id-token');
    writeFileSync(tokenFile, await idp.idToken({ sub: 'hank' }));
    const wrongSecret = join(dir, 'wrong-secret');
    writeFileSync(wrongSecret, 'not-the-secret-at-all');
    const { client, stderr } = await serve(
      ['--id-token-file', tokenFile, '--idp-issuer', idp.issuer, '--idp-client-id', IDP_CLIENT, '--client-id', MCP_CLIENT, '--client-secret-file', wrongSecret],
      env,
    );
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'no' } });
    expect(echo.isError).toBe(true);
    expect(textOf(echo)).toContain(`could not get an access token from the MCP authorization server ${as.issuer}: it rejected client "${MCP_CLIENT}"`);
    expect(textOf(echo)).toContain('check --client-id and --client-secret-file');
    expectNoSecrets(textOf(echo) + stderr(), 'not-the-secret-at-all');
  });

  it('without --client-id: serve stops at once with what to pass', async () => {
    const { dir, secretFile, env } = setup();
    const tokenFile = join(dir, 'id-token');
    writeFileSync(tokenFile, await idp.idToken({ sub: 'frank' }));
    const res = await runCli(
      ['serve', '--upstream', upstream.url, '--id-token-file', tokenFile, '--idp-issuer', idp.issuer, '--idp-client-id', IDP_CLIENT, '--client-secret-file', secretFile],
      env,
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('could not use enterprise-managed authorization: missing --client-id');
    expect(res.stderr).toContain('--client-id and --client-secret-file');
    expect(res.stderr).toContain('MCP authorization server');
    expectNoSecrets(res.stderr);
  });
});
