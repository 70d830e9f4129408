/**
 * The gateway's outbound credentials (README, "Gateway: `UPSTREAMS_FILE`", Credentials): the bearer the gateway
 * sends to one child, per its `auth` in the upstreams file. The caller's own token never reaches a
 * child; `token_exchange` only uses it as the RFC 8693 `subject_token` at the issuer.
 *
 * - `none`: no bearer;
 * - `static`: a file's trimmed content, read again when the file changes (rotated secrets);
 * - `client_credentials`: a service token from the issuer's token endpoint, cached until shortly
 *   before it expires, one mint at a time;
 * - `token_exchange`: RFC 8693 on behalf of the caller, cached per caller (bounded, expiring), never
 *   beyond the caller token's own expiry.
 *
 * openid-client is loaded on the first mint: a cloud without such children never loads it.
 * Messages and log lines name files, clients and issuers, never a secret or a token.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type * as OpenId from 'openid-client';
import { ExpiringMap } from '../../shared/expiring-map.js';
import type { Logger } from '../../shared/logger.js';
import { redact } from '../../shared/redact.js';
import type { ChildAuthSpec, ClientSpec } from './types.js';

export interface CredentialRequest {
  /** The caller's own access token: only token_exchange uses it (as the RFC 8693 subject_token); never sent to a child. */
  callerToken?: string;
  /** Who the caller is (issuer + subject), the cache key of token_exchange. */
  callerKey?: string;
  /** A token the child answered 401 to: mint a new one instead of returning it again. */
  rejected?: string;
}

export interface ChildCredential {
  readonly type: ChildAuthSpec['type'];
  /** The bearer for one request to the child; undefined for `none`. Rejects with a {@link CredentialError}. */
  token(request?: CredentialRequest): Promise<string | undefined>;
  /** State for readiness: last mint ok/failed and when. */
  status(): { ok: boolean; detail: string };
  close(): void;
}

export interface CredentialDeps {
  logger: Logger;
  /** Test seam: the fetch of discovery and token requests. */
  fetch?: typeof fetch;
  /** The clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** Each mint attempt: result 'success' | 'failure' (for mcp_child_token_mints_total{child,result}). */
  onMint?: (result: 'success' | 'failure', seconds: number) => void;
  /** Margin before expiry at which a cached token is minted again; default 60 s (or half the lifetime when shorter). */
  refreshMarginSec?: number;
  /** Max entries of the token_exchange cache (default 10_000), LRU/expiring. */
  maxExchangeEntries?: number;
}

/**
 * Why a credential could not be had:
 * - `config`: the upstreams file or the IdP's client registration is wrong (client id, secret or
 *   key file, scopes, audience, token file): an operator must act;
 * - `unavailable`: the IdP could not be reached or failed (network, timeout, 5xx): retry later;
 * - `caller`: the caller's side (no caller token, or the IdP refused to exchange it): the caller
 *   may sign in again. Not a readiness problem of the child.
 */
export type CredentialFailure = 'config' | 'unavailable' | 'caller';

/** A credential toward a child could not be had. The message says what failed and what to check; it holds no secret and no token. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
  constructor(
    message: string,
    readonly child: string,
    readonly reason: CredentialFailure,
    /** The IdP's OAuth `error` (`invalid_client`, `invalid_grant`, …) when it sent one. */
    readonly oauthError?: string,
    /** The HTTP status of the IdP's answer, when there was one. */
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const DEFAULT_MARGIN_SEC = 60;
const DEFAULT_MAX_EXCHANGE_ENTRIES = 10_000;
/** How long a token whose lifetime nobody says (no `expires_in`, not a JWT with `exp`) is used. */
const UNKNOWN_LIFETIME_MS = 5 * 60_000;
/** Seconds an IdP request may take (openid-client's `timeout`). */
const REQUEST_TIMEOUT_SEC = 10;
/** A failed discovery is not tried again before this (the mint fails fast meanwhile). */
const DISCOVERY_RETRY_MS = 5_000;
const SWEEP_MS = 60_000;

export function createChildCredential(child: string, spec: ChildAuthSpec, deps: CredentialDeps): ChildCredential {
  switch (spec.type) {
    case 'none':
      return {
        type: 'none',
        token: async () => undefined,
        status: () => ({ ok: true, detail: 'no credential (auth: none)' }),
        close() {},
      };
    case 'static':
      return staticCredential(child, spec.tokenFile, deps);
    case 'client_credentials':
    case 'token_exchange':
      return oauthCredential(child, spec.type, spec, deps);
    default: {
      const unknown: never = spec;
      throw new Error(`unknown auth type for child ${child}: ${(unknown as { type?: string }).type}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Status

function statusTracker(now: () => number, initial: string) {
  let state = { ok: true, detail: initial };
  return {
    ok(detail: string) {
      state = { ok: true, detail: `${detail} at ${new Date(now()).toISOString()}` };
    },
    failed(detail: string) {
      state = { ok: false, detail: `failed at ${new Date(now()).toISOString()}: ${detail}` };
    },
    get: () => ({ ...state }),
  };
}

const errnoOf = (err: unknown): string => (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------------------------------------
// static

function staticCredential(child: string, file: string, deps: CredentialDeps): ChildCredential {
  const status = statusTracker(deps.now ?? Date.now, 'token file not read yet');
  let cached: { signature: string; token: string } | undefined;
  let reading: Promise<string> | undefined;

  const fail = (what: string): CredentialError => {
    const err = new CredentialError(`could not read the token for child ${child}: ${what}. Check auth.token_file of ${child} in the upstreams file`, child, 'config');
    status.failed(what);
    deps.logger.warn('gateway: could not read a child token file', { child, file, error: what });
    return err;
  };

  async function read(): Promise<string> {
    let signature: string;
    try {
      const s = await stat(file);
      signature = `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch (err) {
      throw fail(`the token file ${file} is unreadable (${errnoOf(err)})`);
    }
    if (cached && cached.signature === signature) return cached.token;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw fail(`the token file ${file} is unreadable (${errnoOf(err)})`);
    }
    const token = text.trim();
    if (!token) throw fail(`the token file ${file} is empty`);
    if (cached) deps.logger.info('gateway: child token file changed, using the new token', { child, file });
    cached = { signature, token };
    status.ok('token file read');
    return token;
  }

  return {
    type: 'static',
    async token(request) {
      // A token the child refused: read the file again even if it looks unchanged (same mtime).
      if (request?.rejected !== undefined && cached?.token === request.rejected) cached = undefined;
      // Concurrent callers share one read.
      reading ??= read().finally(() => (reading = undefined));
      return reading;
    },
    status: () => status.get(),
    close() {
      cached = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// client_credentials and token_exchange

type OpenIdModule = typeof OpenId;
let openIdModule: Promise<OpenIdModule> | undefined;
const loadOpenId = (): Promise<OpenIdModule> => (openIdModule ??= import('openid-client'));

const isLoopbackHttp = (url: URL): boolean => url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);

/** A token as cached: epoch ms at which it is minted again and at which it is no longer used at all. */
interface Minted {
  token: string;
  refreshAt: number;
  expiresAt: number;
}

/** A JWT's `exp` in epoch ms, read without verifying (only to limit a cache lifetime); undefined for anything else. */
export function jwtExpiryMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** A failure of one step, before it is worded for the child: what happened and its kind. */
interface Failure {
  what: string;
  reason: CredentialFailure;
  hint: string;
  oauthError?: string;
  httpStatus?: number;
}

class StepFailure extends Error {
  constructor(readonly failure: Failure) {
    super(failure.what);
  }
}

const clip = (text: string, max = 200): string => (text.length > max ? `${text.slice(0, max)}…` : text);

function oauthCredential(child: string, type: 'client_credentials' | 'token_exchange', spec: ClientSpec, deps: CredentialDeps): ChildCredential {
  const now = deps.now ?? Date.now;
  const marginMs = (deps.refreshMarginSec ?? DEFAULT_MARGIN_SEC) * 1000;
  const exchange = type === 'token_exchange';
  const status = statusTracker(now, exchange ? 'no token exchanged yet' : 'no token minted yet');
  const cache = new ExpiringMap<string, Minted>({ now, maxEntries: exchange ? (deps.maxExchangeEntries ?? DEFAULT_MAX_EXCHANGE_ENTRIES) : 1 });
  const inflight = new Map<string, Promise<Minted>>();
  const sweeper = exchange ? setInterval(() => cache.sweep(), SWEEP_MS) : undefined;
  sweeper?.unref();

  let metadata: Promise<OpenId.ServerMetadata> | undefined;
  let discoveryFailedAt = -Infinity;

  const issuerUrl = (): URL => {
    let url: URL;
    try {
      url = new URL(spec.issuer);
    } catch {
      throw new StepFailure({ what: `the issuer ${spec.issuer} is not a URL`, reason: 'config', hint: `check auth.issuer of ${child}` });
    }
    if (url.protocol !== 'https:' && !isLoopbackHttp(url)) {
      throw new StepFailure({ what: `the issuer must use https (plain http only for a loopback issuer)`, reason: 'config', hint: `check auth.issuer of ${child}` });
    }
    return url;
  };

  const requestOptions = (lib: OpenIdModule, insecure: boolean): OpenId.DiscoveryRequestOptions => ({
    timeout: REQUEST_TIMEOUT_SEC,
    ...(insecure ? { execute: [lib.allowInsecureRequests] } : {}),
    ...(deps.fetch ? { [lib.customFetch]: deps.fetch as unknown as OpenId.CustomFetch } : {}),
  });

  /** The issuer's metadata: OIDC discovery, else RFC 8414; kept once found. */
  function serverMetadata(lib: OpenIdModule): Promise<OpenId.ServerMetadata> {
    if (metadata) return metadata;
    if (performance.now() - discoveryFailedAt < DISCOVERY_RETRY_MS) {
      return Promise.reject(
        new StepFailure({
          what: 'its metadata could not be discovered a moment ago',
          reason: 'unavailable',
          hint: `check the issuer URL and that ${spec.issuer} is reachable from the gateway`,
        }),
      );
    }
    const found = (async () => {
      const url = issuerUrl();
      const options = requestOptions(lib, isLoopbackHttp(url));
      let config: OpenId.Configuration;
      try {
        config = await lib.discovery(url, spec.clientId, undefined, lib.None(), options);
      } catch (err) {
        if ((err as { cause?: { status?: number } }).cause?.status !== 404) throw err;
        config = await lib.discovery(url, spec.clientId, undefined, lib.None(), { ...options, algorithm: 'oauth2' });
      }
      const { supportsPKCE: _helper, ...server } = config.serverMetadata();
      if (!server.token_endpoint) {
        throw new StepFailure({ what: 'its metadata lists no token_endpoint', reason: 'config', hint: `check auth.issuer of ${child}` });
      }
      return server as OpenId.ServerMetadata;
    })();
    metadata = found;
    found.catch(() => {
      metadata = undefined;
      discoveryFailedAt = performance.now();
    });
    return found;
  }

  /** The client authentication, from the secret or key file read now (rotation). */
  async function clientAuth(lib: OpenIdModule): Promise<OpenId.ClientAuth> {
    if (spec.privateKeyFile) {
      const file = spec.privateKeyFile;
      let pem: string;
      try {
        pem = await readFile(file, 'utf8');
      } catch (err) {
        throw new StepFailure({ what: `the private key file ${file} is unreadable (${errnoOf(err)})`, reason: 'config', hint: `check auth.private_key_file of ${child}` });
      }
      const key = signingKeyOf(file, pem);
      if (typeof key === 'string') throw new StepFailure({ what: key, reason: 'config', hint: `check auth.private_key_file of ${child}` });
      const der = key.key.export({ format: 'der', type: 'pkcs8' });
      const algorithm = key.alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      const cryptoKey = await crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
      return lib.PrivateKeyJwt(cryptoKey);
    }
    if (spec.clientSecretFile) {
      const file = spec.clientSecretFile;
      let secret: string;
      try {
        secret = (await readFile(file, 'utf8')).trim();
      } catch (err) {
        throw new StepFailure({ what: `the client secret file ${file} is unreadable (${errnoOf(err)})`, reason: 'config', hint: `check auth.client_secret_file of ${child}` });
      }
      if (!secret) throw new StepFailure({ what: `the client secret file ${file} is empty`, reason: 'config', hint: `check auth.client_secret_file of ${child}` });
      return clientSecretBasic(secret);
    }
    throw new StepFailure({ what: 'no client authentication is configured', reason: 'config', hint: `set auth.client_secret_file or auth.private_key_file of ${child}` });
  }

  const credentialHint = (): string =>
    spec.privateKeyFile
      ? `check the client_id (${spec.clientId}), the key in ${spec.privateKeyFile} (its public key must be registered for that client at the IdP) and the issuer`
      : `check the client_id (${spec.clientId}), the secret in ${spec.clientSecretFile ?? 'the client secret file'} and the issuer`;

  /** Words what openid-client, fetch or the IdP threw. */
  async function failureOf(err: unknown): Promise<Failure> {
    if (err instanceof StepFailure) return err.failure;
    const e = (await oauthErrorOf(err)) as {
      name?: string;
      code?: string;
      error?: unknown;
      error_description?: unknown;
      status?: unknown;
      cause?: { code?: string; status?: number };
    };
    if (typeof e.error === 'string') {
      const oauthError = e.error;
      const httpStatus = typeof e.status === 'number' ? e.status : undefined;
      const description = typeof e.error_description === 'string' && e.error_description ? ` (${clip(redact(e.error_description))})` : '';
      const what = `${oauthError}${description}`;
      switch (oauthError) {
        case 'invalid_client':
          return { what, reason: 'config', hint: credentialHint(), oauthError, ...(httpStatus ? { httpStatus } : {}) };
        case 'unauthorized_client':
        case 'unsupported_grant_type':
          return {
            what,
            reason: 'config',
            hint: `check that the IdP allows the client ${spec.clientId} the ${exchange ? 'token exchange (RFC 8693)' : 'client_credentials'} grant`,
            oauthError,
            ...(httpStatus ? { httpStatus } : {}),
          };
        case 'invalid_scope':
          return {
            what,
            reason: 'config',
            hint: `check auth.scopes of ${child} (${spec.scopes?.join(' ') || 'none'}) against what the IdP grants ${spec.clientId}`,
            oauthError,
            ...(httpStatus ? { httpStatus } : {}),
          };
        case 'invalid_target':
          return {
            what,
            reason: 'config',
            hint: `check auth.resource / auth.audience of ${child} (${[spec.resource, spec.audience].filter(Boolean).join(', ') || 'none'})`,
            oauthError,
            ...(httpStatus ? { httpStatus } : {}),
          };
        case 'invalid_grant':
          if (exchange)
            return {
              what,
              reason: 'caller',
              hint: `the IdP refused the caller's token: the caller may sign in again; operators: check that ${spec.clientId} may exchange tokens of this issuer for ${child}`,
              oauthError,
              ...(httpStatus ? { httpStatus } : {}),
            };
          return { what, reason: 'config', hint: credentialHint(), oauthError, ...(httpStatus ? { httpStatus } : {}) };
        default:
          return {
            what,
            reason: httpStatus !== undefined && httpStatus >= 500 ? 'unavailable' : 'config',
            hint: credentialHint(),
            oauthError,
            ...(httpStatus ? { httpStatus } : {}),
          };
      }
    }
    const reach = `check the issuer URL and that ${spec.issuer} is reachable from the gateway`;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { what: `no answer within ${REQUEST_TIMEOUT_SEC} s`, reason: 'unavailable', hint: reach };
    if (err instanceof TypeError && e.cause)
      return {
        what: `the issuer could not be reached (${e.cause.code ?? clip(redact((e.cause as { message?: string }).message ?? 'network error'), 80)})`,
        reason: 'unavailable',
        hint: reach,
      };
    const httpStatus = e.cause?.status;
    if (typeof httpStatus === 'number') return { what: `the IdP answered HTTP ${httpStatus}`, reason: httpStatus >= 500 ? 'unavailable' : 'config', hint: reach, httpStatus };
    const message = err instanceof Error ? err.message : String(err);
    return { what: clip(redact(message)), reason: 'unavailable', hint: reach };
  }

  /** One request at the token endpoint; the token with its cache lifetime. */
  async function mint(callerToken: string | undefined): Promise<Minted> {
    const started = performance.now();
    try {
      const lib = await loadOpenId();
      const server = await serverMetadata(lib);
      const auth = await clientAuth(lib);
      const config = new lib.Configuration(server, spec.clientId, undefined, auth);
      if (isLoopbackHttp(new URL(spec.issuer))) lib.allowInsecureRequests(config);
      if (deps.fetch) config[lib.customFetch] = deps.fetch as unknown as OpenId.CustomFetch;
      config.timeout = REQUEST_TIMEOUT_SEC;
      const params: Record<string, string> = {
        ...(spec.scopes?.length ? { scope: spec.scopes.join(' ') } : {}),
        ...(spec.resource ? { resource: spec.resource } : {}),
        ...(spec.audience ? { audience: spec.audience } : {}),
      };
      const response = exchange
        ? await lib.genericGrantRequest(config, TOKEN_EXCHANGE_GRANT, {
            ...params,
            subject_token: callerToken!,
            subject_token_type: ACCESS_TOKEN_TYPE,
            requested_token_type: ACCESS_TOKEN_TYPE,
          })
        : await lib.clientCredentialsGrant(config, params);
      const t = now();
      const token = response.access_token;
      const expiresIn = typeof response.expires_in === 'number' && response.expires_in > 0 ? response.expires_in : undefined;
      const expiresAt = expiresIn !== undefined ? t + expiresIn * 1000 : (jwtExpiryMs(token) ?? t + UNKNOWN_LIFETIME_MS);
      const lifetime = Math.max(0, expiresAt - t);
      // Unknown lifetime: used for 5 minutes, then minted again.
      const refreshAt = expiresIn === undefined && jwtExpiryMs(token) === undefined ? expiresAt : expiresAt - Math.min(marginMs, lifetime / 2);
      const seconds = (performance.now() - started) / 1000;
      deps.onMint?.('success', seconds);
      status.ok(exchange ? 'token exchanged' : 'token minted');
      deps.logger.debug(exchange ? 'gateway: exchanged the caller token for a child token' : 'gateway: minted a service token for a child', {
        child,
        issuer: spec.issuer,
        expires_in: expiresIn ?? null,
        seconds: Math.round(seconds * 1000) / 1000,
      });
      return { token, refreshAt, expiresAt };
    } catch (err) {
      const f = await failureOf(err);
      // A failure that is not an OAuth answer may mean the endpoints moved: discover again next time.
      if (f.oauthError === undefined && !(err instanceof StepFailure)) metadata = undefined;
      deps.onMint?.('failure', (performance.now() - started) / 1000);
      if (f.reason !== 'caller') status.failed(`${f.what}; ${f.hint}`);
      deps.logger.warn(exchange ? 'gateway: could not exchange the caller token for a child token' : 'gateway: could not mint a service token for a child', {
        child,
        issuer: spec.issuer,
        client_id: spec.clientId,
        reason: f.reason,
        error: f.what,
      });
      const doing = exchange
        ? `could not exchange the caller's token for child ${child} at ${spec.issuer}`
        : `could not get a service token for child ${child} from ${spec.issuer}`;
      throw new CredentialError(`${doing}: ${f.what}; ${f.hint}`, child, f.reason, f.oauthError, f.httpStatus);
    }
  }

  /** The cached token of `key`, or one mint shared by every caller of that key meanwhile. */
  async function cachedOrMinted(key: string, rejected: string | undefined, callerToken: string | undefined, capMs: number): Promise<string> {
    const t = now();
    const cached = cache.get(key, t);
    if (cached && cached.token !== rejected && t < cached.refreshAt) {
      // token_exchange: a hit moves the entry to the back of the eviction order (LRU).
      if (exchange) cache.setUntil(key, cached, cached.expiresAt);
      return cached.token;
    }
    if (cached && cached.token === rejected) cache.delete(key);
    let pending = inflight.get(key);
    if (!pending) {
      const started: Promise<Minted> = mint(callerToken).then((minted) => {
        // token_exchange: never beyond the caller token's own expiry.
        const capped = capMs < minted.expiresAt ? { ...minted, expiresAt: capMs, refreshAt: Math.min(minted.refreshAt, capMs) } : minted;
        cache.setUntil(key, capped, capped.expiresAt);
        return capped;
      });
      pending = started.finally(() => {
        if (inflight.get(key) === pending) inflight.delete(key);
      });
      inflight.set(key, pending);
    }
    try {
      return (await pending).token;
    } catch (err) {
      // Minting ahead of expiry failed: the cached token is still good until it expires.
      if (cached && cached.token !== rejected && now() < cached.expiresAt) return cached.token;
      throw err;
    }
  }

  return {
    type,
    async token(request = {}) {
      if (!exchange) return cachedOrMinted('', request.rejected, undefined, Infinity);
      const { callerToken } = request;
      if (!callerToken) {
        throw new CredentialError(
          `could not exchange the caller's token for child ${child}: the request carries no caller token; token_exchange needs an authenticated caller`,
          child,
          'caller',
        );
      }
      const key = request.callerKey ?? `token:${createHash('sha256').update(callerToken).digest('base64url')}`;
      return cachedOrMinted(key, request.rejected, callerToken, jwtExpiryMs(callerToken) ?? Infinity);
    },
    status: () => status.get(),
    close() {
      if (sweeper) clearInterval(sweeper);
      cache.clear();
    },
  };
}

/**
 * openid-client's error for an OAuth error answer, as `{ error, error_description, status }`: a
 * `ResponseBodyError` already is; a `WWWAuthenticateChallengeError` (a 401 with a challenge, as
 * `invalid_client` often comes) carries it in the challenge's parameters, else in the body. Any
 * other error is returned as it is.
 */
async function oauthErrorOf(err: unknown): Promise<unknown> {
  const e = err as { code?: string; status?: number; cause?: unknown; response?: Response };
  if (e?.code !== 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') return err;
  const challenges = Array.isArray(e.cause) ? (e.cause as Array<{ parameters?: { error?: string; error_description?: string } }>) : [];
  const found = challenges.find((c) => typeof c.parameters?.error === 'string')?.parameters;
  if (found?.error) return { error: found.error, error_description: found.error_description, status: e.status };
  try {
    const body = (await e.response?.clone().json()) as { error?: unknown; error_description?: unknown } | undefined;
    if (typeof body?.error === 'string') return { error: body.error, error_description: body.error_description, status: e.status };
  } catch {
    // Not JSON: worded from the status below.
  }
  return { name: 'Error', message: `the IdP answered HTTP ${e.status ?? 401}`, cause: { status: e.status ?? 401 } };
}

/** A PEM private key for private_key_jwt: EC P-256 → ES256, RSA (2048 bits or more) → RS256; else a problem (never quoting the file). */
function signingKeyOf(file: string, pem: string): { key: KeyObject; alg: 'ES256' | 'RS256' } | string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return `the private key file ${file} holds no PEM private key (expected an unencrypted EC P-256 or RSA key)`;
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, alg: 'ES256' };
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= 2048 ? { key, alg: 'RS256' } : `the private key file ${file} holds a ${bits}-bit RSA key; use 2048 bits or more`;
  }
  return `the private key file ${file} holds a ${type ?? 'unknown'} key; use an EC P-256 key (ES256) or an RSA key (RS256)`;
}

/** application/x-www-form-urlencoded as the WHATWG URL standard serializes it. */
const formEncode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-encoded, then Base64. Not
 * openid-client's own, which also percent-encodes `-`, `.`, `_` and `*` (servers that compare the
 * header with the registered id without decoding it then refuse ids such as `mcp-gateway`).
 */
function clientSecretBasic(secret: string): OpenId.ClientAuth {
  return (_as, c, _body, headers) => {
    headers.set('authorization', `Basic ${Buffer.from(`${formEncode(c.client_id)}:${formEncode(secret)}`).toString('base64')}`);
  };
}
