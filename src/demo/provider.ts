/**
 * The embedded OpenID Provider of `seed-mcp demo`: oidc-provider on 127.0.0.1 with one user, one
 * public native client, JWT access tokens for the demo's MCP server, refresh tokens, the device
 * flow and revocation. Production code, but for a walkthrough only: every page says so.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createFileAdapterStore } from './adapter.js';
import { createInteractionRoutes, type DemoUser, type InteractionProvider } from './interactions.js';
import { loadOrCreateKeys } from './keys.js';
import { deviceConfirmPage, deviceInputPage, deviceSuccessPage, errorPage, homePage, loggedOutPage, logoutPage } from './pages.js';

export interface DemoIdpOptions {
  /** Port on 127.0.0.1; 0 = a free one. */
  port: number;
  /** The only resource (RFC 8707) it issues access tokens for: the demo MCP URL. */
  resource: string;
  /** The resource's scopes, which land in the access token's `scope` claim when asked for. */
  resourceScopes: string[];
  clientId: string;
  user: DemoUser;
  /** Keys and state live here (see keys.ts, adapter.ts). */
  dataDir: string;
  logger: Logger;
  /** Access token lifetime in seconds. */
  accessTokenTtlSec?: number;
  /** More resources the demo user's client may get tokens for (the gateway's `/mcp/<child>`), with `resourceScopes`. */
  userResources?: string[];
  /**
   * The gateway's confidential service client: client credentials (client_secret_basic) for
   * `resource` only, the gateway child's own URL, which no other client gets tokens for.
   */
  serviceClient?: { clientId: string; secret: string; resource: () => string };
}

export interface DemoIdp {
  /** `http://127.0.0.1:<port>`. */
  readonly issuer: string;
  readonly port: number;
  /** True when this start made new signing keys (earlier tokens no longer verify). */
  readonly keysCreated: boolean;
  close(): Promise<void>;
}

/** Koa's context as far as the page renderers read it. */
interface PageContext {
  type: string;
  body: unknown;
  oidc?: { client?: { clientId: string; clientName?: string } };
}

interface ProviderInstance extends InteractionProvider {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

interface OidcProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;
  errors: { InvalidTarget: new (description?: string) => Error };
}

const ESCAPES = /\x1b\[[0-9;]*m/g;

/**
 * oidc-provider speaks through console.warn/info — on stdout for notices — and warns at import
 * about Node 20 (harmless: every test that starts an IdP runs it on Node 20). While the demo runs, its lines go to the demo's
 * logger on stderr instead, minus that one harmless warning; everything else passes untouched.
 */
function routeProviderConsole(logger: Logger): () => void {
  const saved = { warn: console.warn, info: console.info };
  const wrap =
    (level: 'warn' | 'info') =>
    (...args: unknown[]) => {
      const first = typeof args[0] === 'string' ? args[0].replace(ESCAPES, '') : undefined;
      if (first === undefined || !first.startsWith('oidc-provider ')) return saved[level].apply(console, args);
      if (/Unsupported runtime/.test(first)) return;
      logger.warn(first, { event: 'demo_idp_notice' });
    };
  console.warn = wrap('warn');
  console.info = wrap('info');
  return () => {
    console.warn = saved.warn;
    console.info = saved.info;
  };
}

function listen(server: ReturnType<typeof createServer>, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new SeedError('USAGE', `could not start the demo ${what} on 127.0.0.1:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : (err.code ?? err.message)}`, {
          hint:
            err.code === 'EADDRINUSE'
              ? 'another program (or another `seed-mcp demo`) uses it: stop it, or pass --port N (the identity provider then takes N-1, or --idp-port)'
              : 'pass another --port',
          cause: err,
        }),
      );
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** Starts the demo IdP on 127.0.0.1. */
export async function startDemoIdp(options: DemoIdpOptions): Promise<DemoIdp> {
  const { logger, user } = options;
  const service = options.serviceClient;
  const userResources = [options.resource, ...(options.userResources ?? [])];
  const { keys, created } = await loadOrCreateKeys(options.dataDir);
  const restoreConsole = routeProviderConsole(logger);
  const server = createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  try {
    // Listen first: the issuer names the port, and the port may be 0.
    await listen(server, options.port, 'identity provider');
  } catch (err) {
    restoreConsole();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const state = createFileAdapterStore(join(options.dataDir, 'idp-state.json'), {
    onError: (err) => logger.warn(`could not save the demo IdP's state: ${err.message}`, { event: 'demo_idp_state' }),
  });

  let provider: ProviderInstance;
  try {
    const { default: Provider, errors } = (await import('oidc-provider')) as OidcProviderModule;
    const accessTokenTtl = options.accessTokenTtlSec ?? 900;
    const html = (ctx: PageContext, body: string) => {
      ctx.type = 'html';
      ctx.body = body;
    };
    provider = new Provider(issuer, {
      adapter: (model: string) => state.adapter(model),
      clients: [
        {
          client_id: options.clientId,
          client_name: 'seed-mcp CLI (demo)',
          application_type: 'native',
          token_endpoint_auth_method: 'none',
          // Native clients match loopback redirects on any port (RFC 8252 §7.3).
          redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback'],
          response_types: ['code'],
          grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        },
        ...(service
          ? [
              {
                client_id: service.clientId,
                client_name: 'seed-mcp gateway (demo service client)',
                client_secret: service.secret,
                token_endpoint_auth_method: 'client_secret_basic',
                redirect_uris: [],
                response_types: [],
                grant_types: ['client_credentials'],
              },
            ]
          : []),
      ],
      jwks: structuredClone(keys.jwks),
      cookies: { keys: keys.cookieKeys },
      scopes: ['openid', 'profile', 'email', 'offline_access', ...options.resourceScopes],
      claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
      // Name and email in the ID token itself, as enterprise IdPs do: the CLI shows who signed in from it.
      conformIdTokenClaims: false,
      async findAccount(_ctx: unknown, sub: string) {
        if (sub !== user.login) return undefined;
        return { accountId: sub, claims: async () => ({ sub, name: user.name, email: user.email, email_verified: true }) };
      },
      pkce: { required: () => true },
      async issueRefreshToken(_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }, source: { scopes: Set<string> }) {
        return client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access');
      },
      // Every TTL is set, so oidc-provider prints no "you SHOULD change it" notices.
      ttl: {
        AccessToken: accessTokenTtl,
        AuthorizationCode: 60,
        ClientCredentials: accessTokenTtl,
        DeviceCode: 600,
        IdToken: 3600,
        RefreshToken: 14 * 24 * 3600,
        Interaction: 3600,
        Session: 24 * 3600,
        Grant: 14 * 24 * 3600,
        BackchannelAuthenticationRequest: 600,
        PreAuthorizedCode: 600,
      },
      clientBasedCORS: () => false,
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      async renderError(ctx: PageContext, out: Record<string, unknown>) {
        html(ctx, errorPage(out));
      },
      features: {
        devInteractions: { enabled: false },
        // The gateway's service token for its child (client credentials, resource = the child).
        clientCredentials: { enabled: Boolean(service) },
        revocation: {
          enabled: true,
          // A public client may revoke only its own tokens (oidc-provider's default, minus its notice).
          async allowedPolicy(_ctx: unknown, client: { clientId: string }, token: { clientId: string }) {
            return token.clientId === client.clientId;
          },
        },
        rpInitiatedLogout: {
          enabled: true,
          async logoutSource(ctx: PageContext, form: string) {
            html(ctx, logoutPage(form));
          },
          async postLogoutSuccessSource(ctx: PageContext) {
            html(ctx, loggedOutPage());
          },
        },
        deviceFlow: {
          enabled: true,
          async userCodeInputSource(ctx: PageContext, form: string, _out: unknown, err?: { name?: string; userCode?: string }) {
            let message = 'Enter the code your terminal shows.';
            if (err && (err.userCode || err.name === 'NoCodeError')) message = 'The code you entered is incorrect. Try again.';
            else if (err?.name === 'AbortedError') message = 'The sign-in request was interrupted.';
            else if (err) message = 'There was an error processing your request.';
            html(ctx, deviceInputPage(form, message, Boolean(err)));
          },
          async userCodeConfirmSource(ctx: PageContext, form: string, client: { clientId: string; clientName?: string }, _info: unknown, userCode: string) {
            html(ctx, deviceConfirmPage(form, client.clientName ?? client.clientId, userCode));
          },
          async successSource(ctx: PageContext) {
            html(ctx, deviceSuccessPage());
          },
        },
        resourceIndicators: {
          enabled: true,
          async defaultResource() {
            return options.resource;
          },
          // Tokens are for the MCP server even when a refresh names no resource.
          useGrantedResource: async () => true,
          async getResourceServerInfo(_ctx: unknown, resource: string, client?: { clientId: string }) {
            // The gateway child's URL is the service client's only resource, and no one else's.
            const forService = client !== undefined && service !== undefined && client.clientId === service.clientId;
            const serviceResource = service?.resource();
            if (forService !== (serviceResource !== undefined && resource === serviceResource) || !(forService || userResources.includes(resource))) {
              throw new errors.InvalidTarget(`the demo IdP issues this client tokens for ${forService ? serviceResource : userResources.join(' or ')} only`);
            }
            return {
              audience: resource,
              scope: forService ? '' : options.resourceScopes.join(' '),
              accessTokenTTL: accessTokenTtl,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256' } },
            };
          },
        },
      },
    });
  } catch (err) {
    server.close();
    restoreConsole();
    throw err;
  }
  provider.on('server_error', (_ctx: unknown, err: Error) => logger.error(`demo IdP server error: ${err.message}`, { event: 'demo_idp_error' }));

  const interactions = createInteractionRoutes(provider, { user, logger });
  const handle = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && (req.url === '/' || req.url === '')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(homePage(issuer, options.resource));
      return;
    }
    interactions(req, res)
      .then((handled) => {
        if (!handled) handle(req, res);
      })
      .catch((err: Error) => {
        logger.error(`demo IdP page failed: ${err.message}`, { event: 'demo_idp_error' });
        if (!res.headersSent)
          res
            .writeHead(500, { 'content-type': 'text/html; charset=utf-8' })
            .end(errorPage({ error: 'server_error', error_description: 'the demo identity provider failed; see its terminal' }));
        else res.destroy();
      });
  });

  let closing: Promise<void> | undefined;
  return {
    issuer,
    port,
    keysCreated: created,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets (browsers, fetch) would hold close() open for seconds.
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }).finally(() => {
        state.flush();
        restoreConsole();
      });
      return closing;
    },
  };
}
