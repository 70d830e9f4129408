import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as client from 'openid-client';
import { SeedError } from '../shared/errors.js';
import { escapeHtml, escapeWithCode, FACT_LIST_STYLE, factList, htmlPage, strictPageHeaders } from '../shared/html.js';
import { redact } from '../shared/redact.js';
import { fromOAuthErrorCode, mapOAuthError } from './oidc/map-error.js';
import { toStoredTokens } from './tokens.js';

export interface LoopbackOptions {
  /** Port to bind on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Host name written into the redirect URI (the socket is always 127.0.0.1). */
  redirectHost: '127.0.0.1' | 'localhost';
  expectedState: string;
  timeoutMs: number;
  profile: string;
  signal?: AbortSignal;
  /**
   * How long the browser's answer waits for {@link LoopbackServer.finish} after the code arrived
   * before it gets a page that only says to look at the terminal; default 15 s.
   */
  holdMs?: number;
}

/** Where the sign-in went, for the page: never a token. */
export interface SignInPlace {
  issuer: string;
  /** The client id, for a failure that names it. */
  clientId?: string;
  /** The MCP server (the URL given, the upstream, or the resource), when known. */
  server?: string;
}

export interface LoopbackServer {
  redirectUri: string;
  /**
   * Resolves with the callback URL (as the redirect URI plus the IdP's parameters). The browser's
   * answer is held until {@link finish} (or `holdMs`, or {@link close}).
   */
  callback: Promise<URL>;
  /**
   * Awaits the token exchange of the code and answers the browser with its outcome: who signed
   * in, the profile, the server and until when, or what failed and what to do. Returns (or
   * throws) the exchange's own outcome.
   */
  finish<T extends client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>(exchange: Promise<T>, place: SignInPlace): Promise<T>;
  close(): Promise<void>;
}

const STYLE = `${FACT_LIST_STYLE}h1.ok{color:#1a7f37}h1.fail{color:#cf222e}.error{border-left:4px solid #cf222e;padding:.2rem .8rem;background:#fff8f8}`;
const HEADERS = strictPageHeaders(STYLE);

/** A page of the outcome: its heading green on success, red otherwise; `body` is HTML the caller escaped. */
function page(title: string, body: string, ok: boolean): string {
  return htmlPage({ title: `seed-mcp: ${title}`, body: `<h1 class="${ok ? 'ok' : 'fail'}">${escapeHtml(title)}</h1>${body}`, style: STYLE });
}

const CLOSE_TAB = '<p class="note">You can close this tab and return to the terminal.</p>';

/** What failed (the error's message) and what to do next (its hint), as the terminal says them. */
function failurePage(title: string, err: SeedError): string {
  return page(title, `<p class="error">${escapeWithCode(redact(err.message))}</p>${err.hint ? `<p>What to do: ${escapeWithCode(redact(err.hint))}</p>` : ''}${CLOSE_TAB}`, false);
}

/** `Dec 4, 2026, 11:00 PM GMT+1 (in 60 min)` in this machine's time, inside a `<time>`. */
function expiryHtml(epochSec: number, nowMs: number): string {
  const date = new Date(epochSec * 1000);
  const when = new Intl.DateTimeFormat('en', { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' }).format(date);
  const mins = Math.round((epochSec * 1000 - nowMs) / 60_000);
  const rel = mins >= 120 ? `in ${Math.round(mins / 60)} h` : mins >= 0 ? `in ${mins} min` : `${-mins} min ago`;
  return `<time datetime="${escapeHtml(date.toISOString())}">${escapeHtml(when)}</time> (${escapeHtml(rel)})`;
}

function signedInPage(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, place: SignInPlace, profile: string): string {
  const nowMs = Date.now();
  // The same reading of the answer as the stored set's (ID token, else a JWT access token's claims); only its display fields are used.
  const t = toStoredTokens(response, { issuer: place.issuer, clientId: '', requestedScope: '', nowSec: Math.floor(nowMs / 1000) });
  const who = t.name ?? t.email ?? t.subject;
  const account = [t.name, t.email, t.subject ? `subject ${t.subject}` : undefined].filter(Boolean).join(' · ');
  const login = `seed-mcp login --profile ${profile}`;
  return page(
    'Signed in',
    `<p>seed-mcp is signed in${who ? ` as <strong>${escapeHtml(who)}</strong>` : ''}.</p>
${factList([
  ['Account', account || 'not told by the identity provider'],
  ['Profile', profile],
  ['MCP server', place.server],
  ['Identity provider', place.issuer],
  ['Access until', t.expiresAt !== undefined ? { html: expiryHtml(t.expiresAt, nowMs) } : 'no expiry given'],
  ['Then', t.refreshToken ? 'renewed automatically with the refresh token, until the identity provider ends the session' : `no refresh token: sign in again with \`${login}\``],
])}${CLOSE_TAB}`,
    true,
  );
}

/**
 * Starts the OAuth loopback redirect listener (RFC 8252) on 127.0.0.1. It accepts exactly one
 * callback: the first request to `/callback` settles the sign-in (a code, the IdP's error, or a
 * `state` mismatch, which aborts), later ones get an "already completed" page, then it closes.
 * A code's browser answer waits for {@link LoopbackServer.finish}, at most `holdMs`.
 */
export async function startLoopback(options: LoopbackOptions): Promise<LoopbackServer> {
  let settled = false;
  let resolve!: (url: URL) => void;
  let reject!: (err: SeedError) => void;
  const callback = new Promise<URL>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  callback.catch(() => {});
  let redirectUri = '';
  const login = `seed-mcp login --profile ${options.profile}`;
  /** The browser's request for a code, waiting for the exchange's outcome. */
  let held: { res: ServerResponse; timer: NodeJS.Timeout } | undefined;
  let answered: Promise<void> = Promise.resolve();

  const send = (res: ServerResponse, status: number, html: string): Promise<void> =>
    new Promise<void>((done) => {
      res.once('close', () => done());
      res.writeHead(status, { ...HEADERS, connection: 'close' });
      res.end(html, () => done());
    });

  const settle = (res: ServerResponse, status: number, html: string, outcome: () => void) => {
    settled = true;
    answered = send(res, status, html).then(() => {
      outcome();
      void close();
    });
  };

  /** Answers the held request (if still held) and closes once it is written. */
  const answerHeld = (status: number, html: string): Promise<void> => {
    if (held) {
      const { res, timer } = held;
      held = undefined;
      clearTimeout(timer);
      answered = send(res, status, html);
    }
    return answered;
  };
  const WAITING = page('Sign-in received', '<p>The identity provider answered; seed-mcp finishes the sign-in in the terminal, which shows the result.</p>' + CLOSE_TAB, true);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (settled) {
      res.writeHead(400, HEADERS);
      res.end(page('Sign-in already completed', `<p>This sign-in has already been handled.</p>${CLOSE_TAB}`, false));
      return;
    }
    const params = url.searchParams;
    const full = new URL(redirectUri);
    full.search = url.search;
    if (params.get('state') !== options.expectedState) {
      const err = new SeedError('STATE_MISMATCH', 'could not sign in: the callback carried a state that does not match this sign-in', {
        hint: `a stale or forged redirect reached the loopback port; run \`${login}\` again`,
      });
      settle(res, 400, failurePage('Sign-in failed: state mismatch', err), () => reject(err));
      return;
    }
    const error = params.get('error');
    if (error) {
      const description = redact(params.get('error_description') ?? '');
      const err = fromOAuthErrorCode(error, description, { doing: 'sign in', profile: options.profile });
      settle(res, 200, failurePage(error === 'access_denied' ? 'Sign-in cancelled' : 'Sign-in failed', err), () => reject(err));
      return;
    }
    if (!params.get('code')) {
      const err = new SeedError('AUTH_FAILED', 'could not sign in: the callback carried no authorization code', { hint: `run \`${login}\` again` });
      settle(res, 400, failurePage('Sign-in failed', err), () => reject(err));
      return;
    }
    settled = true;
    held = { res, timer: setTimeout(() => void answerHeld(200, WAITING), options.holdMs ?? 15_000) };
    res.once('close', () => {
      if (held?.res === res) {
        clearTimeout(held.timer);
        held = undefined;
      }
    });
    resolve(full);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;

  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    reject(
      new SeedError('LOGIN_TIMEOUT', `could not sign in: no answer from the browser within ${Math.round(options.timeoutMs / 1000)} s`, {
        hint: `run \`${login}\` again and finish in the browser; with no browser here, use --no-browser and open the printed URL, or --device`,
      }),
    );
    void close();
  }, options.timeoutMs);
  timer.unref();

  const onAbort = () => {
    if (settled) return;
    settled = true;
    reject(new SeedError('AUTH_FAILED', 'could not sign in: cancelled', { hint: `run \`${login}\` to try again` }));
    void close();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= answerHeld(200, WAITING).then(
      () =>
        new Promise<void>((res) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          server.close(() => res());
          server.closeAllConnections();
        }),
    );
    return closing;
  }

  async function finish<T extends client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>(exchange: Promise<T>, place: SignInPlace): Promise<T> {
    let response: T;
    try {
      response = await exchange;
    } catch (err) {
      await answerHeld(200, failurePage('Sign-in failed', mapOAuthError(err, { doing: 'sign in', issuer: place.issuer, clientId: place.clientId, profile: options.profile })));
      throw err;
    }
    let html = WAITING;
    try {
      html = signedInPage(response, place, options.profile);
    } catch {
      // The page is a courtesy: a fact it cannot show never fails the sign-in.
    }
    await answerHeld(200, html);
    return response;
  }

  await new Promise<void>((res, rej) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      rej(
        new SeedError('USAGE', `could not listen on 127.0.0.1:${options.port}: ${err.code ?? err.message}`, {
          hint: err.code === 'EADDRINUSE' ? 'another program uses that port: pass another --port, or omit it for a free one' : 'pass another --port',
        }),
      );
    });
    server.listen(options.port, '127.0.0.1', () => res());
  });
  const { port } = server.address() as AddressInfo;
  redirectUri = `http://${options.redirectHost}:${port}/callback`;
  return { redirectUri, callback, finish, close };
}
