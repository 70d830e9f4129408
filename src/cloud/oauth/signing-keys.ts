/**
 * The OAuth proxy's own signing keys: the access tokens it issues are JWTs signed with the first
 * key, and every key's public half is published at `/oauth/jwks`. Keys come from
 * `OAUTH_SIGNING_KEYS` (usually `_FILE`): one or more PEM private keys, the first signing and the
 * others published only (rotation: put the new key first, keep the old one until the tokens it
 * signed have expired). Every replica must be given the same file. Without it (one replica, no
 * Redis) a key is made at start-up and the tokens die with the process.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

type Jwk = Record<string, unknown>;

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256' | 'ES384' | 'EdDSA';
  privateKey: KeyObject;
  publicJwk: Jwk;
}

export interface SigningKeys {
  /** The key that signs. */
  current: SigningKey;
  /** Every key's public JWK, the current one first: the JWKS to publish. */
  jwks: Jwk[];
  /** Whether the keys were made at start-up (not configured). */
  ephemeral: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----/g;

/** RFC 7638 thumbprint of a public JWK: the kid. */
function thumbprint(jwk: Jwk): string {
  const members = jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x'];
  const canonical = `{${members.map((m) => `"${m}":${JSON.stringify(jwk[m])}`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

function toSigningKey(privateKey: KeyObject): SigningKey {
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as Jwk;
  let alg: SigningKey['alg'];
  if (publicJwk.kty === 'RSA') {
    if ((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('an RSA signing key must have at least 2048 bits');
    alg = 'RS256';
  } else if (publicJwk.kty === 'EC' && publicJwk.crv === 'P-256') alg = 'ES256';
  else if (publicJwk.kty === 'EC' && publicJwk.crv === 'P-384') alg = 'ES384';
  else if (publicJwk.kty === 'OKP' && publicJwk.crv === 'Ed25519') alg = 'EdDSA';
  else throw new Error('a signing key must be RSA (2048 bits or more), EC P-256 or P-384, or Ed25519');
  const kid = thumbprint(publicJwk);
  return { kid, alg, privateKey, publicJwk: { ...publicJwk, kid, alg, use: 'sig' } };
}

/**
 * The keys in `pem` (one or more PEM private keys); throws an Error saying what is wrong (never
 * quoting the key).
 */
export function parseSigningKeys(pem: string): SigningKey[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error('no PEM private key found (-----BEGIN PRIVATE KEY----- … -----END PRIVATE KEY-----)');
  return blocks.map((block, i) => {
    let key: KeyObject;
    try {
      key = createPrivateKey(block);
    } catch {
      throw new Error(`key ${i + 1} is not a readable private key (an encrypted key needs its passphrase removed)`);
    }
    try {
      return toSigningKey(key);
    } catch (err) {
      throw new Error(`key ${i + 1}: ${(err as Error).message}`);
    }
  });
}

/** The proxy's keys: the configured ones, or one made now (EC P-256). */
export function signingKeys(pem: string | undefined): SigningKeys {
  const keys = pem ? parseSigningKeys(pem) : [toSigningKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)];
  return { current: keys[0]!, jwks: keys.map((k) => k.publicJwk), ephemeral: !pem };
}

/** What a proxy access token says (RFC 9068). */
export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  client_id: string;
  scope: string;
  jti: string;
  /** seconds */
  ttlSec: number;
  /** Identity the tools and the tool policy read. */
  email?: string;
  name?: string;
  groups?: string[];
}

/** Signs an RFC 9068 access token (`typ: at+jwt`) with the current key. */
export async function signAccessToken(keys: SigningKeys, claims: AccessTokenClaims, nowSec = Math.floor(Date.now() / 1000)): Promise<string> {
  // jose only where tokens are signed: `config check` and servers without the proxy never load it.
  const { SignJWT } = await import('jose');
  const { ttlSec, ...rest } = claims;
  const payload: Record<string, unknown> = { ...rest, iat: nowSec, exp: nowSec + ttlSec };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: keys.current.alg, kid: keys.current.kid, typ: 'at+jwt' }).sign(keys.current.privateKey);
}
