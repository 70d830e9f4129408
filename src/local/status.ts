import type { LocalSettings } from './settings.js';
import type { IdentitySource, TokenStore } from './token-store/types.js';
import { identitySourceOf, secondsLeft } from './tokens.js';

export interface StatusReport {
  profile: string;
  signedIn: boolean;
  issuer?: string;
  clientId?: string;
  subject?: string;
  email?: string;
  name?: string;
  /** Where subject/email/name came from (`unknown`: no ID token and an opaque access token). */
  identitySource?: IdentitySource;
  scopes?: string[];
  resource?: string;
  /** ISO time the access token expires. */
  expiresAt?: string;
  accessTokenValid?: boolean;
  canRefresh?: boolean;
  store: { kind: string; location: string };
}

/**
 * Who is signed in for the profile. Signed in means a usable access token now, or a refresh
 * token to get one. Reads the store only: no network.
 */
export async function getStatus(settings: LocalSettings, deps: { store: TokenStore; now?: () => number }): Promise<StatusReport> {
  const tokens = await deps.store.get(settings.profile);
  const store = { kind: deps.store.kind, location: deps.store.describe(settings.profile) };
  if (!tokens) return { profile: settings.profile, signedIn: false, issuer: settings.issuer, clientId: settings.clientId, store };
  const nowSec = Math.floor((deps.now?.() ?? Date.now()) / 1000);
  const valid = secondsLeft(tokens, nowSec) > 0;
  const canRefresh = Boolean(tokens.refreshToken);
  return {
    profile: settings.profile,
    signedIn: valid || canRefresh,
    issuer: tokens.issuer,
    clientId: tokens.clientId,
    subject: tokens.subject,
    email: tokens.email,
    name: tokens.name,
    identitySource: identitySourceOf(tokens),
    scopes: tokens.scope.split(' ').filter(Boolean),
    resource: tokens.resource,
    expiresAt: tokens.expiresAt === undefined ? undefined : new Date(tokens.expiresAt * 1000).toISOString(),
    accessTokenValid: valid,
    canRefresh,
    store,
  };
}
