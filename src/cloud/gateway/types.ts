/**
 * Gateway mode (`UPSTREAMS_FILE`, README "Gateway: `UPSTREAMS_FILE`"): the MCP servers ("children")
 * that `seed-mcp cloud` fronts, as the upstreams file declares them once validated.
 */

/** Each child's own MCP endpoint: `/mcp/<name>`. */
export const CHILD_PREFIX = '/mcp/';

/** The gateway's own credential toward one child. The caller's token is never forwarded. */
export type ChildAuthSpec =
  | { type: 'none' }
  /** A bearer read from a file (re-read when the file changes: rotated secrets). */
  | { type: 'static'; tokenFile: string }
  /** A service token (OAuth client credentials), cached until shortly before it expires. */
  | ({ type: 'client_credentials' } & ClientSpec)
  /** RFC 8693 on behalf of the calling user, audience = the child; cached per user and child. */
  | ({ type: 'token_exchange' } & ClientSpec);

/** The gateway's client at an authorization server. */
export interface ClientSpec {
  issuer: string;
  clientId: string;
  /** One of the two authenticates the client (client_secret_basic, or private_key_jwt). */
  clientSecretFile?: string;
  privateKeyFile?: string;
  /** RFC 8707 `resource` and/or the `audience` parameter many IdPs use instead. */
  audience?: string;
  resource?: string;
  scopes?: string[];
}

export interface ChildSpec {
  /** `[a-z0-9-]+`: served at `/mcp/<name>` and as `<name>_<tool>` on `/mcp`. */
  name: string;
  /** Streamable HTTP (either protocol era)… */
  url?: string;
  /** …or a stdio child the gateway spawns and restarts. */
  command?: string[];
  /** For a stdio child: extra environment and working directory. */
  env?: Record<string, string>;
  cwd?: string;
  headers: Record<string, string>;
  timeoutMs: number;
  auth: ChildAuthSpec;
  /** Tenancy: only tokens of these issuers may reach this child (default: every allowed issuer). */
  allowedIssuers?: string[];
  /** Tenancy: the audiences a token must carry for this child (default: the server's own). */
  audiences?: string[];
  /** Scopes a caller needs for this child (also its protected-resource metadata's `scopes_supported`). */
  scopes: string[];
}

export interface UpstreamsConfig {
  source: string;
  loadedAt: number;
  children: ChildSpec[];
}
