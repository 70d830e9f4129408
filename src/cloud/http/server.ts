/**
 * The cloud's HTTP server: plain `node:http` (no framework on the hot path) in front of the route
 * table, with the security headers every answer carries, the request metrics, the shutdown gate and
 * a graceful close.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  /** Stops accepting, answers 503 on every route but health, lets in-flight requests finish within `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

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
  let inflight = 0;
  let drained: (() => void) | undefined;

  const { headersMs, requestMs } = options.timeouts ?? { headersMs: 15_000, requestMs: 60_000 };
  // Slow clients (slowloris) are cut off when their time is up, checked this often (Node's 30 s
  // default would let one hold a connection twice as long as allowed).
  const checkingMs = Math.max(50, Math.min(5_000, Math.floor(headersMs / 3)));
  const server: Server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: requestMs, headersTimeout: headersMs, connectionsCheckingInterval: checkingMs }, (req, res) => {
    inflight++;
    const started = performance.now();
    res.once('close', () => {
      metrics?.httpRequest(req.method ?? 'GET', req.url ?? '/', res.statusCode, (performance.now() - started) / 1000);
      inflight--;
      if (inflight === 0) drained?.();
    });
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = router.find(path);
    if (shuttingDown && !route?.servesDuringShutdown) {
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
  const { port } = server.address() as AddressInfo;
  return {
    port,
    shuttingDown: () => shuttingDown,
    async close(graceMs) {
      shuttingDown = true;
      server.close();
      server.closeIdleConnections();
      if (inflight > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      server.closeAllConnections();
    },
  };
}
