import { SeedError } from '../shared/errors.js';
import type { ClientSource, LoginResult } from './login.js';
import type { LocalSettings } from './settings.js';
import type { IdentitySource, StoredTokens, TokenStore } from './token-store/types.js';
import { identitySourceOf, secondsLeft } from './tokens.js';

/**
 * What `status --json` and `login --json` print: one shape for the same facts (README "JSON
 * output"). `login` adds `previousIssuer` when it changed the profile's issuer.
 */
export interface SignInReport {
  profile: string;
  signedIn: boolean;
  issuer?: string;
  /** The issuer the profile held before this sign-in, when the sign-in changed it (`login` only). */
  previousIssuer?: string;
  /** The MCP server (upstream) the profile points to. */
  server?: string;
  clientId?: string;
  /** Where the client id came from (`given`, `metadata-document`, `registered`, `registration-reused`). */
  clientSource?: ClientSource;
  subject?: string;
  email?: string;
  name?: string;
  /** Where subject/email/name came from (`unknown`: no ID token and an opaque access token). */
  identitySource?: IdentitySource;
  scopes?: string[];
  /** The RFC 8707 resource (audience) the access token was asked for. */
  resource?: string;
  /** ISO time the access token expires. */
  expiresAt?: string;
  accessTokenValid?: boolean;
  canRefresh?: boolean;
  store: { kind: string; location: string };
}

/** `status`'s report: the {@link SignInReport} shape. */
export type StatusReport = SignInReport;

const trimSlash = (u: string) => u.replace(/\/+$/, '');

/** Whether a token asked for `resource` serves `server`: the same URL, or `server` below it on the same origin. */
function resourceServes(resource: string, server: string): boolean {
  try {
    const r = new URL(resource);
    const s = new URL(server);
    // Not `origin`: it is "null" for every non-web scheme (`api://…` audiences).
    if (r.protocol !== s.protocol || r.host !== s.host) return false;
    const base = trimSlash(r.pathname);
    const path = trimSlash(s.pathname);
    return path === base || path.startsWith(`${base}/`);
  } catch {
    return trimSlash(resource) === trimSlash(server);
  }
}

/**
 * Checks that stored tokens belong to what the profile now names: the profile's issuer (when it
 * holds one) issued them, and they were asked for its resource, else its server (upstream). A
 * profile rewritten for another server (a second `seed-mcp demo` on other ports, say) keeps the
 * old server's tokens, which every call there would refuse with 401: they are not reported as a
 * sign-in. Returns the `PROFILE_MISMATCH` error (exit 2) naming the mismatch and the command that
 * fixes it, or undefined when they match.
 */
export function tokensMismatch(settings: LocalSettings, tokens: StoredTokens): SeedError | undefined {
  const fix = `seed-mcp login --profile ${settings.profile}${settings.upstream ? ` ${settings.upstream}` : ''}`;
  const hint = `sign in again for what the profile names now: \`${fix}\``;
  if (settings.issuer && trimSlash(settings.issuer) !== trimSlash(tokens.issuer)) {
    return new SeedError(
      'PROFILE_MISMATCH',
      `could not use the tokens of profile "${settings.profile}": they were issued by ${tokens.issuer}, but the profile's issuer is ${settings.issuer}`,
      { hint },
    );
  }
  const expected = settings.noResource ? undefined : (settings.resource ?? settings.upstream);
  if (expected && tokens.resource && !resourceServes(tokens.resource, expected)) {
    const what = settings.resource ? 'resource' : 'server';
    return new SeedError(
      'PROFILE_MISMATCH',
      `could not use the tokens of profile "${settings.profile}": they are for ${tokens.resource} (issuer ${tokens.issuer}), but the profile's ${what} is ${expected}`,
      { hint },
    );
  }
  return undefined;
}

/** Where the stored client id came from, as far as the profile tells. */
function clientSourceOf(settings: LocalSettings, clientId: string): ClientSource {
  if (settings.clientId === clientId) return 'given';
  if (settings.clientMetadataUrl === clientId) return 'metadata-document';
  return 'registered';
}

/**
 * Who is signed in for the profile. Signed in means a usable access token now, or a refresh
 * token to get one. Reads the store only: no network. Tokens that do not belong to what the
 * profile names now (another issuer or server) throw `PROFILE_MISMATCH` ({@link tokensMismatch}).
 */
export async function getStatus(settings: LocalSettings, deps: { store: TokenStore; now?: () => number }): Promise<SignInReport> {
  const tokens = await deps.store.get(settings.profile);
  const store = { kind: deps.store.kind, location: deps.store.describe(settings.profile) };
  const server = settings.upstream ? { server: settings.upstream } : {};
  if (!tokens) return { profile: settings.profile, signedIn: false, issuer: settings.issuer, ...server, clientId: settings.clientId, store };
  const mismatch = tokensMismatch(settings, tokens);
  if (mismatch) throw mismatch;
  const nowSec = Math.floor((deps.now?.() ?? Date.now()) / 1000);
  const valid = secondsLeft(tokens, nowSec) > 0;
  const canRefresh = Boolean(tokens.refreshToken);
  return {
    profile: settings.profile,
    signedIn: valid || canRefresh,
    issuer: tokens.issuer,
    ...server,
    clientId: tokens.clientId,
    clientSource: clientSourceOf(settings, tokens.clientId),
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

/** A sign-in's result in the {@link SignInReport} shape, as `login --json` prints it. */
export function loginReport(r: LoginResult, nowSec = Math.floor(Date.now() / 1000)): SignInReport {
  const valid = r.expiresAt === undefined || r.expiresAt > nowSec;
  return {
    profile: r.profile,
    signedIn: true,
    issuer: r.issuer,
    ...(r.previousIssuer ? { previousIssuer: r.previousIssuer } : {}),
    ...(r.server ? { server: r.server } : {}),
    clientId: r.clientId,
    clientSource: r.clientSource,
    subject: r.subject,
    email: r.email,
    name: r.name,
    identitySource: r.identitySource,
    scopes: r.scope.split(' ').filter(Boolean),
    resource: r.resource,
    expiresAt: r.expiresAt === undefined ? undefined : new Date(r.expiresAt * 1000).toISOString(),
    accessTokenValid: valid,
    canRefresh: r.hasRefreshToken,
    store: { kind: r.storeKind, location: r.store },
  };
}
