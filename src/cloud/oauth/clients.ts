/**
 * The MCP clients the OAuth proxy knows: registered through RFC 7591 (`/oauth/register`, kept in
 * the shared store for `DCR_CLIENT_TTL`), or named by a client ID metadata document (an https
 * `client_id` whose JSON metadata this server fetches, with size and time limits).
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual, sha256Base64url } from '../../shared/crypto.js';
import { BodyTooLargeError, readResponseText } from '../../shared/http/read-body.js';
import { CloudError } from '../errors.js';
import type { SharedStore } from '../store/types.js';
import { STORE_KEYS } from '../store/keys.js';

/** A client as the proxy keeps it. */
export interface OAuthClient {
  client_id: string;
  redirect_uris: string[];
  token_endpoint_auth_method: 'none' | 'client_secret_basic' | 'client_secret_post';
  grant_types: string[];
  response_types: string[];
  client_name?: string;
  client_uri?: string;
  logo_uri?: string;
  scope?: string;
  /** sha256 of the secret (base64url); only for confidential clients. */
  secret_hash?: string;
  client_id_issued_at?: number;
  /** Where the client came from: registration or a metadata document. */
  source: 'registration' | 'metadata-document';
}

/** The RFC 7591 §3.2.2 errors of client metadata. */
export type ClientMetadataErrorCode = 'OAUTH_INVALID_REDIRECT_URI' | 'OAUTH_INVALID_CLIENT_METADATA';

/**
 * A registration or metadata document that cannot be accepted. A {@link CloudError}, so that the
 * registration endpoint answers it as it is; the endpoints that only look a client up catch it.
 */
export class ClientMetadataError extends CloudError<ClientMetadataErrorCode> {
  override readonly name: string = 'ClientMetadataError';
  constructor(code: ClientMetadataErrorCode, message: string) {
    super(code, message);
  }
}

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);
const MAX_REDIRECT_URIS = 10;
const MAX_TEXT = 512;

/** True for `http://127.0.0.1…`, `http://[::1]…` and `http://localhost…`. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname));
}

/**
 * A redirect URI the proxy may send codes to: https, or http on loopback (RFC 8252 §7.3), absolute,
 * without fragment or credentials. Anything else (custom schemes, plain http elsewhere) is refused:
 * a code sent there could be read on the network or by another app.
 */
export function checkRedirectUri(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048)
    throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', 'each redirect URI must be a string of at most 2048 characters');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', `${clip(value)} is not an absolute URL`);
  }
  if (url.hash || value.includes('#')) throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', `${clip(value)} has a fragment`);
  if (url.username || url.password) throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', `${clip(value)} holds credentials`);
  if (url.protocol !== 'https:' && !isLoopbackHttp(url)) {
    throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', `${clip(value)} must be https, or http on 127.0.0.1, [::1] or localhost`);
  }
  return value;
}

/**
 * Whether `requested` is one of `registered`. Exact match, except that a loopback http URI may use
 * any port (RFC 8252 §7.3: native apps pick a free port at run time).
 */
export function redirectUriMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let want: URL;
  try {
    want = new URL(requested);
  } catch {
    return false;
  }
  if (!isLoopbackHttp(want)) return false;
  return registered.some((r) => {
    try {
      const have = new URL(r);
      return isLoopbackHttp(have) && have.hostname === want.hostname && have.pathname === want.pathname && have.search === want.search;
    } catch {
      return false;
    }
  });
}

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

function optionalText(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > MAX_TEXT) throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', `${name} must be a string of at most ${MAX_TEXT} characters`);
  return v;
}

/**
 * The client metadata of a registration request or metadata document, checked: redirect URIs
 * (1–10, see {@link checkRedirectUri}), the authentication method (`none` or a client secret),
 * grant types (authorization_code, refresh_token) and response type `code`.
 */
export function parseClientMetadata(body: unknown, defaultAuthMethod: OAuthClient['token_endpoint_auth_method']): Omit<OAuthClient, 'client_id' | 'source'> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'the client metadata must be a JSON object');
  const o = body as Record<string, unknown>;
  const uris = o.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', 'redirect_uris must list at least one URI');
  if (uris.length > MAX_REDIRECT_URIS) throw new ClientMetadataError('OAUTH_INVALID_REDIRECT_URI', `redirect_uris may list at most ${MAX_REDIRECT_URIS} URIs`);
  const redirect_uris = uris.map(checkRedirectUri);
  const method = o.token_endpoint_auth_method ?? defaultAuthMethod;
  if (!(AUTH_METHODS as readonly unknown[]).includes(method)) {
    throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  const grant_types = o.grant_types === undefined ? ['authorization_code', 'refresh_token'] : o.grant_types;
  if (!Array.isArray(grant_types) || grant_types.length === 0 || !grant_types.every((g) => typeof g === 'string' && GRANT_TYPES.has(g))) {
    throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'grant_types may only list authorization_code and refresh_token');
  }
  if (!grant_types.includes('authorization_code')) throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'grant_types must include authorization_code');
  const response_types = o.response_types === undefined ? ['code'] : o.response_types;
  if (!Array.isArray(response_types) || response_types.length !== 1 || response_types[0] !== 'code') {
    throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'response_types must be ["code"]');
  }
  const client_name = optionalText(o, 'client_name');
  const client_uri = optionalText(o, 'client_uri');
  const logo_uri = optionalText(o, 'logo_uri');
  const scope = optionalText(o, 'scope');
  return {
    redirect_uris,
    token_endpoint_auth_method: method as OAuthClient['token_endpoint_auth_method'],
    grant_types: grant_types as string[],
    response_types: ['code'],
    ...(client_name !== undefined ? { client_name } : {}),
    ...(client_uri !== undefined ? { client_uri } : {}),
    ...(logo_uri !== undefined ? { logo_uri } : {}),
    ...(scope !== undefined ? { scope } : {}),
  };
}

/** Whether `secret` is the client's: its hash against the stored one, in constant time. */
export function secretMatches(client: OAuthClient, secret: string | undefined): boolean {
  if (!client.secret_hash || typeof secret !== 'string') return false;
  return constantTimeEqual(sha256Base64url(secret), client.secret_hash);
}

export interface ClientRegistryOptions {
  store: SharedStore;
  /** `DCR_CLIENT_TTL` in seconds. */
  ttlSec: number;
  /** Test seam for client ID metadata documents; default the global fetch. */
  fetch?: typeof fetch;
  /** Limits of a metadata document fetch; defaults 5 s and 5 KiB (as the MCP specification suggests). */
  documentTimeoutMs?: number;
  documentMaxBytes?: number;
  /** How long a fetched document is reused; default 300 s (less when its Cache-Control says so). */
  documentCacheSec?: number;
}

export interface ClientRegistry {
  /** Registers a client (RFC 7591); the secret, for a confidential one, is returned once and never stored. */
  register(body: unknown): Promise<{ client: OAuthClient; secret?: string }>;
  /** A registered client, or the one an https `client_id` metadata document describes; undefined when unknown. */
  find(clientId: string): Promise<OAuthClient | undefined>;
}

/** Whether `clientId` names a client ID metadata document: an https URL with a path. */
export function isMetadataDocumentId(clientId: string): boolean {
  if (!clientId.startsWith('https://')) return false;
  try {
    const url = new URL(clientId);
    return url.pathname.length > 1 && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}

export function createClientRegistry(options: ClientRegistryOptions): ClientRegistry {
  const { store } = options;
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.documentTimeoutMs ?? 5_000;
  const maxBytes = options.documentMaxBytes ?? 5 * 1024;
  const cacheSec = options.documentCacheSec ?? 300;

  async function fetchDocument(clientId: string): Promise<OAuthClient> {
    let response: Response;
    try {
      // No redirects: the document must live at the URL that is its client_id.
      response = await doFetch(clientId, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'the request failed';
      throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', `could not fetch the client metadata document ${clip(clientId)}: ${why}`);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', `could not fetch the client metadata document ${clip(clientId)}: HTTP ${response.status}`);
    }
    let text: string;
    try {
      text = await readResponseText(response, maxBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', `the client metadata document is larger than ${maxBytes} bytes`);
      throw err;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'the client metadata document is not JSON');
    }
    if ((body as { client_id?: unknown })?.client_id !== clientId) {
      throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'the client metadata document must name its own URL as client_id');
    }
    // A document is public: it cannot hold a secret, so its client authenticates with PKCE alone.
    const metadata = parseClientMetadata(body, 'none');
    if (metadata.token_endpoint_auth_method !== 'none') {
      throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', 'a client metadata document client must use token_endpoint_auth_method "none"');
    }
    const maxAge = /max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1];
    const ttl = Math.max(30, Math.min(cacheSec, maxAge !== undefined ? Number(maxAge) : cacheSec));
    const client: OAuthClient = { ...metadata, client_id: clientId, source: 'metadata-document' };
    await store.set(STORE_KEYS.clientMetadataDocument(clientId), client, ttl * 1000);
    return client;
  }

  return {
    async register(body) {
      const metadata = parseClientMetadata(body, 'client_secret_basic');
      const client_id = `mcp_${randomBytes(16).toString('base64url')}`;
      const secret = metadata.token_endpoint_auth_method === 'none' ? undefined : randomBytes(32).toString('base64url');
      const client: OAuthClient = {
        ...metadata,
        client_id,
        client_id_issued_at: Math.floor(Date.now() / 1000),
        ...(secret ? { secret_hash: sha256Base64url(secret) } : {}),
        source: 'registration',
      };
      await store.set(STORE_KEYS.client(client_id), client, options.ttlSec * 1000);
      return { client, ...(secret ? { secret } : {}) };
    },
    async find(clientId) {
      if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 2048) return undefined;
      if (isMetadataDocumentId(clientId)) return (await store.get<OAuthClient>(STORE_KEYS.clientMetadataDocument(clientId))) ?? fetchDocument(clientId);
      return store.get<OAuthClient>(STORE_KEYS.client(clientId));
    },
  };
}
