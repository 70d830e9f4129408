/**
 * The MCP clients the OAuth proxy knows: registered through RFC 7591 (`/oauth/register`, kept in
 * the shared store for `DCR_CLIENT_TTL`), or named by a client ID metadata document (an https
 * `client_id` whose JSON metadata this server fetches, with size and time limits, only from a
 * public address unless `FETCH_ALLOWED_HOSTS` names the host: see safe-fetch.ts).
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual, sha256Base64url } from '../../shared/crypto.js';
import { readResponseText } from '../../shared/http/read-body.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { CloudError } from '../errors.js';
import type { SharedStore } from '../store/types.js';
import { STORE_KEYS } from '../store/keys.js';
import { pinnedAgent, pinnedFetch, resolveTarget, resolveWithDns, untilAborted, type ResolveHost } from './safe-fetch.js';

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
  tos_uri?: string;
  policy_uri?: string;
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

/** The URLs a client describes itself with: shown to people, so http(s) only (no `javascript:`, `data:`...). */
const WEB_URI_FIELDS = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri'] as const;

function optionalWebUri(body: Record<string, unknown>, name: string): string | undefined {
  const v = optionalText(body, name);
  if (v === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch {
    // refused below
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) {
    throw new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', `${name} must be an absolute http or https URL without credentials`);
  }
  return v;
}

/**
 * The client metadata of a registration request or metadata document, checked: redirect URIs
 * (1–10, see {@link checkRedirectUri}), the authentication method (`none` or a client secret),
 * grant types (authorization_code, refresh_token), response type `code`, and http(s) URLs only
 * in `client_uri`, `logo_uri`, `tos_uri` and `policy_uri`.
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
  const scope = optionalText(o, 'scope');
  const webUris: Partial<Record<(typeof WEB_URI_FIELDS)[number], string>> = {};
  for (const name of WEB_URI_FIELDS) {
    const v = optionalWebUri(o, name);
    if (v !== undefined) webUris[name] = v;
  }
  return {
    redirect_uris,
    token_endpoint_auth_method: method as OAuthClient['token_endpoint_auth_method'],
    grant_types: grant_types as string[],
    response_types: ['code'],
    ...(client_name !== undefined ? { client_name } : {}),
    ...webUris,
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
  /**
   * `FETCH_ALLOWED_HOSTS`: hosts (`host`, any port; `host:port`, that port; lower case) whose
   * metadata documents may be fetched although they resolve to a refused address (loopback,
   * private, link-local, metadata...). Empty unless set.
   */
  fetchAllowedHosts?: readonly string[];
  /** Where the reason a metadata document could not be used is written (the client only hears that it could not). */
  logger?: Logger;
  /**
   * Test seam for client ID metadata documents; default undici's fetch. It is called with a
   * `dispatcher` pinned to the checked address (see safe-fetch.ts); a seam that replaces the
   * dispatcher (to trust a test CA) gives the pinning up, not the address check.
   */
  fetch?: typeof fetch;
  /** Test seam: resolves a document's host name (once per fetch); default the system resolver. */
  resolveHost?: ResolveHost;
  /** Test seam: CA certificates trusted for documents instead of the system's. */
  documentCa?: string | string[];
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

/**
 * What the client hears of ANY metadata document that cannot be used, whatever went wrong (no DNS
 * answer, a refused address, a closed port, a timeout, TLS, a status, the size, the content): a
 * client must not learn which addresses and ports answer inside the server's network. The reason
 * goes to the server log.
 */
export const UNUSABLE_METADATA_DOCUMENT = 'the client metadata document could not be used';

/** Why a fetch failed, for the log: undici hides the socket error in `cause`. */
function failureReason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (err instanceof ClientMetadataError) return err.description;
  const cause = e?.cause ? `: ${e.cause.code ?? e.cause.message}` : '';
  return `${e?.message ?? String(err)}${cause}`;
}

export function createClientRegistry(options: ClientRegistryOptions): ClientRegistry {
  const { store } = options;
  const doFetch = options.fetch ?? pinnedFetch;
  const resolveHost = options.resolveHost ?? resolveWithDns;
  const allowedHosts = options.fetchAllowedHosts ?? [];
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.documentTimeoutMs ?? 5_000;
  const maxBytes = options.documentMaxBytes ?? 5 * 1024;
  const cacheSec = options.documentCacheSec ?? 300;
  const unusable = (why: string) => new ClientMetadataError('OAUTH_INVALID_CLIENT_METADATA', why);

  /** The document's metadata and its cache lifetime in seconds; any failure throws, its reason in the error. */
  async function loadDocument(clientId: string): Promise<{ metadata: Omit<OAuthClient, 'client_id' | 'source'>; ttl: number }> {
    // One deadline for the DNS lookup, the connection and the body.
    const signal = AbortSignal.timeout(timeoutMs);
    const target = await untilAborted(resolveTarget(new URL(clientId), { allowedHosts, resolve: resolveHost }), signal);
    const agent = await pinnedAgent(target, options.documentCa !== undefined ? { ca: options.documentCa } : {});
    try {
      // No redirects: the document must live at the URL that is its client_id.
      const init = { headers: { accept: 'application/json' }, redirect: 'error', signal, dispatcher: agent };
      const response = await doFetch(clientId, init as RequestInit);
      if (!response.ok) {
        await response.body?.cancel().catch(() => {});
        throw unusable(`HTTP ${response.status}`);
      }
      const text = await readResponseText(response, maxBytes);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw unusable('the document is not JSON');
      }
      if ((body as { client_id?: unknown })?.client_id !== clientId) throw unusable('the document does not name its own URL as client_id');
      // A document is public: it cannot hold a secret, so its client authenticates with PKCE alone.
      const metadata = parseClientMetadata(body, 'none');
      if (metadata.token_endpoint_auth_method !== 'none') throw unusable('a metadata document client must use token_endpoint_auth_method "none"');
      const maxAge = /max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1];
      return { metadata, ttl: Math.max(30, Math.min(cacheSec, maxAge !== undefined ? Number(maxAge) : cacheSec)) };
    } finally {
      void agent.destroy().catch(() => {});
    }
  }

  async function fetchDocument(clientId: string): Promise<OAuthClient> {
    let loaded: Awaited<ReturnType<typeof loadDocument>>;
    try {
      loaded = await loadDocument(clientId);
    } catch (err) {
      const url = new URL(clientId);
      logger.warn('client metadata document refused', {
        event: 'oauth_client_metadata_refused',
        document: clip(`${url.origin}${url.pathname}`),
        reason: failureReason(err, timeoutMs),
      });
      throw unusable(UNUSABLE_METADATA_DOCUMENT);
    }
    const client: OAuthClient = { ...loaded.metadata, client_id: clientId, source: 'metadata-document' };
    await store.set(STORE_KEYS.clientMetadataDocument(clientId), client, loaded.ttl * 1000);
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
