import type { ServerResponse } from 'node:http';

/** What an auth failure sends back: a status, a code from the contract's table, and hints. */
export interface AuthFailure {
  status: 401 | 403 | 429;
  code: string;
  /** Safe in a header: no quotes, no token. */
  description: string;
  /** For the person reading the body: what to do next. */
  action: string;
  /** INSUFFICIENT_SCOPE: every scope the request needs. */
  scope?: string;
  retryAfterSec?: number;
}

const OAUTH_ERROR: Record<string, string> = {
  MISSING_AUTHORIZATION: '',
  INSUFFICIENT_SCOPE: 'insufficient_scope',
  ACCESS_DENIED: 'insufficient_scope',
  RATE_LIMITED: '',
};

const quote = (s: string) => s.replace(/["\\\r\n]/g, ' ');

/**
 * The `WWW-Authenticate: Bearer …` challenge of RFC 6750 / RFC 9728: `error`, `error_description`,
 * `scope` for a 403, and `resource_metadata` so that MCP clients find the authorization server.
 * A request with no token gets no `error` (RFC 6750 §3.1).
 */
export function bearerChallenge(failure: AuthFailure, resourceMetadataUrl: string): string {
  const error = OAUTH_ERROR[failure.code] ?? 'invalid_token';
  const parts = [
    ...(error ? [`error="${error}"`, `error_description="${quote(failure.description)}"`] : []),
    ...(failure.scope ? [`scope="${quote(failure.scope)}"`] : []),
    `resource_metadata="${resourceMetadataUrl}"`,
  ];
  return `Bearer ${parts.join(', ')}`;
}

/** Answers an auth failure: the challenge header and a JSON body with the code and an `Action:` hint. */
export function sendAuthFailure(res: ServerResponse, failure: AuthFailure, resourceMetadataUrl: string): void {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
  };
  if (failure.status !== 429) headers['www-authenticate'] = bearerChallenge(failure, resourceMetadataUrl);
  if (failure.retryAfterSec !== undefined) headers['retry-after'] = String(failure.retryAfterSec);
  res.writeHead(failure.status, headers).end(
    JSON.stringify({
      error: failure.code,
      error_description: failure.description,
      message: `Action: ${failure.action}`,
      ...(failure.scope ? { scope: failure.scope } : {}),
    }),
  );
}
