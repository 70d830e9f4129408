/**
 * `seed-mcp cloud` with the OAuth proxy (OAUTH_PROXY_ENABLED) in front of the real test IdP, in
 * process: the IdP knows the proxy's own client `seed-proxy` (public, PKCE only, loopback redirect
 * on any port), and the server runs on a free port of 127.0.0.1 with its log in `logLines`.
 */
import { randomBytes } from 'node:crypto';
import { loadCloudConfig } from '../../src/cloud/config.js';
import { startCloud, type CloudDeps, type RunningCloud } from '../../src/cloud/start.js';
import { createLogger } from '../../src/shared/logger.js';
import { startIdp, type TestIdp } from './idp.js';
import { freePort } from './ports.js';

export const PROXY_SCOPES = ['checklist.list', 'checklist.read'];

export interface ProxiedCloud {
  idp: TestIdp;
  server: RunningCloud;
  baseUrl: string;
  mcpUrl: string;
  /** The server's JSON log lines. */
  logLines: string[];
  /** Closes the server, then the IdP. */
  close(): Promise<void>;
}

/** Starts the IdP and the server; `env` adds to (or overrides) the proxy's variables. */
export async function startProxiedCloud(options: { env?: Record<string, string>; fetch?: typeof fetch } = {}): Promise<ProxiedCloud> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const mcpUrl = `${baseUrl}/mcp`;
  const idp = await startIdp({
    resources: [mcpUrl],
    extraScopes: PROXY_SCOPES,
    extraClients: [
      {
        client_id: 'seed-proxy',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/oauth/authorize/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
  });
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: idp.issuer,
      RESOURCE_IDENTIFIER: mcpUrl,
      SCOPES_SUPPORTED: PROXY_SCOPES.join(','),
      BASE_URL: baseUrl,
      OAUTH_PROXY_ENABLED: 'true',
      OAUTH_CLIENT_ID: 'seed-proxy',
      REDIS_KEY_PREFIX: `seed-mcp-test-${randomBytes(4).toString('hex')}:`,
      ...options.env,
    }),
    port,
    host: '127.0.0.1',
  };
  const logLines: string[] = [];
  const deps: CloudDeps = {
    logger: createLogger({ format: 'json', write: (l) => logLines.push(l) }),
    version: 'test',
    collectDefaultMetrics: false,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  let server: RunningCloud;
  try {
    server = await startCloud(config, deps);
  } catch (err) {
    await idp.close();
    throw err;
  }
  return {
    idp,
    server,
    baseUrl,
    mcpUrl,
    logLines,
    close: async () => {
      await server.close();
      await idp.close();
    },
  };
}
