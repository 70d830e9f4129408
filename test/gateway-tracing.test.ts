/**
 * Tracing in gateway mode (issue #13 item 7): a caller's W3C `traceparent` reaches the child as
 * the same trace with a new parent id, with or without span export; without
 * `OTEL_EXPORTER_OTLP_ENDPOINT` no OpenTelemetry module is loaded at all; with it, the spans of the
 * request, the validation, the policy decision and the child call arrive at an OTLP collector
 * stand-in, correctly parented, in the caller's trace, and without the token.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig, redactCloudConfig } from '../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../src/cloud/start.js';
import { parseTraceparent } from '../src/cloud/tracing.js';
import { createLogger } from '../src/shared/logger.js';
import { tempDir } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { textOf } from './support/mcp-clients.js';
import { freePort } from './support/ports.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

let idp: TestIdp;
let child: TestUpstream;
let dir: string;
const ports: { plain: number; traced: number } = { plain: 0, traced: 0 };
const base = (port: number) => `http://127.0.0.1:${port}`;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  ports.plain = await freePort();
  ports.traced = await freePort();
  child = await startUpstream({ era: 'modern' });
  idp = await startIdp({
    resources: [...Object.values(ports).flatMap((p) => [`${base(p)}/mcp`, `${base(p)}/mcp/docs`]), child.url],
  });
  child.trust(idp);
  const t = tempDir();
  cleanups.push(t.cleanup);
  dir = t.dir;
  writeFileSync(join(dir, 'gw-secret'), 'service-secret\n');
  writeFileSync(
    join(dir, 'upstreams.json'),
    JSON.stringify({
      upstreams: [
        {
          name: 'docs',
          url: child.url,
          auth: { type: 'client_credentials', issuer: idp.issuer, client_id: 'seed-service', client_secret_file: 'gw-secret', resource: child.url },
          timeout_ms: 5000,
        },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'policy.yaml'),
    `rules:
  - tools: ["*"]
    allow: { any: true }
  - server: docs
    tools: [echo]
    allow: { subjects: [other-service] }
`,
  );
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([child?.close(), idp?.close()]);
});

async function startGateway(port: number, env: Record<string, string> = {}, logLines: string[] = []): Promise<RunningCloud> {
  const cloud = await startCloud(
    {
      ...loadCloudConfig({
        OIDC_ISSUER: idp.issuer,
        RESOURCE_IDENTIFIER: `${base(port)}/mcp`,
        BASE_URL: base(port),
        UPSTREAMS_FILE: join(dir, 'upstreams.json'),
        TOOL_POLICY_FILE: join(dir, 'policy.yaml'),
        RATE_LIMIT_ENABLED: 'false',
        ...env,
      }),
      port,
      host: '127.0.0.1',
    },
    { logger: createLogger({ format: 'json', level: 'debug', write: (l) => logLines.push(l) }), version: 'test', collectDefaultMetrics: false },
  );
  return cloud;
}

/** An MCP client of `url` as `other-service`, sending `traceparent` with every request when given. */
async function client(url: string, token: string, traceparent?: string): Promise<Client> {
  const c = new Client({ name: 'tracing-test', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(traceparent ? { traceparent } : {}) };
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  cleanups.push(() => c.close());
  return c;
}

/**
 * The OpenTelemetry modules this process has loaded (CommonJS packages: they land in require's
 * cache) but the API package, which prom-client loads for its exemplars whatever seed-mcp does:
 * the SDK, the exporter, the resources and their dependencies are tracing's alone.
 */
const loadedOtel = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /[\\/]@opentelemetry[\\/](?!api[\\/])/.test(k));

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let cloud: RunningCloud;
  beforeAll(async () => {
    cloud = await startGateway(ports.plain);
  });
  afterAll(() => cloud?.close());

  it("continues the caller's traceparent to the child (same trace id, a new parent id) without loading OpenTelemetry", async () => {
    expect(loadedOtel()).toEqual([]);
    for (const path of ['/mcp', '/mcp/docs']) {
      const url = `${base(ports.plain)}${path}`;
      const c = await client(url, await idp.serviceToken({ client: 'other-service', resource: url }), TRACEPARENT);
      child.resetCounts();
      expect(textOf(await c.callTool({ name: path === '/mcp' ? 'docs_echo' : 'echo', arguments: { text: 'traced' } }))).toBe('echo: traced');
      const sent = parseTraceparent(child.lastHeaders.traceparent);
      expect(sent, `traceparent the child got via ${path}: ${child.lastHeaders.traceparent}`).toBeDefined();
      expect(sent!.traceId).toBe(TRACE_ID);
      expect(sent!.parentId).not.toBe(PARENT_ID);
      expect(sent!.flags).toBe('01');
    }
    // Nothing of OpenTelemetry was loaded to do it.
    expect(loadedOtel()).toEqual([]);
  });

  it('sends the child no traceparent when the caller sent none, or an invalid one', async () => {
    const url = `${base(ports.plain)}/mcp`;
    const token = await idp.serviceToken({ client: 'other-service', resource: url });
    for (const traceparent of [undefined, `00-${'0'.repeat(32)}-${PARENT_ID}-01`, `ff-${TRACE_ID}-${PARENT_ID}-01`, 'garbage']) {
      const c = await client(url, token, traceparent);
      child.resetCounts();
      expect(textOf(await c.callTool({ name: 'docs_echo', arguments: { text: 'plain' } }))).toBe('echo: plain');
      expect(child.lastHeaders.traceparent).toBeUndefined();
    }
    expect(loadedOtel()).toEqual([]);
  });
});

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

/** A stand-in for an OpenTelemetry collector: OTLP/HTTP JSON on POST /v1/traces. */
async function startCollector(): Promise<{
  url: string;
  bodies: string[];
  spans(): OtlpSpan[];
  resources(): unknown[];
  headers: Array<Record<string, unknown>>;
  close(): Promise<void>;
}> {
  const bodies: string[] = [];
  const headers: Array<Record<string, unknown>> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      bodies.push(body.toString('utf8'));
      headers.push({ ...req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const parsed = () => bodies.map((b) => JSON.parse(b) as { resourceSpans: Array<{ resource: unknown; scopeSpans: Array<{ spans: OtlpSpan[] }> }> });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    headers,
    spans: () => parsed().flatMap((p) => p.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))),
    resources: () => parsed().flatMap((p) => p.resourceSpans.map((r) => r.resource)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const attr = (span: OtlpSpan, key: string) => {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value ? Object.values(value)[0] : undefined;
};

describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('exports mcp.request, auth.validate, policy.decide and mcp.child_call spans in the caller’s trace, parented right, without the token', async () => {
    const collector = await startCollector();
    cleanups.push(() => collector.close());
    const logLines: string[] = [];
    const cloud = await startGateway(
      ports.traced,
      { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k%3D1', OTEL_SERVICE_NAME: 'gw-under-test' },
      logLines,
    );
    // The SDK and the exporter are loaded now (which the checks above would have seen).
    expect(loadedOtel().some((k) => k.includes('exporter-trace-otlp-http'))).toBe(true);
    let token: string;
    let sentWithTrace: string | undefined;
    let sentWithoutTrace: string | undefined;
    try {
      const url = `${base(ports.traced)}/mcp`;
      token = await idp.serviceToken({ client: 'other-service', resource: url });
      const traced = await client(url, token, TRACEPARENT);
      child.resetCounts();
      expect(textOf(await traced.callTool({ name: 'docs_echo', arguments: { text: 'spans' } }))).toBe('echo: spans');
      sentWithTrace = child.lastHeaders.traceparent;
      // Denied by the policy: a policy.decide span that says so, no child call.
      const denied = await traced.callTool({ name: 'docs_admin_op', arguments: {} });
      expect(denied.isError).toBe(true);
      // No traceparent from the caller: with tracing on, a new trace reaches the child.
      const untraced = await client(url, token);
      child.resetCounts();
      await untraced.callTool({ name: 'docs_echo', arguments: { text: 'new trace' } });
      sentWithoutTrace = child.lastHeaders.traceparent;
    } finally {
      // close() flushes the batch processor.
      await cloud.close();
    }

    const spans = collector.spans();
    expect(spans.length).toBeGreaterThan(0);
    expect(collector.headers[0]).toMatchObject({ 'x-collector-key': 'k=1', 'content-type': 'application/json' });
    expect(JSON.stringify(collector.resources())).toContain('gw-under-test');
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const inTrace = spans.filter((s) => s.traceId === TRACE_ID);
    const names = new Set(inTrace.map((s) => s.name));
    expect([...names].sort()).toEqual(['auth.validate', 'mcp.child_call', 'mcp.request', 'policy.decide']);

    // Every server span of the caller's requests continues the caller's span.
    const requests = inTrace.filter((s) => s.name === 'mcp.request');
    for (const r of requests) {
      expect(r.parentSpanId).toBe(PARENT_ID);
      expect(r.kind).toBe(2); // SERVER
      expect(attr(r, 'http.route')).toBe('/mcp');
      expect(attr(r, 'http.request.method')).toBe('POST');
      expect(attr(r, 'http.response.status_code')).toBeTypeOf('number');
    }
    const call = requests.find((r) => attr(r, 'mcp.method.name') === 'tools/call' && attr(r, 'mcp.tool.name') === 'docs_echo');
    expect(call).toBeDefined();
    // Under it: the validation, the decision and the child call, each the request's child.
    const under = (parent: OtlpSpan, name: string) => inTrace.filter((s) => s.parentSpanId === parent.spanId && s.name === name);
    expect(under(call!, 'auth.validate')).toHaveLength(1);
    expect(attr(under(call!, 'auth.validate')[0]!, 'auth.result')).toBe('success');
    const decision = under(call!, 'policy.decide');
    expect(decision).toHaveLength(1);
    expect(attr(decision[0]!, 'mcp.child')).toBe('docs');
    expect(attr(decision[0]!, 'mcp.tool.name')).toBe('echo');
    expect(attr(decision[0]!, 'policy.allowed')).toBe(true);
    const childCalls = under(call!, 'mcp.child_call');
    expect(childCalls).toHaveLength(1);
    const childCall = childCalls[0]!;
    expect(childCall.kind).toBe(3); // CLIENT
    expect(attr(childCall, 'mcp.child')).toBe('docs');
    expect(attr(childCall, 'mcp.tool.name')).toBe('echo');
    expect(attr(childCall, 'mcp.outcome')).toBe('success');
    // The child was told: this trace, the child-call span as its parent.
    expect(sentWithTrace).toBe(`00-${TRACE_ID}-${childCall.spanId}-01`);

    const deniedDecision = inTrace.find((s) => s.name === 'policy.decide' && attr(s, 'mcp.tool.name') === 'admin_op');
    expect(deniedDecision).toBeDefined();
    expect(attr(deniedDecision!, 'policy.allowed')).toBe(false);
    expect(attr(deniedDecision!, 'policy.code')).toBe('ACCESS_DENIED');
    expect(byId.get(deniedDecision!.parentSpanId!)?.name).toBe('mcp.request');

    // Without the caller's traceparent: a new trace, whose child call the child was told about.
    const fresh = parseTraceparent(sentWithoutTrace);
    expect(fresh).toBeDefined();
    expect(fresh!.traceId).not.toBe(TRACE_ID);
    const freshCall = byId.get(fresh!.parentId);
    expect(freshCall?.name).toBe('mcp.child_call');
    expect(freshCall?.traceId).toBe(fresh!.traceId);
    const root = byId.get(freshCall!.parentSpanId!);
    expect(root?.name).toBe('mcp.request');
    expect(root?.parentSpanId ?? '').toBe('');

    // The token is in no exported byte, and neither is the service token's secret.
    const payload = collector.bodies.join('\n');
    expect(payload).not.toContain(token!);
    expect(payload).not.toContain(token!.split('.')[2]!);
    expect(payload).not.toContain('service-secret');
    expect(payload.toLowerCase()).not.toContain('bearer');
    expect(logLines.some((l) => l.includes('"tracing_started"'))).toBe(true);
  });
});

describe('trace context and configuration', () => {
  it('accepts only a version-00 traceparent with lower-case hex ids that are not all zero', () => {
    expect(parseTraceparent(TRACEPARENT)).toEqual({ traceId: TRACE_ID, parentId: PARENT_ID, flags: '01' });
    for (const bad of [
      undefined,
      '',
      TRACEPARENT.toUpperCase(),
      `01-${TRACE_ID}-${PARENT_ID}-01`,
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID}-${PARENT_ID}-1`,
      `${TRACEPARENT}-extra`,
      [TRACEPARENT, TRACEPARENT],
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });

  it('reads the OTEL_ variables: endpoint, headers (secret), service name; refuses what it cannot do, without echoing secrets', () => {
    const minimal = { OIDC_ISSUER: 'https://idp.example.com', RESOURCE_IDENTIFIER: 'https://mcp.example.com/mcp', BASE_URL: 'https://mcp.example.com' };
    expect(loadCloudConfig(minimal).tracing).toBeUndefined();
    const config = loadCloudConfig({ ...minimal, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_HEADERS: 'api-key=s3cr%2Ct, x-team = a' });
    expect(config.tracing).toEqual({ endpoint: 'http://collector:4318/v1/traces', headers: { 'api-key': 's3cr,t', 'x-team': 'a' }, serviceName: 'seed-mcp' });
    expect(JSON.stringify(redactCloudConfig(config))).not.toContain('s3cr');
    expect(redactCloudConfig(config).tracing).toEqual({
      endpoint: 'http://collector:4318/v1/traces',
      headers: { 'api-key': '[REDACTED]', 'x-team': '[REDACTED]' },
      serviceName: 'seed-mcp',
    });
    expect(
      loadCloudConfig({
        ...minimal,
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b.example.com/otlp/traces',
        OTEL_SERVICE_NAME: 'gw',
      }).tracing,
    ).toMatchObject({ endpoint: 'https://b.example.com/otlp/traces', serviceName: 'gw' });
    expect(loadCloudConfig({ ...minimal, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
    let message = '';
    try {
      loadCloudConfig({ ...minimal, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-s3cret', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL');
    expect(message).toContain('OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs');
    expect(message).toContain('OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/json');
    expect(message).not.toContain('s3cret');
  });
});
