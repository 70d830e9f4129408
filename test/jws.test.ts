/**
 * The signature layer of the cloud validator (src/cloud/auth/jws.ts), checked against jose: every
 * accepted algorithm signs with jose and verifies here, and every way a key or signature can be
 * wrong is refused here as jose refuses it.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, exportJWK, flattenedVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { candidateKeys, decodeCompact, importVerificationKeys, isCanonicalBase64url, SIGNATURE_ALGORITHMS, verifySignature } from '../src/cloud/auth/jws.js';

type Pair = { publicKey: KeyObject; privateKey: KeyObject };

function pairFor(alg: string): Pair {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (alg === 'ES384') return generateKeyPairSync('ec', { namedCurve: 'P-384' });
  if (alg === 'ES512') return generateKeyPairSync('ec', { namedCurve: 'P-521' });
  return generateKeyPairSync('ed25519');
}

async function signed(alg: string, pair: Pair, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', iss: 'https://idp.example' })
    .setProtectedHeader({ alg, typ: 'at+jwt', kid: 'k1', ...header })
    .setExpirationTime('5m')
    .sign(pair.privateKey);
}

async function keysOf(pair: Pair, extra: Record<string, unknown> = {}) {
  return importVerificationKeys([{ ...(await exportJWK(pair.publicKey)), kid: 'k1', ...extra }]);
}

function check(token: string, keys: ReturnType<typeof importVerificationKeys>): boolean {
  const jws = decodeCompact(token);
  if (!jws) return false;
  const alg = jws.header.alg as string;
  return candidateKeys(keys, alg, jws.header.kid).some((k) => verifySignature(alg, k.key, jws.signingInput, jws.signature));
}

describe('verifySignature against jose', () => {
  for (const alg of SIGNATURE_ALGORITHMS) {
    it(`${alg}: a jose-signed token verifies; a changed payload or signature does not`, async () => {
      const pair = pairFor(alg);
      const token = await signed(alg, pair);
      const keys = await keysOf(pair);
      expect(keys).toHaveLength(1);
      expect(check(token, keys)).toBe(true);

      const [h, p, s] = token.split('.') as [string, string, string];
      const otherPayload = Buffer.from(JSON.stringify({ sub: 'mallory', iss: 'https://idp.example' })).toString('base64url');
      expect(check(`${h}.${otherPayload}.${s}`, keys)).toBe(false);
      const flipped = Buffer.from(s, 'base64url');
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
      expect(check(`${h}.${p}.${flipped.toString('base64url')}`, keys)).toBe(false);
      // jose agrees on both (the reference this file replaces on the hot path).
      const joseKey = await importJWK({ ...(await exportJWK(pair.publicKey)) }, alg);
      await expect(flattenedVerify({ protected: h, payload: p, signature: s }, joseKey)).resolves.toBeTruthy();
      await expect(flattenedVerify({ protected: h, payload: p, signature: flipped.toString('base64url') }, joseKey)).rejects.toThrow();
    });
  }

  it('does not verify with a key of another algorithm family or curve', async () => {
    const rsa = pairFor('RS256');
    const p256 = pairFor('ES256');
    const p384 = pairFor('ES384');
    const rsToken = await signed('RS256', rsa);
    const esToken = await signed('ES256', p256);
    expect(check(rsToken, await keysOf(p256))).toBe(false);
    expect(check(esToken, await keysOf(rsa))).toBe(false);
    // The same EC key family, the wrong curve for the alg.
    expect(check(esToken, await keysOf(p384))).toBe(false);
    // An ES256 signature presented as ES384 has the wrong length.
    const [, p, s] = esToken.split('.');
    const relabelled = `${Buffer.from(JSON.stringify({ alg: 'ES384', kid: 'k1' })).toString('base64url')}.${p}.${s}`;
    expect(check(relabelled, await keysOf(p384))).toBe(false);
    // An RS256 token relabelled PS256: same key, other padding.
    const [, rp, rs] = rsToken.split('.');
    expect(check(`${Buffer.from(JSON.stringify({ alg: 'PS256', kid: 'k1' })).toString('base64url')}.${rp}.${rs}`, await keysOf(rsa))).toBe(false);
  });

  it('honours the key’s kid, alg, use and key_ops', async () => {
    const pair = pairFor('RS256');
    const token = await signed('RS256', pair);
    expect(check(token, await keysOf(pair, { kid: 'other' }))).toBe(false);
    expect(check(token, await keysOf(pair, { alg: 'RS512' }))).toBe(false);
    expect(check(token, await keysOf(pair, { alg: 'RS256' }))).toBe(true);
    expect(await keysOf(pair, { use: 'enc' })).toHaveLength(0);
    expect(await keysOf(pair, { key_ops: ['encrypt'] })).toHaveLength(0);
    expect(await keysOf(pair, { key_ops: ['verify'] })).toHaveLength(1);
    // A token without kid may be checked by any key of the right type.
    expect(check(await signed('RS256', pair, { kid: undefined }), await keysOf(pair))).toBe(true);
  });

  it('leaves out short RSA keys, private keys, symmetric keys and keys Node cannot import', async () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const good = pairFor('ES256');
    const keys = importVerificationKeys([
      { ...(await exportJWK(short.publicKey)), kid: 'short' },
      { ...(await exportJWK(good.privateKey)), kid: 'private' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
      { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'broken' },
      { ...(await exportJWK(good.publicKey)), kid: 'good' },
    ]);
    expect(keys.map((k) => k.kid)).toEqual(['good']);
  });
});

describe('decodeCompact', () => {
  it('takes a compact JWS apart and refuses anything else', async () => {
    const token = await signed('ES256', pairFor('ES256'));
    const jws = decodeCompact(token);
    expect(jws?.header).toMatchObject({ alg: 'ES256', kid: 'k1' });
    expect(jws?.payload).toMatchObject({ sub: 'alice' });
    expect(jws?.signingInput).toBe(token.slice(0, token.lastIndexOf('.')));

    const [h, p, s] = token.split('.') as [string, string, string];
    const array = Buffer.from('[1]').toString('base64url');
    for (const bad of [
      '',
      'a',
      'a.b',
      `${h}.${p}.${s}.x`,
      `${h}..${s}`,
      `.${p}.${s}`,
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s.slice(0, 10)}+${s.slice(11)}`,
      `${h}=.${p}.${s}`,
      `${array}.${p}.${s}`,
      `${h}.${array}.${s}`,
      `bm90IGpzb24.${p}.${s}`,
    ]) {
      expect(decodeCompact(bad), bad).toBeUndefined();
    }
    // An unsigned token still decodes: its alg is what refuses it.
    expect(decodeCompact(`${h}.${p}.`)?.signature.length).toBe(0);
  });

  it('a JWS with an unencoded payload (RFC 7797 b64: false) does not decode as a token', () => {
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', b64: false, crit: ['b64'] })).toString('base64url');
    // The payload segment holds raw JSON, which is outside the base64url alphabet.
    expect(decodeCompact(`${header}.{"sub":"alice"}.c2ln`)).toBeUndefined();
  });
});

describe('canonical base64url', () => {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  /** The definition: only base64url characters, and re-encoding the decoded bytes gives the text back. */
  const canonical = (text: string) => /^[A-Za-z0-9_-]+$/.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text;

  it('is exactly "re-encoding gives it back", for every text of up to 3 characters and random longer ones', () => {
    const chars = `${ALPHABET}=+/ .`;
    const texts: string[] = [''];
    for (const a of chars) {
      texts.push(a);
      for (const b of chars) {
        texts.push(a + b);
        for (const c of ALPHABET) texts.push(a + b + c);
      }
    }
    for (let n = 0; n < 2000; n += 1) {
      const text = randomBytes(1 + (n % 40)).toString('base64url');
      texts.push(text, text.slice(0, -1) + chars[n % chars.length]!);
    }
    const wrong = texts.filter((text) => isCanonicalBase64url(text) !== canonical(text));
    expect(wrong).toEqual([]);
    // Both kinds are well represented.
    expect(texts.filter(canonical).length).toBeGreaterThan(10_000);
    expect(texts.filter((t) => !canonical(t)).length).toBeGreaterThan(10_000);
  });

  it('decodeCompact refuses every other spelling of a segment, each of which decodes to the same bytes', async () => {
    const pair = pairFor('RS256');
    // Filler until all three segments have unused bits in their last character.
    let token = '';
    for (let i = 0; i < 16 && !token; i += 1) {
      const candidate = await new SignJWT({ sub: 'alice', pad: 'p'.repeat(i % 4) }).setProtectedHeader({ alg: 'RS256', kid: 'k1', pad: 'h'.repeat(i >> 2) }).sign(pair.privateKey);
      if (candidate.split('.').every((segment) => segment.length % 4 !== 0)) token = candidate;
    }
    expect(token).not.toBe('');
    expect(check(token, await keysOf(pair))).toBe(true);
    const segments = token.split('.');
    let refused = 0;
    for (const [index, segment] of segments.entries()) {
      const spellings = [...ALPHABET].map((c) => segment.slice(0, -1) + c).concat(`${segment}=`, `${segment}==`, segment.replace(/-/g, '+').replace(/_/g, '/'));
      for (const spelling of spellings) {
        if (spelling === segment || !Buffer.from(spelling, 'base64url').equals(Buffer.from(segment, 'base64url'))) continue;
        const changed = [...segments];
        changed[index] = spelling;
        expect(decodeCompact(changed.join('.')), `segment ${index}: ${spelling.slice(-4)}`).toBeUndefined();
        refused += 1;
      }
    }
    expect(refused).toBeGreaterThanOrEqual(3 * 3 + 15);
    // A length of 1 more than a multiple of 4: a dangling character, which Node's decoder ignores.
    const [h, p, s] = segments as [string, string, string];
    expect(s.length % 4).toBe(2);
    expect(decodeCompact(`${h}.${p}.${s.slice(0, -1)}`)).toBeUndefined();
    expect(decodeCompact(token)).toBeDefined();
  });
});
