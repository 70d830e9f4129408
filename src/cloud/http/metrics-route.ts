/**
 * `GET /metrics`: the Prometheus text of a {@link Metrics}, behind an optional bearer token
 * (`METRICS_TOKEN`) so that a scraper, and only a scraper, reads it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constantTimeEqual } from '../../shared/crypto.js';
import { bearerCredentials } from '../auth/parse-authorization.js';
import type { Metrics } from '../metrics.js';

export interface MetricsHandlerOptions {
  /** The bearer token a scraper must send; absent = no authentication. */
  token?: string;
}

function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: string, head: boolean): void {
  res.writeHead(status, { 'cache-control': 'no-store', ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(head ? undefined : body);
}

/**
 * A `node:http` handler answering with the Prometheus text exposition of `metrics`. With a token,
 * it requires `Authorization: Bearer <token>` (compared in constant time) and answers 401 with
 * `WWW-Authenticate: Bearer realm="metrics"` otherwise. Only `GET` and `HEAD` are served (405
 * otherwise). The returned promise never rejects.
 *
 * @example
 * ```ts
 * const serveMetrics = metricsHandler(metrics, { token: config.metrics.token });
 * if (routeLabel(req.url ?? '') === '/metrics') return serveMetrics(req, res);
 * ```
 */
export function metricsHandler(metrics: Metrics, options: MetricsHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  if (options.token === '') throw new TypeError('could not create the metrics handler: the token is empty');
  const expected = options.token;

  return async (req, res) => {
    const head = req.method === 'HEAD';
    try {
      if (req.method !== 'GET' && !head) {
        answer(res, 405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, 'could not serve metrics: use GET\n', false);
        return;
      }
      if (expected !== undefined) {
        const presented = bearerCredentials(req.headers.authorization);
        // Always compare, even without credentials, so that both paths take the same time.
        const ok = constantTimeEqual(presented ?? '', expected) && presented !== undefined;
        if (!ok) {
          answer(
            res,
            401,
            { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain; charset=utf-8' },
            'could not serve metrics: a valid bearer token is required (Authorization: Bearer <METRICS_TOKEN>)\n',
            head,
          );
          return;
        }
      }
      const { contentType, body } = await metrics.render();
      answer(res, 200, { 'content-type': contentType }, body, head);
    } catch {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      answer(res, 500, { 'content-type': 'text/plain; charset=utf-8' }, 'could not render metrics: an internal error occurred\n', head);
    }
  };
}
