/**
 * The one error model of the cloud's HTTP boundary. Every failure the cloud answers has a code in
 * {@link CLOUD_ERRORS}; the table says its HTTP status, the shape of its body, the OAuth error of
 * its challenge and the `Action:` hint for the person reading it. The challenge headers, the
 * `auth_attempts_total{code}` labels and the answers are all derived from it, so a new code is one
 * row here and one `case` where a handler treats it differently.
 *
 * Body shapes:
 * - `resource`: the contract's `{ error, error_description, message: "Action: …", scope? }`, with a
 *   `WWW-Authenticate: Bearer …` challenge when `challenge` is set (RFC 6750 / RFC 9728);
 * - `oauth`: RFC 6749 §5.2 `{ error, error_description }` of the OAuth proxy's endpoints;
 * - `jsonrpc`: a JSON-RPC error with `id: null`, for what the MCP endpoint refuses before dispatch.
 */

export type ErrorBody = 'resource' | 'oauth' | 'jsonrpc';

export interface ErrorSpec {
  readonly status: number;
  readonly body: ErrorBody;
  /** The body's `error` value when it is not the code itself (the OAuth error for `oauth` bodies). */
  readonly error?: string;
  /**
   * The `WWW-Authenticate` challenge: `bearer` for the resource server's 401/403 (its `error=` is
   * {@link bearerError}, none when absent, as RFC 6750 §3.1 wants for a request without a token);
   * `basic` for a client that failed to authenticate at the OAuth proxy.
   */
  readonly challenge?: 'bearer' | 'basic';
  readonly bearerError?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  /** The JSON-RPC error code of a `jsonrpc` body. */
  readonly rpcCode?: number;
  /** A decision about the caller, counted in `auth_attempts_total{code}` and written as an audit event. */
  readonly authFailure?: boolean;
  /** `Retry-After` in seconds, unless the error carries its own. */
  readonly retryAfterSec?: number;
  /** Answer with `Connection: close` (the rest of the request may not be read). */
  readonly close?: boolean;
  /** What the person should do next; the answer prefixes `Action: `. */
  readonly action: string;
}

const SIGN_IN_AGAIN = 'sign in again to get a fresh token (seed-mcp login)';
const RETRY = 'retry in a moment; operators: check /health/ready';

export const CLOUD_ERRORS = {
  // The resource server: bearer-token authentication (401) and authorization (403).
  MISSING_AUTHORIZATION: {
    status: 401,
    body: 'resource',
    challenge: 'bearer',
    authFailure: true,
    action: 'sign in (seed-mcp login) and send the access token as "Authorization: Bearer <token>"',
  },
  INVALID_TOKEN: { status: 401, body: 'resource', challenge: 'bearer', bearerError: 'invalid_token', authFailure: true, action: SIGN_IN_AGAIN },
  INVALID_SIGNATURE: {
    status: 401,
    body: 'resource',
    challenge: 'bearer',
    bearerError: 'invalid_token',
    authFailure: true,
    action: `${SIGN_IN_AGAIN}; if this persists, the token comes from an identity provider this server does not trust`,
  },
  TOKEN_EXPIRED: {
    status: 401,
    body: 'resource',
    challenge: 'bearer',
    bearerError: 'invalid_token',
    authFailure: true,
    action: 'refresh the token or sign in again (seed-mcp login); check the clock of the machine that sent it',
  },
  INVALID_AUDIENCE: {
    status: 401,
    body: 'resource',
    challenge: 'bearer',
    bearerError: 'invalid_token',
    authFailure: true,
    action: "get a token for this server's resource (seed-mcp login --resource <this server's URL>)",
  },
  INVALID_ISSUER: {
    status: 401,
    body: 'resource',
    challenge: 'bearer',
    bearerError: 'invalid_token',
    authFailure: true,
    action: 'sign in with an identity provider this server trusts (its /.well-known/oauth-protected-resource lists them)',
  },
  TOKEN_REVOKED: { status: 401, body: 'resource', challenge: 'bearer', bearerError: 'invalid_token', authFailure: true, action: `this token was revoked; ${SIGN_IN_AGAIN}` },
  INSUFFICIENT_SCOPE: {
    status: 403,
    body: 'resource',
    challenge: 'bearer',
    bearerError: 'insufficient_scope',
    authFailure: true,
    action: 'sign in again asking for the missing scopes (seed-mcp login --scope ...)',
  },
  // A policy decision, not a scope the caller could ask for: no challenge, so that no MCP client
  // reads it as insufficient_scope and starts a pointless step-up sign-in.
  ACCESS_DENIED: { status: 403, body: 'resource', authFailure: true, action: 'ask your administrator for access to this tool' },
  // RFC 6750 §3.1 invalid_request: a malformed request (two Authorization headers, say).
  INVALID_REQUEST: { status: 400, body: 'resource', challenge: 'bearer', bearerError: 'invalid_request', action: 'send one Authorization header with one bearer token' },
  RATE_LIMITED: { status: 429, body: 'resource', authFailure: true, action: 'wait before retrying' },
  // The resource server cannot decide now: not the caller's fault, so no challenge.
  REVOCATION_UNAVAILABLE: {
    status: 503,
    body: 'resource',
    retryAfterSec: 5,
    action: 'retry shortly; operators: check Redis in /health/ready (or set REVOCATION_FAIL_MODE=open)',
  },
  JWKS_UNAVAILABLE: { status: 503, body: 'resource', retryAfterSec: 5, action: 'retry shortly; operators: check /health/ready and the IdP' },
  INTROSPECTION_UNAVAILABLE: {
    status: 503,
    body: 'resource',
    retryAfterSec: 5,
    action: "retry shortly; operators: check the IdP's token introspection endpoint and this server's client credentials there (INTROSPECTION)",
  },
  // The HTTP surface.
  FORBIDDEN_HOST: {
    status: 403,
    body: 'resource',
    error: 'forbidden_host',
    action: "use the server's public address (BASE_URL); operators: add the host name to ALLOWED_HOSTS if it should be served",
  },
  FORBIDDEN_ORIGIN: { status: 403, body: 'resource', error: 'forbidden_origin', action: 'add the origin to CORS_EXTRA_ORIGINS if it should be allowed' },
  NOT_FOUND: { status: 404, body: 'resource', error: 'not_found', action: 'use the MCP endpoint' },
  SHUTTING_DOWN: { status: 503, body: 'resource', error: 'shutting_down', retryAfterSec: 1, close: true, action: 'retry against another replica' },
  METHOD_NOT_ALLOWED: { status: 405, body: 'oauth', error: 'invalid_request', action: 'use the method the endpoint takes' },
  INTERNAL_ERROR: { status: 500, body: 'resource', error: 'internal_error', action: 'retry; if it persists, see the server log' },
  // The MCP endpoint, before a message reaches an MCP server.
  BODY_TOO_LARGE: { status: 413, body: 'jsonrpc', rpcCode: -32600, close: true, action: 'send a smaller request' },
  PARSE_ERROR: { status: 400, body: 'jsonrpc', rpcCode: -32700, action: 'send one JSON-RPC message (or a batch) as JSON' },
  TOO_DEEP: { status: 400, body: 'jsonrpc', rpcCode: -32600, action: 'send JSON nested less deeply' },
  INVALID_SESSION_REQUEST: { status: 400, body: 'jsonrpc', rpcCode: -32600, action: 'send one JSON-RPC request per POST in a session' },
  SESSION_NOT_FOUND: { status: 404, body: 'jsonrpc', rpcCode: -32001, action: 'initialize a new session' },
  SESSION_STREAM_ELSEWHERE: { status: 405, body: 'jsonrpc', rpcCode: -32000, action: 'open the event stream on the replica that holds the session' },
  SESSIONS_FULL: { status: 503, body: 'jsonrpc', rpcCode: -32000, retryAfterSec: 30, action: 'retry later' },
  // The OAuth proxy's endpoints (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 8707).
  OAUTH_INVALID_REQUEST: { status: 400, body: 'oauth', error: 'invalid_request', action: 'fix the request' },
  OAUTH_BODY_TOO_LARGE: { status: 413, body: 'oauth', error: 'invalid_request', close: true, action: 'send a smaller request' },
  OAUTH_INVALID_CLIENT: { status: 401, body: 'oauth', error: 'invalid_client', challenge: 'basic', action: 'register the client again, or send its credentials' },
  OAUTH_INVALID_GRANT: { status: 400, body: 'oauth', error: 'invalid_grant', action: 'sign in again' },
  OAUTH_UNAUTHORIZED_CLIENT: { status: 400, body: 'oauth', error: 'unauthorized_client', action: 'register the grant type with the client' },
  OAUTH_UNSUPPORTED_GRANT_TYPE: { status: 400, body: 'oauth', error: 'unsupported_grant_type', action: 'use authorization_code or refresh_token' },
  OAUTH_UNSUPPORTED_RESPONSE_TYPE: { status: 400, body: 'oauth', error: 'unsupported_response_type', action: 'use response_type=code' },
  OAUTH_INVALID_TARGET: { status: 400, body: 'oauth', error: 'invalid_target', action: "ask for this server's resource" },
  OAUTH_INVALID_CLIENT_METADATA: { status: 400, body: 'oauth', error: 'invalid_client_metadata', action: 'fix the client metadata' },
  OAUTH_INVALID_REDIRECT_URI: { status: 400, body: 'oauth', error: 'invalid_redirect_uri', action: 'register https or loopback http redirect URIs' },
  OAUTH_RATE_LIMITED: { status: 429, body: 'oauth', error: 'rate_limited', action: 'wait, or reuse the client you registered' },
  OAUTH_TEMPORARILY_UNAVAILABLE: { status: 503, body: 'oauth', error: 'temporarily_unavailable', retryAfterSec: 5, action: RETRY },
  OAUTH_UPSTREAM_UNAVAILABLE: { status: 503, body: 'oauth', error: 'temporarily_unavailable', action: RETRY },
} as const satisfies Record<string, ErrorSpec>;

export type CloudErrorCode = keyof typeof CLOUD_ERRORS;

/** The codes that are decisions about the caller: the `code` label of a failed `auth_attempts_total`. */
export const AUTH_FAILURE_CODES = (Object.keys(CLOUD_ERRORS) as CloudErrorCode[]).filter((code) => (CLOUD_ERRORS[code] as ErrorSpec).authFailure === true);

/** The spec of `code`. */
export function errorSpec(code: CloudErrorCode): ErrorSpec {
  return CLOUD_ERRORS[code];
}

/** Longest description kept; the rest is cut (headers have limits, and so have readers). */
const MAX_DESCRIPTION = 200;

/**
 * Makes `text` safe inside a quoted `error_description="…"`: RFC 6750 allows %x20-21 / %x23-5B /
 * %x5D-7E, i.e. printable ASCII without `"` and `\`. Anything else becomes a space or `'`.
 */
export function safeDescription(text: string): string {
  const cleaned = text
    .replace(/["`]/g, "'")
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return cleaned.length > MAX_DESCRIPTION ? `${cleaned.slice(0, MAX_DESCRIPTION - 3)}...` : cleaned;
}

/** Optional parts of a {@link CloudError}. */
export interface CloudErrorExtra {
  /** Overrides the code's `Action:` hint (without the `Action: ` prefix). */
  action?: string;
  /** INSUFFICIENT_SCOPE: every scope the request needs (the challenge's `scope="…"`). */
  scope?: string | readonly string[];
  /** Overrides the code's `Retry-After`. */
  retryAfterSec?: number;
  /** More headers for the answer (a 429's rate-limit headers, `Vary`). */
  headers?: Readonly<Record<string, string>>;
  cause?: unknown;
}

/**
 * A failure the cloud answers over HTTP. `description` never holds a token or a claim value taken
 * from one, and is safe in a `WWW-Authenticate` header as it is.
 *
 * @example
 * ```ts
 * throw new CloudError('INSUFFICIENT_SCOPE', 'the tool get_checklist needs checklist.read', { scope: ['checklist.read'] });
 * ```
 */
export class CloudError<C extends CloudErrorCode = CloudErrorCode> extends Error {
  override readonly name: string = 'CloudError';
  readonly code: C;
  readonly status: number;
  readonly description: string;
  readonly action: string;
  readonly scope?: string;
  readonly retryAfterSec?: number;
  readonly headers?: Readonly<Record<string, string>>;

  constructor(code: C, description: string, extra: CloudErrorExtra = {}) {
    const spec = errorSpec(code);
    const safe = safeDescription(description);
    super(
      spec.status === 403 ? `could not authorize the request: ${safe}` : spec.status === 401 ? `could not authenticate the request: ${safe}` : safe,
      extra.cause === undefined ? undefined : { cause: extra.cause },
    );
    this.code = code;
    this.status = spec.status;
    this.description = safe;
    this.action = extra.action ?? spec.action;
    if (extra.scope !== undefined) {
      const scopes = typeof extra.scope === 'string' ? extra.scope.split(/\s+/) : extra.scope;
      this.scope = safeDescription(scopes.filter(Boolean).join(' '));
    }
    const retry = extra.retryAfterSec ?? spec.retryAfterSec;
    if (retry !== undefined) this.retryAfterSec = retry;
    if (extra.headers) this.headers = extra.headers;
  }
}

export function isCloudError(err: unknown): err is CloudError {
  return err instanceof CloudError;
}
