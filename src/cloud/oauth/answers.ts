/**
 * How the proxy's endpoints answer, beyond what src/cloud/http/respond.ts writes: JSON with the
 * `Pragma` of RFC 6749 §5.1, a page for the person at the browser, and the redirect that ends an
 * authorization at the client.
 */
import type { ServerResponse } from 'node:http';
import { escapeHtml, htmlPage, HTML_PAGE_HEADERS } from '../../shared/html.js';
import { sendJson, sendRedirect } from '../http/respond.js';

/** A JSON answer that no cache keeps, HTTP/1.0 ones included (RFC 6749 §5.1 asks it of token answers). */
export function sendOAuthJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJson(res, status, body, { pragma: 'no-cache', ...headers });
}

/** A page for the person at the browser when the request cannot be sent back to the client. */
export function sendPage(res: ServerResponse, status: number, title: string, action: string): void {
  res.writeHead(status, HTML_PAGE_HEADERS).end(htmlPage({ title: `seed-mcp: ${title}`, body: `<h1>${escapeHtml(title)}</h1><p>Action: ${escapeHtml(action)}</p>` }));
}

/** Where an authorization goes back to: a redirect URI already checked against the client's registration. */
export interface ClientReturn {
  redirectUri: string;
  /** The client's `state`, given back unchanged. */
  state?: string | undefined;
  /** This server's issuer identifier. */
  issuer: string;
}

/**
 * Redirects the browser to the client with `params` (a code, or an error), its `state`, and `iss`
 * (RFC 9207), which tells a client that talks to several servers which one answered.
 */
export function redirectToClient(res: ServerResponse, to: ClientReturn, params: Record<string, string>): void {
  const url = new URL(to.redirectUri);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  if (to.state !== undefined) url.searchParams.set('state', to.state);
  url.searchParams.set('iss', to.issuer);
  sendRedirect(res, url.href);
}
