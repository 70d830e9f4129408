/**
 * Consent per client: before the proxy sends a browser to the IdP for a client the user has not
 * approved, it shows its own page (consent-page.ts) and waits for the user's answer. Without it, a
 * client registered by anyone, with any redirect URI, could send a victim's browser through an IdP
 * that remembers consent and receive the victim's code (the confused deputy of the MCP
 * authorization spec's "Security Best Practices").
 *
 * What is kept, all in the shared store so that any replica takes any step:
 * - a transaction waiting for the answer is bound to the browser that saw the page (a random
 *   cookie, kept hashed): a page shown to the attacker's browser cannot be approved from the
 *   victim's, nor the reverse;
 * - an approval, per user (issuer and subject, hashed) and client, with the scopes and the redirect
 *   host it covered, until OAUTH_CONSENT_TTL; revocable at /oauth/consents;
 * - a browser session (a random cookie, kept hashed) naming the user who last signed in through the
 *   proxy in that browser: it lets a remembered approval skip the page. The IdP's sign-in still
 *   decides who the user is: when it names someone else, the flow stops and the page comes back.
 */
import type { IncomingMessage } from 'node:http';
import { sha256Base64url } from '../../shared/crypto.js';
import { STORE_KEYS } from '../store/keys.js';
import type { SharedStore } from '../store/types.js';
import { isLoopbackHttp, type OAuthClient } from './clients.js';
import type { IdpUser } from './idp.js';
import { randomToken } from './state.js';

/** The operator's consent settings (`OAUTH_CONSENT_*`). */
export interface ConsentSettings {
  ttlSec: number;
  skipLoopback: boolean;
  skipClients: readonly string[];
}

/** What an approval covers. */
export interface Approval {
  clientId: string;
  clientName?: string;
  /** The redirect URI's host when it was approved: a client that moves its redirect asks again. */
  redirectHost: string;
  /** The scopes approved, space-separated. */
  scope: string;
  approvedAt: number;
}

/** What a browser session says of its browser. */
export interface BrowserSession {
  user: string;
  /** For the consents page: who this is (name or email), never a token. */
  label: string;
  /** The consents page's form token (double submit: the page shows it, the POST must bring it back). */
  csrf: string;
}

/** Whether the operator lets `client` skip the consent page for `redirectUri`. */
export function consentSkipped(settings: ConsentSettings, client: OAuthClient, redirectUri: string): boolean {
  if (settings.skipClients.includes(client.client_id)) return true;
  return settings.skipLoopback && isLoopbackHttp(new URL(redirectUri));
}

/** The store's name for a user: never the subject itself. */
export const userKey = (user: IdpUser): string => sha256Base64url(JSON.stringify([user.issuer, user.subject]));

const approvalKey = (user: string, clientId: string) => STORE_KEYS.consent(user, sha256Base64url(clientId));

/** Whether `user` approved `clientId` for `scope` (every scope in it) and this redirect host. */
export async function isApproved(store: SharedStore, user: string, clientId: string, scope: string, redirectUri: string): Promise<boolean> {
  const approval = await store.get<Approval>(approvalKey(user, clientId));
  if (!approval || approval.redirectHost !== new URL(redirectUri).host) return false;
  const approved = new Set(approval.scope.split(' '));
  return scope.split(' ').every((s) => !s || approved.has(s));
}

/** Remembers that `user` approved the client for `scope`, until the consent TTL. */
export async function remember(store: SharedStore, settings: ConsentSettings, user: string, approval: Approval): Promise<void> {
  await store.set(approvalKey(user, approval.clientId), approval, settings.ttlSec * 1000);
}

/** The approvals `user` has given, newest first. */
export async function approvalsOf(store: SharedStore, user: string): Promise<Approval[]> {
  const entries = await store.entries<Approval>(STORE_KEYS.consentsOf(user));
  return entries.map(([, a]) => a).sort((a, b) => b.approvedAt - a.approvedAt);
}

/** Forgets `user`'s approval of `clientId`. */
export async function forget(store: SharedStore, user: string, clientId: string): Promise<void> {
  await store.delete(approvalKey(user, clientId));
}

// ---------------------------------------------------------------------------------------------
// Cookies

/** The cookie names: `__Host-` (Secure, Path=/, no Domain) when the server is served over https. */
export function cookieNames(secure: boolean): { browser: string; session: string } {
  return secure ? { browser: '__Host-seed-mcp-browser', session: '__Host-seed-mcp-session' } : { browser: 'seed-mcp-browser', session: 'seed-mcp-session' };
}

/** The value of cookie `name` in the request, if any. */
export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{16,128}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/**
 * A `Set-Cookie` value: HttpOnly, SameSite=Lax (sent on the top-level navigation from the MCP
 * client's link, not on cross-site posts), Secure over https; `maxAgeSec` 0 deletes it.
 */
export function cookie(name: string, value: string, options: { secure: boolean; maxAgeSec: number }): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${options.maxAgeSec}${options.secure ? '; Secure' : ''}`;
}

/** A new cookie value: 256 random bits. */
export const newCookieValue = (): string => randomToken(32);

/** The browser session of `req`, if its cookie names a live one. */
export async function sessionOf(store: SharedStore, req: IncomingMessage, names: { session: string }): Promise<BrowserSession | undefined> {
  const value = readCookie(req, names.session);
  return value ? store.get<BrowserSession>(STORE_KEYS.browserSession(sha256Base64url(value))) : undefined;
}

/** Starts a browser session for `user`; returns the cookie value to set. */
export async function startSession(store: SharedStore, settings: ConsentSettings, user: IdpUser): Promise<string> {
  const value = newCookieValue();
  const session: BrowserSession = { user: userKey(user), label: user.email ?? user.name ?? 'you', csrf: newCookieValue() };
  await store.set(STORE_KEYS.browserSession(sha256Base64url(value)), session, settings.ttlSec * 1000);
  return value;
}
