/**
 * CORS for cloud mode: browser-based MCP clients on the allowed origins (`BASE_URL`'s origin plus
 * `CORS_EXTRA_ORIGINS`) may call `/mcp`; pages on any other origin may not. The allowed origin is
 * echoed exactly, never `*`, and every answer carries `Vary: Origin` so that caches keep one copy
 * per origin.
 *
 * A request without `Origin` is not a browser cross-origin request (non-browser MCP clients send
 * none) and is allowed; pages cannot strip the header from a cross-origin request, so this opens
 * nothing to them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SeedError } from '../shared/errors.js';
import { CloudError } from './errors.js';

export interface CorsOptions {
  /** Exact origins such as `https://app.example.com`; compared after normalisation. */
  allowedOrigins: string[];
}

export interface Cors {
  /** True for an absent `Origin` and for an allowed one. */
  isAllowed(origin: string | undefined): boolean;
  /**
   * Answers an `OPTIONS` request and returns true; returns false, touching nothing, for any other
   * method. Allowed origin: 204 with the CORS preflight headers. Disallowed: throws FORBIDDEN_ORIGIN (403). No
   * `Origin`: 204 with `Allow` (not a preflight, but an `OPTIONS` deserves an answer).
   */
  preflight(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Sets the CORS headers of a normal response, before it is written: `Vary: Origin` always, and
   * for an allowed `Origin` its exact echo and the MCP headers scripts may read. Does nothing once
   * the headers are sent.
   */
  apply(req: IncomingMessage, res: ServerResponse): void;
}

const ALLOW_METHODS = 'GET, POST, DELETE, OPTIONS';
const ALLOW_HEADERS = 'authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id';
const EXPOSE_HEADERS = 'mcp-session-id, www-authenticate, mcp-protocol-version';
const MAX_AGE_SEC = '600';

/**
 * The CORS policy of the cloud server.
 *
 * @example
 * const cors = createCors({ allowedOrigins: [new URL(config.baseUrl).origin, ...config.corsExtraOrigins] });
 * createServer((req, res) => {
 *   if (cors.preflight(req, res)) return;
 *   if (!cors.isAllowed(req.headers.origin)) return forbidden(res);
 *   cors.apply(req, res);
 *   // … route
 * });
 *
 * @throws SeedError `CONFIG_INVALID` when an entry of `allowedOrigins` is not an http(s) origin.
 */
export function createCors(options: CorsOptions): Cors {
  const allowed = new Set<string>();
  for (const entry of options.allowedOrigins) {
    const origin = normaliseOrigin(entry);
    if (!origin) {
      throw new SeedError('CONFIG_INVALID', `could not configure CORS: not an origin: ${entry}`, {
        hint: 'list origins such as https://app.example.com in CORS_EXTRA_ORIGINS',
      });
    }
    allowed.add(origin);
  }

  const isAllowed = (origin: string | undefined): boolean => {
    if (origin === undefined) return true;
    const normalised = normaliseOrigin(origin);
    return normalised !== undefined && allowed.has(normalised);
  };

  return {
    isAllowed,

    preflight(req, res) {
      if (req.method !== 'OPTIONS') return false;
      const origin = req.headers.origin;
      appendVary(res, 'Origin');
      if (origin === undefined) {
        res.writeHead(204, { allow: ALLOW_METHODS }).end();
      } else if (isAllowed(origin)) {
        res
          .writeHead(204, {
            'access-control-allow-origin': origin,
            'access-control-allow-methods': ALLOW_METHODS,
            'access-control-allow-headers': ALLOW_HEADERS,
            'access-control-max-age': MAX_AGE_SEC,
          })
          .end();
      } else {
        throw forbiddenOrigin(origin);
      }
      return true;
    },

    apply(req, res) {
      if (res.headersSent) return;
      appendVary(res, 'Origin');
      const origin = req.headers.origin;
      if (origin === undefined || !isAllowed(origin)) return;
      // The exact value the browser sent: it compares Access-Control-Allow-Origin byte for byte.
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
    },
  };
}

/** The refusal of a browser page on an origin that is not allowed (DNS rebinding, CSRF). */
export function forbiddenOrigin(origin: string): CloudError {
  return new CloudError('FORBIDDEN_ORIGIN', `origin ${origin} is not allowed`, {
    action: `origin ${origin} is not allowed; add it to CORS_EXTRA_ORIGINS if it should be`,
    headers: { vary: 'Origin' },
  });
}

/**
 * `scheme://host[:port]` with scheme and host lower-cased and the default port dropped (what
 * `URL#origin` gives); undefined for anything that is not a bare http(s) origin — `null`, paths,
 * credentials, several origins joined by a repeated header.
 */
function normaliseOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) return undefined;
  return url.origin;
}

function appendVary(res: ServerResponse, field: string): void {
  const current = res.getHeader('vary');
  const existing = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (existing.includes('*') || existing.some((s) => s.toLowerCase() === field.toLowerCase())) return;
  res.setHeader('vary', [...existing, field].join(', '));
}
