import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from './metrics.js';
import { createServerFactory, createToolRunner, type ServerFactoryOptions } from '../shared/mcp/server-factory.js';
import { ToolError, type Caller, type ToolDefinition } from '../shared/tools/types.js';
import { sendAuthFailure, type AuthFailure } from './challenge.js';
import type { CloudConfig } from './config.js';
import type { TokenValidator, VerifiedToken } from './auth/validator.js';
import type { ToolPolicy } from './policy.js';
import { createCors } from './cors.js';
import { createSessions } from './sessions.js';
import { createFastPath, fastPathEligible } from './fast-path.js';
import { clientIp, createMemoryRateLimitStore, createRateLimiter, rateLimitHeaders, rateLimitKey, type RateLimitStore } from './rate-limit.js';
import { OAUTH_PATHS, type OAuthProxy } from './oauth/proxy.js';
import type { IdpClient } from './oauth/idp.js';
import type { RevocationList } from './store/revocations.js';
import type { SharedStore } from './store/types.js';

/** The most a POST /mcp body may hold. */
export const MAX_BODY_BYTES = 1024 * 1024;
const MCP_PATH = '/mcp';
const PRM_PATH = '/.well-known/oauth-protected-resource';

export interface CloudServerOptions {
  config: CloudConfig;
  /** Absent only with AUTH_REQUIRED=false. */
  validator?: TokenValidator;
  tools: ToolDefinition[];
  logger: Logger;
  version: string;
  /** How long in-flight requests may finish after SIGTERM. */
  shutdownGraceMs?: number;
  /** Prometheus metrics; /metrics serves them when METRICS_ENABLED. */
  metrics?: Metrics;
  /** TOOL_POLICY_FILE rules (reloaded by their watcher); absent = scopes alone decide. */
  policy?: { current(): ToolPolicy };
  /** Shared state (Redis or memory); closed with the server. */
  store?: SharedStore;
  /** Counters of the MCP rate limit; a memory store unless given. */
  rateLimitStore?: RateLimitStore & { close?(): void };
  /** The revocation list the validator consults; started before listening. */
  revocations?: RevocationList;
  /** The OAuth proxy (OAUTH_PROXY_ENABLED) and its IdP client. */
  oauthProxy?: OAuthProxy;
  idp?: IdpClient;
  /** Test seams for the sessions of initialize-era clients. */
  sessionClock?: () => number;
  sessionSweepMs?: number;
}

export interface CloudServer {
  url: string;
  port: number;
  /** Graceful stop: readiness 503, refuse new requests, let in-flight ones finish, close. */
  close(): Promise<void>;
}

const ANONYMOUS: Caller = { subject: 'anonymous', issuer: 'none', scopes: [] };

/** The caller the auth layer put into `authInfo`; anonymous only with AUTH_REQUIRED=false. */
const callerOf = (authInfo: AuthInfo | undefined): Caller => (authInfo?.extra as { caller?: Caller } | undefined)?.caller ?? ANONYMOUS;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/** Missing scopes of `tool` for `scopes`; empty when allowed. */
function missingScopes(tool: ToolDefinition, scopes: readonly string[]): string[] {
  return (tool.requiredScopes ?? []).filter((s) => !scopes.includes(s));
}

/**
 * `seed-mcp cloud`: Streamable-HTTP MCP at /mcp (2026-07-28, and `initialize`-era clients through
 * the SDK's stateless fallback) behind bearer-token validation, with RFC 9728 metadata, health and
 * readiness. Plain `node:http`: no framework on the hot path.
 */
export async function startCloudServer(options: CloudServerOptions): Promise<CloudServer> {
  const { config, validator, logger, metrics } = options;
  const serveMetrics = metrics && config.metrics.enabled ? (await import('./http/metrics-route.js')).metricsHandler(metrics, { token: config.metrics.token }) : undefined;
  const [{ createMcpHandler, isInitializeRequest }, { toNodeHandler }] = await Promise.all([import('@modelcontextprotocol/server'), import('@modelcontextprotocol/node')]);
  const baseUrl = config.baseUrl.replace(/\/$/, '');
  const resource = config.audiences[0] ?? `${baseUrl}${MCP_PATH}`;
  const resourceMetadataUrl = `${baseUrl}${PRM_PATH}${MCP_PATH}`;
  const toolsByName = new Map(options.tools.map((t) => [t.name, t]));
  const cors = createCors({ allowedOrigins: [new URL(baseUrl).origin, ...config.corsExtraOrigins] });
  const rateStore = config.rateLimit.enabled ? (options.rateLimitStore ?? createMemoryRateLimitStore()) : undefined;
  const { oauthProxy, revocations, store, idp } = options;
  // With the proxy, MCP clients are sent to it; it sends the browser on to the IdP.
  const authorizationServers = oauthProxy ? [baseUrl] : config.allowedIssuers;
  const limiter = rateStore ? createRateLimiter({ store: rateStore, max: config.rateLimit.max, windowMs: config.rateLimit.windowMs }) : undefined;

  const factoryOptions: ServerFactoryOptions = {
    info: { name: 'seed-mcp', version: options.version },
    mode: 'cloud',
    tools: options.tools,
    callerFrom: async (ctx) => callerOf(ctx.http?.authInfo),
    // The HTTP layer already answered 403 for missing scopes; this keeps a tool safe however it is reached.
    authorize: (tool, caller) => {
      const missing = missingScopes(tool, caller.scopes);
      if (config.authRequired && missing.length > 0) throw new ToolError(`${tool.name} needs the scopes: ${missing.join(' ')}`);
      const decision = options.policy?.current().evaluate(tool.name, caller);
      if (decision && !decision.allowed) throw new ToolError(decision.reason);
    },
    logger,
    onToolCall: (tool, status, seconds) => metrics?.toolCall(tool, status, seconds),
  };
  const factory = createServerFactory(factoryOptions);
  const fast = await createFastPath(factory(), { runner: createToolRunner(factoryOptions), callerOf });
  const sessions = createSessions({
    ttlSec: config.sessionTtlSec,
    max: config.maxSessions,
    factory,
    logger,
    metrics,
    now: options.sessionClock,
    sweepMs: options.sessionSweepMs,
    ...(options.store?.backend === 'redis' ? { store: options.store } : {}),
  });
  const mcp = createMcpHandler(factory, { onerror: (err) => logger.warn(`mcp: ${err.message}`) });
  const mcpNode = toNodeHandler(mcp, { onerror: (err) => logger.warn(`mcp adapter: ${err.message}`), maxRequestBodySize: MAX_BODY_BYTES });

  let shuttingDown = false;
  let inflight = 0;
  let drained: (() => void) | undefined;

  const audit = (event: 'token_validated' | 'cloud_auth_failed', fields: Record<string, unknown>) =>
    (event === 'cloud_auth_failed' ? logger.warn : logger.info)(event, { event, ...fields });
  // What each request with a verified token needs of it, built once per token: the verified-token
  // cache hands back the same frozen VerifiedToken for every request that presents the token.
  interface Authenticated {
    verified?: VerifiedToken;
    /** What the SDK's handlers and the tools receive. */
    info?: AuthInfo;
  }
  const perToken = new WeakMap<VerifiedToken, { audit: () => void; auth: Authenticated }>();
  const authenticatedOf = (token: string, v: VerifiedToken) => {
    let known = perToken.get(v);
    if (!known) {
      const info: AuthInfo = { token, clientId: v.clientId ?? v.subject, scopes: v.scopes, ...(v.expiresAt ? { expiresAt: v.expiresAt } : {}), extra: { caller: v.caller } };
      known = {
        audit: logger.prepare('info', 'token_validated', { event: 'token_validated', subject: v.subject, issuer: v.issuer, client_id: v.clientId }),
        auth: { verified: v, info },
      };
      perToken.set(v, known);
    }
    return known;
  };
  const NO_AUTH: Authenticated = {};

  const succeeded = (token: string, verified: VerifiedToken, started: number): Authenticated => {
    metrics?.authAttempt('success', 'none', (performance.now() - started) / 1000);
    const known = authenticatedOf(token, verified);
    known.audit();
    return known.auth;
  };

  /** The request's caller, or undefined once a failure has been answered. Synchronous for a cached token. */
  function authenticate(req: IncomingMessage, res: ServerResponse): Authenticated | undefined | Promise<Authenticated | undefined> {
    if (!config.authRequired || !validator) return NO_AUTH;
    const started = performance.now();
    try {
      const answer = validator.authenticate(req.headers.authorization);
      if (!(answer instanceof Promise)) return succeeded(answer.token, answer.verified, started);
      return answer.then(
        ({ token, verified }) => succeeded(token, verified, started),
        (err: unknown) => refuse(err, req, res, started),
      );
    } catch (err) {
      return refuse(err, req, res, started);
    }
  }

  function refuse(err: unknown, req: IncomingMessage, res: ServerResponse, started: number): undefined {
    if (err instanceof Error && err.name === 'RevocationUnavailableError') {
      // Fail closed (REVOCATION_FAIL_MODE=closed): the shared revocation list cannot be trusted now.
      logger.error(`could not check a token against the revocation list: ${err.message}`, { event: 'revocation_unavailable' });
      json(
        res,
        503,
        {
          error: 'REVOCATION_UNAVAILABLE',
          error_description: 'the revocation list cannot be checked right now',
          message: 'Action: retry shortly; operators: check Redis in /health/ready (or set REVOCATION_FAIL_MODE=open)',
        },
        { 'retry-after': '5' },
      );
      return undefined;
    }
    if (err instanceof Error && err.name === 'JwksUnavailableError') {
      // Not the caller's fault: the IdP's keys cannot be had right now.
      logger.error(`could not verify a token: ${err.message}`, { event: 'jwks_unavailable' });
      json(
        res,
        503,
        {
          error: 'JWKS_UNAVAILABLE',
          error_description: 'the signing keys of the token issuer cannot be fetched',
          message: 'Action: retry shortly; operators: check /health/ready and the IdP',
        },
        { 'retry-after': '5' },
      );
      return undefined;
    }
    const e = err as Partial<AuthFailure> & Error;
    if (!e.code || !e.status) throw err;
    metrics?.authAttempt('failure', e.code, (performance.now() - started) / 1000);
    audit('cloud_auth_failed', { code: e.code, reason: e.description, ip: req.socket.remoteAddress });
    sendAuthFailure(res, { status: e.status, code: e.code, description: e.description ?? e.message, action: e.action ?? 'sign in again', scope: e.scope }, resourceMetadataUrl);
    return undefined;
  }

  function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > MAX_BODY_BYTES) return resolve('too-large');
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        // Past the cap: keep nothing more, answer 413 with Connection: close (Node then closes
        // the socket after the answer; destroying it now would leave the client a bare reset).
        if (size > MAX_BODY_BYTES) resolve('too-large');
        else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (cors.preflight(req, res)) return;
    const origin = req.headers.origin;
    // DNS rebinding: a browser page on another origin must not drive this server.
    if (origin && !cors.isAllowed(origin)) {
      json(res, 403, { error: 'forbidden_origin', message: `Action: origin ${origin} is not allowed; add it to CORS_EXTRA_ORIGINS if it should be` }, { vary: 'Origin' });
      return;
    }
    cors.apply(req, res);
    const pending = authenticate(req, res);
    const auth = pending instanceof Promise ? await pending : pending;
    if (!auth) return;
    if (limiter) {
      // Per principal when signed in, else per client address.
      const v = auth.verified;
      const key = rateLimitKey({ subject: v?.subject, issuer: v?.issuer, ip: clientIp(req, config.trustProxy) });
      const result = await limiter.check(key);
      for (const [name, value] of Object.entries(rateLimitHeaders(result, config.rateLimit.max))) res.setHeader(name, value);
      if (!result.allowed) {
        metrics?.rateLimitHit();
        metrics?.authAttempt('failure', 'RATE_LIMITED');
        audit('cloud_auth_failed', { code: 'RATE_LIMITED', subject: v?.subject });
        sendAuthFailure(
          res,
          {
            status: 429,
            code: 'RATE_LIMITED',
            description: `more than ${config.rateLimit.max} requests in ${config.rateLimit.windowMs / 1000} s`,
            action: `wait ${result.retryAfterSec} s before retrying`,
            retryAfterSec: result.retryAfterSec,
          },
          resourceMetadataUrl,
        );
        return;
      }
    }
    let parsed: unknown;
    if (req.method === 'POST') {
      const body = await readBody(req);
      if (body === 'too-large') {
        json(res, 413, { jsonrpc: '2.0', error: { code: -32600, message: `request body over ${MAX_BODY_BYTES} bytes` }, id: null }, { connection: 'close' });
        return;
      }
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        json(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: the body is not JSON' }, id: null });
        return;
      }
      // Per-tool scopes answer at the HTTP level, as 403 insufficient_scope naming every needed scope.
      if (config.authRequired) {
        for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
          const m = message as { method?: unknown; params?: { name?: unknown } };
          if (m?.method !== 'tools/call' || typeof m.params?.name !== 'string') continue;
          const tool = toolsByName.get(m.params.name);
          if (!tool) continue;
          if (missingScopes(tool, auth.verified?.scopes ?? []).length > 0) {
            const scope = (tool.requiredScopes ?? []).join(' ');
            audit('cloud_auth_failed', { code: 'INSUFFICIENT_SCOPE', subject: auth.verified?.subject, tool: tool.name });
            metrics?.authAttempt('failure', 'INSUFFICIENT_SCOPE');
            sendAuthFailure(
              res,
              {
                status: 403,
                code: 'INSUFFICIENT_SCOPE',
                description: `the tool ${tool.name} needs the scopes ${scope}`,
                action: `sign in again asking for the scopes: ${scope}`,
                scope,
              },
              resourceMetadataUrl,
            );
            return;
          }
          const decision = options.policy?.current().evaluate(tool.name, auth.verified?.caller ?? ANONYMOUS);
          if (decision && !decision.allowed) {
            audit('cloud_auth_failed', { code: 'ACCESS_DENIED', subject: auth.verified?.subject, tool: tool.name });
            metrics?.authAttempt('failure', 'ACCESS_DENIED');
            sendAuthFailure(
              res,
              {
                status: 403,
                code: 'ACCESS_DENIED',
                description: `the tool policy does not allow ${tool.name} for this caller`,
                action: `ask the server's operator for access to ${tool.name} (${decision.reason})`,
              },
              resourceMetadataUrl,
            );
            return;
          }
        }
      }
    }
    const v = auth.verified;
    const info = auth.info;
    if (req.method === 'POST' && fastPathEligible(req, parsed)) {
      json(res, 200, await fast.dispatch(parsed, info));
      return;
    }
    // Only the SDK's handlers read it; set late, as a new property changes the request's shape.
    if (info) (req as IncomingMessage & { auth?: AuthInfo }).auth = info;
    const owner = v ? `${v.issuer} ${v.subject}` : 'anonymous';
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      if (await sessions.ownedElsewhere(sessionId, owner)) {
        await answerForeignSession(req, res, sessionId, parsed, info);
        return;
      }
      if ((await sessions.handle(sessionId, req, res, parsed, owner)) === 'not-found') {
        json(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found: initialize a new session' }, id: null });
      }
      return;
    }
    if (req.method === 'POST' && isInitializeRequest(parsed)) {
      // initialize-era clients get a session (TTL, capacity); 2026-07-28 clients need none.
      if ((await sessions.open(req, res, parsed, owner)) === 'full') {
        json(res, 503, { jsonrpc: '2.0', error: { code: -32000, message: `session capacity reached (${config.maxSessions}); retry later` }, id: null }, { 'retry-after': '30' });
      }
      return;
    }
    await mcpNode(req, res, parsed);
  }

  /**
   * A request of a session another replica opened (no sticky sessions at the load balancer): its
   * requests are answered here by the long-lived server, as the fast path answers them, with the
   * session id echoed; notifications are accepted; DELETE ends it. A server-sent event stream
   * (GET) stays with the replica that holds the session.
   */
  async function answerForeignSession(req: IncomingMessage, res: ServerResponse, sessionId: string, parsed: unknown, info: AuthInfo | undefined): Promise<void> {
    const headers = { 'mcp-session-id': sessionId };
    if (req.method === 'DELETE') {
      await sessions.forget(sessionId);
      res.writeHead(200, headers).end();
      return;
    }
    if (req.method !== 'POST') {
      json(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'this replica does not hold the session stream' }, id: null }, { ...headers, allow: 'POST, DELETE' });
      return;
    }
    const message = parsed as { id?: unknown; method?: unknown } | undefined;
    if (message && !Array.isArray(message) && typeof message.method === 'string' && message.id === undefined) {
      res.writeHead(202, headers).end();
      return;
    }
    if (
      !message ||
      Array.isArray(message) ||
      typeof message.method !== 'string' ||
      (typeof message.id !== 'string' && typeof message.id !== 'number') ||
      message.method === 'initialize'
    ) {
      json(res, 400, { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request: one JSON-RPC request per POST in a session' }, id: null }, headers);
      return;
    }
    json(res, 200, await fast.dispatch(message as Parameters<typeof fast.dispatch>[0], info), headers);
  }

  function readiness(): { ok: boolean; body: Record<string, unknown> } {
    // An issuer with cached keys still serves (stale-if-error): not ready only when one has none.
    const jwks = (validator?.jwksStatus() ?? []).map((j) => ({ ...j, status: j.keys === 0 ? 'unavailable' : j.fresh && !j.lastError ? 'ok' : 'stale' }));
    const jwksOk = jwks.every((j) => j.keys > 0);
    const storeHealth = store?.health();
    const checks: Record<string, Record<string, unknown>> = {
      shutdown: { status: shuttingDown ? 'shutting_down' : 'ok' },
      jwks: { status: !config.authRequired ? 'disabled' : !jwksOk ? 'unavailable' : jwks.every((j) => j.status === 'ok') ? 'ok' : 'degraded', issuers: jwks },
      // Redis trouble degrades, it does not make the replica unready: every replica would see it
      // at once, and taking them all out of the load balancer would take the service down.
      redis:
        storeHealth?.backend === 'redis'
          ? { status: storeHealth.status, breaker: storeHealth.breaker, ...(storeHealth.lastError ? { lastError: storeHealth.lastError } : {}) }
          : { status: 'not_configured' },
      circuit_breaker: { status: storeHealth?.backend === 'redis' ? storeHealth.breaker : 'not_configured' },
      sessions: { status: sessions.size() < sessions.max ? 'ok' : 'full', active: sessions.size(), max: sessions.max },
    };
    if (revocations) checks.revocations = { ...revocations.health(), fail_mode: config.revocationFailMode };
    if (idp) checks.oauth_proxy = idp.status();
    const ok = !shuttingDown && (jwksOk || !config.authRequired);
    const degraded = Object.values(checks).some((c) => c.status === 'unavailable' || c.status === 'degraded' || c.status === 'open' || c.status === 'half-open');
    return { ok, body: { status: !ok ? 'unavailable' : degraded ? 'degraded' : 'ok', timestamp: new Date().toISOString(), checks } };
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health') {
      json(res, shuttingDown ? 503 : 200, { status: shuttingDown ? 'shutting_down' : 'ok', timestamp: new Date().toISOString() });
      return;
    }
    if (path === '/health/ready') {
      const r = readiness();
      json(res, r.ok ? 200 : 503, r.body);
      return;
    }
    if (shuttingDown) {
      json(res, 503, { error: 'shutting_down', message: 'Action: retry against another replica' }, { connection: 'close', 'retry-after': '1' });
      return;
    }
    if (path === PRM_PATH || path === `${PRM_PATH}${MCP_PATH}`) {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, OPTIONS', 'access-control-max-age': '600' }).end();
        return;
      }
      json(
        res,
        200,
        { resource, authorization_servers: authorizationServers, scopes_supported: config.scopesSupported, bearer_methods_supported: ['header'], resource_name: 'seed-mcp' },
        { 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' },
      );
      return;
    }
    if (path === MCP_PATH) {
      await handleMcp(req, res);
      return;
    }
    if (oauthProxy && (path.startsWith('/oauth/') || path === OAUTH_PATHS.metadata) && (await oauthProxy.handle(req, res, path))) return;
    if (path === '/metrics' && serveMetrics) {
      await serveMetrics(req, res);
      return;
    }
    json(res, 404, { error: 'not_found', message: `Action: the MCP endpoint is ${baseUrl}${MCP_PATH}` });
  }

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 60_000, headersTimeout: 15_000 }, (req, res) => {
    inflight++;
    const started = performance.now();
    res.once('close', () => {
      metrics?.httpRequest(req.method ?? 'GET', req.url ?? '/', res.statusCode, (performance.now() - started) / 1000);
      inflight--;
      if (inflight === 0) drained?.();
    });
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    route(req, res).catch((err: Error) => {
      logger.error(`request failed: ${err.message}`);
      if (!res.headersSent) json(res, 500, { error: 'internal_error', message: 'Action: retry; if it persists, see the server log' });
      else res.destroy();
    });
  });
  // The mirror of revoked tokens is loaded before the first request; with Redis down it stays
  // untrusted (REVOCATION_FAIL_MODE decides) and loads as soon as Redis answers.
  await revocations?.start().catch((err: Error) => logger.warn(`could not load the revocation list yet: ${err.message}`, { event: 'revocation_unavailable' }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  void idp?.warm();
  const { port } = server.address() as AddressInfo;
  // Fetch the issuers' keys now, not on the first request; readiness reports how it went.
  void validator?.warm();
  logger.info(`seed-mcp cloud listening on ${config.host}:${port}`, { event: 'listening', mcp: `${baseUrl}${MCP_PATH}`, issuers: config.allowedIssuers.length });

  let closing: Promise<void> | undefined;
  return {
    url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        server.close();
        server.closeIdleConnections();
        if (inflight > 0) {
          await new Promise<void>((resolve) => {
            drained = resolve;
            setTimeout(resolve, options.shutdownGraceMs ?? 10_000).unref();
          });
        }
        server.closeAllConnections();
        await sessions.closeAll();
        await fast.close();
        await mcp.close().catch(() => {});
        rateStore?.close?.();
        validator?.close();
        await revocations?.close();
        await store?.close();
        logger.info('seed-mcp cloud stopped', { event: 'stopped' });
      })();
      return closing;
    },
  };
}
