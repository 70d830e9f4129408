/**
 * A real OpenID Provider for end-to-end tests: `oidc-provider` v9 on 127.0.0.1 with the clients,
 * resource indicators and flows the seed-mcp CLI uses (authorization code + PKCE over a loopback
 * redirect, refresh with rotation, the device flow, client credentials, revocation).
 *
 * Nothing here is a mock: tokens are signed by the provider, and every grant goes through its
 * real endpoints. Tests drive the person at the browser with `scripted-browser.mjs`.
 */
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Client metadata as oidc-provider takes it (snake_case, RFC 7591 names). */
export interface IdpClientMetadata {
  client_id: string;
  client_secret?: string;
  [metadata: string]: unknown;
}

/** Alg of the JWT access tokens; ID tokens are always RS256. */
export type AccessTokenAlg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'EdDSA';

export interface IdpOptions {
  /** Port on 127.0.0.1; default 0 (a free one). */
  port?: number;
  /**
   * Resource indicators (RFC 8707) the IdP issues JWT access tokens for; default
   * `['https://mcp.example.test/mcp']`. A request without `resource` gets the first one.
   */
  resources?: string[];
  /** JWS alg of access tokens; default RS256. */
  accessTokenAlg?: AccessTokenAlg;
  /** Access token lifetime in seconds (`expires_in`, JWT `exp`); default 3600. */
  accessTokenTtl?: number;
  /** Refresh token lifetime in seconds; default 14 days. */
  refreshTokenTtl?: number;
  /**
   * Scopes beyond `openid profile email offline_access`. They are also the resource servers'
   * scopes, so they are what lands in the access token's `scope` claim.
   */
  extraScopes?: string[];
  /** More clients next to `seed-cli` and `seed-service`. */
  extraClients?: IdpClientMetadata[];
  /**
   * When refresh tokens are issued to clients allowed the refresh_token grant:
   * - `'offline_access'` (default, the OIDC rule and oidc-provider's): only when `offline_access`
   *   was granted, which at the authorization endpoint needs `prompt=consent`;
   * - `'always'`: for every code and device grant (as many enterprise IdPs do);
   * - `'never'`: none, to test a CLI that must cope without one.
   */
  refreshTokens?: 'offline_access' | 'always' | 'never';
  /**
   * `interval` (seconds) added to device authorization responses. oidc-provider sends none, so
   * clients would fall back to RFC 8628's 5 s; default 1 to keep tests quick.
   */
  deviceInterval?: number;
  /**
   * Lets a test alter what the token endpoint answers, errors included (tamper with the ID token,
   * turn `authorization_pending` into `slow_down`) before it is sent. Koa composes middleware when
   * the server starts, so this cannot be added later.
   */
  onTokenResponse?: (body: Record<string, unknown>, status: number) => void;
  /**
   * Access tokens for the resources: `'jwt'` (default, RFC 9068) or `'opaque'` (a random string
   * whose claims only introspection would tell).
   */
  accessTokenFormat?: 'jwt' | 'opaque';
  /**
   * Pose as a plain OAuth 2.1 authorization server: `/.well-known/openid-configuration` answers
   * 404 and the same metadata is served as RFC 8414 `/.well-known/oauth-authorization-server`.
   * Requests without the `openid` scope then get no ID token (oidc-provider's own rule).
   */
  plainOAuth?: boolean;
  /**
   * `clientAuthMethods` of oidc-provider, hence the advertised
   * `token_endpoint_auth_methods_supported`; default oidc-provider's (all of them).
   */
  clientAuthMethods?: string[];
  /** Open dynamic client registration (RFC 7591) at `/reg`, as MCP servers' authorization servers offer. */
  registration?: boolean;
  /**
   * Token introspection (RFC 7662) at `/token/introspection`, advertised as
   * `introspection_endpoint`, with a resource-server client allowed to use it: `seed-rs`, secret
   * `rs-secret`, client_secret_basic (more, e.g. private_key_jwt ones, through `extraClients`).
   */
  introspection?: boolean;
}

/** How a client authenticated at the token or revocation endpoint, as the request showed it. */
export interface IdpClientAuthRecord {
  endpoint: 'token' | 'revocation' | 'introspection';
  clientId?: string;
  /** `client_secret_basic`, `client_secret_post`, `private_key_jwt` (a client assertion) or `none`. */
  method: string;
  /** The client assertion's JWS alg, for `private_key_jwt`. */
  alg?: string;
  status: number;
}

/** What the IdP did, for assertions. All counters start at 0. */
export interface IdpCounts {
  /** Every HTTP request the server received. */
  requests: number;
  /** Successful authorization_code grants. */
  authorizationCode: number;
  /** Successful refresh_token grants. */
  refresh: number;
  /** Failed refresh_token grants (invalid, reused or revoked refresh tokens, bad client...). */
  failedRefresh: number;
  /** Successful device_code grants (tokens issued). */
  deviceCode: number;
  /** Every device_code grant request, including `authorization_pending` answers. */
  devicePolls: number;
  /** Successful client_credentials grants. */
  clientCredentials: number;
  /** Answered (200) revocation requests. RFC 7009 answers 200 for unknown tokens too. */
  revocations: number;
  /** Answered (200) introspection requests, active or not (with `introspection`). */
  introspections: number;
}

/** One received request, without its query (which may carry codes). */
export interface IdpRequestRecord {
  method: string;
  path: string;
  status: number;
}

/** A public JSON Web Key Set. */
export interface PublicJwks {
  keys: Array<JsonWebKey & { kid: string; use?: string; alg?: string }>;
}

/** The minimal slice of the oidc-provider instance that this fixture exposes. */
export interface OidcProviderInstance {
  readonly issuer: string;
  urlFor(name: string, options?: unknown): string;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

export interface TestIdp {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly issuer: string;
  readonly port: number;
  /** The native public client: `seed-cli`. */
  readonly clientId: string;
  /** The resource indicators the IdP knows, the default first. */
  readonly resources: readonly string[];
  /** Live counters; see {@link IdpCounts}. */
  readonly counts: IdpCounts;
  /** Every request so far, in order (method, path without query, status). */
  readonly requestLog: readonly IdpRequestRecord[];
  /** Every token and revocation request: how the client authenticated. */
  readonly clientAuthLog: readonly IdpClientAuthRecord[];
  /** Errors oidc-provider answered with `server_error` (a bug in a test or in this fixture). */
  readonly serverErrors: readonly Error[];
  /** The current public JWKS (the same as `GET /jwks`). */
  readonly keys: PublicJwks;
  /** The provider itself, for tests that need more (cast as needed). */
  readonly provider: OidcProviderInstance;
  /** Absolute URL of an endpoint path, e.g. `url('/jwks')`. */
  url(path: string): string;
  /**
   * Replaces the signing keys with new ones (new kids); tokens signed afterwards use them.
   * With `keepPrevious`, the old public keys stay in the JWKS (a graceful rotation); by default
   * they are dropped, so tokens signed before no longer verify against a fresh JWKS.
   */
  rotateKeys(options?: { keepPrevious?: boolean }): Promise<void>;
  /**
   * A real access token from the client credentials grant of a service client (`seed-service`
   * by default, or `other-service`: a second principal), for `resource` with `scope`.
   */
  serviceToken(options?: { client?: 'seed-service' | 'other-service'; resource?: string; scope?: string }): Promise<string>;
  /** Sets every counter back to 0 and clears the request log. */
  resetCounts(): void;
  /** Closes the server and every open socket. */
  close(): Promise<void>;
}

/** The default resource: the MCP endpoint of the product's tests. */
export const DEFAULT_RESOURCE = 'https://mcp.example.test/mcp';

// ---------------------------------------------------------------------------------------------
// Loading oidc-provider quietly

/** Messages oidc-provider prints for a quick-start setup, which this fixture is on purpose. */
const HARMLESS_NOTICES = [
  /^oidc-provider WARNING: Unsupported runtime/, // we run Node 20; it works (every IdP test runs on it)
  /^oidc-provider WARNING: a quick start development-only feature devInteractions/,
  /^oidc-provider WARNING: a quick start development-only in-memory adapter/,
];

let consoleFiltered = false;

/**
 * Drops only the notices above from console.warn/info, for the life of the process: they are
 * printed at import and at every `new Provider`, possibly by tests running in parallel, so a
 * filter installed and removed around each call could restore the wrong function. Everything
 * else, including any other oidc-provider warning, still prints.
 */
function filterProviderNotices(): void {
  if (consoleFiltered) return;
  consoleFiltered = true;
  for (const level of ['warn', 'info'] as const) {
    const original = console[level];
    console[level] = (...args: unknown[]) => {
      const first = args[0];
      if (typeof first === 'string' && HARMLESS_NOTICES.some((re) => re.test(first))) return;
      original.apply(console, args);
    };
  }
}

type ProviderError = new (description?: string, detail?: string) => Error;

/** Koa context, as far as this file reads it. */
interface ProviderContext {
  method: string;
  path: string;
  status: number;
  body: unknown;
  type: string;
  oidc?: { params?: Record<string, unknown>; client?: { clientId: string; clientName?: string } };
  req: IncomingMessage & { publicPath?: string };
}

interface ProviderClient {
  clientId: string;
  clientAuthMethod: string;
  grantTypeAllowed(grantType: string): boolean;
}

interface ProviderInternal extends OidcProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>): unknown;
}

interface OidcProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => ProviderInternal;
  errors: { InvalidTarget: ProviderError; InvalidRequest: ProviderError };
}

// oidc-provider ships no types (and @types/oidc-provider is not a dependency), and its
// "unsupported runtime" warning fires while the module is evaluated: so it is loaded with a
// dynamic import, after the console filter, through a string TypeScript does not resolve.
const OIDC_PROVIDER = 'oidc-provider';
// Internal module: the only way to swap the signing keys of a running provider. Pinned by the
// devDependency's major version; if it moves, rotateKeys() fails loudly.
const OIDC_PROVIDER_KEYSTORE = 'oidc-provider/lib/helpers/initialize_keystore.js';

let loaded: Promise<{ mod: OidcProviderModule; initializeKeystore: (this: unknown, jwks: unknown) => void }> | undefined;

function loadProvider() {
  filterProviderNotices();
  loaded ??= (async () => {
    const mod = (await import(OIDC_PROVIDER)) as OidcProviderModule;
    const keystoreModule = (await import(OIDC_PROVIDER_KEYSTORE)) as {
      default: (this: unknown, jwks: unknown) => void;
    };
    return { mod, initializeKeystore: keystoreModule.default };
  })();
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// Keys

let keyGeneration = 0;

/** Private JWKs for ID tokens (always RSA, RS256) and access tokens (`accessTokenAlg`). */
function generateSigningKeys(accessTokenAlg: AccessTokenAlg): JsonWebKey[] {
  const generation = ++keyGeneration;
  const tag = `${generation}-${randomBytes(4).toString('hex')}`;
  // No `alg` on the RSA key: it serves RS256 ID tokens and, when asked, PS256 access tokens.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const keys: JsonWebKey[] = [{ ...rsa, kid: `rsa-${tag}`, use: 'sig' }];
  const family = accessTokenAlg.slice(0, 2);
  if (family === 'ES') {
    const namedCurve = accessTokenAlg === 'ES384' ? 'P-384' : 'P-256';
    const ec = generateKeyPairSync('ec', { namedCurve }).privateKey.export({ format: 'jwk' });
    keys.push({ ...ec, kid: `ec-${tag}`, use: 'sig', alg: accessTokenAlg });
  } else if (accessTokenAlg === 'EdDSA') {
    const okp = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    keys.push({ ...okp, kid: `okp-${tag}`, use: 'sig', alg: 'EdDSA' });
  }
  return keys;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

function publicJwks(keys: JsonWebKey[]): PublicJwks {
  return {
    keys: keys.map((key) => {
      const copy: JsonWebKey & { kid: string } = { ...key, kid: String(key.kid) };
      for (const member of PRIVATE_MEMBERS) delete copy[member];
      return copy;
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Accounts and pages

/** Any login id is a user: `alice` → Alice Example <alice@example.test>. */
function accountFor(login: string) {
  const local = login.includes('@') ? login.slice(0, login.indexOf('@')) : login;
  const name = `${local.charAt(0).toUpperCase()}${local.slice(1)} Example`;
  const email = login.includes('@') ? login : `${login}@example.test`;
  return { sub: login, name, email, email_verified: true };
}

const escapeHtml = (value: unknown) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

// ---------------------------------------------------------------------------------------------

/**
 * Starts the test IdP on 127.0.0.1. Clients:
 * - `seed-cli`: public native client (loopback redirect on any port, PKCE S256 required), grants
 *   authorization_code, refresh_token and device_code;
 * - `seed-service` and `other-service` (two principals): confidential, secret `service-secret`,
 *   grant client_credentials;
 * - `options.extraClients`.
 *
 * Close it with {@link TestIdp.close} (e.g. in `afterAll`).
 */
/** A test IdP whose token endpoint hands out every ID token with its signature flipped (the exchange then fails validation). */
export function startIdpWithBrokenIdTokens(): Promise<TestIdp> {
  return startIdp({
    onTokenResponse: (body) => {
      if (typeof body.id_token !== 'string') return;
      const [h, p, sig] = body.id_token.split('.');
      body.id_token = `${h}.${p}.${sig!.startsWith('A') ? 'B' : 'A'}${sig!.slice(1)}`;
    },
  });
}

export async function startIdp(options: IdpOptions = {}): Promise<TestIdp> {
  const { mod, initializeKeystore } = await loadProvider();
  const { default: Provider, errors } = mod;

  const resources = [...(options.resources ?? [DEFAULT_RESOURCE])];
  if (resources.length === 0) throw new Error('startIdp: options.resources must not be empty');
  const accessTokenAlg = options.accessTokenAlg ?? 'RS256';
  const accessTokenTtl = options.accessTokenTtl ?? 3600;
  const refreshTokenTtl = options.refreshTokenTtl ?? 14 * 24 * 3600;
  const extraScopes = options.extraScopes ?? [];
  const refreshTokenPolicy = options.refreshTokens ?? 'offline_access';
  const deviceInterval = options.deviceInterval ?? 1;

  const counts: IdpCounts = {
    requests: 0,
    authorizationCode: 0,
    refresh: 0,
    failedRefresh: 0,
    deviceCode: 0,
    devicePolls: 0,
    clientCredentials: 0,
    revocations: 0,
    introspections: 0,
  };
  const requestLog: IdpRequestRecord[] = [];
  const clientAuthLog: IdpClientAuthRecord[] = [];
  const serverErrors: Error[] = [];

  // The server listens first: the issuer must name the port, and the port may be 0.
  const server = createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  let privateKeys = generateSigningKeys(accessTokenAlg);

  const clients: IdpClientMetadata[] = [
    {
      client_id: 'seed-cli',
      client_name: 'Seed CLI',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      // Loopback redirects match on any port for native clients (RFC 8252 §7.3).
      redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    },
    {
      client_id: 'seed-service',
      client_name: 'Seed Service',
      client_secret: 'service-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [],
      response_types: [],
      grant_types: ['client_credentials'],
    },
    {
      client_id: 'other-service',
      client_name: 'Other Service',
      client_secret: 'service-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [],
      response_types: [],
      grant_types: ['client_credentials'],
    },
    ...(options.introspection
      ? [
          {
            client_id: 'seed-rs',
            client_name: 'Seed resource server',
            client_secret: 'rs-secret',
            token_endpoint_auth_method: 'client_secret_basic',
            redirect_uris: [],
            response_types: [],
            grant_types: [],
          },
        ]
      : []),
    ...(options.extraClients ?? []),
  ];

  const resourceServerInfo = (resource: string) => ({
    audience: resource,
    // Only non-OIDC scopes belong to the resource server; the AT's `scope` is their intersection
    // with what was requested and granted.
    scope: extraScopes.join(' '),
    accessTokenTTL: accessTokenTtl,
    accessTokenFormat: options.accessTokenFormat ?? 'jwt',
    ...(options.accessTokenFormat === 'opaque' ? {} : { jwt: { sign: { alg: accessTokenAlg } } }),
  });

  const configuration: Record<string, unknown> = {
    clients,
    jwks: { keys: privateKeys },
    // Fixed per instance so sessions survive nothing but this IdP.
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'profile', 'email', 'offline_access', ...extraScopes],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    // Put the profile/email claims in the ID token itself (as most enterprise IdPs do), not only
    // at userinfo: the CLI shows who is signed in from the ID token.
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      return { accountId: sub, claims: async () => accountFor(sub) };
    },
    pkce: {
      // v9 only supports S256 (there is no `pkce.methods` option any more); require it always.
      required: () => true,
    },
    async issueRefreshToken(_ctx: unknown, client: ProviderClient, source: { scopes: Set<string> }) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      if (refreshTokenPolicy === 'never') return false;
      if (refreshTokenPolicy === 'always') return true;
      return source.scopes.has('offline_access');
    },
    // rotateRefreshToken stays oidc-provider's default: public clients get a new refresh token
    // on every refresh, and a rotated-out one coming back revokes the whole grant.
    // Every TTL is set so oidc-provider does not print "you SHOULD change it" notices.
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      ClientCredentials: accessTokenTtl,
      DeviceCode: 600,
      IdToken: 3600,
      RefreshToken: refreshTokenTtl,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    clientBasedCORS: () => false,
    ...(options.clientAuthMethods ? { clientAuthMethods: options.clientAuthMethods } : {}),
    async renderError(ctx: ProviderContext, out: Record<string, string>) {
      ctx.type = 'html';
      ctx.body = page(
        'oops! something went wrong',
        Object.entries(out)
          .map(([key, value]) => `<pre><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</pre>`)
          .join(''),
      );
    },
    features: {
      ...(options.registration ? { registration: { enabled: true } } : {}),
      ...(options.introspection
        ? {
            introspection: {
              enabled: true,
              // The default policy, minus its notice: a public client learns only of its own tokens.
              async allowedPolicy(_ctx: unknown, client: ProviderClient, token: { clientId: string }) {
                return !(client.clientAuthMethod === 'none' && token.clientId !== client.clientId);
              },
            },
          }
        : {}),
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: {
        enabled: true,
        // The default policy, minus its notice: a client may revoke only its own tokens.
        async allowedPolicy(_ctx: unknown, client: ProviderClient, token: { clientId: string }) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      deviceFlow: {
        enabled: true,
        async userCodeInputSource(ctx: ProviderContext, form: string, _out: unknown, err?: { name?: string; userCode?: string }) {
          let message = 'Enter the code displayed on your device';
          if (err && (err.userCode || err.name === 'NoCodeError')) message = 'The code you entered is incorrect. Try again';
          else if (err?.name === 'AbortedError') message = 'The Sign-in request was interrupted';
          else if (err) message = 'There was an error processing your request';
          ctx.type = 'html';
          ctx.body = page(
            'Device Sign-in',
            `<p class="${err ? 'error' : 'info'}">${escapeHtml(message)}</p>${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
          );
        },
        async userCodeConfirmSource(ctx: ProviderContext, form: string, client: { clientId: string; clientName?: string }, _info: unknown, userCode: string) {
          ctx.type = 'html';
          ctx.body = page(
            'Confirm Device',
            `<p><strong>${escapeHtml(client.clientName ?? client.clientId)}</strong> shows the code <code>${escapeHtml(userCode)}</code></p>${form}
<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]</button>`,
          );
        },
        async successSource(ctx: ProviderContext) {
          ctx.type = 'html';
          ctx.body = page('Sign-in Success', '<p>Your sign-in was successful, you can now close this page.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        // Called with no `oneOf` when the request named no resource (authorization, device
        // authorization, client credentials): use the first configured one. Called with the
        // granted resources at the token endpoint when several were granted: take the first.
        async defaultResource(_ctx: unknown, _client: unknown, oneOf?: string | string[]) {
          if (oneOf) return Array.isArray(oneOf) ? oneOf[0] : oneOf;
          return resources[0];
        },
        // Without this, a token request that repeats no `resource` but has `openid` gets an
        // opaque userinfo-only access token. The CLI's tokens are for the MCP resource.
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx: unknown, resource: string) {
          if (!resources.includes(resource)) throw new errors.InvalidTarget();
          return resourceServerInfo(resource);
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);

  const pathOf = (name: string) => new URL(provider.urlFor(name)).pathname;
  const deviceAuthorizationPath = pathOf('device_authorization');
  const revocationPath = pathOf('revocation');
  const tokenPath = pathOf('token');
  const introspectionPath = options.introspection ? pathOf('introspection') : undefined;

  provider.use(async (ctx, next) => {
    await next();
    requestLog.push({ method: ctx.method, path: ctx.req.publicPath ?? ctx.path, status: ctx.status });
    if (ctx.method === 'POST' && (ctx.path === tokenPath || ctx.path === revocationPath || ctx.path === introspectionPath)) {
      const body = ((ctx as { oidc?: { body?: Record<string, unknown> } }).oidc?.body ?? {}) as Record<string, unknown>;
      const assertion = typeof body.client_assertion === 'string' ? body.client_assertion : undefined;
      const method = /^basic /i.test(String(ctx.req.headers.authorization ?? ''))
        ? 'client_secret_basic'
        : assertion
          ? 'private_key_jwt'
          : typeof body.client_secret === 'string'
            ? 'client_secret_post'
            : 'none';
      const alg = assertion ? (JSON.parse(Buffer.from(assertion.split('.')[0]!, 'base64url').toString()) as { alg?: string }).alg : undefined;
      clientAuthLog.push({
        endpoint: ctx.path === tokenPath ? 'token' : ctx.path === revocationPath ? 'revocation' : 'introspection',
        clientId: (ctx as { oidc?: { client?: { clientId?: string } } }).oidc?.client?.clientId,
        method,
        ...(alg ? { alg } : {}),
        status: ctx.status,
      });
    }
    if (ctx.method === 'POST' && ctx.path === tokenPath && options.onTokenResponse && ctx.body && typeof ctx.body === 'object') {
      options.onTokenResponse(ctx.body as Record<string, unknown>, ctx.status);
    }
    if (ctx.method !== 'POST' || ctx.status !== 200) return;
    if (ctx.path === revocationPath) counts.revocations += 1;
    if (ctx.path === introspectionPath) counts.introspections += 1;
    if (ctx.path === deviceAuthorizationPath && ctx.body && typeof ctx.body === 'object') {
      (ctx.body as Record<string, unknown>).interval = deviceInterval;
    }
  });

  const grantType = (ctx: ProviderContext) => ctx.oidc?.params?.grant_type;
  provider.on('grant.success', (ctx: ProviderContext) => {
    switch (grantType(ctx)) {
      case 'authorization_code':
        counts.authorizationCode += 1;
        break;
      case 'refresh_token':
        counts.refresh += 1;
        break;
      case 'urn:ietf:params:oauth:grant-type:device_code':
        counts.deviceCode += 1;
        counts.devicePolls += 1;
        break;
      case 'client_credentials':
        counts.clientCredentials += 1;
        break;
      default:
    }
  });
  provider.on('grant.error', (ctx: ProviderContext) => {
    const type = grantType(ctx);
    if (type === 'refresh_token') counts.failedRefresh += 1;
    if (type === 'urn:ietf:params:oauth:grant-type:device_code') counts.devicePolls += 1;
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => {
    serverErrors.push(err);
    // A server_error is a bug in a test or in this fixture, never expected: say so.
    console.error('test IdP server_error:', err);
  });

  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    counts.requests += 1;
    if (options.plainOAuth) {
      const path = req.url?.split('?')[0];
      if (path === '/.well-known/openid-configuration') {
        requestLog.push({ method: req.method ?? 'GET', path, status: 404 });
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
        return;
      }
      if (path === '/.well-known/oauth-authorization-server') {
        // Logged under the path the client asked for.
        (req as IncomingMessage & { publicPath?: string }).publicPath = path;
        req.url = '/.well-known/openid-configuration';
      }
    }
    handle(req, res);
  });

  let closed: Promise<void> | undefined;

  return {
    issuer,
    port,
    clientId: 'seed-cli',
    resources,
    counts,
    requestLog,
    clientAuthLog,
    serverErrors,
    get keys() {
      return publicJwks(privateKeys);
    },
    provider,
    url: (path: string) => new URL(path, `${issuer}/`).href,
    async rotateKeys({ keepPrevious = false } = {}) {
      const fresh = generateSigningKeys(accessTokenAlg);
      const next = keepPrevious ? [...fresh, ...privateKeys] : fresh;
      // Rebuilds the provider's keystore and published JWKS in place; signing picks the first
      // matching key, i.e. a new one.
      initializeKeystore.call(provider, { keys: structuredClone(next) });
      privateKeys = next;
    },
    async serviceToken({ client = 'seed-service', resource = resources[0], scope } = {}) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client}:service-secret`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...(resource ? { resource } : {}), ...(scope ? { scope } : {}) }),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`the test IdP issued no token: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    resetCounts() {
      for (const key of Object.keys(counts) as Array<keyof IdpCounts>) counts[key] = 0;
      requestLog.length = 0;
      clientAuthLog.length = 0;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets (fetch keeps them) would hold close() open for seconds.
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
