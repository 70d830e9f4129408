/**
 * Writing answers: one JSON writer, and one writer of {@link CloudError}s whose shape, challenge
 * and headers all come from the error table.
 */
import type { ServerResponse } from 'node:http';
import { errorSpec, type CloudError } from '../errors.js';

/** A JSON answer, never cached. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/** A redirect that no cache keeps. */
export function sendRedirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store' }).end();
}

const quote = (s: string) => s.replace(/["\\\r\n]/g, ' ');

/**
 * The `WWW-Authenticate: Bearer …` challenge of RFC 6750 / RFC 9728 for `err`: `error` and
 * `error_description` (none for a request without a token, RFC 6750 §3.1), `scope` when the error
 * names the scopes, and `resource_metadata` so that MCP clients find the authorization server.
 */
export function bearerChallenge(err: CloudError, resourceMetadataUrl: string): string {
  const error = errorSpec(err.code).bearerError;
  const parts = [
    ...(error ? [`error="${error}"`, `error_description="${quote(err.description)}"`] : []),
    ...(err.scope ? [`scope="${quote(err.scope)}"`] : []),
    `resource_metadata="${resourceMetadataUrl}"`,
  ];
  return `Bearer ${parts.join(', ')}`;
}

/** What an error answer needs to know of the server. */
export interface ErrorContext {
  /** RFC 9728 metadata URL for the Bearer challenge. */
  resourceMetadataUrl: string;
}

/** Answers `err` as its table row says: status, body shape, challenge, `Retry-After`, `Connection: close`. */
export function sendError(res: ServerResponse, err: CloudError, context: ErrorContext, headers: Record<string, string> = {}): void {
  const spec = errorSpec(err.code);
  const out: Record<string, string> = { ...err.headers, ...headers };
  if (spec.challenge === 'bearer') out['www-authenticate'] = bearerChallenge(err, context.resourceMetadataUrl);
  if (spec.challenge === 'basic') out['www-authenticate'] = 'Basic realm="seed-mcp"';
  if (err.retryAfterSec !== undefined) out['retry-after'] = String(err.retryAfterSec);
  if (spec.close) out.connection = 'close';
  const action = `Action: ${err.action}`;
  switch (spec.body) {
    case 'resource':
      return sendJson(res, spec.status, { error: spec.error ?? err.code, error_description: err.description, message: action, ...(err.scope ? { scope: err.scope } : {}) }, out);
    case 'oauth':
      return sendJson(res, spec.status, { error: spec.error ?? err.code, error_description: err.description, message: action }, { pragma: 'no-cache', ...out });
    case 'jsonrpc':
      return sendJson(res, spec.status, { jsonrpc: '2.0', error: { code: spec.rpcCode ?? -32600, message: `${err.description}; ${err.action}` }, id: null }, out);
  }
}
