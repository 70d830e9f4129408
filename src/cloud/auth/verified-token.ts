import { createHash } from 'node:crypto';
import type { Caller } from '../../shared/tools/types.js';
import { authErrorOf } from './errors.js';

/**
 * What a verified access token says. Frozen: one instance answers every request that presents
 * the same token (the verified-token cache), so no handler may change it for the next one.
 */
export interface VerifiedToken {
  subject: string;
  issuer: string;
  audience: string[];
  scopes: string[];
  /** `exp`, seconds since the epoch (always present: the validator requires it). */
  expiresAt?: number;
  clientId?: string;
  jti?: string;
  /** What revocation and replay checks name this token by: see {@link tokenIdOf}. */
  tokenId: string;
  claims: Record<string, unknown>;
  caller: Caller;
}

/**
 * The identity of a verified token, for revocation and replay: base64url (43 characters, safe in
 * a store key) of a sha256 over
 *
 * - `JSON.stringify(['jti', iss, jti])` when the token has a `jti`: every token its issuer marks
 *   with that id, whatever else it holds;
 * - else `JSON.stringify(['jws', iss])` followed by the signing input (`header.payload`): what
 *   the issuer signed.
 *
 * Neither the token as presented nor its signature bytes: one signature has several spellings (the
 * unused bits of base64url, refused by `decodeCompact` anyway), and an ECDSA signature
 * (r, s) has a twin (r, n − s) that verifies as well, so either would let a revoked token come
 * back under a new id. The signing input has one spelling (its segments are canonical base64url)
 * and cannot change without the issuer's key. A JSON array ends where it ends, so neither `iss` nor
 * `jti` can shift a boundary, and the two forms never hash the same text.
 */
export function tokenIdOf(issuer: string, jti: string | undefined, signingInput: string): string {
  const hash = createHash('sha256');
  if (jti !== undefined) hash.update(JSON.stringify(['jti', issuer, jti]), 'utf8');
  else hash.update(JSON.stringify(['jws', issuer]), 'utf8').update(signingInput, 'latin1');
  return hash.digest('base64url');
}

/**
 * Builds the {@link VerifiedToken} of claims that the validator has verified; `signingInput` is
 * the token's `header.payload` (see {@link tokenIdOf}). `scope` (RFC 9068, a
 * space-separated string) and `scp` (Okta: an array; Entra ID: a string) are merged, and so are
 * `groups` and `roles`. `tokenId` overrides the id of an introspected token. The subject falls back to `client_id`/`azp` for service tokens without
 * `sub`; a token with neither is refused.
 */
export function toVerifiedToken(claims: Record<string, unknown>, signingInput: string, tokenId?: string): VerifiedToken {
  const issuer = claims.iss as string;
  const clientId = str(claims.client_id) ?? str(claims.azp);
  const subject = str(claims.sub) ?? clientId;
  if (subject === undefined) throw authErrorOf('INVALID_TOKEN', 'token has no sub claim');
  const scopes = unique([...words(claims.scope), ...words(claims.scp)]);
  const groups = unique([...words(claims.groups, false), ...words(claims.roles, false)]);
  const expiresAt = typeof claims.exp === 'number' ? claims.exp : undefined;
  const email = str(claims.email);
  const name = str(claims.name);
  const jti = str(claims.jti);
  const audience = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter(isString) : [];

  const caller: Caller = {
    subject,
    issuer,
    scopes,
    ...(email !== undefined ? { email } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    ...(groups.length > 0 ? { groups } : {}),
  };
  return deepFreeze({
    subject,
    issuer,
    audience,
    scopes,
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    ...(jti !== undefined ? { jti } : {}),
    tokenId: tokenId ?? tokenIdOf(issuer, jti, signingInput),
    claims,
    caller,
  });
}

const isString = (value: unknown): value is string => typeof value === 'string';

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A claim that is a space-separated string or an array of strings, as a list. */
function words(value: unknown, split = true): string[] {
  if (typeof value === 'string') return split ? value.split(/\s+/).filter(Boolean) : value ? [value] : [];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string' && item.length > 0);
  return [];
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
