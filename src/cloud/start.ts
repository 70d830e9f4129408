/**
 * `startCloud(config, deps)`: the one start-up of `seed-mcp cloud`, used by the CLI, the demo and
 * the tests. It creates every resource the server runs on from the validated config — the policy
 * watcher, metrics, the shared store, the revocation list, the token validator, the rate limiter,
 * the OAuth proxy, the MCP servers — wires them into the route table, listens, and closes exactly
 * what it created, in reverse order. A resource the caller passes in (`deps.policy`) stays the
 * caller's to close.
 */
import type { Logger } from '../shared/logger.js';
import { documentTools } from '../shared/tools/documents/index.js';
import { builtinTools } from '../shared/tools/registry.js';
import { createTokenValidator, type TokenValidator } from './auth/validator.js';
import type { CloudConfig } from './config.js';
import { createCors } from './cors.js';
import { healthRoutes } from './http/health.js';
import { createAuthenticate } from './http/mcp/authenticate.js';
import { createMcpDispatch } from './http/mcp/dispatch.js';
import { createRateLimitStep, type RateLimitStep } from './http/mcp/rate-limit.js';
import { MCP_PATH, mcpRoute } from './http/mcp/route.js';
import { PRM_PATH, protectedResourceMetadata, protectedResourceRoutes } from './http/protected-resource.js';
import { createHostCheck } from './http/request-checks.js';
import { createRouter, type Route } from './http/router.js';
import { listenHttp } from './http/server.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createClientRegistry } from './oauth/clients.js';
import { createIdpClient, type IdpClient } from './oauth/idp.js';
import { createOAuthProxy, OAUTH_PATHS } from './oauth/proxy.js';
import { signingKeys, type SigningKeys } from './oauth/signing-keys.js';
import type { ToolPolicy } from './policy.js';
import type { Gateway, GatewayDeps } from './gateway/gateway.js';
import { CHILD_PREFIX } from './gateway/types.js';
import { createMemoryRateLimitStore, createRateLimiter } from './rate-limit.js';
import { createStore } from './store/index.js';
import { createSharedRateLimitStore } from './store/rate-limit-store.js';
import { createRevocationList, type RevocationList } from './store/revocations.js';
import type { SharedStore } from './store/types.js';

export interface CloudDeps {
  logger: Logger;
  version: string;
  /**
   * The tool policy in force, owned (and closed) by the caller. Absent: `TOOL_POLICY_FILE` is
   * watched here, and a policy that does not load stops start-up.
   */
  policy?: { current(): ToolPolicy };
  /** prom-client's default process metrics; true unless set (tests turn them off). */
  collectDefaultMetrics?: boolean;
  /** Test seam: the fetch of client metadata documents. */
  fetch?: typeof fetch;
  /** How long in-flight requests may finish after close(); 10 s unless set. */
  shutdownGraceMs?: number;
  /** Test seam: how long a client may take to send its headers and its request (15 s, 60 s). */
  httpTimeouts?: { headersMs: number; requestMs: number };
  /** Test seams for the sessions of initialize-era clients. */
  sessionClock?: () => number;
  sessionSweepMs?: number;
  /** Test seam: gateway children's list cache, breaker and restart timings. */
  gatewayChild?: GatewayDeps['child'];
}

export interface RunningCloud {
  /** Where it listens, for a client on this machine (`0.0.0.0` reads as 127.0.0.1). */
  url: string;
  port: number;
  /** Graceful stop: readiness 503, refuse new requests, let in-flight ones finish, close everything started here. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts `seed-mcp cloud`.
 *
 * @throws the policy file's `CONFIG_INVALID` error, or the listen error (`EADDRINUSE`, `EACCES`),
 *   after closing whatever it had created.
 *
 * @example
 * ```ts
 * const cloud = await startCloud(loadCloudConfig(process.env), { logger, version });
 * process.once('SIGTERM', () => void cloud.close());
 * ```
 */
export async function startCloud(config: CloudConfig, deps: CloudDeps): Promise<RunningCloud> {
  const { logger } = deps;
  // Closed in reverse order of creation, on close() or when start-up fails half-way.
  const closers: Array<() => unknown> = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    // Span export (OTEL_EXPORTER_OTLP_ENDPOINT): the OpenTelemetry SDK is loaded only then. Closed
    // last, after the HTTP server, so that the spans of the last requests are flushed.
    const tracing = config.tracing ? await (await import('./tracing.js')).startTracing(config.tracing, { logger, version: deps.version }) : undefined;
    if (tracing) closers.push(() => tracing.close());
    let policy = deps.policy;
    if (!policy && config.toolPolicyFile) {
      const watcher = await (await import('./policy.js')).watchPolicy(config.toolPolicyFile, { logger });
      closers.push(() => watcher.close());
      policy = watcher;
    }
    const baseUrl = config.baseUrl.replace(/\/$/, '');
    const mcpUrl = `${baseUrl}${MCP_PATH}`;
    const errorContext = { resourceMetadataUrl: `${baseUrl}${PRM_PATH}${MCP_PATH}` };
    const metrics = createMetrics({ collectDefault: deps.collectDefaultMetrics ?? true });
    // Gateway mode: the children of UPSTREAMS_FILE, kept current as the file changes.
    const gatewayStarted = config.upstreamsFile
      ? await startGateway(config, {
          policy,
          logger,
          metrics,
          version: deps.version,
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
          ...(deps.gatewayChild ? { child: deps.gatewayChild } : {}),
        })
      : undefined;
    if (gatewayStarted) closers.push(() => gatewayStarted.close());
    const gateway = gatewayStarted?.gateway;
    // A token for a child's own endpoint names it as its audience (and the child may name more).
    const ownAudiences = new Set(config.audiences);
    const acceptsAudience = gateway
      ? (aud: string) =>
          ownAudiences.has(aud) ||
          (aud.startsWith(`${baseUrl}${CHILD_PREFIX}`) && gateway.spec(aud.slice(baseUrl.length + CHILD_PREFIX.length)) !== undefined) ||
          gateway.names().some((n) => gateway.spec(n)?.audiences?.includes(aud) === true)
      : undefined;

    const store = createStore({
      ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
      prefix: config.redisKeyPrefix,
      replicaAck: config.redisReplicaAck,
      ...(config.redisReplicaAckTimeoutMs === undefined ? {} : { replicaWaitMs: config.redisReplicaAckTimeoutMs }),
      metrics,
      logger,
    });
    closers.push(() => store.close());
    const proxyEnabled = config.oauthProxy.enabled;
    // Tokens are only ever revoked through the proxy's /oauth/revoke: without it there is no list.
    const revocations = proxyEnabled
      ? createRevocationList(store, { failMode: config.revocationFailMode, maxStalenessMs: config.revocationMaxStalenessSec * 1000, logger })
      : undefined;
    if (revocations) closers.push(() => revocations.close());
    // The proxy's own keys: it signs the access tokens it issues, and this server accepts them.
    const signing = proxyEnabled ? signingKeys(config.oauthProxy.signingKeys) : undefined;
    const validator = config.authRequired
      ? createTokenValidator({
          allowedIssuers: config.allowedIssuers,
          ...(signing ? { localIssuers: [{ issuer: baseUrl, jwks: signing.jwks }] } : {}),
          audiences: config.audiences,
          ...(acceptsAudience ? { acceptsAudience } : {}),
          jwksCacheTtlSec: config.jwksCacheTtlSec,
          logger,
          onJwksFetch: (_issuer, result) => metrics.jwksRefresh(result),
          // A verification answered from the verified-token cache needs no key lookup at all.
          onCacheHit: () => metrics.jwksCacheHit(),
          onCacheMiss: () => metrics.jwksCacheMiss(),
          // Opaque access tokens (INTROSPECTION): RFC 7662 at the issuers' introspection endpoints.
          introspection: { ...config.introspection, onIntrospection: (result, seconds) => metrics.tokenIntrospection(result, seconds) },
          ...(revocations ? { isRevoked: (token) => revocations.isRevoked(token.tokenId) } : {}),
        })
      : undefined;
    if (validator) closers.push(() => validator.close());

    const routes: Route[] = [];
    const proxy = signing ? createProxy(config, { baseUrl, mcpUrl, store, validator, revocations, signing, metrics, logger, fetch: deps.fetch }) : undefined;
    if (proxy) routes.push(...proxy.routes);
    const idp = proxy?.idp;
    if (idp) closers.push(async () => idp.close());

    let limit: RateLimitStep | undefined;
    if (config.rateLimit.enabled) {
      // Per-replica counters: the store itself without Redis, the fallback while Redis is away.
      const local = createMemoryRateLimitStore();
      closers.push(() => local.close());
      const counters = config.redisUrl ? createSharedRateLimitStore(store, { fallback: local, logger }) : local;
      const { max, windowMs } = config.rateLimit;
      limit = createRateLimitStep({ limiter: createRateLimiter({ store: counters, max, windowMs }), max, windowMs, trustProxy: config.trustProxy, logger, metrics });
    }

    const tools = [...builtinTools(), ...documentTools({ checklistDir: config.checklistDir, processDir: config.processDir })];
    const access = { authRequired: config.authRequired, ...(policy ? { policy } : {}) };
    const dispatchDeps = {
      version: deps.version,
      access,
      logger,
      metrics,
      sessions: {
        ttlSec: config.sessionTtlSec,
        max: config.maxSessions,
        ...(store.backend === 'redis' ? { store } : {}),
        ...(deps.sessionClock ? { now: deps.sessionClock } : {}),
        ...(deps.sessionSweepMs ? { sweepMs: deps.sessionSweepMs } : {}),
      },
    };
    const mcp = await createMcpDispatch({ ...dispatchDeps, tools, ...(gateway ? { upstream: gateway.aggregate } : {}) });
    closers.push(() => mcp.close());
    const cors = createCors({ allowedOrigins: [new URL(baseUrl).origin, ...config.corsExtraOrigins] });
    const authenticate = createAuthenticate({ ...(validator ? { validator } : {}), authRequired: config.authRequired, logger, metrics });
    const authorizationServers = proxyEnabled ? [baseUrl] : config.allowedIssuers;
    if (gateway) {
      const { gatewayRoutes } = await import('./gateway/routes.js');
      const childRoutes = gatewayRoutes({
        gateway,
        baseUrl,
        authorizationServers,
        proxyEnabled,
        authRequired: config.authRequired,
        ...(policy ? { policy } : {}),
        cors,
        authenticate,
        ...(limit ? { rateLimit: limit } : {}),
        dispatch: dispatchDeps,
        logger,
        metrics,
      });
      gatewayStarted!.onUpdate(() => void childRoutes.prune());
      closers.push(() => childRoutes.close());
      routes.push(...childRoutes.routes);
    }

    let shuttingDown = () => false;
    routes.push(
      ...healthRoutes({
        authRequired: config.authRequired,
        ...(validator ? { validator } : {}),
        store,
        sessions: mcp.sessions,
        ...(revocations ? { revocations } : {}),
        revocationFailMode: config.revocationFailMode,
        ...(idp ? { idp } : {}),
        ...(gateway ? { children: () => gateway.health() } : {}),
        shuttingDown: () => shuttingDown(),
      }),
      ...protectedResourceRoutes(
        protectedResourceMetadata({
          resource: config.audiences[0] ?? mcpUrl,
          // With the proxy, MCP clients are sent to it; it sends the browser on to the IdP.
          authorizationServers,
          scopesSupported: config.scopesSupported,
        }),
        MCP_PATH,
      ),
      mcpRoute({
        cors,
        authenticate,
        ...(limit ? { rateLimit: limit } : {}),
        ...(config.authRequired ? { toolAccess: { tools: new Map(tools.map((t) => [t.name, t])), access, logger, metrics } } : {}),
        mcp,
      }),
    );
    if (config.metrics.enabled) {
      const { metricsHandler } = await import('./http/metrics-route.js');
      routes.push({ path: '/metrics', anyHost: true, handle: metricsHandler(metrics, { token: config.metrics.token }) });
    }

    // The mirror of revoked tokens is loaded before the first request; with Redis down it stays
    // untrusted (REVOCATION_FAIL_MODE decides) and loads as soon as Redis answers.
    await revocations?.start().catch((err: Error) => logger.warn(`could not load the revocation list yet: ${err.message}`, { event: 'revocation_unavailable' }));
    const checkHost = createHostCheck(config.allowedHosts, { trustProxy: config.trustProxy });
    const http = await listenHttp({
      router: createRouter(routes, errorContext),
      host: config.host,
      port: config.port,
      errorContext,
      mcpUrl,
      checkHost,
      logger,
      metrics,
      ...(deps.httpTimeouts ? { timeouts: deps.httpTimeouts } : {}),
      ...(tracing ? { tracing } : {}),
    });
    shuttingDown = http.shuttingDown;
    closers.push(() => http.close(deps.shutdownGraceMs ?? 10_000));
    void idp?.warm();
    // Fetch the issuers' keys now, not on the first request, and keep them loaded (retried with
    // backoff while an IdP is down, so the replica turns ready by itself); readiness reports how.
    void validator?.warm();
    logger.info(`seed-mcp cloud listening on ${config.host}:${http.port}`, { event: 'listening', mcp: mcpUrl, issuers: config.allowedIssuers.length });

    let closing: Promise<void> | undefined;
    return {
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${http.port}`,
      port: http.port,
      close() {
        closing ??= closeAll().then(() => logger.info('seed-mcp cloud stopped', { event: 'stopped' }));
        return closing;
      },
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}

/** Gateway mode: the upstreams file, watched, and the children it names. */
async function startGateway(
  config: CloudConfig,
  parts: { policy: { current(): ToolPolicy } | undefined; logger: Logger; metrics: Metrics; version: string; fetch?: typeof fetch; child?: GatewayDeps['child'] },
): Promise<{ gateway: Gateway; onUpdate(listener: () => void): void; close(): Promise<void> }> {
  const [{ watchUpstreams }, { createGateway }] = await Promise.all([import('./gateway/upstreams-file.js'), import('./gateway/gateway.js')]);
  const listeners: Array<() => void> = [];
  let gateway: Gateway | undefined;
  const watcher = await watchUpstreams(
    config.upstreamsFile!,
    { allowedIssuers: config.allowedIssuers },
    {
      logger: parts.logger,
      onChange: (next) => {
        gateway?.update(next);
        for (const listener of listeners) listener();
      },
    },
  );
  try {
    gateway = createGateway(watcher.current(), {
      logger: parts.logger,
      metrics: parts.metrics,
      version: parts.version,
      authRequired: config.authRequired,
      ...(parts.policy ? { policy: parts.policy } : {}),
      ...(parts.fetch ? { fetch: parts.fetch } : {}),
      ...(parts.child ? { child: parts.child } : {}),
    });
  } catch (err) {
    watcher.close();
    throw err;
  }
  const started = gateway;
  return {
    gateway: started,
    onUpdate: (listener) => listeners.push(listener),
    async close() {
      watcher.close();
      await started.close();
    },
  };
}

/** The OAuth proxy (OAUTH_PROXY_ENABLED) and its client at the IdP. */
function createProxy(
  config: CloudConfig,
  parts: {
    baseUrl: string;
    mcpUrl: string;
    store: SharedStore;
    validator: TokenValidator | undefined;
    revocations: RevocationList | undefined;
    signing: SigningKeys;
    metrics: Metrics;
    logger: Logger;
    fetch: typeof fetch | undefined;
  },
): { idp: IdpClient; routes: Route[] } {
  const { baseUrl, store, validator, revocations } = parts;
  const issuer = config.allowedIssuers[0] ?? new URL(config.oauthAuthorizationUrl!).origin;
  const idp = createIdpClient({
    issuer,
    clientId: config.oauthProxy.clientId!,
    ...(config.oauthProxy.clientSecret ? { clientSecret: config.oauthProxy.clientSecret } : {}),
    ...(config.oauthProxy.clientAuthMethod ? { authMethod: config.oauthProxy.clientAuthMethod } : {}),
    redirectUri: `${baseUrl}${OAUTH_PATHS.callback}`,
    logger: parts.logger,
    ...(config.oauthAuthorizationUrl ? { authorizationUrl: config.oauthAuthorizationUrl } : {}),
    ...(config.oauthTokenUrl ? { tokenUrl: config.oauthTokenUrl } : {}),
  });
  const proxy = createOAuthProxy({
    baseUrl,
    acceptedResources: [...new Set([...config.audiences, parts.mcpUrl])],
    scopesSupported: config.scopesSupported,
    ...(config.oauthProxy.idpResource ? { idpResource: config.oauthProxy.idpResource } : {}),
    dcr: { ttlSec: config.oauthProxy.dcrClientTtlSec, rateLimitMax: config.oauthProxy.dcrRateLimitMax },
    consent: config.oauthProxy.consent,
    signing: parts.signing,
    tokenTtl: { accessSec: config.oauthProxy.accessTokenTtlSec, refreshSec: config.oauthProxy.refreshTokenTtlSec },
    trustProxy: config.trustProxy,
    store,
    clients: createClientRegistry({
      store,
      ttlSec: config.oauthProxy.dcrClientTtlSec,
      fetchAllowedHosts: config.fetchAllowedHosts,
      logger: parts.logger,
      ...(parts.fetch ? { fetch: parts.fetch } : {}),
    }),
    idp,
    ...(validator ? { validator } : {}),
    ...(revocations ? { revocations } : {}),
    metrics: parts.metrics,
    logger: parts.logger,
  });
  return { idp, routes: proxy.routes };
}
