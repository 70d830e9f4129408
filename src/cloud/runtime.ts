import { silentLogger, type Logger } from '../shared/logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { documentTools } from '../shared/tools/documents/index.js';
import { builtinTools } from '../shared/tools/registry.js';
import type { ToolDefinition } from '../shared/tools/types.js';
import { createTokenValidator, type TokenValidator } from './auth/validator.js';
import type { CloudConfig } from './config.js';
import { createClientRegistry } from './oauth/clients.js';
import { createIdpClient, type IdpClient } from './oauth/idp.js';
import { createOAuthProxy, OAUTH_PATHS, type OAuthProxy } from './oauth/proxy.js';
import { createMemoryRateLimitStore, type RateLimitStore } from './rate-limit.js';
import type { CloudServerOptions } from './server.js';
import { createStore } from './store/index.js';
import { createSharedRateLimitStore } from './store/rate-limit-store.js';
import { createRevocationList, type RevocationList } from './store/revocations.js';
import type { SharedStore } from './store/types.js';

export interface CloudRuntime {
  metrics: Metrics;
  validator?: TokenValidator;
  tools: ToolDefinition[];
  /** Shared state: Redis with REDIS_URL, else memory. */
  store: SharedStore;
  /** Counters of the MCP rate limit, shared through the store (falling back to memory). */
  rateLimitStore?: RateLimitStore & { close?(): void };
  /** Access tokens revoked through the OAuth proxy, mirrored locally; only with the proxy. */
  revocations?: RevocationList;
  idp?: IdpClient;
  oauthProxy?: OAuthProxy;
}

/**
 * Builds what `seed-mcp cloud` runs from its config: the metrics registry, the token validator
 * (reporting JWKS refreshes and cache hits to the metrics) and the tool list (built-in tools, and
 * the document tools when their directories are set). The CLI and the tests wire it the same way.
 */
export function createCloudRuntime(config: CloudConfig, options: { collectDefaultMetrics?: boolean; logger?: Logger; fetch?: typeof fetch } = {}): CloudRuntime {
  const metrics = createMetrics({ collectDefault: options.collectDefaultMetrics ?? true });
  const logger = options.logger ?? silentLogger;
  const store = createStore({ ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}), prefix: config.redisKeyPrefix, metrics, logger });
  const proxyEnabled = config.oauthProxy.enabled;
  // Tokens are only ever revoked through the proxy's /oauth/revoke: without it there is no list.
  const revocations = proxyEnabled ? createRevocationList(store, { failMode: config.revocationFailMode, logger }) : undefined;
  const validator = config.authRequired
    ? createTokenValidator({
        allowedIssuers: config.allowedIssuers,
        audiences: config.audiences,
        jwksCacheTtlSec: config.jwksCacheTtlSec,
        onJwksFetch: (_issuer, result) => metrics.jwksRefresh(result),
        // A verification answered from the verified-token cache needs no key lookup at all.
        onCacheHit: () => metrics.jwksCacheHit(),
        onCacheMiss: () => metrics.jwksCacheMiss(),
        ...(revocations ? { isRevoked: (token) => revocations.isRevoked(token.tokenId) } : {}),
      })
    : undefined;
  const tools = [...builtinTools(), ...documentTools({ checklistDir: config.checklistDir, processDir: config.processDir })];
  const rateLimitStore = config.rateLimit.enabled
    ? config.redisUrl
      ? createSharedRateLimitStore(store, { fallback: createMemoryRateLimitStore(), logger })
      : createMemoryRateLimitStore()
    : undefined;
  let idp: IdpClient | undefined;
  let oauthProxy: OAuthProxy | undefined;
  if (proxyEnabled) {
    const baseUrl = config.baseUrl.replace(/\/$/, '');
    const issuer = config.allowedIssuers[0] ?? new URL(config.oauthAuthorizationUrl!).origin;
    idp = createIdpClient({
      issuer,
      clientId: config.oauthProxy.clientId!,
      ...(config.oauthProxy.clientSecret ? { clientSecret: config.oauthProxy.clientSecret } : {}),
      ...(config.oauthProxy.clientAuthMethod ? { authMethod: config.oauthProxy.clientAuthMethod } : {}),
      redirectUri: `${baseUrl}${OAUTH_PATHS.callback}`,
      ...(config.oauthAuthorizationUrl ? { authorizationUrl: config.oauthAuthorizationUrl } : {}),
      ...(config.oauthTokenUrl ? { tokenUrl: config.oauthTokenUrl } : {}),
    });
    oauthProxy = createOAuthProxy({
      baseUrl,
      acceptedResources: [...new Set([...config.audiences, `${baseUrl}/mcp`])],
      scopesSupported: config.scopesSupported,
      ...(config.oauthProxy.idpResource ? { idpResource: config.oauthProxy.idpResource } : {}),
      dcr: { ttlSec: config.oauthProxy.dcrClientTtlSec, rateLimitMax: config.oauthProxy.dcrRateLimitMax },
      trustProxy: config.trustProxy,
      store,
      clients: createClientRegistry({ store, ttlSec: config.oauthProxy.dcrClientTtlSec, ...(options.fetch ? { fetch: options.fetch } : {}) }),
      idp,
      ...(validator ? { validator } : {}),
      ...(revocations ? { revocations } : {}),
      metrics,
      logger,
    });
  }
  return { metrics, validator, tools, store, rateLimitStore, revocations, idp, oauthProxy };
}

/** The server options for a runtime. */
export function serverOptions(config: CloudConfig, runtime: CloudRuntime, logger: Logger, version: string, policy?: CloudServerOptions['policy']): CloudServerOptions {
  return {
    config,
    validator: runtime.validator,
    tools: runtime.tools,
    metrics: runtime.metrics,
    logger,
    version,
    store: runtime.store,
    ...(runtime.rateLimitStore ? { rateLimitStore: runtime.rateLimitStore } : {}),
    ...(runtime.revocations ? { revocations: runtime.revocations } : {}),
    ...(runtime.idp ? { idp: runtime.idp } : {}),
    ...(runtime.oauthProxy ? { oauthProxy: runtime.oauthProxy } : {}),
    ...(policy ? { policy } : {}),
  };
}
