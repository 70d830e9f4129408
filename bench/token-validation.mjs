// Per-call cost of bearer-token validation (cloud mode), side by side with its floors:
// - the validator with a repeated valid token (verified-token cache hit: sha256 + map lookup);
// - the validator with tokens it has not seen (cache miss: decode, checks, jose, claims, insert);
// - bare jose.jwtVerify against a local JWKS (what a miss cannot go below);
// - bare crypto.verify RS256 on the same key (what jose cannot go below).
// Tokens are real: RS256 access tokens minted by the project's test IdP (client credentials).
// Run alone: `node bench/token-validation.mjs`.
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { load, machine, stats } from './fixtures.mjs';

/** Median µs per call of `fn` over `batches` batches of `perBatch` sequential calls (after one warm-up batch). */
async function perOpBatched(fn, { batches, perBatch }) {
  const samples = [];
  for (let b = -1; b < batches; b += 1) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i += 1) await fn(i);
    const us = Number(process.hrtime.bigint() - start) / 1000 / perBatch;
    if (b >= 0) samples.push(us);
  }
  return stats(samples);
}

/**
 * Median µs of single calls, for contenders measured round by round in turn (so that a machine
 * busy for a while slows all of them alike). Each contender is `{ setUp?, run(i) }`; `setUp` runs
 * untimed before each of its rounds; the first round is a warm-up.
 */
async function perOpInterleaved(contenders, { rounds, count }) {
  const samples = contenders.map(() => []);
  for (let r = -1; r < rounds; r += 1) {
    for (const [c, { setUp, run }] of contenders.entries()) {
      await setUp?.();
      for (let i = 0; i < count; i += 1) {
        const start = process.hrtime.bigint();
        await run(i);
        if (r >= 0) samples[c].push(Number(process.hrtime.bigint() - start) / 1000);
      }
    }
  }
  return samples.map(stats);
}

/**
 * Measures the four contenders; returns rows `{ name, usPerOp }` (medians). Starts and stops its
 * own IdP.
 */
export async function tokenValidation({ tokens: tokenCount = 200, rounds = 10 } = {}) {
  const [{ startIdp, DEFAULT_RESOURCE }, { createTokenValidator }] = await Promise.all([load('test/support/idp.ts'), load('src/cloud/auth/validator.ts')]);
  const idp = await startIdp();
  const validators = [];
  try {
    const tokens = [];
    while (tokens.length < tokenCount + 1) {
      tokens.push(...(await Promise.all(Array.from({ length: 20 }, () => idp.serviceToken({ resource: DEFAULT_RESOURCE })))));
    }
    const warmToken = tokens.pop();
    tokens.length = tokenCount;
    const options = { allowedIssuers: [idp.issuer], audiences: [DEFAULT_RESOURCE], jwksCacheTtlSec: 3600 };
    const newValidator = async () => {
      const v = createTokenValidator(options);
      validators.push(v);
      await v.verify(warmToken); // JWKS fetched and its key imported: not part of the timings
      return v;
    };

    // 1. Cache hit: the same valid token again and again.
    const hitValidator = await newValidator();
    const hit = await perOpBatched(() => hitValidator.verify(warmToken), { batches: 20, perBatch: 10_000 });

    // 2. Cache miss: every token new to a fresh (JWKS-warmed) validator.
    // 3. Bare jose.jwtVerify, local JWKS, the same claim checks.
    // 4. Bare crypto.verify RS256 of the signing input, same key, nothing else.
    const jwks = createLocalJWKSet(idp.keys);
    const joseOptions = { issuer: idp.issuer, audience: DEFAULT_RESOURCE, algorithms: ['RS256'] };
    const rsa = idp.keys.keys.find((k) => k.kty === 'RSA');
    const publicKey = createPublicKey({ key: rsa, format: 'jwk' });
    const parts = tokens.map((t) => {
      const dot = t.lastIndexOf('.');
      return { data: Buffer.from(t.slice(0, dot)), signature: Buffer.from(t.slice(dot + 1), 'base64url') };
    });
    if (!cryptoVerify('sha256', parts[0].data, publicKey, parts[0].signature)) throw new Error('crypto.verify failed on a real token');
    let missValidator;
    const [miss, jose, crypto] = await perOpInterleaved(
      [
        {
          setUp: async () => {
            missValidator = await newValidator();
          },
          run: (i) => missValidator.verify(tokens[i]),
        },
        { run: (i) => jwtVerify(tokens[i], jwks, joseOptions) },
        { run: (i) => cryptoVerify('sha256', parts[i].data, publicKey, parts[i].signature) },
      ],
      { rounds, count: tokens.length },
    );

    return [
      { name: 'validator, repeated token (cache hit)', usPerOp: hit.median },
      { name: 'validator, new token (cache miss)', usPerOp: miss.median },
      { name: 'jose.jwtVerify, local JWKS', usPerOp: jose.median },
      { name: 'crypto.verify RS256', usPerOp: crypto.median },
    ];
  } finally {
    for (const v of validators) v.close();
    await idp.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await tokenValidation();
  console.log(`## Token validation — ${new Date().toISOString().slice(0, 10)} — ${machine()}\n`);
  console.log('| contender | µs per call (median) |\n| --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.usPerOp.toFixed(r.usPerOp < 10 ? 2 : 1)} |`);
}
