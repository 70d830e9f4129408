/**
 * The metrics layer: every metric of the contract rendered and read back through a parser of the
 * Prometheus text format, bounded label sets, separate registries, and `/metrics` over real HTTP
 * with and without a token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsHandler } from '../src/cloud/http/metrics-route.js';
import { createMetrics, MAX_TOOL_LABELS, routeLabel, type Metrics } from '../src/cloud/metrics.js';

// ---------------------------------------------------------------------------------------------
// A small parser of the text exposition format (0.0.4)

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq === -1 || text[eq + 1] !== '"') throw new Error(`bad labels: ${text}`);
    const key = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : next;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value: ${text}`);
    if (key in labels) throw new Error(`duplicate label ${key}`);
    labels[key] = value;
    i = j + 1;
    if (text[i] === ',') i++;
  }
  return labels;
}

function parseValue(text: string): number {
  // Go's ParseFloat, which Prometheus uses, takes these case-insensitively (prom-client writes `Nan`).
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  const n = Number(text);
  if (Number.isNaN(n)) throw new Error(`bad value: ${text}`);
  return n;
}

function parseExposition(body: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] };
  for (const line of body.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'TYPE' ? out.types : out.help).set(meta[2]!, meta[3]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!sample) throw new Error(`unparsable line: ${line}`);
    out.samples.push({ name: sample[1]!, labels: sample[2] ? parseLabels(sample[2]) : {}, value: parseValue(sample[3]!) });
  }
  return out;
}

async function scrape(metrics: Metrics): Promise<Exposition> {
  const { body } = await metrics.render();
  return parseExposition(body);
}

const samplesOf = (e: Exposition, name: string): Sample[] => e.samples.filter((s) => s.name === name);

/** The value of the one sample of `name` whose labels are exactly `labels`. */
function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samplesOf(e, name).filter((s) => JSON.stringify(sortKeys(s.labels)) === JSON.stringify(sortKeys(labels)));
  if (found.length > 1) throw new Error(`several samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
const sortKeys = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

/** The label names of every sample of `name` (histogram series without `le`). */
function labelSetsOf(e: Exposition, name: string): Set<string> {
  return new Set(
    samplesOf(e, name).map((s) =>
      Object.keys(s.labels)
        .filter((k) => k !== 'le')
        .sort()
        .join(','),
    ),
  );
}

// ---------------------------------------------------------------------------------------------

const CONTRACT: Array<[name: string, type: 'counter' | 'gauge' | 'histogram', labels: string]> = [
  ['http_request_duration_seconds', 'histogram', 'method,route,status_code'],
  ['http_request_total', 'counter', 'method,route,status_code'],
  ['mcp_sessions_active', 'gauge', ''],
  ['mcp_sessions_total', 'counter', 'status'],
  ['mcp_tool_invocations_total', 'counter', 'status,tool'],
  ['mcp_tool_duration_seconds', 'histogram', 'tool'],
  ['auth_attempts_total', 'counter', 'code,result'],
  ['auth_token_validation_duration_seconds', 'histogram', ''],
  ['oauth_authorization_requests_total', 'counter', 'result'],
  ['oauth_token_exchanges_total', 'counter', 'grant_type,result'],
  ['oauth_token_exchange_duration_seconds', 'histogram', ''],
  ['dcr_registrations_total', 'counter', 'result'],
  ['jwks_refresh_total', 'counter', 'result'],
  ['jwks_cache_hits_total', 'counter', ''],
  ['jwks_cache_misses_total', 'counter', ''],
  ['redis_operations_total', 'counter', 'operation,result'],
  ['redis_operation_duration_seconds', 'histogram', 'operation'],
  ['circuit_breaker_state', 'gauge', 'name'],
  ['circuit_breaker_failures_total', 'counter', 'name'],
  ['rate_limit_hits_total', 'counter', ''],
  ['token_introspection_total', 'counter', 'result'],
  ['token_introspection_duration_seconds', 'histogram', ''],
  ['mcp_child_requests_total', 'counter', 'child,outcome'],
  ['mcp_child_request_duration_seconds', 'histogram', 'child'],
  ['mcp_child_breaker_state', 'gauge', 'child'],
  ['mcp_child_token_mints_total', 'counter', 'child,result'],
];

const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2ln';

function recordEverything(m: Metrics): void {
  m.httpRequest('GET', '/mcp', 200, 0.012);
  m.httpRequest('GET', `/mcp?access_token=${SECRET}`, 200, 0.02);
  m.httpRequest('POST', '/mcp/', 401, 0.003);
  m.httpRequest('GET', '/users/alice@example.com/profile', 404, 0.001);
  m.toolCall('whoami', 'success', 0.004);
  m.toolCall('whoami', 'error', 0.2);
  m.toolCall('seed_ping', 'success', 0.001);
  m.authAttempt('success', 'INVALID_TOKEN', 0.0002);
  m.authAttempt('failure', 'TOKEN_EXPIRED', 0.0003);
  m.authAttempt('failure', SECRET);
  m.oauthAuthorization('success');
  m.oauthAuthorization('failure');
  m.oauthTokenExchange('authorization_code', 'success', 0.3);
  m.oauthTokenExchange('refresh_token', 'failure', 0.1);
  m.oauthTokenExchange('password', 'failure', 0.1);
  m.dcrRegistration('success');
  m.jwksRefresh('success');
  m.jwksRefresh('failure');
  m.jwksCacheHit();
  m.jwksCacheHit();
  m.jwksCacheMiss();
  m.redisOperation('GET', 'success', 0.0005);
  m.redisOperation('set', 'success', 0.0007);
  m.redisOperation('FLUSHALL', 'failure', 0.002);
  m.circuitBreaker('jwks', 'closed');
  m.circuitBreaker('redis', 'half-open');
  m.circuitBreaker('idp', 'open');
  m.circuitBreakerFailure('idp');
  m.circuitBreakerFailure('idp');
  m.rateLimitHit();
  m.sessionOpened();
  m.sessionOpened();
  m.sessionOpened();
  m.sessionClosed('expired');
  m.tokenIntrospection('active', 0.01);
  m.childRequest('docs', 'success', 0.002);
  m.childRequest('docs', 'unavailable', 0.5);
  m.childBreaker('docs', 'open');
  m.childTokenMint('docs', 'success');
}

describe('createMetrics', () => {
  it('renders every metric of the contract with its type, its labels and what was recorded', async () => {
    const m = createMetrics();
    recordEverything(m);
    const { contentType, body } = await m.render();
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    const e = parseExposition(body);

    for (const [name, type, labels] of CONTRACT) {
      expect(e.types.get(name), name).toBe(type);
      const series = type === 'histogram' ? `${name}_count` : name;
      expect(labelSetsOf(e, series), name).toEqual(new Set([labels]));
    }

    expect(valueOf(e, 'http_request_total', { method: 'GET', route: '/mcp', status_code: '200' })).toBe(2);
    expect(valueOf(e, 'http_request_total', { method: 'POST', route: '/mcp', status_code: '401' })).toBe(1);
    expect(valueOf(e, 'http_request_total', { method: 'GET', route: 'other', status_code: '404' })).toBe(1);
    expect(valueOf(e, 'http_request_duration_seconds_count', { method: 'GET', route: '/mcp', status_code: '200' })).toBe(2);
    expect(valueOf(e, 'http_request_duration_seconds_sum', { method: 'GET', route: '/mcp', status_code: '200' })).toBeCloseTo(0.032);

    const buckets = samplesOf(e, 'http_request_duration_seconds_bucket').filter((s) => s.labels.status_code === '200');
    expect(buckets.map((s) => s.labels.le)).toEqual(['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    expect(buckets.find((s) => s.labels.le === '0.01')?.value).toBe(0);
    expect(buckets.find((s) => s.labels.le === '0.025')?.value).toBe(2);

    expect(valueOf(e, 'mcp_child_requests_total', { child: 'docs', outcome: 'unavailable' })).toBe(1);
    expect(valueOf(e, 'mcp_child_breaker_state', { child: 'docs' })).toBe(2);
    expect(valueOf(e, 'mcp_child_token_mints_total', { child: 'docs', result: 'success' })).toBe(1);
    expect(valueOf(e, 'mcp_tool_invocations_total', { tool: 'whoami', status: 'success' })).toBe(1);
    expect(valueOf(e, 'mcp_tool_invocations_total', { tool: 'whoami', status: 'error' })).toBe(1);
    expect(valueOf(e, 'mcp_tool_invocations_total', { tool: 'seed_ping', status: 'success' })).toBe(1);
    expect(valueOf(e, 'mcp_tool_duration_seconds_count', { tool: 'whoami' })).toBe(2);

    // success ignores the code it is given; an unknown code (here a token) is `other`
    expect(valueOf(e, 'auth_attempts_total', { result: 'success', code: 'none' })).toBe(1);
    expect(valueOf(e, 'auth_attempts_total', { result: 'failure', code: 'TOKEN_EXPIRED' })).toBe(1);
    expect(valueOf(e, 'auth_attempts_total', { result: 'failure', code: 'other' })).toBe(1);
    expect(valueOf(e, 'auth_token_validation_duration_seconds_count')).toBe(2);

    expect(valueOf(e, 'oauth_authorization_requests_total', { result: 'success' })).toBe(1);
    expect(valueOf(e, 'oauth_authorization_requests_total', { result: 'failure' })).toBe(1);
    expect(valueOf(e, 'oauth_token_exchanges_total', { grant_type: 'authorization_code', result: 'success' })).toBe(1);
    expect(valueOf(e, 'oauth_token_exchanges_total', { grant_type: 'refresh_token', result: 'failure' })).toBe(1);
    expect(valueOf(e, 'oauth_token_exchanges_total', { grant_type: 'other', result: 'failure' })).toBe(1);
    expect(valueOf(e, 'oauth_token_exchange_duration_seconds_count')).toBe(3);
    expect(valueOf(e, 'dcr_registrations_total', { result: 'success' })).toBe(1);

    expect(valueOf(e, 'jwks_refresh_total', { result: 'success' })).toBe(1);
    expect(valueOf(e, 'jwks_refresh_total', { result: 'failure' })).toBe(1);
    expect(valueOf(e, 'jwks_cache_hits_total')).toBe(2);
    expect(valueOf(e, 'jwks_cache_misses_total')).toBe(1);

    expect(valueOf(e, 'redis_operations_total', { operation: 'get', result: 'success' })).toBe(1);
    expect(valueOf(e, 'redis_operations_total', { operation: 'set', result: 'success' })).toBe(1);
    expect(valueOf(e, 'redis_operations_total', { operation: 'other', result: 'failure' })).toBe(1);
    expect(valueOf(e, 'redis_operation_duration_seconds_count', { operation: 'get' })).toBe(1);

    expect(valueOf(e, 'circuit_breaker_state', { name: 'jwks' })).toBe(0);
    expect(valueOf(e, 'circuit_breaker_state', { name: 'redis' })).toBe(1);
    expect(valueOf(e, 'circuit_breaker_state', { name: 'idp' })).toBe(2);
    expect(valueOf(e, 'circuit_breaker_failures_total', { name: 'idp' })).toBe(2);
    expect(valueOf(e, 'rate_limit_hits_total')).toBe(1);

    expect(valueOf(e, 'mcp_sessions_total', { status: 'created' })).toBe(3);
    expect(valueOf(e, 'mcp_sessions_total', { status: 'expired' })).toBe(1);
    expect(valueOf(e, 'mcp_sessions_active')).toBe(2);

    // nothing a caller passed outside the closed sets reaches the text
    expect(body).not.toContain(SECRET);
    expect(body).not.toContain('access_token');
    expect(body).not.toContain('alice');
    expect(body).not.toContain('FLUSHALL');
    expect(body).not.toContain('password');
  });

  it("includes prom-client's default process metrics unless told not to", async () => {
    const withDefaults = await scrape(createMetrics());
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(withDefaults.types.has(name), name).toBe(true);
    }
    const without = await scrape(createMetrics({ collectDefault: false }));
    expect([...without.types.keys()].sort()).toEqual(CONTRACT.map(([name]) => name).sort());
  });

  it('keeps separate state per instance and leaves the global registry alone', async () => {
    const a = createMetrics({ collectDefault: false });
    const b = createMetrics({ collectDefault: false });
    a.rateLimitHit();
    a.rateLimitHit();
    a.sessionOpened();
    b.rateLimitHit();
    for (let i = 0; i < MAX_TOOL_LABELS; i++) a.toolCall(`a_tool_${i}`, 'success', 0.001);
    b.toolCall('b_tool', 'success', 0.001);

    const ea = await scrape(a);
    const eb = await scrape(b);
    expect(valueOf(ea, 'rate_limit_hits_total')).toBe(2);
    expect(valueOf(eb, 'rate_limit_hits_total')).toBe(1);
    expect(valueOf(ea, 'mcp_sessions_active')).toBe(1);
    expect(valueOf(eb, 'mcp_sessions_active')).toBe(0);
    // b's tool cap is its own: a filled its 200 slots, b still names its tool
    expect(valueOf(eb, 'mcp_tool_invocations_total', { tool: 'b_tool', status: 'success' })).toBe(1);
    expect(samplesOf(eb, 'mcp_tool_invocations_total')).toHaveLength(1);

    expect(globalRegistry.getSingleMetric('http_request_total')).toBeUndefined();
    expect(globalRegistry.getSingleMetric('rate_limit_hits_total')).toBeUndefined();
  });

  it('never lets the active-session gauge go below zero', async () => {
    const m = createMetrics({ collectDefault: false });
    m.sessionClosed('closed');
    m.sessionOpened();
    m.sessionClosed('closed');
    const e = await scrape(m);
    expect(valueOf(e, 'mcp_sessions_active')).toBe(0);
    expect(valueOf(e, 'mcp_sessions_total', { status: 'closed' })).toBe(2);
  });
});

describe('bounded cardinality', () => {
  it(`keeps at most ${MAX_TOOL_LABELS} tool names; the rest count as other`, async () => {
    const m = createMetrics({ collectDefault: false });
    for (let i = 0; i < MAX_TOOL_LABELS + 50; i++) m.toolCall(`tool_${i}`, 'success', 0.001);
    m.toolCall('tool_0', 'success', 0.001); // a name already kept stays itself
    m.toolCall('tool_9999', 'error', 0.001);
    m.toolCall('', 'error', 0.001);
    m.toolCall('x'.repeat(10_000), 'error', 0.001);

    const e = await scrape(m);
    const tools = new Set(samplesOf(e, 'mcp_tool_invocations_total').map((s) => s.labels.tool));
    expect(tools.size).toBe(MAX_TOOL_LABELS + 1);
    expect(tools.has('other')).toBe(true);
    expect(tools.has(`tool_${MAX_TOOL_LABELS - 1}`)).toBe(true);
    expect(tools.has(`tool_${MAX_TOOL_LABELS}`)).toBe(false);
    expect(valueOf(e, 'mcp_tool_invocations_total', { tool: 'tool_0', status: 'success' })).toBe(2);
    expect(valueOf(e, 'mcp_tool_invocations_total', { tool: 'other', status: 'success' })).toBe(50);
    expect(valueOf(e, 'mcp_tool_invocations_total', { tool: 'other', status: 'error' })).toBe(3);
    expect(new Set(samplesOf(e, 'mcp_tool_duration_seconds_count').map((s) => s.labels.tool)).size).toBe(MAX_TOOL_LABELS + 1);
  });

  it('maps paths onto the fixed routes', () => {
    const cases: Array<[string, string]> = [
      ['/mcp', '/mcp'],
      ['/mcp/', '/mcp'],
      ['/mcp?sessionId=abc', '/mcp'],
      ['/mcp#frag', '/mcp'],
      ['http://example.com:8080/mcp?x=1', '/mcp'],
      ['/health', '/health'],
      ['/health/ready/', '/health/ready'],
      ['/metrics', '/metrics'],
      ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource'],
      ['/.well-known/oauth-protected-resource/mcp?x=1', '/.well-known/oauth-protected-resource'],
      ['/.well-known/oauth-protected-resource/tenant/a/mcp/', '/.well-known/oauth-protected-resource'],
      ['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server'],
      ['/.well-known/oauth-authorization-server/issuer/x', '/.well-known/oauth-authorization-server'],
      ['/oauth/authorize?client_id=c&state=s', '/oauth/authorize'],
      ['/oauth/authorize/callback?code=abc&state=s', '/oauth/authorize/callback'],
      ['/oauth/token', '/oauth/token'],
      ['/oauth/register', '/oauth/register'],
      ['/oauth/revoke', '/oauth/revoke'],
      // everything else
      ['/', 'other'],
      ['', 'other'],
      ['/MCP', 'other'],
      ['/mcp/extra', 'other'],
      ['/mcpx', 'other'],
      ['/healthz', 'other'],
      ['/.well-known/oauth-protected-resourcex', 'other'],
      ['/.well-known/openid-configuration', 'other'],
      ['/oauth/authorize/other', 'other'],
      ['//mcp', 'other'],
      ['/%6Dcp', 'other'],
      ['/../etc/passwd', 'other'],
      [`/users/${SECRET}`, 'other'],
      ['*', 'other'],
      ['http://[bad', 'other'],
    ];
    for (const [path, route] of cases) expect(routeLabel(path), path).toBe(route);
  });

  it('maps methods, status codes, grant types and breaker names onto closed sets', async () => {
    const m = createMetrics({ collectDefault: false });
    m.httpRequest('BREW', '/weird/path', 418, 0.001);
    m.httpRequest('get', '/mcp', 200, 0.001);
    m.httpRequest('GET', '/mcp', 42, 0.001);
    m.httpRequest('GET', '/mcp', 200, Number.NaN);
    m.oauthTokenExchange('urn:ietf:params:oauth:grant-type:device_code', 'success', 1);
    m.oauthTokenExchange('urn:ietf:params:oauth:grant-type:jwt-bearer', 'success', 1);
    for (let i = 0; i < 40; i++) m.circuitBreakerFailure(`breaker_${i}`);
    m.circuitBreaker('breaker_0', 'sideways' as never);

    const e = await scrape(m);
    expect(valueOf(e, 'http_request_total', { method: 'OTHER', route: 'other', status_code: '418' })).toBe(1);
    expect(valueOf(e, 'http_request_total', { method: 'OTHER', route: '/mcp', status_code: '200' })).toBe(1);
    expect(valueOf(e, 'http_request_total', { method: 'GET', route: '/mcp', status_code: 'other' })).toBe(1);
    // counted, but a duration that is not a number is not observed
    expect(valueOf(e, 'http_request_total', { method: 'GET', route: '/mcp', status_code: '200' })).toBe(1);
    expect(valueOf(e, 'http_request_duration_seconds_count', { method: 'GET', route: '/mcp', status_code: '200' })).toBeUndefined();
    expect(valueOf(e, 'oauth_token_exchanges_total', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', result: 'success' })).toBe(1);
    expect(valueOf(e, 'oauth_token_exchanges_total', { grant_type: 'other', result: 'success' })).toBe(1);
    expect(new Set(samplesOf(e, 'circuit_breaker_failures_total').map((s) => s.labels.name)).size).toBe(33);
    expect(valueOf(e, 'circuit_breaker_failures_total', { name: 'other' })).toBe(8);
    expect(samplesOf(e, 'circuit_breaker_state')).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------
// /metrics over real HTTP

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(handler: ReturnType<typeof metricsHandler>): Promise<string> {
  const server = createServer((req, res) => void handler(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
}

describe('metricsHandler', () => {
  it('serves the Prometheus text without a token configured', async () => {
    const metrics = createMetrics();
    metrics.rateLimitHit();
    const url = await serve(metricsHandler(metrics, {}));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const e = parseExposition(await res.text());
    expect(valueOf(e, 'rate_limit_hits_total')).toBe(1);
    expect(e.types.get('process_cpu_user_seconds_total')).toBe('counter');

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');

    const post = await fetch(url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('asks for the bearer token when one is configured, comparing any length safely', async () => {
    const token = 'metrics-scrape-token-0123456789';
    const metrics = createMetrics({ collectDefault: false });
    metrics.jwksCacheHit();
    const url = await serve(metricsHandler(metrics, { token }));

    const refused = [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Basic ${Buffer.from(`user:${token}`).toString('base64')}`,
      `Bearer ${token.slice(0, -1)}x`, // same length, last byte differs
      `Bearer ${token.slice(0, -1)}`, // shorter
      `Bearer ${token}0`, // longer
      `Bearer ${'a'.repeat(10_000)}`,
      `Bearer ${token} extra`,
      `Bearer ${token.toUpperCase()}`,
    ];
    for (const authorization of refused) {
      const res = await fetch(url, { headers: authorization === undefined ? {} : { authorization } });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      const body = await res.text();
      expect(body).toMatch(/^could not serve metrics: /);
      expect(body).not.toContain('jwks_cache_hits_total');
      expect(body).not.toContain(token);
    }

    for (const authorization of [`Bearer ${token}`, `bearer ${token}`, `BEARER  ${token} `]) {
      const res = await fetch(url, { headers: { authorization } });
      expect(res.status, authorization).toBe(200);
      expect(valueOf(parseExposition(await res.text()), 'jwks_cache_hits_total')).toBe(1);
    }
  });

  it('answers 500 when rendering fails, and refuses an empty token at creation', async () => {
    const metrics = createMetrics({ collectDefault: false });
    const broken: Metrics = { ...metrics, render: () => Promise.reject(new Error('boom')) };
    const res = await fetch(await serve(metricsHandler(broken, {})));
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('could not render metrics: an internal error occurred\n');
    expect(() => metricsHandler(metrics, { token: '' })).toThrow(/token is empty/);
  });
});
