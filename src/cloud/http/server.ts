/**
 * The cloud's HTTP server: plain `node:http` (no framework on the hot path) in front of the route
 * table, with the security headers every answer carries, the request metrics, the shutdown gate and
 * a graceful close.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from '../../shared/logger.js';
import { CloudError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { traceRequest, type Tracing } from '../tracing.js';
import { checkSingleAuthorization } from './request-checks.js';
import { sendError, type ErrorContext } from './respond.js';
import type { Route, Router } from './router.js';

export interface HttpServerOptions {
  router: Router;
  host: string;
  port: number;
  errorContext: ErrorContext;
  /** The public URL of the MCP endpoint, for the 404's hint. */
  mcpUrl: string;
  /** Throws FORBIDDEN_HOST for a `Host` this server does not answer (routes without `anyHost`). */
  checkHost: (req: IncomingMessage) => void;
  logger: Logger;
  metrics?: Metrics;
  /** How long a client may take to send its headers, and its whole request; 15 s and 60 s unless given. */
  timeouts?: { headersMs: number; requestMs: number };
  /** OTLP export (`OTEL_EXPORTER_OTLP_ENDPOINT`): MCP requests get spans. Absent: a `traceparent` is still continued. */
  tracing?: Tracing;
}

export interface HttpServer {
  readonly port: number;
  shuttingDown(): boolean;
  /**
   * Stops accepting connections and turns readiness unready, then drains: requests in flight
   * finish, and a request arriving on a connection already open is still answered, each with
   * `Connection: close`, so that no client sees its kept-alive connection reset. The drain ends
   * once every connection has closed, or nothing is in flight and idle connections have had
   * {@link IDLE_LINGER_MS} (at most `graceMs`) to send a last request, or at `graceMs`; a request
   * arriving after that gets 503 `SHUTTING_DOWN` (`Retry-After`), and every connection is closed.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * How long, once nothing is in flight, a draining server keeps idle kept-alive connections open:
 * a client (or load balancer) that picked one just before seeing it close gets an answer with
 * `Connection: close` rather than a reset.
 */
export const IDLE_LINGER_MS = 1000;

/** Starts listening; rejects when the port cannot be had (EADDRINUSE, EACCES). */
export async function listenHttp(options: HttpServerOptions): Promise<HttpServer> {
  const { router, errorContext, logger, metrics, tracing } = options;
  const serve = (route: Route, req: IncomingMessage, res: ServerResponse) => {
    router.serve(route, req, res).catch((err: Error) => {
      logger.error(`request failed: ${err.message}`);
      if (!res.headersSent) sendError(res, new CloudError('INTERNAL_ERROR', 'the request failed'), errorContext);
      else res.destroy();
    });
  };
  let shuttingDown = false;
  /** The drain is over: requests that still arrive are refused (503, `Retry-After`). */
  let drainOver = false;
  let inflight = 0;
  let changed: (() => void) | undefined;
  /** Responses not finished yet, to turn `Connection: close` on when the drain begins. */
  const open = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const { headersMs, requestMs } = options.timeouts ?? { headersMs: 15_000, requestMs: 60_000 };
  // Slow clients (slowloris) are cut off when their time is up, checked this often (Node's 30 s
  // default would let one hold a connection twice as long as allowed).
  const checkingMs = Math.max(50, Math.min(5_000, Math.floor(headersMs / 3)));
  const server: Server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: requestMs, headersTimeout: headersMs, connectionsCheckingInterval: checkingMs }, (req, res) => {
    inflight++;
    open.add(res);
    const started = performance.now();
    res.once('close', () => {
      metrics?.httpRequest(req.method ?? 'GET', req.url ?? '/', res.statusCode, (performance.now() - started) / 1000);
      inflight--;
      open.delete(res);
      changed?.();
    });
    // Draining: answered, then the connection closes (the client opens its next one elsewhere).
    if (shuttingDown) res.setHeader('connection', 'close');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = router.find(path);
    if (drainOver && !route?.servesDuringShutdown) {
      sendError(res, new CloudError('SHUTTING_DOWN', 'this replica is shutting down'), errorContext);
      return;
    }
    if (!route) {
      sendError(res, new CloudError('NOT_FOUND', 'nothing is served at this path', { action: `the MCP endpoint is ${options.mcpUrl}` }), errorContext);
      return;
    }
    try {
      if (!route.anyHost) options.checkHost(req);
      checkSingleAuthorization(req);
    } catch (err) {
      sendError(res, err as CloudError, errorContext);
      return;
    }
    // Untraced (no exporter, no `traceparent`): served directly, nothing allocated for tracing.
    if (!tracing && req.headers.traceparent === undefined) serve(route, req, res);
    else traceRequest(tracing, req, res, route.path, () => serve(route, req, res));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      changed?.();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    port,
    shuttingDown: () => shuttingDown,
    close(graceMs) {
      closing ??= drain(graceMs);
      return closing;
    },
  };

  async function drain(graceMs: number): Promise<void> {
    shuttingDown = true;
    // Stop accepting connections, but not as http.Server#close does, which also drops the idle
    // kept-alive ones at once: a request already on its way over one would meet a reset.
    NetServer.prototype.close.call(server);
    for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
    const began = Date.now();
    const linger = Math.min(IDLE_LINGER_MS, graceMs);
    const timers: NodeJS.Timeout[] = [];
    await new Promise<void>((resolve) => {
      const check = () => {
        if (sockets.size === 0 || (inflight === 0 && Date.now() - began >= linger)) resolve();
      };
      changed = check;
      // Wakes the check when the linger is over; the grace ends the drain whatever is left.
      timers.push(setTimeout(check, linger), setTimeout(resolve, graceMs));
      check();
    });
    changed = undefined;
    for (const t of timers) clearTimeout(t);
    drainOver = true;
    server.closeAllConnections();
    // http.Server#close: its connection checks stop too (the listener is closed already).
    server.close();
  }
}
