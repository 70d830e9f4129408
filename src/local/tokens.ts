import { decodeJwtClaims } from './jwt-claims.js';
import type * as client from 'openid-client';
import type { IdentitySource, StoredTokens } from './token-store/types.js';

export interface TokenContext {
  issuer: string;
  clientId: string;
  requestedScope: string;
  resource?: string;
  /** The set being replaced on refresh: keeps what the IdP did not send again. */
  previous?: StoredTokens;
  nowSec: number;
}

interface Identity {
  subject?: string;
  email?: string;
  name?: string;
  identitySource: IdentitySource;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * Who the tokens belong to: the validated ID token when there is one; else the claims of a JWT
 * access token, decoded without verification (the user's own token, just fetched from the IdP
 * over TLS, for display only); else unknown. A refresh that brings no ID token keeps what the
 * previous set knew from one.
 */
function identityOf(idClaims: Record<string, unknown> | undefined, atClaims: Record<string, unknown> | undefined, prev: StoredTokens | undefined): Identity {
  if (idClaims) {
    return {
      subject: str(idClaims.sub) ?? prev?.subject,
      email: str(idClaims.email) ?? prev?.email ?? str(atClaims?.email),
      name: str(idClaims.name) ?? prev?.name ?? str(atClaims?.name),
      identitySource: 'id_token',
    };
  }
  const previous = prev ? identitySourceOf(prev) : undefined;
  if (prev && previous === 'id_token') return { subject: prev.subject, email: prev.email, name: prev.name, identitySource: 'id_token' };
  const fromAt = { subject: str(atClaims?.sub), email: str(atClaims?.email), name: str(atClaims?.name) };
  if (fromAt.subject || fromAt.email || fromAt.name) return { ...fromAt, identitySource: 'access_token' };
  if (prev && previous) return { subject: prev.subject, email: prev.email, name: prev.name, identitySource: previous };
  return { identitySource: 'unknown' };
}

/**
 * Where a stored set's identity came from. Sets stored before `identitySource` existed are
 * inferred: an ID token means it came from there, else a known subject came from the access token.
 */
export function identitySourceOf(tokens: StoredTokens): IdentitySource {
  if (tokens.identitySource) return tokens.identitySource;
  if (tokens.idToken) return 'id_token';
  return tokens.subject || tokens.email || tokens.name ? 'access_token' : 'unknown';
}

/** Builds the stored set from a token endpoint answer. */
export function toStoredTokens(res: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, ctx: TokenContext): StoredTokens {
  // Absent when the IdP sent no ID token (a plain OAuth 2.1 server, or a scope without openid).
  const idClaims = res.claims() as Record<string, unknown> | undefined;
  // An opaque access token has no claims.
  const atClaims = decodeJwtClaims(res.access_token);
  const prev = ctx.previous;
  const expiresIn = res.expiresIn();
  return {
    version: 1,
    issuer: ctx.issuer,
    clientId: ctx.clientId,
    accessToken: res.access_token,
    tokenType: res.token_type ?? 'bearer',
    expiresAt: expiresIn !== undefined ? ctx.nowSec + expiresIn : typeof atClaims?.exp === 'number' ? atClaims.exp : undefined,
    refreshToken: res.refresh_token ?? prev?.refreshToken,
    idToken: res.id_token ?? prev?.idToken,
    scope: res.scope || prev?.scope || ctx.requestedScope,
    resource: ctx.resource,
    ...identityOf(idClaims, atClaims, prev),
    obtainedAt: ctx.nowSec,
  };
}

/** Seconds until the access token expires; `Infinity` when the IdP gave no expiry. */
export function secondsLeft(tokens: StoredTokens, nowSec: number): number {
  return tokens.expiresAt === undefined ? Infinity : tokens.expiresAt - nowSec;
}
