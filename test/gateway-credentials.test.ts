/**
 * The gateway's outbound credentials (src/cloud/gateway/credentials.ts) against the real test IdP
 * (oidc-provider): client credentials with a secret or a key file, caching, one mint at a time,
 * re-minting near expiry and after a 401, static token files and their rotation, and RFC 8693
 * token exchange per caller (a grant registered on the provider, see gateway-token-exchange.ts).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createChildCredential, CredentialError, type ChildCredential, type CredentialDeps } from '../src/cloud/gateway/credentials.js';
import type { ChildAuthSpec } from '../src/cloud/gateway/types.js';
import { createLogger } from '../src/shared/logger.js';
import { registerTokenExchange, TOKEN_EXCHANGE_GRANT, type TokenExchangeGrant } from './support/gateway-token-exchange.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';

const DOCS_RESOURCE = 'https://docs.example.test/mcp';
const DOCS_AUDIENCE = 'https://docs-mcp.example.test';
const WRONG_SECRET = 'wrong-secret-9f8e7d6c5b4a';

const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-gw-cred-'));
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }).toString();
const jwks = (key: KeyObject) => ({ keys: [{ ...key.export({ format: 'jwk' }), use: 'sig' }] });

let idp: TestIdp;
let exchange: TokenExchangeGrant;
let secretFile: string;

beforeAll(async () => {
  idp = await startIdp({
    resources: [DEFAULT_RESOURCE, DOCS_RESOURCE],
    extraScopes: ['docs.read', 'docs.write'],
    extraClients: [
      { client_id: 'gw-ec', token_endpoint_auth_method: 'private_key_jwt', jwks: jwks(ec.publicKey), redirect_uris: [], response_types: [], grant_types: ['client_credentials'] },
      { client_id: 'gw-rsa', token_endpoint_auth_method: 'private_key_jwt', jwks: jwks(rsa.publicKey), redirect_uris: [], response_types: [], grant_types: ['client_credentials'] },
      {
        client_id: 'mcp-gateway',
        client_secret: 'gateway-secret',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [],
        response_types: [],
        grant_types: [TOKEN_EXCHANGE_GRANT],
      },
    ],
  });
  // Exchanged tokens outlive the callers' (3600 s): the cache must still end with the caller's.
  exchange = await registerTokenExchange(idp, { audiences: [DOCS_AUDIENCE], ttlSec: 7200 });
  secretFile = file('service-secret', 'service-secret\n');
});

afterAll(async () => {
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

let lines: string[];
let mints: Array<'success' | 'failure'>;
let open: ChildCredential[];

beforeEach(() => {
  idp.resetCounts();
  lines = [];
  mints = [];
  open = [];
});
afterEach(() => {
  for (const c of open) c.close();
});

function credential(spec: ChildAuthSpec, extra: Partial<CredentialDeps> = {}, child = 'docs'): ChildCredential {
  const deps: CredentialDeps = {
    logger: createLogger({ level: 'debug', format: 'json', write: (line) => lines.push(line) }),
    onMint: (result) => mints.push(result),
    ...extra,
  };
  const c = createChildCredential(child, spec, deps);
  open.push(c);
  return c;
}

const serviceSpec = (over: Partial<Extract<ChildAuthSpec, { type: 'client_credentials' }>> = {}): ChildAuthSpec => ({
  type: 'client_credentials',
  issuer: idp.issuer,
  clientId: 'seed-service',
  clientSecretFile: secretFile,
  resource: DOCS_RESOURCE,
  scopes: ['docs.read'],
  ...over,
});

async function rejection(promise: Promise<unknown>): Promise<CredentialError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialError);
  return err as CredentialError;
}

describe('client_credentials', () => {
  it('mints a token for the resource and scopes, once, and serves it from the cache', async () => {
    const fetched: string[] = [];
    const c = credential(serviceSpec(), {
      fetch: (input, init) => {
        fetched.push(String(input instanceof Request ? input.url : input));
        return fetch(input, init);
      },
    });
    expect(c.type).toBe('client_credentials');
    expect(c.status().ok).toBe(true);
    const first = await c.token();
    const second = await c.token();
    expect(second).toBe(first);
    expect(idp.counts.clientCredentials).toBe(1);
    expect(mints).toEqual(['success']);

    const { payload } = await jwtVerify(first!, createLocalJWKSet(idp.keys as Parameters<typeof createLocalJWKSet>[0]), { issuer: idp.issuer, audience: DOCS_RESOURCE });
    expect(payload.client_id).toBe('seed-service');
    expect(payload.scope).toBe('docs.read');
    // Through the fetch seam: discovery, then the token endpoint; with client_secret_basic.
    expect(fetched.some((u) => u.endsWith('/.well-known/openid-configuration'))).toBe(true);
    expect(fetched.some((u) => u.endsWith('/token'))).toBe(true);
    expect(idp.clientAuthLog.map((r) => r.method)).toEqual(['client_secret_basic']);
    expect(c.status()).toMatchObject({ ok: true, detail: expect.stringMatching(/^token minted at \d{4}-/) });
    expect(lines.some((l) => l.includes('"level":"debug"') && l.includes('minted a service token'))).toBe(true);
    expect(lines.join('\n')).not.toContain(first!);
  });

  it('mints again once the margin before expiry is reached (60 s, or half a shorter lifetime)', async () => {
    let clock = Date.now();
    const c = credential(serviceSpec(), { now: () => clock });
    const first = await c.token();
    clock += 3530_000; // 3600 s lifetime, 60 s margin
    expect(await c.token()).toBe(first);
    expect(idp.counts.clientCredentials).toBe(1);
    clock += 15_000;
    const second = await c.token();
    expect(second).not.toBe(first);
    expect(idp.counts.clientCredentials).toBe(2);

    // A margin longer than the lifetime: half the lifetime instead.
    idp.resetCounts();
    const long = credential(serviceSpec(), { now: () => clock, refreshMarginSec: 7200 });
    const a = await long.token();
    clock += 1790_000;
    expect(await long.token()).toBe(a);
    clock += 20_000;
    expect(await long.token()).not.toBe(a);
    expect(idp.counts.clientCredentials).toBe(2);
  });

  it('serves the cached token while it lives when minting ahead of expiry fails', async () => {
    let clock = Date.now();
    const rotating = file('rotating-secret', 'service-secret');
    const c = credential(serviceSpec({ clientSecretFile: rotating }), { now: () => clock });
    const first = await c.token();
    writeFileSync(rotating, WRONG_SECRET);
    clock += 3550_000; // past the margin, before expiry
    expect(await c.token()).toBe(first);
    expect(mints).toEqual(['success', 'failure']);
    expect(c.status().ok).toBe(false);
    // Not for a token the child rejected, nor once it has expired.
    expect((await rejection(c.token({ rejected: first }))).oauthError).toBe('invalid_client');
    writeFileSync(rotating, 'service-secret');
    expect(await c.token()).not.toBe(first);
    expect(c.status().ok).toBe(true);
  });

  it('mints once for 20 concurrent callers', async () => {
    const c = credential(serviceSpec());
    const tokens = await Promise.all(Array.from({ length: 20 }, () => c.token()));
    expect(new Set(tokens).size).toBe(1);
    expect(idp.counts.clientCredentials).toBe(1);
    expect(mints).toEqual(['success']);
  });

  it('mints again for a token the child rejected, once', async () => {
    const c = credential(serviceSpec());
    const first = await c.token();
    const retried = await Promise.all(Array.from({ length: 5 }, () => c.token({ rejected: first })));
    expect(new Set(retried).size).toBe(1);
    expect(retried[0]).not.toBe(first);
    expect(idp.counts.clientCredentials).toBe(2);
    // The old token again (a late 401): the new one is served, no new mint.
    expect(await c.token({ rejected: first })).toBe(retried[0]);
    expect(idp.counts.clientCredentials).toBe(2);
  });

  it.each([
    ['EC P-256', 'gw-ec', ec.privateKey, 'ES256'],
    ['RSA', 'gw-rsa', rsa.privateKey, 'RS256'],
  ] as const)('authenticates with private_key_jwt and a %s key file', async (_name, clientId, key, alg) => {
    const keyFile = file(`${clientId}.pem`, pem(key));
    const c = credential(serviceSpec({ clientId, clientSecretFile: undefined, privateKeyFile: keyFile, scopes: undefined }));
    const token = await c.token();
    expect(decodeJwt(token!)).toMatchObject({ client_id: clientId, aud: DOCS_RESOURCE });
    expect(idp.clientAuthLog).toEqual([expect.objectContaining({ endpoint: 'token', clientId, method: 'private_key_jwt', alg, status: 200 })]);
  });

  it('refuses a key file that holds no usable key, naming the file and not its content', async () => {
    const keyFile = file('not-a-key.pem', 'not a key at all: hunter2');
    const err = await rejection(credential(serviceSpec({ clientSecretFile: undefined, privateKeyFile: keyFile })).token());
    expect(err.message).toContain(keyFile);
    expect(err.message).not.toContain('hunter2');
    expect(err.reason).toBe('config');
  });

  it('a bad secret: a CredentialError naming the child and what to check, no secret anywhere', async () => {
    const badFile = file('bad-secret', `${WRONG_SECRET}\n`);
    const c = credential(serviceSpec({ clientSecretFile: badFile }));
    const err = await rejection(c.token());
    expect(err.name).toBe('CredentialError');
    expect(err.child).toBe('docs');
    expect(err.oauthError).toBe('invalid_client');
    expect(err.reason).toBe('config');
    expect(err.message).toMatch(new RegExp(`^could not get a service token for child docs from ${idp.issuer.replace(/\./g, '\\.')}: invalid_client`));
    expect(err.message).toContain('seed-service');
    expect(err.message).toContain(badFile);
    expect(err.message).not.toContain(WRONG_SECRET);
    expect(mints).toEqual(['failure']);
    expect(c.status()).toMatchObject({ ok: false, detail: expect.stringContaining('invalid_client') });
    const warn = lines.filter((l) => l.includes('"level":"warn"'));
    expect(warn).toHaveLength(1);
    expect(warn[0]).toContain('invalid_client');
    expect(lines.join('\n')).not.toContain(WRONG_SECRET);

    // The secret file is read at each mint: fixing it is enough.
    writeFileSync(badFile, 'service-secret');
    expect(await c.token()).toMatch(/^eyJ/);
    expect(c.status().ok).toBe(true);
    expect(mints).toEqual(['failure', 'success']);
  });

  it('an unreachable issuer, a plain http remote issuer, a missing secret file: CredentialErrors that say what to check', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const down = await rejection(credential(serviceSpec({ issuer: `http://127.0.0.1:${closedPort}` })).token());
    expect(down.reason).toBe('unavailable');
    expect(down.message).toBe(
      `could not get a service token for child docs from http://127.0.0.1:${closedPort}: the issuer could not be reached (ECONNREFUSED); check the issuer URL and that http://127.0.0.1:${closedPort} is reachable from the gateway`,
    );

    const remote = await rejection(credential(serviceSpec({ issuer: 'http://idp.example.test' })).token());
    expect(remote.reason).toBe('config');
    expect(remote.message).toContain('https');

    const missing = join(dir, 'no-such-secret');
    const gone = await rejection(credential(serviceSpec({ clientSecretFile: missing })).token());
    expect(gone.message).toContain(missing);
    expect(gone.message).toContain('ENOENT');
  });
});

describe('static', () => {
  it('serves the trimmed file and follows its rotation', async () => {
    const tokenFile = file('docs-token', '  first-token-value\n');
    const c = credential({ type: 'static', tokenFile });
    expect(c.type).toBe('static');
    expect(await c.token()).toBe('first-token-value');
    expect(await c.token()).toBe('first-token-value');

    writeFileSync(tokenFile, 'second-token-value-rotated\n');
    const later = new Date(Date.now() + 10_000);
    utimesSync(tokenFile, later, later);
    expect(await c.token()).toBe('second-token-value-rotated');
    expect(c.status().ok).toBe(true);
    expect(mints).toEqual([]);
  });

  it('reads the file again for a rejected token even when it looks unchanged', async () => {
    const tokenFile = file('same-size', 'aaaa');
    const fixed = new Date(Date.now() - 60_000);
    utimesSync(tokenFile, fixed, fixed);
    const c = credential({ type: 'static', tokenFile });
    expect(await c.token()).toBe('aaaa');
    writeFileSync(tokenFile, 'bbbb');
    utimesSync(tokenFile, fixed, fixed); // same size, same mtime
    expect(await c.token()).toBe('aaaa');
    expect(await c.token({ rejected: 'aaaa' })).toBe('bbbb');
  });

  it('an empty or missing file: a CredentialError naming the file', async () => {
    const empty = file('empty-token', ' \n');
    const c = credential({ type: 'static', tokenFile: empty });
    const err = await rejection(c.token());
    expect(err.message).toContain(empty);
    expect(err.message).toContain('empty');
    expect(c.status().ok).toBe(false);

    const missing = join(dir, 'missing-token');
    expect((await rejection(credential({ type: 'static', tokenFile: missing }).token())).message).toContain(missing);
  });

  it('none: no bearer', async () => {
    const c = credential({ type: 'none' });
    expect(await c.token({ callerToken: 'x' })).toBeUndefined();
    expect(c.status().ok).toBe(true);
  });
});

describe('token_exchange', () => {
  const exchangeSpec = (): ChildAuthSpec => ({
    type: 'token_exchange',
    issuer: idp.issuer,
    clientId: 'mcp-gateway',
    clientSecretFile: file('gateway-secret', 'gateway-secret'),
    audience: DOCS_AUDIENCE,
    scopes: ['docs.read'],
  });

  it('exchanges once per caller: two callers, two exchanges; the same caller again, none', async () => {
    const before = exchange.exchanges.length;
    const c = credential(exchangeSpec());
    const alice = await idp.serviceToken({ client: 'seed-service' });
    const bob = await idp.serviceToken({ client: 'other-service' });
    const aliceKey = `${idp.issuer}|seed-service`;
    const bobKey = `${idp.issuer}|other-service`;

    const a1 = await c.token({ callerToken: alice, callerKey: aliceKey });
    const b1 = await c.token({ callerToken: bob, callerKey: bobKey });
    const a2 = await c.token({ callerToken: alice, callerKey: aliceKey });
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => c.token({ callerToken: bob, callerKey: bobKey })));
    expect(a2).toBe(a1);
    expect(new Set(concurrent)).toEqual(new Set([b1]));
    expect(a1).not.toBe(b1);
    expect(exchange.exchanges.slice(before)).toEqual([
      { clientId: 'mcp-gateway', subject: 'seed-service', audience: DOCS_AUDIENCE, scope: 'docs.read' },
      { clientId: 'mcp-gateway', subject: 'other-service', audience: DOCS_AUDIENCE, scope: 'docs.read' },
    ]);
    expect(mints).toEqual(['success', 'success']);

    // The child's token: for the child's audience, on behalf of the caller; never the caller's own.
    const { payload } = await jwtVerify(a1!, createLocalJWKSet(exchange.jwks as Parameters<typeof createLocalJWKSet>[0]), { audience: DOCS_AUDIENCE, issuer: idp.issuer });
    expect(payload).toMatchObject({ sub: 'seed-service', act: { sub: 'mcp-gateway' } });
    expect(a1).not.toBe(alice);
    expect(lines.join('\n')).not.toContain(alice);
  });

  it('never caches beyond the caller token’s own expiry; a rejected token is exchanged again', async () => {
    let clock = Date.now();
    const c = credential(exchangeSpec(), { now: () => clock });
    const before = exchange.exchanges.length;
    const caller = await idp.serviceToken({ client: 'seed-service' });
    const callerExp = decodeJwt(caller).exp! * 1000;
    const key = `${idp.issuer}|seed-service`;

    const first = await c.token({ callerToken: caller, callerKey: key });
    clock = callerExp - 1_000;
    expect(await c.token({ callerToken: caller, callerKey: key })).toBe(first);
    clock = callerExp + 1_000; // the exchanged token (7200 s) would still live; the caller's has expired
    const second = await c.token({ callerToken: caller, callerKey: key });
    expect(second).not.toBe(first);
    expect(exchange.exchanges.length - before).toBe(2);

    const third = await c.token({ callerToken: caller, callerKey: key, rejected: second });
    expect(third).not.toBe(second);
    expect(exchange.exchanges.length - before).toBe(3);
  });

  it('keys on the caller token itself without a caller key; bounded cache', async () => {
    const before = exchange.exchanges.length;
    const c = credential(exchangeSpec(), { maxExchangeEntries: 1 });
    const alice = await idp.serviceToken({ client: 'seed-service' });
    const bob = await idp.serviceToken({ client: 'other-service' });
    await c.token({ callerToken: alice });
    await c.token({ callerToken: alice });
    expect(exchange.exchanges.length - before).toBe(1);
    await c.token({ callerToken: bob }); // evicts alice's
    await c.token({ callerToken: alice });
    expect(exchange.exchanges.length - before).toBe(3);

    // Least recently used goes first: with room for two, a hit on alice keeps her over bob.
    const lru = credential(exchangeSpec(), { maxExchangeEntries: 2 });
    const carol = await idp.serviceToken({ client: 'seed-service', scope: 'docs.read' });
    const start = exchange.exchanges.length;
    await lru.token({ callerToken: alice, callerKey: 'alice' });
    await lru.token({ callerToken: bob, callerKey: 'bob' });
    await lru.token({ callerToken: alice, callerKey: 'alice' }); // hit
    await lru.token({ callerToken: carol, callerKey: 'carol' }); // evicts bob
    await lru.token({ callerToken: alice, callerKey: 'alice' }); // still cached
    expect(exchange.exchanges.length - start).toBe(3);
    await lru.token({ callerToken: bob, callerKey: 'bob' });
    expect(exchange.exchanges.length - start).toBe(4);
  });

  it('no caller token, or one the IdP refuses: a caller-side CredentialError', async () => {
    const c = credential(exchangeSpec());
    const none = await rejection(c.token({ callerKey: 'x' }));
    expect(none.reason).toBe('caller');
    expect(none.message).toContain('child docs');
    expect(mints).toEqual([]);

    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.';
    const refused = await rejection(c.token({ callerToken: forged, callerKey: 'mallory' }));
    expect(refused.reason).toBe('caller');
    expect(refused.oauthError).toBe('invalid_grant');
    expect(refused.message).toMatch(/^could not exchange the caller's token for child docs at http:\/\/127\.0\.0\.1:\d+: invalid_grant/);
    expect(refused.message).not.toContain(forged);
    expect(lines.join('\n')).not.toContain(forged);
    // A caller's bad token does not make the child unready.
    expect(c.status().ok).toBe(true);
  });
});
