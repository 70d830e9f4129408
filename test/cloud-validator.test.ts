/**
 * The cloud-mode bearer-token validator against real identity providers: two oidc-provider IdPs
 * as two tenants (RS256 and ES256), a third one that is NOT allowed, and a small hand-made issuer
 * (RFC 8414 metadata only, path issuer) for claims oidc-provider does not issue (nbf, no exp, scp
 * arrays, odd typ values). Tokens are minted through the real token endpoint (client credentials).
 * Time moves through the validator's `now` seam, requests are counted through its `fetch` seam.
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, exportJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AuthError,
  authErrorOf,
  createTokenValidator,
  JwksUnavailableError,
  type AuthErrorCode,
  type Authenticated,
  type TokenValidator,
  type ValidatorOptions,
} from '../src/cloud/auth/validator.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';

const OTHER_RESOURCE = 'https://other.example.test/mcp';
const SCOPES = ['mcp:tools', 'checklist.read'];

// ---------------------------------------------------------------------------------------------
// Helpers

/** A fresh access token from `idp` for `resource`, via client_credentials as `seed-service`. */
const mint = (idp: TestIdp, { resource = DEFAULT_RESOURCE, scope = SCOPES.join(' ') } = {}) => idp.serviceToken({ resource, scope });

/** A fetch that records every URL it is asked for. */
function countingFetch() {
  const calls: string[] = [];
  const counted: typeof fetch = (input, init) => {
    calls.push(input instanceof Request ? input.url : String(input));
    return fetch(input, init);
  };
  return { fetch: counted, calls, to: (origin: string) => calls.filter((url) => url.startsWith(`${origin}/`)) };
}

/** The validator's clock: real time plus whatever a test adds. */
function testClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
  };
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** The same token with its header changed (the signature no longer matches, the kid lookup comes first). */
function withHeader(token: string, change: Record<string, unknown>): string {
  const [, payload, signature] = token.split('.');
  return `${b64({ ...decodeProtectedHeader(token), ...change })}.${payload}.${signature}`;
}

function withClaims(token: string, change: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64({ ...decodeJwt(token), ...change })}.${signature}`;
}

/** Rejects with an AuthError of `code`, whose description is header-safe and holds no token. */
async function expectAuthError(promise: Promise<unknown>, code: AuthErrorCode, token?: string): Promise<AuthError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, but the token was accepted`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  const authError = err as AuthError;
  expect({ code: authError.code, description: authError.description }).toMatchObject({ code });
  expect(authError.status).toBe(code === 'INSUFFICIENT_SCOPE' || code === 'ACCESS_DENIED' ? 403 : 401);
  expect(authError.description).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
  // The answer writes the one `Action: ` prefix; the hint itself has none.
  expect(authError.action).toMatch(/^(?!Action:)\S/);
  if (token) {
    for (const part of token.split('.').filter((p) => p.length > 8)) expect(authError.description).not.toContain(part);
  }
  return authError;
}

let idpA: TestIdp;
let idpB: TestIdp;
let idpC: TestIdp;
const started: TestIdp[] = [];

async function idp(options: Parameters<typeof startIdp>[0] = {}): Promise<TestIdp> {
  const instance = await startIdp({ extraScopes: SCOPES, ...options });
  started.push(instance);
  return instance;
}

const validators: TokenValidator[] = [];

function validator(options: Partial<ValidatorOptions> = {}): TokenValidator {
  const created = createTokenValidator({
    allowedIssuers: [idpA.issuer, idpB.issuer],
    audiences: [DEFAULT_RESOURCE],
    jwksCacheTtlSec: 3600,
    ...options,
  });
  validators.push(created);
  return created;
}

beforeAll(async () => {
  [idpA, idpB, idpC] = await Promise.all([idp({ resources: [DEFAULT_RESOURCE, OTHER_RESOURCE] }), idp({ accessTokenAlg: 'ES256' }), idp()]);
});

afterAll(async () => {
  for (const v of validators) v.close();
  await Promise.all(started.map((instance) => instance.close()));
});

// ---------------------------------------------------------------------------------------------

describe('parseAuthorization', () => {
  const v = () => validator();

  it('returns the token of a Bearer header, scheme in any case', () => {
    expect(v().parseAuthorization('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(v().parseAuthorization('bearer  abc-_~+/=')).toBe('abc-_~+/=');
  });

  it('MISSING_AUTHORIZATION without a header, with a blank one or with another scheme', async () => {
    for (const header of [undefined, '', '   ', 'Basic c2VlZDpzZWNyZXQ=', 'Token abc', 'Bearerabc']) {
      await expectAuthError(
        Promise.resolve().then(() => v().parseAuthorization(header)),
        'MISSING_AUTHORIZATION',
      );
    }
  });

  it('INVALID_TOKEN for Bearer with nothing or with something that is not a token', async () => {
    for (const header of ['Bearer', 'Bearer   ', 'Bearer a b', 'Bearer "quoted"', 'Bearer a\\b']) {
      await expectAuthError(
        Promise.resolve().then(() => v().parseAuthorization(header)),
        'INVALID_TOKEN',
      );
    }
  });
});

describe('two tenants', () => {
  it('accepts tokens of both allowed issuers, each with its own JWKS cache', async () => {
    const { fetch, calls, to } = countingFetch();
    const v = validator({ fetch });
    const [tokenA, tokenB] = await Promise.all([mint(idpA), mint(idpB)]);
    expect(decodeProtectedHeader(tokenB).alg).toBe('ES256');

    const [a, b] = await Promise.all([v.verify(tokenA), v.verify(tokenB)]);
    expect(a).toMatchObject({
      subject: 'seed-service',
      issuer: idpA.issuer,
      audience: [DEFAULT_RESOURCE],
      scopes: SCOPES,
      clientId: 'seed-service',
      caller: { subject: 'seed-service', issuer: idpA.issuer, scopes: SCOPES, clientId: 'seed-service', expiresAt: decodeJwt(tokenA).exp },
    });
    expect(a.jti).toBe(decodeJwt(tokenA).jti);
    expect(b).toMatchObject({ issuer: idpB.issuer, caller: { issuer: idpB.issuer } });
    expect(Object.isFrozen(a) && Object.isFrozen(a.caller) && Object.isFrozen(a.scopes)).toBe(true);

    expect(to(idpA.issuer)).toEqual([idpA.url('/.well-known/openid-configuration'), idpA.url('/jwks')]);
    expect(to(idpB.issuer)).toEqual([idpB.url('/.well-known/openid-configuration'), idpB.url('/jwks')]);
    const status = v.jwksStatus();
    expect(status.map((s) => [s.issuer, s.keys, s.fresh, s.lastError])).toEqual([
      [idpA.issuer, idpA.keys.keys.length, true, undefined],
      [idpB.issuer, idpB.keys.keys.length, true, undefined],
    ]);

    // More tokens of either tenant: keys come from the cache.
    await Promise.all([v.verify(await mint(idpA)), v.verify(await mint(idpB))]);
    expect(calls).toHaveLength(4);
  });

  it('accepts a token whose aud is one of several accepted audiences', async () => {
    const v = validator({ audiences: [OTHER_RESOURCE, DEFAULT_RESOURCE] });
    await expect(v.verify(await mint(idpA, { resource: OTHER_RESOURCE }))).resolves.toMatchObject({ audience: [OTHER_RESOURCE] });
    await expect(v.verify(await mint(idpA))).resolves.toMatchObject({ audience: [DEFAULT_RESOURCE] });
  });

  it('warm() fetches every JWKS up front and never rejects', async () => {
    const { fetch, to } = countingFetch();
    const v = validator({ fetch, allowedIssuers: [idpA.issuer, 'http://127.0.0.1:9/nothing-here'] });
    await v.warm();
    const [a, nowhere] = v.jwksStatus();
    expect(a).toMatchObject({ keys: idpA.keys.keys.length, fresh: true });
    expect(nowhere).toMatchObject({ keys: 0, fresh: false, lastError: expect.stringMatching(/could not reach/) });
    expect(to(idpA.issuer)).toHaveLength(2);
  });
});

describe('refused before any key is fetched', () => {
  it('INVALID_TOKEN for garbage', async () => {
    const { fetch, calls } = countingFetch();
    const v = validator({ fetch });
    for (const garbage of ['', 'garbage', 'a.b.c', '...', 'eyJhbGciOiJSUzI1NiJ9', `${b64('{')}.${b64('{}')}.x`, `${b64({ alg: 'RS256' })}.${b64('[1]')}.x`, 'x'.repeat(40_000)]) {
      await expectAuthError(v.verify(garbage), 'INVALID_TOKEN');
    }
    expect(calls).toHaveLength(0);
  });

  it('INVALID_TOKEN for alg none, in any case', async () => {
    const { fetch, calls } = countingFetch();
    const v = validator({ fetch });
    const [, payload, signature] = (await mint(idpA)).split('.');
    for (const alg of ['none', 'None', 'NONE']) {
      const unsigned = `${b64({ alg, typ: 'at+jwt' })}.${payload}.`;
      const err = await expectAuthError(v.verify(unsigned), 'INVALID_TOKEN', unsigned);
      expect(err.description).toMatch(/alg none/);
      await expectAuthError(v.verify(`${b64({ alg, typ: 'at+jwt' })}.${payload}.${signature}`), 'INVALID_TOKEN');
    }
    expect(calls).toHaveLength(0);
  });

  it('INVALID_SIGNATURE for HMAC signed with the public key (algorithm confusion)', async () => {
    const { fetch, calls } = countingFetch();
    const v = validator({ fetch });
    const rsa = idpA.keys.keys.find((k) => k.kty === 'RSA')!;
    const publicKey = createPublicKey({ key: rsa, format: 'jwk' });
    const secrets = [Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string), publicKey.export({ type: 'spki', format: 'der' }), Buffer.from(JSON.stringify(rsa))];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const forged = await new SignJWT({ scope: 'mcp:tools', client_id: 'seed-service' })
          .setProtectedHeader({ alg, typ: 'at+jwt', kid: rsa.kid })
          .setIssuer(idpA.issuer)
          .setAudience(DEFAULT_RESOURCE)
          .setSubject('mallory')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(new Uint8Array(secret));
        const err = await expectAuthError(v.verify(forged), 'INVALID_SIGNATURE', forged);
        expect(err.description).toMatch(/HMAC/);
      }
    }
    // Any other algorithm outside the asymmetric list is refused the same way.
    await expectAuthError(v.verify(withHeader(await mint(idpA), { alg: 'RSA-OAEP' })), 'INVALID_SIGNATURE');
    expect(calls).toHaveLength(0);
  });

  it('INVALID_ISSUER for a tenant that is not allowed, and no request ever reaches it', async () => {
    const { fetch, calls } = countingFetch();
    const v = validator({ fetch });
    const tokenC = await mint(idpC);
    idpC.resetCounts();
    const err = await expectAuthError(v.verify(tokenC), 'INVALID_ISSUER', tokenC);
    expect(err.description).not.toContain(idpC.issuer);
    // Near misses of an allowed issuer are not allowed either: the match is exact.
    for (const iss of [`${idpA.issuer}/`, idpA.issuer.toUpperCase(), idpA.issuer.replace('127.0.0.1', 'localhost'), undefined, 42]) {
      await expectAuthError(v.verify(withClaims(tokenC, { iss })), 'INVALID_ISSUER');
    }
    expect(idpC.counts.requests).toBe(0);
    expect(calls).toHaveLength(0);
  });

  it("INVALID_SIGNATURE for a not-allowed tenant's token that claims an allowed issuer", async () => {
    const { fetch, to } = countingFetch();
    const v = validator({ fetch });
    const tokenC = await mint(idpC);
    idpC.resetCounts();
    await expectAuthError(v.verify(withClaims(tokenC, { iss: idpA.issuer })), 'INVALID_SIGNATURE');
    expect(idpC.counts.requests).toBe(0);
    expect(to(idpC.issuer)).toHaveLength(0);
  });

  it('INVALID_TOKEN for a typ that is not an access token', async () => {
    const v = validator();
    const token = await mint(idpA);
    for (const typ of ['dpop+jwt', 'JOSE', 'application/id_token+jwt', 'secevent+jwt', 42]) {
      await expectAuthError(v.verify(withHeader(token, { typ })), 'INVALID_TOKEN');
    }
  });
});

describe('claims', () => {
  it('INVALID_AUDIENCE for a token meant for another resource', async () => {
    const v = validator();
    const other = await mint(idpA, { resource: OTHER_RESOURCE });
    await expectAuthError(v.verify(other), 'INVALID_AUDIENCE', other);
  });

  it('TOKEN_EXPIRED past exp plus the clock tolerance, accepted within it', async () => {
    const token = await mint(idpA);
    const exp = decodeJwt(token).exp! * 1000;
    const within = validator({ now: () => exp + 20_000 });
    await expect(within.verify(token)).resolves.toMatchObject({ subject: 'seed-service' });
    const past = validator({ now: () => exp + 31_000 });
    await expectAuthError(past.verify(token), 'TOKEN_EXPIRED', token);
    const strict = validator({ now: () => exp + 1_000, clockToleranceSec: 0 });
    await expectAuthError(strict.verify(token), 'TOKEN_EXPIRED');
  });

  it('INVALID_SIGNATURE for a token whose claims were changed', async () => {
    const v = validator();
    const token = await mint(idpA);
    await v.verify(token);
    await expectAuthError(v.verify(withClaims(token, { sub: 'admin' })), 'INVALID_SIGNATURE');
    await expectAuthError(v.verify(withClaims(token, { scope: 'mcp:tools checklist.read admin' })), 'INVALID_SIGNATURE');
  });
});

// ---------------------------------------------------------------------------------------------
// A hand-made issuer: `<origin>/tenant-x`, RFC 8414 metadata only, ES256 keys it signs with.

interface HandIssuer {
  issuer: string;
  origin: string;
  sign(claims: JWTPayload, header?: Record<string, unknown>, key?: 'current' | 'next'): Promise<string>;
  /** What /tenant-x/jwks answers: the current keys, `'huge'`, or `'hang'`. */
  jwks: 'keys' | 'huge' | 'hang' | 'both';
  requests: string[];
  close(): Promise<void>;
}

async function startHandIssuer(): Promise<HandIssuer> {
  const pairs = [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-256' })];
  const publics = await Promise.all(pairs.map(async ({ publicKey }, i) => ({ ...(await exportJWK(publicKey)), kid: `hand-${i}`, use: 'sig', alg: 'ES256' })));
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    state.requests.push(req.url ?? '');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/oauth-authorization-server/tenant-x') return json(200, { issuer: state.issuer, jwks_uri: `${state.origin}/tenant-x/jwks` });
    if (req.url === '/.well-known/oauth-authorization-server/tenant-y') return json(200, { issuer: state.issuer, jwks_uri: `${state.origin}/tenant-x/jwks` });
    if (req.url === '/tenant-x/jwks') {
      if (state.jwks === 'hang') return void hanging.push(res);
      if (state.jwks === 'huge') return json(200, { keys: [publics[0]], padding: 'x'.repeat(600 * 1024) });
      // Without kids, as some IdPs publish them: with 'both', two keys match every ES256 token.
      if (state.jwks === 'both') return json(200, { keys: publics.map(({ kid: _kid, ...key }) => key) });
      return json(200, { keys: [publics[0]] });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: HandIssuer = {
    issuer: `${origin}/tenant-x`,
    origin,
    jwks: 'keys',
    requests: [],
    async sign(claims, header = {}, key = 'current') {
      const index = key === 'current' ? 0 : 1;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: state.issuer, aud: DEFAULT_RESOURCE, sub: 'alice', iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `hand-${index}`, ...header } as { alg: string })
        .sign(pairs[index]!.privateKey as KeyObject);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}

describe('a hand-made issuer (RFC 8414 metadata only)', () => {
  let hand: HandIssuer;
  beforeAll(async () => {
    hand = await startHandIssuer();
  });
  afterAll(() => hand.close());
  const handValidator = (options: Partial<ValidatorOptions> = {}) => validator({ allowedIssuers: [hand.issuer], ...options });

  it('discovers the JWKS through /.well-known/oauth-authorization-server/<path>', async () => {
    hand.jwks = 'keys';
    const { fetch, calls } = countingFetch();
    await expect(handValidator({ fetch }).verify(await hand.sign({}))).resolves.toMatchObject({ subject: 'alice' });
    expect(calls).toEqual([`${hand.issuer}/.well-known/openid-configuration`, `${hand.origin}/.well-known/oauth-authorization-server/tenant-x`, `${hand.issuer}/jwks`]);
  });

  it('refuses metadata that names another issuer', async () => {
    const tenantY = `${hand.origin}/tenant-y`;
    const v = validator({ allowedIssuers: [tenantY] });
    await expect(v.verify(await hand.sign({ iss: tenantY }))).rejects.toBeInstanceOf(JwksUnavailableError);
    expect(v.jwksStatus()[0]!.lastError).toMatch(/names issuer .*tenant-x, not .*tenant-y/);
  });

  it('INVALID_TOKEN for nbf in the future (beyond the tolerance); valid once the time comes', async () => {
    hand.jwks = 'keys';
    const clock = testClock();
    const v = handValidator({ now: clock.now });
    const now = Math.floor(Date.now() / 1000);
    const early = await hand.sign({ nbf: now + 300 });
    const err = await expectAuthError(v.verify(early), 'INVALID_TOKEN', early);
    expect(err.description).toMatch(/not yet valid/);
    await expect(v.verify(await hand.sign({ nbf: now + 20 }))).resolves.toBeDefined();
    clock.advance(300_000);
    await expect(v.verify(early)).resolves.toMatchObject({ subject: 'alice' });
  });

  it('INVALID_TOKEN without exp', async () => {
    hand.jwks = 'keys';
    const err = await expectAuthError(handValidator().verify(await hand.sign({ exp: undefined })), 'INVALID_TOKEN');
    expect(err.description).toMatch(/exp/);
  });

  it('INVALID_TOKEN without aud, with exp, nbf or iat that are not numbers, or with iat in the future', async () => {
    hand.jwks = 'keys';
    const v = handValidator();
    const now = Math.floor(Date.now() / 1000);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ aud: undefined }, /no aud claim/],
      [{ exp: String(now + 600) }, /exp claim is invalid/],
      [{ nbf: 'soon' }, /nbf claim is invalid/],
      [{ iat: [now] }, /iat claim is invalid/],
      [{ iat: now + 120 }, /issued in the future; check the clocks/],
    ];
    for (const [claims, description] of cases) {
      const err = await expectAuthError(v.verify(await hand.sign(claims)), 'INVALID_TOKEN');
      expect(err.description).toMatch(description);
    }
    // iat within the clock tolerance, or absent, is fine.
    await expect(v.verify(await hand.sign({ iat: now + 20 }))).resolves.toMatchObject({ subject: 'alice' });
    await expect(v.verify(await hand.sign({ iat: undefined }))).resolves.toMatchObject({ subject: 'alice' });
    // aud as an array naming this server among others is fine.
    await expect(v.verify(await hand.sign({ aud: ['https://other.example', DEFAULT_RESOURCE] }))).resolves.toMatchObject({ subject: 'alice' });
    await expectAuthError(v.verify(await hand.sign({ aud: ['https://other.example'] })), 'INVALID_AUDIENCE');
  });

  it('INVALID_TOKEN for a header with critical extensions (crit), before any signature check', async () => {
    hand.jwks = 'keys';
    const err = await expectAuthError(handValidator().verify(withHeader(await hand.sign({}), { crit: ['exp'], exp: 1 })), 'INVALID_TOKEN');
    expect(err.description).toMatch(/crit/);
  });

  it('authenticate() answers a cached token from the header alone, and parses anything else in full', async () => {
    hand.jwks = 'keys';
    const { fetch, calls } = countingFetch();
    const v = handValidator({ fetch });
    const token = await hand.sign({});
    const auth = (header: string | undefined) => Promise.resolve().then(() => v.authenticate(header));
    const first = v.authenticate(`Bearer ${token}`);
    expect(first).toBeInstanceOf(Promise); // verified in full the first time
    await expect(first).resolves.toMatchObject({ token, verified: { subject: 'alice' } });
    const requests = calls.length;
    const again = v.authenticate(`Bearer ${token}`);
    expect(again).not.toBeInstanceOf(Promise); // a cache hit answers at once
    expect((again as Authenticated).verified).toBe((await auth(`bearer   ${token}  `)).verified);
    expect(calls.length).toBe(requests);
    await expectAuthError(auth(undefined), 'MISSING_AUTHORIZATION');
    await expectAuthError(auth(`Basic ${token}`), 'MISSING_AUTHORIZATION');
    await expectAuthError(auth(`Bearer ${token} x`), 'INVALID_TOKEN');
    await expectAuthError(auth(`Bearer ${token.slice(0, -2)}`), 'INVALID_SIGNATURE');
    // A token sharing the cached one's ending is not taken for it.
    const forged = `x${token.slice(1)}`;
    await expectAuthError(auth(`Bearer ${forged}`), 'INVALID_TOKEN');
  });

  it('accepts typ at+jwt, application/at+jwt in any case, JWT, or none', async () => {
    hand.jwks = 'keys';
    const v = handValidator();
    for (const typ of ['at+jwt', 'application/AT+JWT', 'JWT', 'jwt', undefined]) {
      await expect(v.verify(await hand.sign({}, { typ }))).resolves.toMatchObject({ subject: 'alice' });
    }
  });

  it('builds the caller from scp arrays, groups, roles, email, name and azp', async () => {
    hand.jwks = 'keys';
    const token = await hand.sign({
      scp: ['checklist.read', 'process.read'],
      groups: ['eng'],
      roles: ['admin', 'eng'],
      email: 'alice@example.test',
      name: 'Alice Example',
      azp: 'desktop-app',
      aud: ['https://elsewhere.example.test', DEFAULT_RESOURCE],
    });
    const verified = await handValidator().verify(token);
    expect(verified.caller).toEqual({
      subject: 'alice',
      issuer: hand.issuer,
      email: 'alice@example.test',
      name: 'Alice Example',
      scopes: ['checklist.read', 'process.read'],
      expiresAt: decodeJwt(token).exp,
      clientId: 'desktop-app',
      groups: ['eng', 'admin'],
    });
    expect(verified.audience).toEqual(['https://elsewhere.example.test', DEFAULT_RESOURCE]);
    // Entra ID style: scp as a space-separated string.
    const entra = await handValidator().verify(await hand.sign({ scp: 'a b' }));
    expect(entra.scopes).toEqual(['a', 'b']);
  });

  it('verifies a token without kid against a set where several keys match', async () => {
    hand.jwks = 'both';
    const v = handValidator();
    await expect(v.verify(await hand.sign({}, { kid: undefined }, 'next'))).resolves.toMatchObject({ subject: 'alice' });
    await expect(v.verify(await hand.sign({}, { kid: undefined }, 'current'))).resolves.toMatchObject({ subject: 'alice' });
    const tampered = withClaims(await hand.sign({}, { kid: undefined }), { sub: 'mallory' });
    await expectAuthError(v.verify(tampered), 'INVALID_SIGNATURE');
  });

  it('caps the size of a JWKS', async () => {
    hand.jwks = 'huge';
    const v = handValidator();
    await expect(v.verify(await hand.sign({}))).rejects.toBeInstanceOf(JwksUnavailableError);
    expect(v.jwksStatus()[0]).toMatchObject({ keys: 0, fresh: false, lastError: expect.stringMatching(/more than \d+ bytes/) });
  });

  it('times out a JWKS request that does not answer', async () => {
    hand.jwks = 'hang';
    const v = handValidator({ fetchTimeoutMs: 200 });
    const started = Date.now();
    const err = await v.verify(await hand.sign({})).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JwksUnavailableError);
    expect(err).toMatchObject({ code: 'JWKS_UNAVAILABLE', issuer: hand.issuer });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(v.jwksStatus()[0]!.lastError).toMatch(/did not answer within 200 ms/);
    hand.jwks = 'keys';
  });
});

// ---------------------------------------------------------------------------------------------

describe('JWKS cache', () => {
  it('an unknown kid causes one refetch, at most one per 5 s per issuer', async () => {
    const { fetch, calls, to } = countingFetch();
    const clock = testClock();
    const v = validator({ fetch, now: clock.now });
    const token = await mint(idpA);
    await v.verify(token);
    expect(calls).toHaveLength(2);

    // Right after the first fetch: no refetch.
    await expectAuthError(v.verify(withHeader(token, { kid: 'bogus-0' })), 'INVALID_SIGNATURE');
    expect(calls).toHaveLength(2);

    // 6 s later: a storm of unknown kids makes exactly one request.
    clock.advance(6_000);
    const storm = await Promise.all(Array.from({ length: 25 }, (_, i) => v.verify(withHeader(token, { kid: `bogus-${i + 1}` })).catch((e: unknown) => e)));
    expect(storm.every((e) => e instanceof AuthError && e.code === 'INVALID_SIGNATURE')).toBe(true);
    expect(calls).toHaveLength(3);
    expect(calls[2]).toBe(idpA.url('/jwks'));

    // Within the window: none.
    clock.advance(3_000);
    await expectAuthError(v.verify(withHeader(token, { kid: 'bogus-late' })), 'INVALID_SIGNATURE');
    expect(calls).toHaveLength(3);

    // The limit is per issuer: tenant B still gets its first fetch.
    await v.verify(await mint(idpB));
    expect(to(idpB.issuer)).toHaveLength(2);

    clock.advance(3_000);
    await expectAuthError(v.verify(withHeader(token, { kid: 'bogus-again' })), 'INVALID_SIGNATURE');
    expect(to(idpA.issuer)).toHaveLength(4);
  });

  it('the rate limit is configurable', async () => {
    const { fetch, calls } = countingFetch();
    const clock = testClock();
    const v = validator({ fetch, now: clock.now, unknownKidRefetchSec: 60 });
    const token = await mint(idpA);
    await v.verify(token);
    clock.advance(30_000);
    await expectAuthError(v.verify(withHeader(token, { kid: 'bogus' })), 'INVALID_SIGNATURE');
    expect(calls).toHaveLength(2);
    clock.advance(31_000);
    await expectAuthError(v.verify(withHeader(token, { kid: 'bogus' })), 'INVALID_SIGNATURE');
    expect(calls).toHaveLength(3);
  });

  it('follows a key rotation: new kid refetched, tokens of the withdrawn key refused, even cached ones', async () => {
    const rotating = await idp();
    const { fetch, to } = countingFetch();
    const clock = testClock();
    const v = validator({ allowedIssuers: [rotating.issuer], fetch, now: clock.now });
    const old = await mint(rotating);
    await expect(v.verify(old)).resolves.toBeDefined();

    await rotating.rotateKeys();
    const fresh = await mint(rotating);
    expect(decodeProtectedHeader(fresh).kid).not.toBe(decodeProtectedHeader(old).kid);
    clock.advance(31_000);
    await expect(v.verify(fresh)).resolves.toMatchObject({ issuer: rotating.issuer });
    expect(to(rotating.issuer)).toEqual([rotating.url('/.well-known/openid-configuration'), rotating.url('/jwks'), rotating.url('/jwks')]);

    // The old token was in the verified-token cache; the withdrawn key took it out.
    await expectAuthError(v.verify(old), 'INVALID_SIGNATURE', old);
    await expect(v.verify(await mint(rotating))).resolves.toBeDefined();
    expect(to(rotating.issuer)).toHaveLength(3);

    // A graceful rotation (old key still published) keeps both working.
    const before = await mint(rotating);
    await v.verify(before);
    await rotating.rotateKeys({ keepPrevious: true });
    clock.advance(31_000);
    await expect(v.verify(await mint(rotating))).resolves.toBeDefined();
    await expect(v.verify(before)).resolves.toBeDefined();
    await expect(v.verify(withHeader(before, { kid: 'x' }))).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('refreshes after the TTL', async () => {
    const { fetch, calls } = countingFetch();
    const clock = testClock();
    const v = validator({ fetch, now: clock.now, jwksCacheTtlSec: 60 });
    await v.verify(await mint(idpA));
    const first = v.jwksStatus()[0]!.fetchedAt!;
    clock.advance(61_000);
    expect(v.jwksStatus()[0]!.fresh).toBe(false);
    await v.verify(await mint(idpA));
    expect(calls).toEqual([idpA.url('/.well-known/openid-configuration'), idpA.url('/jwks'), idpA.url('/jwks')]);
    expect(v.jwksStatus()[0]).toMatchObject({ fresh: true });
    expect(v.jwksStatus()[0]!.fetchedAt).toBeGreaterThanOrEqual(first + 61_000);
    expect(v.jwksStatus()[0]!.lastError).toBeUndefined();
  });

  it('keeps the cached keys working when the JWKS endpoint is down (stale-if-error)', async () => {
    const down = await idp();
    const { fetch } = countingFetch();
    const clock = testClock();
    const fetches: string[] = [];
    const v = validator({
      allowedIssuers: [down.issuer],
      fetch,
      now: clock.now,
      jwksCacheTtlSec: 60,
      onJwksFetch: (iss, result) => fetches.push(`${iss === down.issuer} ${result}`),
    });
    const tokens = await Promise.all([mint(down), mint(down), mint(down), mint(down)]);
    await v.verify(tokens[0]!);
    const healthy = v.jwksStatus()[0]!;
    expect(healthy).toMatchObject({ issuer: down.issuer, keys: down.keys.keys.length, fresh: true });

    await down.close();
    clock.advance(61_000);
    await expect(v.verify(tokens[1]!)).resolves.toMatchObject({ issuer: down.issuer });
    const status = v.jwksStatus()[0]!;
    expect(status).toMatchObject({
      keys: healthy.keys,
      fetchedAt: healthy.fetchedAt,
      fresh: false,
      lastError: expect.stringMatching(/^could not reach http:\/\/127\.0\.0\.1:\d+\/jwks: \w+/),
    });
    expect(fetches).toEqual(['true success', 'true failure']);

    // Still failing: answers come from the stale keys without waiting; retries at most every 30 s.
    await expect(v.verify(tokens[2]!)).resolves.toBeDefined();
    expect(fetches).toHaveLength(2);
    clock.advance(31_000);
    await expect(v.verify(tokens[3]!)).resolves.toBeDefined();
    await vi.waitFor(() => expect(fetches).toEqual(['true success', 'true failure', 'true failure']));

    // Without any cached key the issuer's tokens cannot be checked: not an AuthError (503, not 401).
    const cold = validator({ allowedIssuers: [down.issuer] });
    const err = await cold.verify(tokens[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JwksUnavailableError);
    expect(err).not.toBeInstanceOf(AuthError);
    expect(cold.jwksStatus()[0]).toMatchObject({ keys: 0, fresh: false, lastError: expect.stringMatching(/could not reach/) });
  });
});

describe('verified-token cache', () => {
  it('answers a repeated token from the cache, without another verification or request', async () => {
    const { fetch, calls } = countingFetch();
    let hits = 0;
    let misses = 0;
    const v = validator({ fetch, onCacheHit: () => (hits += 1), onCacheMiss: () => (misses += 1) });
    const token = await mint(idpA);
    const first = await v.verify(token);
    const again = await v.verify(token);
    expect(again).toBe(first);
    expect([hits, misses, calls.length]).toEqual([1, 1, 2]);
  });

  it('honours exp on a hit: TOKEN_EXPIRED, and the entry is gone', async () => {
    const clock = testClock();
    let hits = 0;
    let misses = 0;
    const v = validator({ now: clock.now, onCacheHit: () => (hits += 1), onCacheMiss: () => (misses += 1) });
    const token = await mint(idpA);
    await v.verify(token);
    clock.advance(3_600_000 + 31_000);
    await expectAuthError(v.verify(token), 'TOKEN_EXPIRED', token);
    expect([hits, misses]).toEqual([1, 1]);
    await expectAuthError(v.verify(token), 'TOKEN_EXPIRED', token);
    expect([hits, misses]).toEqual([1, 2]);
  });

  it('honours isRevoked on a hit and on a miss', async () => {
    const revoked = new Set<string>();
    let hits = 0;
    const v = validator({ isRevoked: async (t) => revoked.has(t.jti!), onCacheHit: () => (hits += 1) });
    const token = await mint(idpA);
    const { jti } = await v.verify(token);
    await v.verify(token);
    expect(hits).toBe(1);
    revoked.add(jti!);
    await expectAuthError(v.verify(token), 'TOKEN_REVOKED', token);
    expect(hits).toBe(2);
    await expectAuthError(v.verify(token), 'TOKEN_REVOKED', token);

    const other = await mint(idpA);
    revoked.add(decodeJwt(other).jti!);
    const sync = validator({ isRevoked: (t) => revoked.has(t.jti!) });
    await expectAuthError(sync.verify(other), 'TOKEN_REVOKED');
  });

  it('names a token by iss + jti for revocation, the same whoever verifies it', async () => {
    const token = await mint(idpA);
    const [a, b] = [await validator().verify(token), await validator().verify(token)];
    expect(a.tokenId).toBe(b.tokenId);
    expect(a.tokenId).toBe(
      createHash('sha256')
        .update(JSON.stringify(['jti', idpA.issuer, a.jti]))
        .digest('base64url'),
    );
    expect((await validator().verify(await mint(idpA))).tokenId).not.toBe(a.tokenId);
  });

  it('evicts the least recently used entry at cacheSize', async () => {
    let hits = 0;
    let misses = 0;
    const v = validator({ cacheSize: 2, onCacheHit: () => (hits += 1), onCacheMiss: () => (misses += 1) });
    const [t1, t2, t3] = await Promise.all([mint(idpA), mint(idpA), mint(idpA)]);
    await v.verify(t1!);
    await v.verify(t2!);
    await v.verify(t1!); // t1 is now the most recent: t2 goes next
    await v.verify(t3!);
    expect([hits, misses]).toEqual([1, 3]);
    await v.verify(t1!);
    await v.verify(t3!);
    expect([hits, misses]).toEqual([3, 3]);
    await v.verify(t2!);
    expect([hits, misses]).toEqual([3, 4]);
  });

  it('cacheSize 0 verifies every time', async () => {
    let misses = 0;
    const v = validator({ cacheSize: 0, onCacheMiss: () => (misses += 1) });
    const token = await mint(idpA);
    await v.verify(token);
    await v.verify(token);
    expect(misses).toBe(2);
  });

  it('close() forgets everything and refuses further work', async () => {
    const v = validator();
    const token = await mint(idpA);
    await v.verify(token);
    v.close();
    await expect(v.verify(token)).rejects.toThrow(/closed/);
  });
});

describe('AuthError', () => {
  it('maps codes to statuses and actions, and keeps descriptions header-safe', () => {
    const scope = authErrorOf('INSUFFICIENT_SCOPE', 'this tool needs "checklist.read" \\ now\n', { scope: ['checklist.read', 'process.read'] });
    expect(scope).toMatchObject({ code: 'INSUFFICIENT_SCOPE', status: 403, scope: 'checklist.read process.read' });
    expect(scope.description).toBe("this tool needs 'checklist.read' now");
    expect(scope.message).toBe("could not authorize the request: this tool needs 'checklist.read' now");
    expect(authErrorOf('ACCESS_DENIED', 'policy').status).toBe(403);
    expect(authErrorOf('TOKEN_EXPIRED', 'x').action).toBe('refresh the token or sign in again (seed-mcp login); check the clock of the machine that sent it');
    expect(authErrorOf('INVALID_TOKEN', 'x').action).toBe('sign in again to get a fresh token (seed-mcp login)');
    expect(authErrorOf('INVALID_TOKEN', 'x', { action: 'custom' }).action).toBe('custom');
    expect(authErrorOf('INVALID_TOKEN', 'y'.repeat(500)).description.length).toBeLessThanOrEqual(200);
  });
});
