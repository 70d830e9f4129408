/**
 * What the proxy keeps in the shared store between the steps of a sign-in, so that any replica can
 * take any step: the transaction waiting at the IdP, and what a one-time code stands for.
 */
import { randomBytes } from 'node:crypto';
import type { IdpTokens } from './idp.js';

/** How long a sign-in may take at the IdP. */
export const TRANSACTION_TTL_MS = 10 * 60_000;
/** How long the client has to redeem its code (RFC 6749 §4.1.2 recommends at most 10 minutes). */
export const CODE_TTL_MS = 60_000;
/** A PKCE code challenge or verifier: 43 to 128 unreserved characters (RFC 7636 §4.1, §4.2). */
export const PKCE = /^[A-Za-z0-9\-._~]{43,128}$/;

/** An authorization waiting at the IdP, under the proxy's own `state`: what the callback needs to finish it. */
export interface Transaction {
  clientId: string;
  /** The client's own name, for the user's list of approvals. */
  clientName?: string;
  redirectUri: string;
  /** The MCP client's PKCE challenge, checked when it redeems the code. */
  codeChallenge: string;
  /** The MCP client's `state`, given back to it unchanged. */
  state?: string;
  scope: string;
  resource?: string;
  /** The proxy's own PKCE verifier at the IdP. */
  verifier: string;
  /** The `prompt` to send the IdP. */
  prompt?: string;
  /**
   * Where the user's consent stands: `pending` (the page is shown, no redirect yet), `approved` (on
   * the page, in this transaction), `remembered` (an approval of `expectedUser` found through the
   * browser's session), `skipped` (the operator's OAUTH_CONSENT_SKIP_* settings).
   */
  consent: 'pending' | 'approved' | 'remembered' | 'skipped';
  /** sha256 of the browser cookie of the browser that was shown the page. */
  browser?: string;
  /** With `remembered`: the user whose approval was found; the IdP must sign in the same one. */
  expectedUser?: string;
}

/** What a one-time code of the proxy stands for, sealed under the code (see seal.ts). */
export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  resource?: string;
  /** The scopes asked for; what the proxy's access token carries is those the IdP granted too. */
  scope?: string;
  tokens: IdpTokens;
}

/** An unguessable value, base64url: transaction ids, codes, the proxy's PKCE verifiers. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');
