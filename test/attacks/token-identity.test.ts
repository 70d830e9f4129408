/**
 * Attacks on the identity of a bearer token (issue #11): a revoked token must stay revoked under
 * every other spelling of it, and under every other signature of the same signed content.
 *
 * base64url leaves the low bits of a segment's last character unused, and Node's decoder also
 * takes `=` padding, `+` and `/`, whitespace and a dangling sixth character: dozens of texts
 * decode to the very bytes of one token. An ECDSA signature (r, s) has a twin (r, n − s) that
 * verifies as well. The validator must refuse the spellings outright (INVALID_TOKEN)
 * and name a token by `iss` + `jti`, or by what its issuer signed, so that neither the spellings
 * nor the twin get a new revocation id.
 *
 * Tokens are real: signed with jose by hand-made issuers (claims chosen per test, no `jti` where it
 * matters, keys served through the validator's `fetch` seam) and by a real oidc-provider IdP. The
 * revocation list is the server's own: `createRevocationList` over the memory store, failing closed.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { decodeJwt, exportJWK, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, createTokenValidator, type AuthErrorCode, type TokenValidator, type ValidatorOptions, type VerifiedToken } from '../../src/cloud/auth/validator.js';
import { tokenIdOf } from '../../src/cloud/auth/verified-token.js';
import { createMemoryStore } from '../../src/cloud/store/memory-store.js';
import { createRevocationList, type RevocationList } from '../../src/cloud/store/revocations.js';
import type { SharedStore } from '../../src/cloud/store/types.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from '../support/idp.js';

// ---------------------------------------------------------------------------------------------
// Issuers

type Alg = 'RS256' | 'ES256' | 'EdDSA';

interface HandIssuer {
  issuer: string;
  /** A token signed with jose: `exp` in 10 minutes, `iat` now, no `jti` unless given. */
  sign(alg: Alg, claims?: JWTPayload, header?: Record<string, unknown>): Promise<string>;
}

/** Issuers served through a `fetch` seam: OIDC metadata and a JWKS with one key per algorithm. */
const handIssuers = new Map<string, { jwks: unknown }>();

const handFetch: typeof fetch = async (input) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
  for (const [issuer, served] of handIssuers) {
    if (url.href === `${issuer}/.well-known/openid-configuration`) return json({ issuer, jwks_uri: `${issuer}/jwks` });
    if (url.href === `${issuer}/jwks`) return json(served.jwks);
  }
  return new Response('{}', { status: 404 });
};

async function handIssuer(issuer: string): Promise<HandIssuer> {
  const pairs: Record<Alg, { publicKey: KeyObject; privateKey: KeyObject }> = {
    RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    EdDSA: generateKeyPairSync('ed25519'),
  };
  const keys = await Promise.all((Object.keys(pairs) as Alg[]).map(async (alg) => ({ ...(await exportJWK(pairs[alg].publicKey)), kid: `k-${alg}`, alg, use: 'sig' })));
  handIssuers.set(issuer, { jwks: { keys } });
  return {
    issuer,
    async sign(alg, claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: DEFAULT_RESOURCE, sub: 'alice', scope: 'mcp:tools', iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg, typ: 'at+jwt', kid: `k-${alg}`, ...header })
        .sign(pairs[alg].privateKey);
    },
  };
}

/**
 * A token from `issuer` whose three segments all have a length that is not a multiple of 4, so
 * that each has unused bits in its last character (filler in an unprotected header member and a
 * claim). ES256, RS256 (2048 bits) and EdDSA signatures are 86 or 342 characters: ≡ 2 (mod 4).
 */
async function withUnusedBits(issuer: HandIssuer, alg: Alg, claims: JWTPayload = {}): Promise<string> {
  for (let h = 0; h < 4; h += 1) {
    for (let p = 0; p < 4; p += 1) {
      const token = await issuer.sign(alg, { ...claims, pad: 'p'.repeat(p) }, { pad: 'h'.repeat(h) });
      if (token.split('.').every((segment) => segment.length % 4 !== 0)) return token;
    }
  }
  throw new Error('no filler gave three segments with unused bits');
}

// ---------------------------------------------------------------------------------------------
// Spellings

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const bytesOf = (segment: string) => Buffer.from(segment, 'base64url');

/**
 * Every other spelling of `segment` that Node's base64url decoder reads as the same bytes: the
 * last character with other unused bits, `=` padding, the standard alphabet's `+` and `/`,
 * whitespace, and a dangling sixth character where the length is a multiple of 4.
 */
function respellings(segment: string): string[] {
  const out = new Set<string>();
  const head = segment.slice(0, -1);
  for (const c of ALPHABET) out.add(head + c);
  out.add(`${segment}=`);
  out.add(`${segment}==`);
  out.add(segment.replace(/-/g, '+').replace(/_/g, '/'));
  out.add(`${segment.slice(0, 8)} ${segment.slice(8)}`);
  out.add(`${segment.slice(0, 8)}\n${segment.slice(8)}`);
  if (segment.length % 4 === 0) out.add(`${segment}A`);
  out.delete(segment);
  const same = bytesOf(segment);
  return [...out].filter((variant) => bytesOf(variant).equals(same));
}

/** Every other spelling of `token`, one segment changed at a time, with what was changed. */
function variantsOf(token: string): { name: string; token: string }[] {
  const segments = token.split('.');
  const out: { name: string; token: string }[] = [];
  for (const [index, part] of ['header', 'payload', 'signature'].entries()) {
    for (const variant of respellings(segments[index]!)) {
      const changed = [...segments];
      changed[index] = variant;
      out.push({ name: `${part} spelled ${JSON.stringify(variant.slice(-6))}`, token: changed.join('.') });
    }
  }
  return out;
}

/**
 * The twin of an ES256 token: same header and payload, the signature (r, s) as (r, n − s). It is
 * a valid signature of the same content (ECDSA does not tell the two apart), not a respelling.
 */
function ecdsaTwin(token: string): string {
  const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = bytesOf(signature);
  const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`);
  const twin = Buffer.concat([bytes.subarray(0, 32), Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex')]);
  return `${header}.${payload}.${twin.toString('base64url')}`;
}

// ---------------------------------------------------------------------------------------------
// The server's parts

let issuerA: HandIssuer;
let issuerB: HandIssuer;
let idp: TestIdp;
const validators: TokenValidator[] = [];
const closers: (() => Promise<void>)[] = [];

function validator(options: Partial<ValidatorOptions> = {}): TokenValidator {
  const created = createTokenValidator({
    allowedIssuers: [issuerA.issuer, issuerB.issuer, idp.issuer],
    audiences: [DEFAULT_RESOURCE],
    jwksCacheTtlSec: 3600,
    fetch: (input, init) => (String(input instanceof Request ? input.url : input).startsWith(idp.issuer) ? fetch(input, init) : handFetch(input, init)),
    ...options,
  });
  validators.push(created);
  return created;
}

/** A validator that checks the server's revocation list (memory store, failing closed), as `seed-mcp cloud` wires it. */
async function revokingServer(options: Partial<ValidatorOptions> = {}): Promise<{ validator: TokenValidator; revocations: RevocationList; store: SharedStore }> {
  const store = createMemoryStore();
  const revocations = createRevocationList(store, { failMode: 'closed' });
  closers.push(async () => {
    await revocations.close();
    await store.close();
  });
  await revocations.start();
  return { validator: validator({ ...options, isRevoked: (token) => revocations.isRevoked(token.tokenId) }), revocations, store };
}

async function revoke(revocations: RevocationList, verified: VerifiedToken): Promise<void> {
  await revocations.revoke(verified.tokenId, verified.expiresAt!);
}

/** What verifying `token` ends in: the code it is refused with, or 'accepted'. */
async function outcome(v: TokenValidator, token: string): Promise<AuthErrorCode | 'accepted'> {
  return v.verify(token).then(
    () => 'accepted' as const,
    (err: unknown) => {
      if (!(err instanceof AuthError)) throw err;
      expect(err.status).toBe(401);
      return err.code;
    },
  );
}

/** The same, through the per-request entry point (the verified-token cache's hot path). */
async function outcomeOfHeader(v: TokenValidator, token: string): Promise<AuthErrorCode | 'accepted'> {
  return Promise.resolve()
    .then(() => v.authenticate(`Bearer ${token}`))
    .then(
      () => 'accepted' as const,
      (err: unknown) => {
        if (!(err instanceof AuthError)) throw err;
        return err.code;
      },
    );
}

beforeAll(async () => {
  [issuerA, issuerB, idp] = await Promise.all([
    handIssuer('https://tenant-a.attack.test'),
    handIssuer('https://tenant-b.attack.test'),
    startIdp({ accessTokenAlg: 'ES256', extraScopes: ['mcp:tools'] }),
  ]);
});

afterAll(async () => {
  for (const v of validators) v.close();
  for (const close of closers) await close();
  await idp?.close();
});

// ---------------------------------------------------------------------------------------------

describe('a revoked token without jti, spelled otherwise', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`${alg}: every other spelling of it is refused, none accepted`, async () => {
      const { validator: v, revocations } = await revokingServer();
      const token = await withUnusedBits(issuerA, alg);
      expect(decodeJwt(token).jti).toBeUndefined();
      const verified = await v.verify(token);
      await revoke(revocations, verified);
      expect(await outcome(v, token)).toBe('TOKEN_REVOKED');

      const variants = variantsOf(token);
      // The attack has material: 15 other last characters of each segment at least.
      expect(variants.filter((x) => x.name.startsWith('signature')).length).toBeGreaterThanOrEqual(15);
      expect(variants.filter((x) => x.name.startsWith('header')).length).toBeGreaterThanOrEqual(3);
      expect(variants.filter((x) => x.name.startsWith('payload')).length).toBeGreaterThanOrEqual(3);
      const fresh = validator({ isRevoked: (t) => revocations.isRevoked(t.tokenId) });
      for (const variant of variants) {
        expect(await outcome(v, variant.token), variant.name).toBe('INVALID_TOKEN');
        expect(await outcomeOfHeader(v, variant.token), variant.name).not.toBe('accepted');
        // A replica that never saw the original refuses it just the same.
        expect(await outcome(fresh, variant.token), variant.name).toBe('INVALID_TOKEN');
      }
      expect(await outcome(v, token)).toBe('TOKEN_REVOKED');
    });
  }

  it('ES256: the twin signature (r, n − s) verifies, and is refused as the same revoked token', async () => {
    const { validator: v, revocations } = await revokingServer();
    const token = await issuerA.sign('ES256');
    const twin = ecdsaTwin(token);
    expect(twin).not.toBe(token);
    // Without a revocation the twin is a valid token, with the very identity of the original.
    const bystander = validator();
    const [original, twinVerified] = [await bystander.verify(token), await bystander.verify(twin)];
    expect(twinVerified.tokenId).toBe(original.tokenId);

    await revoke(revocations, await v.verify(token));
    expect(await outcome(v, token)).toBe('TOKEN_REVOKED');
    expect(await outcome(v, twin)).toBe('TOKEN_REVOKED');
  });

  it('the revocation of one token does not reach another of the same issuer and subject', async () => {
    const { validator: v, revocations } = await revokingServer();
    const token = await issuerA.sign('RS256');
    const other = await issuerA.sign('RS256', { scope: 'mcp:tools checklist.read' });
    await revoke(revocations, await v.verify(token));
    expect(await outcome(v, token)).toBe('TOKEN_REVOKED');
    expect(await outcome(v, other)).toBe('accepted');
  });
});

describe('the verified-token cache never answers another spelling', () => {
  it('a cached token’s spellings are misses, verified in full and refused; the token itself stays a hit', async () => {
    let hits = 0;
    let misses = 0;
    const v = validator({ onCacheHit: () => (hits += 1), onCacheMiss: () => (misses += 1) });
    const token = await withUnusedBits(issuerA, 'RS256');
    await v.verify(token);
    expect(v.authenticate(`Bearer ${token}`)).not.toBeInstanceOf(Promise);
    expect([hits, misses]).toEqual([1, 1]);

    const variants = variantsOf(token).filter((x) => !/\s/.test(x.token));
    // Some share the cached token's last 32 characters (its cache key): a header or payload respelled.
    expect(variants.some((x) => x.token.slice(-32) === token.slice(-32))).toBe(true);
    for (const variant of variants) {
      expect(await outcomeOfHeader(v, variant.token), variant.name).toBe('INVALID_TOKEN');
      expect(await outcome(v, variant.token), variant.name).toBe('INVALID_TOKEN');
    }
    // Not one answered from the cache; every verify() of a variant was a miss.
    expect(hits).toBe(1);
    expect(misses).toBeGreaterThanOrEqual(1 + variants.length);
    const again = v.authenticate(`Bearer ${token}`);
    expect(again).not.toBeInstanceOf(Promise);
    expect(hits).toBe(2);
  });
});

describe('a revoked token with jti', () => {
  it('another token of the same issuer with the same jti, signed anew, is refused too', async () => {
    const { validator: v, revocations } = await revokingServer();
    const jti = 'a1b2c3';
    const first = await issuerA.sign('ES256', { jti });
    const verified = await v.verify(first);
    expect(verified.tokenId).toBe(tokenIdOf(issuerA.issuer, jti, 'ignored with a jti'));
    await revoke(revocations, verified);

    for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
      const resigned = await issuerA.sign(alg, { jti, scope: 'mcp:tools checklist.read', sub: 'alice-again' });
      expect(await outcome(v, resigned), alg).toBe('TOKEN_REVOKED');
    }
    // The same jti from another issuer is another token; another jti of the same issuer too.
    expect(await outcome(v, await issuerB.sign('ES256', { jti }))).toBe('accepted');
    expect(await outcome(v, await issuerA.sign('ES256', { jti: `${jti}x` }))).toBe('accepted');
  });

  it('a real IdP’s ES256 token: revoked, its spellings and its twin are refused', async () => {
    const { validator: v, revocations } = await revokingServer();
    const token = await idp.serviceToken({ resource: DEFAULT_RESOURCE, scope: 'mcp:tools' });
    const verified = await v.verify(token);
    expect(verified.jti).toBeDefined();
    expect(verified.tokenId).toBe(tokenIdOf(idp.issuer, verified.jti, ''));
    await revoke(revocations, verified);
    expect(await outcome(v, token)).toBe('TOKEN_REVOKED');
    expect(await outcome(v, ecdsaTwin(token))).toBe('TOKEN_REVOKED');
    for (const variant of variantsOf(token)) expect(await outcome(v, variant.token), variant.name).not.toBe('accepted');
  });

  it('iss and jti boundaries cannot be shifted to reach another token’s id', () => {
    expect(tokenIdOf('https://a.test/x', 'y', '')).not.toBe(tokenIdOf('https://a.test/', 'xy', ''));
    expect(tokenIdOf('https://a.test', '","b', '')).not.toBe(tokenIdOf('https://a.test","', 'b', ''));
    // The id is base64url of a sha256: safe as part of a store key.
    expect(tokenIdOf('https://a.test', undefined, 'e30.e30')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokenIdOf('https://a.test', undefined, 'e30.e30')).not.toBe(tokenIdOf('https://a.test', undefined, 'e30.e31'));
  });
});

describe('iat in the future', () => {
  it('refused beyond the clock tolerance, accepted within it; absent is fine; not a number is refused', async () => {
    const v = validator();
    const now = Math.floor(Date.now() / 1000);
    const future = await issuerA.sign('ES256', { iat: now + 300, exp: now + 900 });
    await expect(v.verify(future)).rejects.toMatchObject({ code: 'INVALID_TOKEN', status: 401, description: 'the token was issued in the future; check the clocks' });
    expect(await outcome(v, await issuerA.sign('ES256', { iat: now + 15 }))).toBe('accepted');
    expect(await outcome(v, await issuerA.sign('ES256', { iat: undefined }))).toBe('accepted');
    for (const iat of ['soon', String(now), null, [now]])
      expect(await outcome(v, await issuerA.sign('ES256', { iat } as unknown as JWTPayload)), String(iat)).toBe('INVALID_TOKEN');
  });

  it('follows the configured tolerance and the clock', async () => {
    let offsetMs = 0;
    const strict = validator({ clockToleranceSec: 0, now: () => Date.now() + offsetMs });
    const now = Math.floor(Date.now() / 1000);
    const ahead = await issuerA.sign('RS256', { iat: now + 60 });
    expect(await outcome(strict, ahead)).toBe('INVALID_TOKEN');
    offsetMs = 61_000;
    expect(await outcome(strict, ahead)).toBe('accepted');
    expect(await outcome(validator({ clockToleranceSec: 120 }), ahead)).toBe('accepted');
  });
});

describe('after the attack', () => {
  it('a server that revoked nothing still accepts the original tokens', async () => {
    const { validator: v } = await revokingServer();
    const tokens = [await withUnusedBits(issuerA, 'RS256'), await withUnusedBits(issuerB, 'ES256'), await idp.serviceToken({ resource: DEFAULT_RESOURCE })];
    for (const token of tokens) {
      for (const variant of variantsOf(token)) expect(await outcome(v, variant.token), variant.name).not.toBe('accepted');
      expect(await outcome(v, token)).toBe('accepted');
      expect(await outcomeOfHeader(v, token)).toBe('accepted');
      expect(await outcome(validator(), token)).toBe('accepted');
    }
  });
});
