/**
 * The OAuth proxy (`OAUTH_PROXY_ENABLED=true`): an OAuth 2.1 authorization server facade for MCP
 * clients that expect dynamic client registration (RFC 7591) or client ID metadata documents, in
 * front of a company IdP that offers neither to them (Okta, Entra ID).
 *
 * The flow: the MCP client registers (or names its metadata document), sends the user to
 * `/oauth/authorize` with its PKCE challenge; the proxy remembers that in a transaction and sends
 * the browser to the IdP with its OWN client id, PKCE and callback; `/oauth/authorize/callback`
 * exchanges the IdP's code, seals the IdP's tokens under a new one-time code bound to the client,
 * its redirect URI and its PKCE challenge, and redirects back to the client; `/oauth/token` hands
 * the tokens over once the verifier matches. Refresh is passed through to the IdP; `/oauth/revoke`
 * puts access tokens on the shared revocation list until they expire and passes refresh tokens
 * to the IdP. Every piece of state lives in the shared store, so any replica can take any step.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../metrics.js';
import type { TokenValidator } from '../auth/validator.js';
import { clientIp } from '../rate-limit.js';
import { isStoreUnavailable, type SharedStore } from '../store/types.js';
import { ClientMetadataError, redirectUriMatches, secretMatches, type ClientRegistry, type OAuthClient } from './clients.js';
import { IdpError, type IdpClient, type IdpTokens } from './idp.js';
import { codeKey, seal, unseal } from './seal.js';

/** How long a sign-in may take at the IdP. */
const TRANSACTION_TTL_MS = 10 * 60_000;
/** How long the client has to redeem its code (RFC 6749 §4.1.2 recommends at most 10 minutes). */
const CODE_TTL_MS = 60_000;
const MAX_FORM_BYTES = 64 * 1024;
const PKCE = /^[A-Za-z0-9\-._~]{43,128}$/;

export const OAUTH_PATHS = {
  metadata: '/.well-known/oauth-authorization-server',
  authorize: '/oauth/authorize',
  callback: '/oauth/authorize/callback',
  token: '/oauth/token',
  register: '/oauth/register',
  revoke: '/oauth/revoke',
} as const;

export interface OAuthProxyOptions {
  /** This server's public URL, without trailing slash: the proxy's issuer identifier. */
  baseUrl: string;
  /** Resource indicators (RFC 8707) a client may ask for: this server's. */
  acceptedResources: readonly string[];
  scopesSupported: readonly string[];
  /** What the proxy asks the IdP for as `resource`; absent = no `resource` (Entra ID). */
  idpResource?: string;
  /** `DCR_CLIENT_TTL` (seconds) and `DCR_RATE_LIMIT_MAX` (per IP per hour). */
  dcr: { ttlSec: number; rateLimitMax: number };
  trustProxy: boolean;
  store: SharedStore;
  clients: ClientRegistry;
  idp: IdpClient;
  /** Tells this server's access tokens apart at `/oauth/revoke`. */
  validator?: TokenValidator;
  revocations?: { revoke(id: string, expiresAtSec: number): Promise<void> };
  metrics?: Metrics;
  logger: Logger;
}

interface Transaction {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  state?: string;
  scope: string;
  resource?: string;
  verifier: string;
}

interface CodeGrant {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  resource?: string;
  tokens: IdpTokens;
}

/** An RFC 6749 error answer of the token, registration or revocation endpoint. */
class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

const random = (bytes = 32) => randomBytes(bytes).toString('base64url');
const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', ...headers }).end(JSON.stringify(body));
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page for the person at the browser when the request cannot be sent back to the client. */
function page(res: ServerResponse, status: number, title: string, action: string): void {
  res
    .writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'" })
    .end(`<!doctype html><meta charset="utf-8"><title>seed-mcp: ${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>Action: ${escapeHtml(action)}</p>`);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store' }).end();
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
  return new URLSearchParams(await readText(req, MAX_FORM_BYTES));
}

function readText(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
    });
    req.on('end', () => (size > max ? reject(new OAuthError('invalid_request', `the body is larger than ${max} bytes`, 413)) : resolve(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** The one value of `name`; a parameter given twice is an error (RFC 6749 §3.1). */
function param(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  if (all.length > 1) throw new OAuthError('invalid_request', `the ${name} parameter is repeated`);
  return all[0] === '' ? undefined : all[0];
}

function required(params: URLSearchParams, name: string): string {
  const value = param(params, name);
  if (value === undefined) throw new OAuthError('invalid_request', `the ${name} parameter is missing`);
  return value;
}

/** `client_id` and secret from HTTP Basic (RFC 6749 §2.3.1: both form-urlencoded) or the body. */
function presentedCredentials(req: IncomingMessage, params: URLSearchParams): { id?: string; secret?: string; basic: boolean } {
  const header = req.headers.authorization;
  if (header && /^basic /i.test(header)) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OAuthError('invalid_client', 'the Basic credentials are malformed', 401);
    try {
      return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')), basic: true };
    } catch {
      throw new OAuthError('invalid_client', 'the Basic credentials are malformed', 401);
    }
  }
  return { id: param(params, 'client_id'), secret: param(params, 'client_secret'), basic: false };
}

export interface OAuthProxy {
  /** RFC 8414 metadata of the proxy. */
  metadata(): Record<string, unknown>;
  /** Answers a request to one of {@link OAUTH_PATHS}; false when `path` is not the proxy's. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
}

export function createOAuthProxy(options: OAuthProxyOptions): OAuthProxy {
  const { baseUrl, store, clients, idp, metrics, logger } = options;
  const callbackUrl = `${baseUrl}${OAUTH_PATHS.callback}`;
  const defaultScope = [...new Set(['openid', 'profile', 'email', 'offline_access', ...options.scopesSupported])].join(' ');

  const metadata = () => ({
    issuer: baseUrl,
    authorization_endpoint: `${baseUrl}${OAUTH_PATHS.authorize}`,
    token_endpoint: `${baseUrl}${OAUTH_PATHS.token}`,
    registration_endpoint: `${baseUrl}${OAUTH_PATHS.register}`,
    revocation_endpoint: `${baseUrl}${OAUTH_PATHS.revoke}`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    scopes_supported: defaultScope.split(' '),
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: true,
    service_documentation: 'https://www.npmjs.com/package/seed-mcp',
  });

  /** The client of a token or revocation request, authenticated as it registered. */
  async function authenticateClient(req: IncomingMessage, params: URLSearchParams): Promise<OAuthClient> {
    const { id, secret, basic } = presentedCredentials(req, params);
    if (!id) throw new OAuthError('invalid_client', 'the request names no client (client_id)', 401);
    const client = await clients.find(id).catch((err: unknown) => {
      if (err instanceof ClientMetadataError) throw new OAuthError('invalid_client', err.message, 401);
      throw err;
    });
    if (!client) throw new OAuthError('invalid_client', 'the client is not registered here (or its registration expired): register again', 401);
    if (client.token_endpoint_auth_method !== 'none' && !secretMatches(client, secret)) {
      throw new OAuthError('invalid_client', basic ? 'the client credentials are wrong' : 'the client secret is missing or wrong', 401);
    }
    return client;
  }

  function checkResource(resource: string | undefined): void {
    if (resource !== undefined && !options.acceptedResources.includes(resource)) {
      throw new OAuthError('invalid_target', 'the resource is not this server (RFC 8707)');
    }
  }

  async function authorize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const q = new URL(req.url ?? '/', baseUrl).searchParams;
    let clientId: string | undefined;
    let redirectUri: string | undefined;
    try {
      clientId = param(q, 'client_id');
      redirectUri = param(q, 'redirect_uri');
    } catch (err) {
      metrics?.oauthAuthorization('failure');
      return page(res, 400, 'Invalid sign-in request', `${(err as Error).message}; start the sign-in again from your MCP client`);
    }
    // Until the client and its redirect URI are known good, errors stay on this page: sending them
    // to an unchecked URI would make this server an open redirector.
    let client: OAuthClient | undefined;
    try {
      client = clientId ? await clients.find(clientId) : undefined;
    } catch (err) {
      if (!(err instanceof ClientMetadataError)) throw err;
      metrics?.oauthAuthorization('failure');
      return page(res, 400, 'Unknown MCP client', `${err.message}; ask the client's vendor to fix its metadata document`);
    }
    if (!client) {
      metrics?.oauthAuthorization('failure');
      return page(res, 400, 'Unknown MCP client', 'the client is not registered here (or its registration expired); remove and re-add this server in your MCP client');
    }
    if (!redirectUri || !redirectUriMatches(client.redirect_uris, redirectUri)) {
      metrics?.oauthAuthorization('failure');
      return page(res, 400, 'Redirect URI not registered', 'the MCP client asked to return to an address it did not register; re-register the client');
    }
    const state = q.get('state') ?? undefined;
    const back = (error: string, description: string) => {
      metrics?.oauthAuthorization('failure');
      const to = new URL(redirectUri);
      to.searchParams.set('error', error);
      to.searchParams.set('error_description', description);
      if (state !== undefined) to.searchParams.set('state', state);
      to.searchParams.set('iss', baseUrl);
      redirect(res, to.href);
    };
    try {
      if (param(q, 'response_type') !== 'code') return back('unsupported_response_type', 'only response_type=code is supported');
      const challenge = param(q, 'code_challenge');
      if (!challenge || !PKCE.test(challenge)) return back('invalid_request', 'PKCE is required: send code_challenge (S256)');
      if (param(q, 'code_challenge_method') !== 'S256') return back('invalid_request', 'code_challenge_method must be S256');
      const resource = param(q, 'resource');
      if (resource !== undefined && !options.acceptedResources.includes(resource)) return back('invalid_target', 'the resource is not this server');
      const scope = param(q, 'scope') ?? client.scope ?? defaultScope;
      const verifier = random(48);
      const id = random();
      const tx: Transaction = {
        clientId: client.client_id,
        redirectUri,
        codeChallenge: challenge,
        ...(state !== undefined ? { state } : {}),
        scope,
        ...(resource ? { resource } : {}),
        verifier,
      };
      await store.set(`tx:${id}`, tx, TRANSACTION_TTL_MS);
      const prompt = param(q, 'prompt') ?? (scope.split(' ').includes('offline_access') ? 'consent' : undefined);
      const target = await idp.authorizationUrl({
        state: id,
        codeChallenge: sha256(verifier),
        scope,
        ...(options.idpResource ? { resource: options.idpResource } : {}),
        ...(prompt ? { prompt } : {}),
      });
      metrics?.oauthAuthorization('success');
      logger.info('oauth authorization started', { event: 'oauth_authorize', client_id: client.client_id });
      redirect(res, target.href);
    } catch (err) {
      if (err instanceof OAuthError) return back(err.error, err.description);
      if (isStoreUnavailable(err)) return back('temporarily_unavailable', 'the sign-in state store is unavailable; retry in a moment');
      if (err instanceof IdpError) {
        logger.error(err.message, { event: 'oauth_idp_unavailable' });
        return back('temporarily_unavailable', 'the identity provider cannot be reached; retry in a moment');
      }
      throw err;
    }
  }

  async function callback(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const state = url.searchParams.get('state');
    // Taken, not read: a callback replayed (or raced on another replica) finds nothing.
    const tx = state ? await store.take<Transaction>(`tx:${state}`) : undefined;
    if (!tx) return page(res, 400, 'Sign-in expired or already completed', 'start the sign-in again from your MCP client');
    const back = (params: Record<string, string>) => {
      const to = new URL(tx.redirectUri);
      for (const [k, v] of Object.entries(params)) to.searchParams.set(k, v);
      if (tx.state !== undefined) to.searchParams.set('state', tx.state);
      to.searchParams.set('iss', baseUrl);
      redirect(res, to.href);
    };
    const idpError = url.searchParams.get('error');
    if (idpError) {
      const safe = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(idpError) ? idpError : 'access_denied';
      logger.warn('the identity provider refused the sign-in', { event: 'oauth_idp_error', error: safe, client_id: tx.clientId });
      return back({ error: safe, error_description: 'the identity provider refused the sign-in' });
    }
    let tokens: IdpTokens;
    try {
      // The IdP redirected to BASE_URL; the replica that answers may listen elsewhere.
      tokens = await idp.exchangeCode(new URL(`${callbackUrl}${url.search}`), {
        state: state!,
        codeVerifier: tx.verifier,
        ...(options.idpResource ? { resource: options.idpResource } : {}),
      });
    } catch (err) {
      logger.error(err instanceof Error ? err.message : String(err), { event: 'oauth_code_exchange_failed', client_id: tx.clientId });
      return back({ error: 'server_error', error_description: 'the identity provider did not accept the sign-in; try again' });
    }
    const code = random();
    const grant: CodeGrant = { clientId: tx.clientId, redirectUri: tx.redirectUri, codeChallenge: tx.codeChallenge, ...(tx.resource ? { resource: tx.resource } : {}), tokens };
    await store.set(`code:${codeKey(code)}`, seal(code, grant), CODE_TTL_MS);
    back({ code });
  }

  async function bindRefreshToken(tokens: IdpTokens, clientId: string): Promise<void> {
    if (tokens.refresh_token) await store.set(`rt:${sha256(tokens.refresh_token)}`, clientId, options.dcr.ttlSec * 1000);
  }

  const answer = (tokens: IdpTokens) => ({
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    ...(tokens.expires_in !== undefined ? { expires_in: tokens.expires_in } : {}),
    ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
    ...(tokens.scope ? { scope: tokens.scope } : {}),
  });

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    let grantType: string | undefined;
    try {
      const params = await readForm(req);
      grantType = param(params, 'grant_type');
      const client = await authenticateClient(req, params);
      if (grantType === 'authorization_code') {
        const code = required(params, 'code');
        const sealed = await store.take<string>(`code:${codeKey(code)}`);
        const grant = sealed ? unseal<CodeGrant>(code, sealed) : undefined;
        if (!grant) throw new OAuthError('invalid_grant', 'the code is unknown, expired or already used');
        if (grant.clientId !== client.client_id) throw new OAuthError('invalid_grant', 'the code was issued to another client');
        if (param(params, 'redirect_uri') !== grant.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request');
        const verifier = required(params, 'code_verifier');
        if (!PKCE.test(verifier) || sha256(verifier) !== grant.codeChallenge) throw new OAuthError('invalid_grant', 'the code_verifier does not match the code_challenge');
        const resource = param(params, 'resource');
        checkResource(resource);
        if (resource !== undefined && grant.resource !== undefined && resource !== grant.resource)
          throw new OAuthError('invalid_target', 'the resource differs from the authorization request');
        await bindRefreshToken(grant.tokens, client.client_id);
        metrics?.oauthTokenExchange('authorization_code', 'success', (performance.now() - started) / 1000);
        logger.info('oauth tokens issued', { event: 'oauth_token', grant_type: 'authorization_code', client_id: client.client_id });
        return json(res, 200, answer(grant.tokens));
      }
      if (grantType === 'refresh_token') {
        if (!client.grant_types.includes('refresh_token')) throw new OAuthError('unauthorized_client', 'the client did not register the refresh_token grant');
        const refreshToken = required(params, 'refresh_token');
        checkResource(param(params, 'resource'));
        const bound = await store.get<string>(`rt:${sha256(refreshToken)}`);
        if (bound !== client.client_id) throw new OAuthError('invalid_grant', 'the refresh token is unknown here or was issued to another client');
        let tokens: IdpTokens;
        try {
          tokens = await idp.refresh(refreshToken, {
            ...(param(params, 'scope') ? { scope: param(params, 'scope')! } : {}),
            ...(options.idpResource ? { resource: options.idpResource } : {}),
          });
        } catch (err) {
          if (err instanceof IdpError && err.oauthError === 'invalid_grant') {
            await store.delete(`rt:${sha256(refreshToken)}`);
            throw new OAuthError('invalid_grant', 'the identity provider refused the refresh token: sign in again');
          }
          throw err;
        }
        if (tokens.refresh_token && tokens.refresh_token !== refreshToken) {
          await store.delete(`rt:${sha256(refreshToken)}`);
          await bindRefreshToken(tokens, client.client_id);
        }
        metrics?.oauthTokenExchange('refresh_token', 'success', (performance.now() - started) / 1000);
        logger.info('oauth tokens refreshed', { event: 'oauth_token', grant_type: 'refresh_token', client_id: client.client_id });
        return json(res, 200, answer(tokens));
      }
      throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
    } catch (err) {
      metrics?.oauthTokenExchange(grantType ?? 'none', 'failure', (performance.now() - started) / 1000);
      throw err;
    }
  }

  async function register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ip = clientIp(req, options.trustProxy);
    const window = await store.hit(`dcr:${sha256(ip)}`, 3_600_000);
    if (window.count > options.dcr.rateLimitMax) {
      metrics?.dcrRegistration('failure');
      metrics?.rateLimitHit();
      const retry = Math.max(1, Math.ceil((window.resetAt - Date.now()) / 1000));
      return json(
        res,
        429,
        {
          error: 'rate_limited',
          error_description: `more than ${options.dcr.rateLimitMax} registrations from this address in an hour`,
          message: `Action: wait ${retry} s, or reuse the client you registered`,
        },
        { 'retry-after': String(retry) },
      );
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new OAuthError('invalid_client_metadata', 'the registration request must be application/json');
    let body: unknown;
    try {
      body = JSON.parse(await readText(req, MAX_FORM_BYTES));
    } catch (err) {
      if (err instanceof OAuthError) throw err;
      throw new OAuthError('invalid_client_metadata', 'the registration request is not JSON');
    }
    let registered: Awaited<ReturnType<ClientRegistry['register']>>;
    try {
      registered = await clients.register(body);
    } catch (err) {
      if (err instanceof ClientMetadataError) {
        metrics?.dcrRegistration('failure');
        throw new OAuthError(err.error, err.message);
      }
      throw err;
    }
    const { client, secret } = registered;
    metrics?.dcrRegistration('success');
    logger.info('oauth client registered', { event: 'oauth_client_registered', client_id: client.client_id, client_name: client.client_name });
    const { secret_hash: _hash, source: _source, ...published } = client;
    json(res, 201, {
      ...published,
      ...(secret ? { client_secret: secret, client_secret_expires_at: (client.client_id_issued_at ?? 0) + options.dcr.ttlSec } : {}),
    });
  }

  async function revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = await readForm(req);
    const client = await authenticateClient(req, params);
    const token = required(params, 'token');
    const hint = param(params, 'token_type_hint');
    // An access token of this server's issuers: onto the shared list until it expires.
    if (hint !== 'refresh_token' && options.validator && options.revocations && token.split('.').length === 3) {
      const verified = await options.validator.verify(token).catch(() => undefined);
      if (verified) {
        await options.revocations.revoke(verified.tokenId, verified.expiresAt ?? Math.floor(Date.now() / 1000) + 3600);
        logger.info('access token revoked', { event: 'oauth_revoke', kind: 'access_token', client_id: client.client_id, subject: verified.subject });
        return json(res, 200, {});
      }
    }
    const key = `rt:${sha256(token)}`;
    const bound = await store.get<string>(key);
    // RFC 7009 §2.1: a token of another client is not revoked, and the answer is still 200.
    if (bound === client.client_id) {
      await store.delete(key);
      try {
        await idp.revoke(token, 'refresh_token');
      } catch (err) {
        logger.warn(err instanceof Error ? err.message : String(err), { event: 'oauth_revoke_failed' });
        throw new OAuthError('temporarily_unavailable', 'the identity provider did not confirm the revocation; retry', 503);
      }
      logger.info('refresh token revoked', { event: 'oauth_revoke', kind: 'refresh_token', client_id: client.client_id });
    }
    json(res, 200, {});
  }

  const routes: Record<string, { methods: string[]; run: (req: IncomingMessage, res: ServerResponse) => Promise<void>; cors: boolean }> = {
    [OAUTH_PATHS.metadata]: { methods: ['GET'], run: async (_req, res) => json(res, 200, metadata(), { 'cache-control': 'public, max-age=300' }), cors: true },
    [OAUTH_PATHS.authorize]: { methods: ['GET'], run: authorize, cors: false },
    [OAUTH_PATHS.callback]: { methods: ['GET'], run: callback, cors: false },
    [OAUTH_PATHS.token]: { methods: ['POST'], run: token, cors: true },
    [OAUTH_PATHS.register]: { methods: ['POST'], run: register, cors: true },
    [OAUTH_PATHS.revoke]: { methods: ['POST'], run: revoke, cors: true },
  };

  return {
    metadata,
    async handle(req, res, path) {
      const route = routes[path];
      if (!route) return false;
      // Browser-based MCP clients call these endpoints across origins; no cookies are involved.
      if (route.cors) {
        res.setHeader('access-control-allow-origin', '*');
        if (req.method === 'OPTIONS') {
          res
            .writeHead(204, {
              'access-control-allow-methods': `${route.methods.join(', ')}, OPTIONS`,
              'access-control-allow-headers': 'authorization, content-type, mcp-protocol-version',
              'access-control-max-age': '600',
            })
            .end();
          return true;
        }
      }
      if (!route.methods.includes(req.method ?? 'GET')) {
        json(res, 405, { error: 'invalid_request', error_description: `use ${route.methods.join(' or ')}` }, { allow: route.methods.join(', ') });
        return true;
      }
      try {
        await route.run(req, res);
      } catch (err) {
        if (res.headersSent) throw err;
        if (err instanceof OAuthError) {
          json(res, err.status, { error: err.error, error_description: err.description }, err.status === 401 ? { 'www-authenticate': 'Basic realm="seed-mcp"' } : {});
        } else if (isStoreUnavailable(err) || err instanceof IdpError) {
          logger.error(`oauth proxy: ${(err as Error).message}`, { event: 'oauth_unavailable' });
          json(
            res,
            503,
            {
              error: 'temporarily_unavailable',
              error_description: isStoreUnavailable(err) ? 'the shared state store is unavailable' : 'the identity provider cannot be reached',
              message: 'Action: retry in a moment; operators: check /health/ready',
            },
            { 'retry-after': '5' },
          );
        } else {
          throw err;
        }
      }
      return true;
    },
  };
}
