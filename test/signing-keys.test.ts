/**
 * The OAuth proxy's signing keys: what OAUTH_SIGNING_KEYS accepts and refuses, and rotation (a new
 * key first signs; the old one, still published, keeps its tokens valid until it is removed).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTokenValidator } from '../src/cloud/auth/validator.js';
import { loadCloudConfig } from '../src/cloud/config.js';
import { parseSigningKeys, signAccessToken, signingKeys } from '../src/cloud/oauth/signing-keys.js';
import { configError, problems } from './support/config-error.js';

const ISSUER = 'https://mcp.example.com';
const AUD = 'https://mcp.example.com/mcp';
const pem = (type: 'ec' | 'rsa' | 'ed25519', options: Record<string, unknown> = {}) =>
  (generateKeyPairSync as (t: string, o: object) => { privateKey: import('node:crypto').KeyObject })(type, options).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

const claims = { iss: ISSUER, aud: AUD, sub: 'alice', client_id: 'mcp_a', scope: 'checklist.read', jti: 'j-1', ttlSec: 600 };

function validatorFor(jwks: Record<string, unknown>[]) {
  return createTokenValidator({ allowedIssuers: ['https://idp.example.com'], audiences: [AUD], jwksCacheTtlSec: 3600, localIssuers: [{ issuer: ISSUER, jwks }], cacheSize: 0 });
}

describe('signing keys', () => {
  it('reads EC, RSA and Ed25519 keys, with RFC 7638 thumbprints as kid, and signs at+jwt tokens the server accepts', async () => {
    for (const [key, alg] of [
      [pem('ec', { namedCurve: 'P-256' }), 'ES256'],
      [pem('ec', { namedCurve: 'P-384' }), 'ES384'],
      [pem('rsa', { modulusLength: 2048 }), 'RS256'],
      [pem('ed25519'), 'EdDSA'],
    ] as const) {
      const keys = signingKeys(key);
      expect(keys.current.alg).toBe(alg);
      expect(keys.current.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(keys.jwks[0]).not.toHaveProperty('d');
      const token = await signAccessToken(keys, claims);
      expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({ alg, kid: keys.current.kid, typ: 'at+jwt' });
      const verified = await validatorFor(keys.jwks).verify(token);
      expect(verified).toMatchObject({ issuer: ISSUER, subject: 'alice', clientId: 'mcp_a', scopes: ['checklist.read'] });
      expect(verified.expiresAt! - Math.floor(Date.now() / 1000)).toBeGreaterThan(590);
    }
  });

  it('rotates: the new key signs first, the old one still verifies while published, and not after', async () => {
    const [oldPem, newPem] = [pem('ec', { namedCurve: 'P-256' }), pem('ec', { namedCurve: 'P-256' })];
    const before = signingKeys(oldPem);
    const oldToken = await signAccessToken(before, claims);
    const during = signingKeys(`${newPem}\n${oldPem}`);
    expect(during.jwks.map((k) => k.kid)).toEqual([signingKeys(newPem).current.kid, before.current.kid]);
    const newToken = await signAccessToken(during, claims);
    expect(JSON.parse(Buffer.from(newToken.split('.')[0]!, 'base64url').toString()).kid).toBe(during.current.kid);
    const rotating = validatorFor(during.jwks);
    await expect(rotating.verify(oldToken)).resolves.toMatchObject({ subject: 'alice' });
    await expect(rotating.verify(newToken)).resolves.toMatchObject({ subject: 'alice' });
    const after = validatorFor(signingKeys(newPem).jwks);
    await expect(after.verify(oldToken)).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
    await expect(after.verify(newToken)).resolves.toMatchObject({ subject: 'alice' });
  });

  it('refuses what cannot sign, saying why and never quoting the key', () => {
    expect(() => parseSigningKeys('not a key')).toThrow(/no PEM private key/);
    expect(() => parseSigningKeys(pem('rsa', { modulusLength: 1024 }))).toThrow(/key 1: an RSA signing key must have at least 2048 bits/);
    expect(() => parseSigningKeys(pem('ec', { namedCurve: 'secp256k1' }))).toThrow(/key 1: a signing key must be/);
    const broken = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----';
    expect(() => parseSigningKeys(broken)).toThrow(/key 1 is not a readable private key/);
    const err = configError(() => loadCloudConfig({ OIDC_ISSUER: 'https://idp.example.com', OIDC_AUDIENCE: AUD, OAUTH_PROXY_ENABLED: 'true', OAUTH_SIGNING_KEYS: broken }));
    expect(problems(err)).toEqual(['OAUTH_SIGNING_KEYS must hold PEM private keys: key 1 is not a readable private key (an encrypted key needs its passphrase removed)']);
    expect(err.message).not.toContain('AAAA');
  });

  it('is required with REDIS_URL (replicas must share it), and made at start-up otherwise, with a warning', () => {
    const proxy = { OIDC_ISSUER: 'https://idp.example.com', OIDC_AUDIENCE: AUD, OAUTH_PROXY_ENABLED: 'true', BASE_URL: ISSUER };
    expect(problems(configError(() => loadCloudConfig({ ...proxy, REDIS_URL: 'redis://127.0.0.1:6379' })))).toEqual([
      'OAUTH_SIGNING_KEYS must be configured when OAUTH_PROXY_ENABLED=true with REDIS_URL: every replica must sign with the same keys (OAUTH_SIGNING_KEYS_FILE, a PEM private key)',
    ]);
    expect(loadCloudConfig(proxy).warnings).toEqual([expect.stringMatching(/^OAUTH_SIGNING_KEYS is not set: .*OAUTH_SIGNING_KEYS_FILE$/)]);
    expect(signingKeys(undefined)).toMatchObject({ ephemeral: true, current: { alg: 'ES256' } });
  });
});
