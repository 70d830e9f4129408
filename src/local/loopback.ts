import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SeedError } from '../shared/errors.js';
import { escapeHtml, htmlPage } from '../shared/html.js';
import { redact } from '../shared/redact.js';
import { fromOAuthErrorCode } from './oidc/map-error.js';

export interface LoopbackOptions {
  /** Port to bind on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Host name written into the redirect URI (the socket is always 127.0.0.1). */
  redirectHost: '127.0.0.1' | 'localhost';
  expectedState: string;
  timeoutMs: number;
  profile: string;
  signal?: AbortSignal;
}

export interface LoopbackServer {
  redirectUri: string;
  /** Resolves with the callback URL (as the redirect URI plus the IdP's parameters). */
  callback: Promise<URL>;
  close(): Promise<void>;
}

/** The page of an outcome: its heading green on success, red otherwise. */
function page(title: string, body: string, ok: boolean): string {
  return htmlPage({
    title: `seed-mcp: ${title}`,
    body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(body)}</p>`,
    style: `h1{color:${ok ? '#1a7f37' : '#cf222e'}}`,
  });
}

/**
 * Starts the OAuth loopback redirect listener (RFC 8252) on 127.0.0.1. It accepts exactly one
 * callback: the first request to `/callback` settles the sign-in (success, the IdP's error, or a
 * `state` mismatch, which aborts), later ones get an "already completed" page, then it closes.
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

  const settle = (res: ServerResponse, status: number, html: string, outcome: () => void) => {
    settled = true;
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
    res.end(html, () => {
      outcome();
      void close();
    });
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (settled) {
      res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Sign-in already completed', 'This sign-in has already been handled. You can close this tab.', false));
      return;
    }
    const params = url.searchParams;
    const full = new URL(redirectUri);
    full.search = url.search;
    if (params.get('state') !== options.expectedState) {
      settle(res, 400, page('Sign-in failed', 'The response did not match the sign-in that was started (state mismatch). Start again from the terminal.', false), () =>
        reject(
          new SeedError('STATE_MISMATCH', 'could not sign in: the callback carried a state that does not match this sign-in', {
            hint: `a stale or forged redirect reached the loopback port; run \`${login}\` again`,
          }),
        ),
      );
      return;
    }
    const error = params.get('error');
    if (error) {
      const description = redact(params.get('error_description') ?? '');
      const denied = error === 'access_denied';
      settle(
        res,
        200,
        page(denied ? 'Sign-in cancelled' : 'Sign-in failed', `${error}${description ? `: ${description}` : ''}. You can close this tab and return to the terminal.`, false),
        () => reject(fromOAuthErrorCode(error, description, { doing: 'sign in', profile: options.profile })),
      );
      return;
    }
    if (!params.get('code')) {
      settle(res, 400, page('Sign-in failed', 'The identity provider sent no authorization code.', false), () =>
        reject(new SeedError('AUTH_FAILED', 'could not sign in: the callback carried no authorization code', { hint: `run \`${login}\` again` })),
      );
      return;
    }
    settle(res, 200, page('Signed in', 'You are signed in to seed-mcp. You can close this tab and return to the terminal.', true), () => resolve(full));
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
    closing ??= new Promise<void>((res) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      server.close(() => res());
      server.closeAllConnections();
    });
    return closing;
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
  return { redirectUri, callback, close };
}
