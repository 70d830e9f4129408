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
  /** What revocation names this token by: its `jti`, else the sha256 of the token (base64url). */
  tokenId: string;
  claims: Record<string, unknown>;
  caller: Caller;
}

/**
 * Builds the {@link VerifiedToken} of claims that jose has verified. `scope` (RFC 9068, a
 * space-separated string) and `scp` (Okta: an array; Entra ID: a string) are merged, and so are
 * `groups` and `roles`. The subject falls back to `client_id`/`azp` for service tokens without
 * `sub`; a token with neither is refused.
 */
export function toVerifiedToken(claims: Record<string, unknown>, tokenHash: string): VerifiedToken {
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
    tokenId: jti ?? tokenHash,
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
