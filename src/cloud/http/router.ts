/**
 * The cloud's route table: exact paths to handlers, with the method check, the CORS preflight of
 * public endpoints and the answer of a thrown {@link CloudError} done once here instead of in
 * every handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloudError, isCloudError } from '../errors.js';
import { sendError, type ErrorContext } from './respond.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface Route {
  /** The exact path (no query); with `prefix`, a path ending in `/` that every path below it reaches. */
  path: string;
  /** Serves every path that starts with `path` (which ends in `/`) and has no exact route of its own. */
  prefix?: boolean;
  /** The methods served; absent = every method reaches the handler, which decides. */
  methods?: readonly string[];
  /**
   * `public`: any origin may call it (metadata and OAuth endpoints; no cookies are involved):
   * `Access-Control-Allow-Origin: *` and a preflight answered here.
   */
  cors?: 'public';
  /** Still served while the server shuts down (health and readiness); every other route answers 503. */
  servesDuringShutdown?: boolean;
  /** Answered whatever `Host` the request names (probes and scrapers use the pod's address); every other route checks it. */
  anyHost?: boolean;
  handle: Handler;
}

export interface Router {
  /** The route of `path`, if any. */
  find(path: string): Route | undefined;
  /**
   * Answers `req` with the route of `path`; false when no route has that path. A {@link CloudError}
   * thrown before the answer started is answered as the error table says; anything else rejects.
   */
  dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
  /** Answers `req` with `route`, already found (the server looks it up once, for its own checks). */
  serve(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

const PREFLIGHT_HEADERS = 'authorization, content-type, mcp-protocol-version';

/** A router over `routes`; two routes with one path are a programming error. */
export function createRouter(routes: readonly Route[], context: ErrorContext): Router {
  const byPath = new Map<string, Route>();
  const prefixes: Route[] = [];
  for (const route of routes) {
    if (route.prefix) {
      if (!route.path.endsWith('/')) throw new TypeError(`could not build the routes: the prefix ${route.path} must end in /`);
      if (prefixes.some((r) => r.path === route.path)) throw new TypeError(`could not build the routes: ${route.path} is routed twice`);
      prefixes.push(route);
      continue;
    }
    if (byPath.has(route.path)) throw new TypeError(`could not build the routes: ${route.path} is routed twice`);
    byPath.set(route.path, route);
  }
  // The longest prefix wins.
  prefixes.sort((a, b) => b.path.length - a.path.length);
  const find = (path: string) => byPath.get(path) ?? (prefixes.length > 0 ? prefixes.find((r) => path.startsWith(r.path) && path.length > r.path.length) : undefined);
  async function serve(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (route.cors === 'public') {
        res.setHeader('access-control-allow-origin', '*');
        if (req.method === 'OPTIONS') {
          const methods = route.methods ?? ['GET'];
          res
            .writeHead(204, {
              'access-control-allow-methods': `${methods.join(', ')}, OPTIONS`,
              'access-control-allow-headers': PREFLIGHT_HEADERS,
              'access-control-max-age': '600',
            })
            .end();
          return;
        }
      }
      if (route.methods && !route.methods.includes(req.method ?? 'GET')) {
        throw new CloudError('METHOD_NOT_ALLOWED', `use ${route.methods.join(' or ')}`);
      }
      await route.handle(req, res);
    } catch (err) {
      if (!isCloudError(err) || res.headersSent) throw err;
      sendError(res, err, context, err.code === 'METHOD_NOT_ALLOWED' ? { allow: route.methods?.join(', ') ?? '' } : {});
    }
  }
  return {
    find,
    serve,
    async dispatch(req, res, path) {
      const route = find(path);
      if (!route) return false;
      await serve(route, req, res);
      return true;
    },
  };
}
