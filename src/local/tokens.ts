import { decodeJwtClaims } from './jwt-claims.js';
import type * as client from 'openid-client';
import type { StoredTokens } from './token-store/types.js';

export interface TokenContext {
  issuer: string;
  clientId: string;
  requestedScope: string;
  resource?: string;
  /** The set being replaced on refresh: keeps what the IdP did not send again. */
  previous?: StoredTokens;
  nowSec: number;
}

/** Builds the stored set from a token endpoint answer. */
export function toStoredTokens(res: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, ctx: TokenContext): StoredTokens {
  const idClaims = res.claims();
  // An opaque access token has no claims: identity then comes from the ID token alone.
  const atClaims = decodeJwtClaims(res.access_token);
  const prev = ctx.previous;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
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
    subject: str(idClaims?.sub) ?? prev?.subject ?? str(atClaims?.sub),
    email: str(idClaims?.email) ?? prev?.email ?? str(atClaims?.email),
    name: str(idClaims?.name) ?? prev?.name ?? str(atClaims?.name),
    obtainedAt: ctx.nowSec,
  };
}

/** Seconds until the access token expires; `Infinity` when the IdP gave no expiry. */
export function secondsLeft(tokens: StoredTokens, nowSec: number): number {
  return tokens.expiresAt === undefined ? Infinity : tokens.expiresAt - nowSec;
}
