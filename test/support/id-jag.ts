/**
 * Enterprise-managed authorization (SEP-990, cross-app access) test servers, on 127.0.0.1 with
 * real HTTP and real signatures (jose):
 *
 * - {@link startEnterpriseIdp}: a company IdP. OIDC metadata, JWKS, ID tokens minted for tests,
 *   and a token endpoint doing the RFC 8693 token exchange (ID token → ID-JAG, after verifying
 *   the ID token's signature, issuer, audience and expiry) and the refresh token grant (a new ID
 *   token).
 * - {@link startMcpAuthorizationServer}: the MCP server's authorization server. RFC 8414 metadata
 *   (client_secret_basic only), and a token endpoint doing the RFC 7523 JWT-bearer grant: Basic
 *   client authentication, the ID-JAG verified against the IdP's keys (`typ`, `iss`, `aud`,
 *   `resource`, `client_id`), then a JWT access token (`typ: at+jwt`, `aud` = the resource) that
 *   `startUpstream` accepts once it `trust`s this server.
 *
 * What the servers received is recorded with every token replaced by `[present]`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JSONWebKeySet, type JWK } from 'jose';

export const ID_JAG_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

type Handler = (req: IncomingMessage, res: ServerResponse, base: string) => Promise<void>;

async function listen(handler: Handler): Promise<{ server: Server; base: string }> {
  let base = '';
  const server = createServer((req, res) => {
    handler(req, res, base).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Client authentication of a token request: Basic (RFC 6749 §2.3.1, form-encoded parts) or `client_id` in the body. */
function clientOf(req: IncomingMessage, form: URLSearchParams): { method: 'basic' | 'post' | 'none'; id?: string; secret?: string } {
  const header = req.headers.authorization;
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { method: 'basic', id: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1)) };
  }
  if (form.has('client_secret')) return { method: 'post', id: form.get('client_id') ?? undefined, secret: form.get('client_secret') ?? undefined };
  return { method: 'none', id: form.get('client_id') ?? undefined };
}

/** The form with every credential replaced by `[present]`. */
function recorded(form: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of form) out[k] = ['subject_token', 'assertion', 'refresh_token', 'client_secret', 'actor_token'].includes(k) ? '[present]' : v;
  return out;
}

async function signingKey(alg: 'RS256' | 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, kid, alg, jwks: { keys: [jwk] } as JSONWebKeySet };
}

export interface EnterpriseIdpOptions {
  /** seed-mcp's client at the IdP (public: authenticates with `client_id` only, unless `clientSecret`). */
  clientId: string;
  clientSecret?: string;
  /** The client id the ID-JAG names at the MCP authorization server (the IdP's mapping of this app). */
  mcpClientId: string;
}

export interface EnterpriseIdp {
  readonly issuer: string;
  readonly jwks: JSONWebKeySet;
  /** An ID token for `sub` signed by this IdP, for `clientId` unless `aud` says otherwise. */
  idToken(claims: { sub: string; email?: string; aud?: string; expiresIn?: number }): Promise<string>;
  /** Token exchange requests received (credentials as `[present]`), with how the client authenticated. */
  readonly exchanges: Array<{ params: Record<string, string>; clientAuth: string; subjectSub?: string }>;
  readonly refreshes: number;
  /** When set, every token exchange is answered with this OAuth error (HTTP 400). */
  refuse?: { error: string; error_description?: string };
  /** Refresh tokens the refresh grant accepts, with the subject of the ID token it returns. */
  readonly refreshTokens: Map<string, string>;
  close(): Promise<void>;
}

export async function startEnterpriseIdp(options: EnterpriseIdpOptions): Promise<EnterpriseIdp> {
  const key = await signingKey('RS256');
  const exchanges: EnterpriseIdp['exchanges'] = [];
  const refreshTokens = new Map<string, string>();
  let refreshes = 0;
  let issuer = '';

  const idToken: EnterpriseIdp['idToken'] = ({ sub, email, aud, expiresIn }) =>
    new SignJWT({ ...(email ? { email } : {}) })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(sub)
      .setAudience(aud ?? options.clientId)
      .setIssuedAt(Math.floor(Date.now() / 1000) - (expiresIn !== undefined && expiresIn < 0 ? 3600 : 0))
      .setExpirationTime(Math.floor(Date.now() / 1000) + (expiresIn ?? 3600))
      .sign(key.privateKey);

  const error = (res: ServerResponse, status: number, code: string, description: string) => sendJson(res, status, { error: code, error_description: description });

  const { server, base } = await listen(async (req, res, base) => {
    const path = new URL(req.url ?? '/', base).pathname;
    if (req.method === 'GET' && (path === '/.well-known/openid-configuration' || path === '/.well-known/oauth-authorization-server')) {
      return sendJson(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        grant_types_supported: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
        token_endpoint_auth_methods_supported: options.clientSecret ? ['client_secret_basic', 'client_secret_post'] : ['none'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (req.method === 'GET' && path === '/jwks') return sendJson(res, 200, key.jwks);
    if (req.method !== 'POST' || path !== '/token') return sendJson(res, 404, { error: 'not_found' });

    const form = await readForm(req);
    const client = clientOf(req, form);
    if (client.id !== options.clientId || (options.clientSecret !== undefined && client.secret !== options.clientSecret)) {
      return error(res, 401, 'invalid_client', 'unknown client or wrong secret');
    }
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      const sub = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!sub) return error(res, 400, 'invalid_grant', 'unknown refresh token');
      refreshes += 1;
      refreshTokens.delete(form.get('refresh_token')!);
      const next = randomUUID();
      refreshTokens.set(next, sub);
      return sendJson(res, 200, {
        access_token: randomUUID(),
        token_type: 'Bearer',
        expires_in: 3600,
        refresh_token: next,
        id_token: await idToken({ sub, email: `${sub}@example.com` }),
        scope: 'openid profile email offline_access',
      });
    }
    if (grant !== TOKEN_EXCHANGE) return error(res, 400, 'unsupported_grant_type', `grant ${grant} is not supported`);

    const entry: EnterpriseIdp['exchanges'][number] = { params: recorded(form), clientAuth: client.method };
    exchanges.push(entry);
    if (idp.refuse) return sendJson(res, 400, idp.refuse);
    if (form.get('requested_token_type') !== ID_JAG_TYPE) return error(res, 400, 'invalid_request', 'requested_token_type must be the ID-JAG type');
    if (form.get('subject_token_type') !== ID_TOKEN_TYPE) return error(res, 400, 'invalid_request', 'subject_token_type must be an ID token');
    const audience = form.get('audience');
    if (!audience) return error(res, 400, 'invalid_request', 'audience is required');
    let sub: string;
    let email: unknown;
    try {
      const { payload } = await jwtVerify(form.get('subject_token') ?? '', createLocalJWKSet(key.jwks), { issuer, audience: options.clientId });
      sub = payload.sub!;
      email = payload.email;
    } catch (err) {
      return error(res, 400, 'invalid_grant', `the subject token is not valid: ${(err as Error).message}`);
    }
    entry.subjectSub = sub;
    const scope = form.get('scope');
    const resource = form.get('resource');
    const now = Math.floor(Date.now() / 1000);
    const jag = await new SignJWT({
      client_id: options.mcpClientId,
      ...(resource ? { resource } : {}),
      ...(scope ? { scope } : {}),
      ...(typeof email === 'string' ? { email } : {}),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'oauth-id-jag+jwt' })
      .setIssuer(issuer)
      .setSubject(sub)
      .setAudience(audience)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key.privateKey);
    return sendJson(res, 200, { issued_token_type: ID_JAG_TYPE, access_token: jag, token_type: 'N_A', expires_in: 300, ...(scope ? { scope } : {}) });
  });
  issuer = base;

  const idp: EnterpriseIdp = {
    issuer,
    jwks: key.jwks,
    idToken,
    exchanges,
    get refreshes() {
      return refreshes;
    },
    refreshTokens,
    close: () => close(server),
  };
  return idp;
}

export interface McpAuthorizationServerOptions {
  /** The IdP whose ID-JAGs are accepted. */
  idp: { readonly issuer: string; readonly jwks: JSONWebKeySet };
  clientId: string;
  clientSecret: string;
  /** The MCP server's resource identifier (known once the upstream listens). */
  resource: () => string;
}

export interface McpAuthorizationServer {
  readonly issuer: string;
  /** Public keys of the access tokens, for `upstream.trust({ issuer, jwks })`. */
  readonly jwks: JSONWebKeySet;
  /** JWT-bearer requests received (the assertion as `[present]`), with the client authentication and the ID-JAG's header type. */
  readonly grants: Array<{ params: Record<string, string>; clientAuth: string; idJagTyp?: string; sub?: string }>;
  close(): Promise<void>;
}

export async function startMcpAuthorizationServer(options: McpAuthorizationServerOptions): Promise<McpAuthorizationServer> {
  const key = await signingKey('ES256');
  const grants: McpAuthorizationServer['grants'] = [];
  let issuer = '';
  const error = (res: ServerResponse, status: number, code: string, description: string, headers?: Record<string, string>) =>
    sendJson(res, status, { error: code, error_description: description }, headers);

  const { server, base } = await listen(async (req, res, base) => {
    const path = new URL(req.url ?? '/', base).pathname;
    if (req.method === 'GET' && path === '/.well-known/oauth-authorization-server') {
      return sendJson(res, 200, {
        issuer,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        grant_types_supported: [JWT_BEARER],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        response_types_supported: [],
      });
    }
    if (req.method === 'GET' && path === '/jwks') return sendJson(res, 200, key.jwks);
    if (req.method !== 'POST' || path !== '/token') return sendJson(res, 404, { error: 'not_found' });

    const form = await readForm(req);
    const client = clientOf(req, form);
    const entry: McpAuthorizationServer['grants'][number] = { params: recorded(form), clientAuth: client.method };
    grants.push(entry);
    if (client.method !== 'basic' || client.id !== options.clientId || client.secret !== options.clientSecret) {
      return error(res, 401, 'invalid_client', 'client authentication failed', { 'www-authenticate': 'Basic realm="token"' });
    }
    if (form.get('grant_type') !== JWT_BEARER) return error(res, 400, 'unsupported_grant_type', 'only the JWT-bearer grant is supported');
    const resource = form.get('resource') ?? undefined;
    if (resource !== undefined && resource !== options.resource()) return error(res, 400, 'invalid_target', `unknown resource ${resource}`);
    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(form.get('assertion') ?? '', createLocalJWKSet(options.idp.jwks), {
        issuer: options.idp.issuer,
        audience: issuer,
        typ: 'oauth-id-jag+jwt',
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'client_id'],
      });
      payload = verified.payload;
      entry.idJagTyp = verified.protectedHeader.typ;
    } catch (err) {
      return error(res, 400, 'invalid_grant', `the assertion is not a valid ID-JAG: ${(err as Error).message}`);
    }
    if (payload.client_id !== client.id) return error(res, 400, 'invalid_grant', 'the ID-JAG was issued for another client');
    if (payload.resource !== options.resource() || (resource !== undefined && payload.resource !== resource)) {
      return error(res, 400, 'invalid_grant', 'the ID-JAG is for another resource');
    }
    entry.sub = payload.sub as string;
    const scope = typeof payload.scope === 'string' ? payload.scope : 'mcp';
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({ client_id: client.id, scope, ...(typeof payload.email === 'string' ? { email: payload.email } : {}) })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject(payload.sub as string)
      .setAudience(options.resource())
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(key.privateKey);
    return sendJson(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, scope });
  });
  issuer = base;
  return { issuer, jwks: key.jwks, grants, close: () => close(server) };
}
