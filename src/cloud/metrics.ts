/**
 * The metrics layer of `seed-mcp cloud`: the Prometheus metrics
 * of the product contract (listed in test/deploy-files.test.ts, CONTRACT_METRICS), whose names existing dashboards and alert rules
 * use, behind small typed recording methods. Callers never touch prom-client and never choose a
 * label value: every value passes through a closed set here (or, for tool and breaker names, a
 * capped one), so no token, user id or raw path can become a label and cardinality stays bounded.
 * The contract's `token_refresh_attempts_total` and `token_refresh_duration_seconds` are not here:
 * they are the local bridge's (`seed-mcp serve --metrics-port`), which seed-mcp does not have.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AUTH_FAILURE_CODES } from './errors.js';

/** The value a label takes when what the caller passed is outside its closed set. */
export const OTHER = 'other';

/** Route labels: the paths of the cloud-mode HTTP surface; anything else is `other`. */
export const ROUTE_LABELS = [
  '/mcp',
  '/health',
  '/health/ready',
  '/metrics',
  '/.well-known/oauth-protected-resource',
  '/.well-known/oauth-authorization-server',
  '/oauth/authorize',
  '/oauth/authorize/callback',
  '/oauth/token',
  '/oauth/register',
  '/oauth/revoke',
  '/oauth/jwks',
  '/oauth/consent',
  '/oauth/consents',
] as const;
export type RouteLabel = (typeof ROUTE_LABELS)[number] | typeof OTHER;

/** Method labels; anything else is `OTHER`. */
export const METHOD_LABELS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'] as const;

/** The contract's authentication codes, the `code` label of a failed attempt: derived from the error table. */
export const AUTH_CODE_LABELS: readonly string[] = AUTH_FAILURE_CODES;

/** OAuth grant types counted by name; anything else is `other`. */
export const GRANT_TYPE_LABELS = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'] as const;

/** Redis commands counted by name (lower case); anything else is `other`. */
export const REDIS_OPERATION_LABELS = [
  'get',
  'set',
  'del',
  'exists',
  'expire',
  'pexpire',
  'ttl',
  'pttl',
  'incr',
  'incrby',
  'decr',
  'getdel',
  'mget',
  'mset',
  'hget',
  'hset',
  'hdel',
  'hgetall',
  'sadd',
  'srem',
  'sismember',
  'smembers',
  'zadd',
  'zrem',
  'zrangebyscore',
  'zremrangebyscore',
  'zcard',
  'eval',
  'evalsha',
  'scan',
  'publish',
  'subscribe',
  'ping',
  'multi',
  'exec',
  'connect',
  'quit',
] as const;

/** Distinct tool names kept as labels; later ones count as `other` (upstreams can have many). */
export const MAX_TOOL_LABELS = 200;
/** Distinct circuit-breaker names kept as labels; later ones count as `other`. */
export const MAX_BREAKER_LABELS = 32;
/** Longest tool or breaker name kept (MCP tool names are 1–128 characters); longer ones are cut. */
const MAX_NAME_LENGTH = 128;

/** Latency buckets in seconds, 1 ms … 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Outcome = 'success' | 'failure';
export type ToolStatus = 'success' | 'error';
/** How a session ended: closed by the client or at shutdown, idle-expired, evicted for capacity, or failed. */
export type SessionEnd = 'closed' | 'expired' | 'evicted' | 'error';
export type BreakerState = 'closed' | 'half-open' | 'open';
/** What an introspection endpoint said of a token, or `error` when it could not answer. */
export type IntrospectionOutcome = 'active' | 'inactive' | 'error';
/**
 * How a request to a gateway child ended: answered (`success`, or `error` for a tool error),
 * refused by the gateway before the child (`denied`), or not answered (`unavailable`: down, breaker
 * open or credential failure; `timeout`).
 */
export type ChildOutcome = 'success' | 'error' | 'denied' | 'unavailable' | 'timeout';
const CHILD_OUTCOMES: ReadonlySet<string> = new Set<ChildOutcome>(['success', 'error', 'denied', 'unavailable', 'timeout']);
/** Distinct child names kept as labels (the upstreams file's; later ones count as `other`). */
export const MAX_CHILD_LABELS = 64;

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
const OUTCOMES: ReadonlySet<string> = new Set<Outcome>(['success', 'failure']);
const TOOL_STATUSES: ReadonlySet<string> = new Set<ToolStatus>(['success', 'error']);
const SESSION_ENDS: ReadonlySet<string> = new Set<SessionEnd>(['closed', 'expired', 'evicted', 'error']);
const INTROSPECTION_OUTCOMES: ReadonlySet<string> = new Set<IntrospectionOutcome>(['active', 'inactive', 'error']);

const EXACT_ROUTES: ReadonlySet<string> = new Set(ROUTE_LABELS);
/** RFC 9728 / RFC 8414 metadata may be asked for with the resource's or issuer's path appended. */
const SUFFIXED_ROUTES = ['/.well-known/oauth-protected-resource', '/.well-known/oauth-authorization-server'] as const;
const METHODS: ReadonlySet<string> = new Set(METHOD_LABELS);
const AUTH_CODES: ReadonlySet<string> = new Set(AUTH_CODE_LABELS);
const GRANT_TYPES: ReadonlySet<string> = new Set(GRANT_TYPE_LABELS);
const REDIS_OPERATIONS: ReadonlySet<string> = new Set(REDIS_OPERATION_LABELS);

/**
 * The route label of a request path: one of {@link ROUTE_LABELS}, else `other`. Drops the query
 * and fragment and trailing slashes, takes the path of an absolute-form target, and maps the
 * path-suffixed well-known forms to their base route. Case-sensitive, as routing is.
 *
 * @example
 * ```ts
 * routeLabel('/.well-known/oauth-protected-resource/mcp?x=1'); // '/.well-known/oauth-protected-resource'
 * routeLabel('/mcp/');                                        // '/mcp'
 * routeLabel('/users/42');                                    // 'other'
 * ```
 */
export function routeLabel(path: string): RouteLabel {
  if (typeof path !== 'string') return OTHER;
  let p = path;
  const cut = p.search(/[?#]/);
  if (cut !== -1) p = p.slice(0, cut);
  if (/^[a-z][a-z\d+.-]*:\/\//i.test(p)) {
    try {
      p = new URL(p).pathname;
    } catch {
      return OTHER;
    }
  }
  if (p.length > 1) p = p.replace(/\/+$/, '');
  if (EXACT_ROUTES.has(p)) return p as RouteLabel;
  for (const base of SUFFIXED_ROUTES) if (p.startsWith(`${base}/`)) return base;
  return OTHER;
}

/** The method label: one of {@link METHOD_LABELS}, else `OTHER`. */
export function methodLabel(method: string | undefined): string {
  return typeof method === 'string' && METHODS.has(method) ? method : 'OTHER';
}

/** The `status_code` label: the three digits of an HTTP status, else `other`. */
export function statusCodeLabel(statusCode: number): string {
  return Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 599 ? String(statusCode) : OTHER;
}

/** The `code` label of an authentication attempt: `none` on success, a contract code, else `other`. */
export function authCodeLabel(result: Outcome, code: string | undefined): string {
  if (result === 'success') return 'none';
  return typeof code === 'string' && AUTH_CODES.has(code) ? code : OTHER;
}

/** The `grant_type` label: one of {@link GRANT_TYPE_LABELS}, else `other`. */
export function grantTypeLabel(grantType: string | undefined): string {
  return typeof grantType === 'string' && GRANT_TYPES.has(grantType) ? grantType : OTHER;
}

/** The `operation` label of a Redis command: one of {@link REDIS_OPERATION_LABELS}, else `other`. */
export function redisOperationLabel(operation: string): string {
  const op = typeof operation === 'string' ? operation.toLowerCase() : '';
  return REDIS_OPERATIONS.has(op) ? op : OTHER;
}

const oneOf = (value: unknown, allowed: ReadonlySet<string>): string => (typeof value === 'string' && allowed.has(value) ? value : OTHER);

/** Durations that are not a finite, non-negative number of seconds are not observed. */
const isDuration = (seconds: number | undefined): seconds is number => typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0;

/** Keeps the first `max` distinct names as labels; the rest become `other`. */
function cappedLabels(max: number): (name: string) => string {
  const seen = new Set<string>();
  return (name) => {
    if (typeof name !== 'string' || name === '') return OTHER;
    const label = name.length > MAX_NAME_LENGTH ? name.slice(0, MAX_NAME_LENGTH) : name;
    if (seen.has(label)) return label;
    if (seen.size >= max) return OTHER;
    seen.add(label);
    return label;
  };
}

/**
 * Records the events of one seed-mcp process. Every method maps its arguments onto closed label
 * sets and never throws.
 */
export interface Metrics {
  /** One HTTP request answered: `path` is the raw request path (or a route label). */
  httpRequest(method: string, path: string, statusCode: number, seconds: number): void;
  /** One tool call, by tool name (capped at {@link MAX_TOOL_LABELS} distinct names). */
  toolCall(tool: string, status: ToolStatus, seconds: number): void;
  /** One bearer-token authentication decision; `code` is ignored (`none`) on success. */
  authAttempt(result: Outcome, code: string, seconds?: number): void;
  /** One JWKS refresh of an issuer. */
  jwksRefresh(result: Outcome): void;
  jwksCacheHit(): void;
  jwksCacheMiss(): void;
  /** One request to a token introspection endpoint (RFC 7662), by what it answered. */
  tokenIntrospection(result: IntrospectionOutcome, seconds?: number): void;
  /** A session started: counted with status `created`, and active. */
  sessionOpened(): void;
  /** A session ended: counted with its status, and no longer active. */
  sessionClosed(status: SessionEnd): void;
  /** A request refused by a rate limit. */
  rateLimitHit(): void;
  /** A circuit breaker's current state (capped at {@link MAX_BREAKER_LABELS} distinct names). */
  circuitBreaker(name: string, state: BreakerState): void;
  /** A failure counted by a circuit breaker. */
  circuitBreakerFailure(name: string): void;
  /** One Redis command, by name (`get`, `SET`, …; see {@link REDIS_OPERATION_LABELS}). */
  redisOperation(operation: string, result: Outcome, seconds: number): void;
  /** One request to the OAuth proxy's authorize endpoint, by how it ended. */
  oauthAuthorization(result: Outcome): void;
  /** One token-endpoint exchange through the OAuth proxy, by grant type. */
  oauthTokenExchange(grantType: string, result: Outcome, seconds: number): void;
  /** One dynamic client registration (RFC 7591). */
  dcrRegistration(result: Outcome): void;
  /** Gateway mode: one request to a child MCP server, by how it ended. */
  childRequest(child: string, outcome: ChildOutcome, seconds: number): void;
  /** Gateway mode: a child's circuit breaker state (0 closed, 1 half-open, 2 open). */
  childBreaker(child: string, state: BreakerState): void;
  /** Gateway mode: one attempt to mint the gateway's token for a child. */
  childTokenMint(child: string, result: Outcome): void;
  /** The Prometheus text exposition of every metric, with its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

export interface MetricsOptions {
  /** Also collect prom-client's default process metrics (CPU, memory, event loop, GC); default true. */
  collectDefault?: boolean;
  /** Not supported: the names are a contract with existing dashboards and carry no prefix. */
  prefix?: never;
}

/**
 * Creates the metrics of one process on a registry of its own (never prom-client's global one),
 * so tests and embedders can hold several side by side.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.httpRequest(req.method ?? '', req.url ?? '', res.statusCode, seconds);
 * const { contentType, body } = await metrics.render();
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const buckets = [...LATENCY_BUCKETS];

  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests in seconds',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets,
    registers,
  });
  const httpTotal = new Counter({
    name: 'http_request_total',
    help: 'HTTP requests answered',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers,
  });
  const sessionsActive = new Gauge({ name: 'mcp_sessions_active', help: 'MCP sessions open now', registers });
  const sessionsTotal = new Counter({
    name: 'mcp_sessions_total',
    help: 'MCP sessions created (status="created") and ended (by how they ended)',
    labelNames: ['status'] as const,
    registers,
  });
  const toolTotal = new Counter({
    name: 'mcp_tool_invocations_total',
    help: 'MCP tool calls',
    labelNames: ['tool', 'status'] as const,
    registers,
  });
  const toolDuration = new Histogram({
    name: 'mcp_tool_duration_seconds',
    help: 'Duration of MCP tool calls in seconds',
    labelNames: ['tool'] as const,
    buckets,
    registers,
  });
  // The two counters bumped on every authenticated request are counted in plain numbers and
  // handed to prom-client at scrape time (its inc() hashes the label set each call).
  let authSuccesses = 0;
  let cacheHits = 0;
  const authTotal = new Counter({
    name: 'auth_attempts_total',
    help: 'Bearer-token authentication decisions',
    labelNames: ['result', 'code'] as const,
    registers,
    collect() {
      if (authSuccesses === 0) return;
      this.inc({ result: 'success', code: 'none' }, authSuccesses);
      authSuccesses = 0;
    },
  });
  const authDuration = new Histogram({
    name: 'auth_token_validation_duration_seconds',
    help: 'Duration of bearer-token validation in seconds',
    buckets,
    registers,
  });
  const oauthAuthorize = new Counter({
    name: 'oauth_authorization_requests_total',
    help: 'Authorization requests through the OAuth proxy',
    labelNames: ['result'] as const,
    registers,
  });
  const oauthExchanges = new Counter({
    name: 'oauth_token_exchanges_total',
    help: 'Token exchanges through the OAuth proxy',
    labelNames: ['grant_type', 'result'] as const,
    registers,
  });
  const oauthExchangeDuration = new Histogram({
    name: 'oauth_token_exchange_duration_seconds',
    help: 'Duration of token exchanges through the OAuth proxy in seconds',
    buckets,
    registers,
  });
  const dcrTotal = new Counter({
    name: 'dcr_registrations_total',
    help: 'Dynamic client registrations (RFC 7591)',
    labelNames: ['result'] as const,
    registers,
  });
  const jwksRefreshTotal = new Counter({
    name: 'jwks_refresh_total',
    help: 'JWKS refreshes of allowed issuers',
    labelNames: ['result'] as const,
    registers,
  });
  new Counter({
    name: 'jwks_cache_hits_total',
    help: 'Token-validation cache hits (keys and verified tokens)',
    registers,
    collect() {
      if (cacheHits === 0) return;
      this.inc(cacheHits);
      cacheHits = 0;
    },
  });
  const jwksMisses = new Counter({ name: 'jwks_cache_misses_total', help: 'Token-validation cache misses (keys and verified tokens)', registers });
  const introspectionTotal = new Counter({
    name: 'token_introspection_total',
    help: 'Token introspection requests (RFC 7662) by answer: active, inactive, or error (endpoint unavailable)',
    labelNames: ['result'] as const,
    registers,
  });
  const introspectionDuration = new Histogram({
    name: 'token_introspection_duration_seconds',
    help: 'Duration of token introspection requests in seconds',
    buckets,
    registers,
  });
  const redisTotal = new Counter({
    name: 'redis_operations_total',
    help: 'Redis commands',
    labelNames: ['operation', 'result'] as const,
    registers,
  });
  const redisDuration = new Histogram({
    name: 'redis_operation_duration_seconds',
    help: 'Duration of Redis commands in seconds',
    labelNames: ['operation'] as const,
    buckets,
    registers,
  });
  const breakerState = new Gauge({
    name: 'circuit_breaker_state',
    help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
    labelNames: ['name'] as const,
    registers,
  });
  const breakerFailures = new Counter({
    name: 'circuit_breaker_failures_total',
    help: 'Failures counted by circuit breakers',
    labelNames: ['name'] as const,
    registers,
  });
  const rateLimitHits = new Counter({ name: 'rate_limit_hits_total', help: 'Requests refused by a rate limit', registers });
  const childRequests = new Counter({
    name: 'mcp_child_requests_total',
    help: 'Requests the gateway made (or refused to make) to a child MCP server, by outcome',
    labelNames: ['child', 'outcome'] as const,
    registers,
  });
  const childDuration = new Histogram({
    name: 'mcp_child_request_duration_seconds',
    help: 'Duration of requests to child MCP servers in seconds',
    labelNames: ['child'] as const,
    buckets,
    registers,
  });
  const childBreakerState = new Gauge({
    name: 'mcp_child_breaker_state',
    help: "A child MCP server's circuit breaker: 0 closed, 1 half-open, 2 open",
    labelNames: ['child'] as const,
    registers,
  });
  const childMints = new Counter({
    name: 'mcp_child_token_mints_total',
    help: "Attempts to mint the gateway's token for a child MCP server",
    labelNames: ['child', 'result'] as const,
    registers,
  });

  if (options.collectDefault ?? true) collectDefaultMetrics({ register: registry });

  const toolLabel = cappedLabels(MAX_TOOL_LABELS);
  const breakerLabel = cappedLabels(MAX_BREAKER_LABELS);
  const childLabel = cappedLabels(MAX_CHILD_LABELS);
  // Kept here rather than read back from the gauge, which prom-client only gives asynchronously.
  let activeSessions = 0;

  return {
    httpRequest(method, path, statusCode, seconds) {
      const labels = { method: methodLabel(method), route: routeLabel(path), status_code: statusCodeLabel(statusCode) };
      httpTotal.inc(labels);
      if (isDuration(seconds)) httpDuration.observe(labels, seconds);
    },
    toolCall(tool, status, seconds) {
      const name = toolLabel(tool);
      toolTotal.inc({ tool: name, status: oneOf(status, TOOL_STATUSES) });
      if (isDuration(seconds)) toolDuration.observe({ tool: name }, seconds);
    },
    authAttempt(result, code, seconds) {
      const outcome = oneOf(result, OUTCOMES);
      if (outcome === 'success') authSuccesses += 1;
      else authTotal.inc({ result: outcome, code: outcome === OTHER ? OTHER : authCodeLabel(result, code) });
      if (isDuration(seconds)) authDuration.observe(seconds);
    },
    jwksRefresh(result) {
      jwksRefreshTotal.inc({ result: oneOf(result, OUTCOMES) });
    },
    jwksCacheHit() {
      cacheHits += 1;
    },
    jwksCacheMiss() {
      jwksMisses.inc();
    },
    tokenIntrospection(result, seconds) {
      introspectionTotal.inc({ result: oneOf(result, INTROSPECTION_OUTCOMES) });
      if (isDuration(seconds)) introspectionDuration.observe(seconds);
    },
    sessionOpened() {
      sessionsTotal.inc({ status: 'created' });
      sessionsActive.set(++activeSessions);
    },
    sessionClosed(status) {
      sessionsTotal.inc({ status: oneOf(status, SESSION_ENDS) });
      activeSessions = Math.max(0, activeSessions - 1);
      sessionsActive.set(activeSessions);
    },
    rateLimitHit() {
      rateLimitHits.inc();
    },
    circuitBreaker(name, state) {
      const value = Object.hasOwn(BREAKER_VALUE, state) ? BREAKER_VALUE[state] : undefined;
      if (value !== undefined) breakerState.set({ name: breakerLabel(name) }, value);
    },
    circuitBreakerFailure(name) {
      breakerFailures.inc({ name: breakerLabel(name) });
    },
    redisOperation(operation, result, seconds) {
      const op = redisOperationLabel(operation);
      redisTotal.inc({ operation: op, result: oneOf(result, OUTCOMES) });
      if (isDuration(seconds)) redisDuration.observe({ operation: op }, seconds);
    },
    oauthAuthorization(result) {
      oauthAuthorize.inc({ result: oneOf(result, OUTCOMES) });
    },
    oauthTokenExchange(grantType, result, seconds) {
      oauthExchanges.inc({ grant_type: grantTypeLabel(grantType), result: oneOf(result, OUTCOMES) });
      if (isDuration(seconds)) oauthExchangeDuration.observe(seconds);
    },
    dcrRegistration(result) {
      dcrTotal.inc({ result: oneOf(result, OUTCOMES) });
    },
    childRequest(child, outcome, seconds) {
      const name = childLabel(child);
      childRequests.inc({ child: name, outcome: oneOf(outcome, CHILD_OUTCOMES) });
      if (isDuration(seconds)) childDuration.observe({ child: name }, seconds);
    },
    childBreaker(child, state) {
      const value = Object.hasOwn(BREAKER_VALUE, state) ? BREAKER_VALUE[state] : undefined;
      if (value !== undefined) childBreakerState.set({ child: childLabel(child) }, value);
    },
    childTokenMint(child, result) {
      childMints.inc({ child: childLabel(child), result: oneOf(result, OUTCOMES) });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
