/**
 * Tracing of `seed-mcp cloud`: W3C trace context in, through, and on to the gateway's children,
 * and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry spans exported over OTLP/HTTP
 * (JSON): `mcp.request` (server span of each `/mcp` and `/mcp/<name>` request), `auth.validate`,
 * `policy.decide` and `mcp.child_call` (client span of each request to a child).
 *
 * The trace context of a request lives in an AsyncLocalStorage that the HTTP server sets
 * ({@link traceRequest}); the validation, the policy and the child read it. Without an exporter no
 * OpenTelemetry module is ever loaded and no span object made: a request that brings a valid
 * `traceparent` still has it continued to the children (same trace id, a new parent id per child
 * request); one that brings none starts no trace, and the children get no `traceparent`. With an
 * exporter every MCP request is in a trace: the caller's, or a new one.
 *
 * Attributes come from closed sets or are bounded strings; a token is never one of them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { Logger } from '../shared/logger.js';

/** Where and as whom spans are exported (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`). */
export interface TracingConfig {
  /** The OTLP/HTTP traces URL (`…/v1/traces`). */
  readonly endpoint: string;
  /** `OTEL_EXPORTER_OTLP_HEADERS`: sent with every export (an API key, say). */
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
}

/** A parsed W3C `traceparent` (version 00). */
export interface TraceParent {
  traceId: string;
  parentId: string;
  /** Two hex digits; bit 0 is "sampled". */
  flags: string;
}

/** The trace context of one request. */
interface RequestTrace {
  readonly traceId: string;
  /** The span a child request descends from: the request's server span, or the caller's span. */
  readonly spanId: string;
  readonly flags: string;
  /** The caller's `tracestate`, passed on unchanged (bounded). */
  readonly tracestate: string | undefined;
  /** With an exporter: the `mcp.request` span, its context (the parent of the spans under it) and the exporter. */
  readonly span?: Span;
  readonly context?: Context;
  readonly exporter?: Exporter;
}

interface Exporter {
  readonly tracer: Tracer;
  readonly otel: typeof import('@opentelemetry/api');
}

/** A running exporter: close() flushes what is buffered and stops it. */
export interface Tracing {
  readonly serviceName: string;
  close(): Promise<void>;
  /** @internal the exporter handed to {@link traceRequest}. */
  readonly exporter: Exporter;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const MAX_TRACESTATE = 512;

/**
 * Parses a W3C `traceparent` header: version 00 only (a later version's header is not continued),
 * lower-case hex, trace and parent id not all zero. Anything else: undefined.
 */
export function parseTraceparent(value: string | string[] | undefined): TraceParent | undefined {
  if (typeof value !== 'string' || value.length !== 55) return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
}

export function formatTraceparent(traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

// Random ids come from a pool refilled 4 KiB at a time: one system call per 512 span ids.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolOffset + bytes > pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const id = pool.toString('hex', poolOffset, (poolOffset += bytes));
    if (id !== zero) return id;
  }
}

/** A new span id: 16 hex digits, not all zero. */
export const newSpanId = (): string => randomHex(8, ZERO_SPAN);
/** A new trace id: 32 hex digits, not all zero. */
export const newTraceId = (): string => randomHex(16, ZERO_TRACE);

const traces = new AsyncLocalStorage<RequestTrace>();
/** How many exporters run in this process: 0 = no span is ever started (one number compared). */
let exporters = 0;

/** The `http.route` of the requests that get an `mcp.request` span, by route path. */
const SPANNED_ROUTES: Readonly<Record<string, string>> = { '/mcp': '/mcp', '/mcp/': '/mcp/{name}' };
const METHODS = new Set(['GET', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PUT', 'PATCH']);

/**
 * Runs `fn`, the handling of `req`, in its trace context. `routePath` is the path of the route
 * that serves it; MCP routes get an `mcp.request` span when `tracing` exports. Without an
 * exporter and without a valid `traceparent`, `fn` simply runs.
 */
export function traceRequest(tracing: Tracing | undefined, req: IncomingMessage, res: ServerResponse, routePath: string, fn: () => void): void {
  const header = req.headers.traceparent;
  const route = tracing ? SPANNED_ROUTES[routePath] : undefined;
  if (header === undefined && route === undefined) return fn();
  const parent = parseTraceparent(header);
  const tracestate = parent ? boundedTracestate(req.headers.tracestate) : undefined;
  if (route === undefined || !tracing) {
    if (!parent) return fn();
    traces.run({ traceId: parent.traceId, spanId: parent.parentId, flags: parent.flags, tracestate }, fn);
    return;
  }
  const { tracer, otel } = tracing.exporter;
  const method = req.method && METHODS.has(req.method) ? req.method : '_OTHER';
  const context = parent
    ? otel.trace.setSpanContext(otel.ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parseInt(parent.flags, 16), isRemote: true })
    : otel.ROOT_CONTEXT;
  const span = tracer.startSpan('mcp.request', { kind: otel.SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route } }, context);
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR });
    span.end();
  });
  const sc = span.spanContext();
  const under = otel.trace.setSpan(otel.ROOT_CONTEXT, span);
  traces.run({ traceId: sc.traceId, spanId: sc.spanId, flags: flagsHex(sc.traceFlags), tracestate, span, context: under, exporter: tracing.exporter }, fn);
}

function boundedTracestate(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  return text && text.length <= MAX_TRACESTATE && /^[\x20-\x7e]*$/.test(text) ? text : undefined;
}

const flagsHex = (flags: number) => (flags & 0xff).toString(16).padStart(2, '0');

/** The names of the spans under `mcp.request`. */
export type SpanName = 'auth.validate' | 'policy.decide' | 'mcp.child_call';

/**
 * Starts a span under the current request's span; undefined when nothing is exported (then it
 * costs one comparison). End it with {@link endSpan}.
 */
export function startSpan(name: SpanName): Span | undefined {
  if (exporters === 0) return undefined;
  const trace = traces.getStore();
  if (!trace?.context || !trace.exporter) return undefined;
  const { tracer, otel } = trace.exporter;
  return tracer.startSpan(name, { kind: name === 'mcp.child_call' ? otel.SpanKind.CLIENT : otel.SpanKind.INTERNAL }, trace.context);
}

/** Sets the last attributes of `span`, marks it failed when `error` (a code from a closed set) is given, and ends it. */
export function endSpan(span: Span, attributes?: Attributes, error?: string): void {
  if (attributes) span.setAttributes(attributes);
  if (error !== undefined) {
    span.setAttribute('error.type', error);
    span.setStatus({ code: 2 /* SpanStatusCode.ERROR */ });
  }
  span.end();
}

/**
 * The `traceparent` to send with a request to a child: the trace of the current request with
 * `span`'s id (the `mcp.child_call` span) or, without spans, a new parent id. Undefined when the
 * current request is in no trace.
 */
export function childTraceparent(span?: Span): string | undefined {
  const trace = traces.getStore();
  if (!trace) return undefined;
  if (span) {
    const sc = span.spanContext();
    return formatTraceparent(sc.traceId, sc.spanId, flagsHex(sc.traceFlags));
  }
  return formatTraceparent(trace.traceId, newSpanId(), trace.flags);
}

/** The caller's `tracestate` for the current request, passed on to children with the `traceparent`. */
export function currentTracestate(): string | undefined {
  return traces.getStore()?.tracestate;
}

const MCP_METHOD = /^[a-z][a-zA-Z_/]{0,63}$/;

/** Names the MCP method (and tool) of the current request on its span, when spans are exported. */
export function noteMcpMessage(message: unknown): void {
  if (exporters === 0) return;
  const span = traces.getStore()?.span;
  if (!span || !message || typeof message !== 'object' || Array.isArray(message)) return;
  const { method, params } = message as { method?: unknown; params?: { name?: unknown } };
  if (typeof method !== 'string') return;
  span.setAttribute('mcp.method.name', MCP_METHOD.test(method) ? method : 'other');
  if (method === 'tools/call' && typeof params?.name === 'string') span.setAttribute('mcp.tool.name', bounded(params.name));
}

/** A caller-given name as an attribute: at most 128 characters. */
export const bounded = (value: string): string => (value.length > 128 ? value.slice(0, 128) : value);

/**
 * Starts exporting spans: loads the OpenTelemetry SDK and the OTLP/HTTP (JSON) exporter — only
 * now — with a batch span processor. Export failures are logged, at most once a minute.
 */
export async function startTracing(config: TracingConfig, deps: { logger: Logger; version: string }): Promise<Tracing> {
  const [otel, sdk, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } });
  const exportBatch = exporter.export.bind(exporter);
  let lastWarning = 0;
  exporter.export = (spans, done) =>
    exportBatch(spans, (result) => {
      if (result.code !== 0 && Date.now() - lastWarning > 60_000) {
        lastWarning = Date.now();
        const endpoint = new URL(config.endpoint);
        deps.logger.warn('could not export spans', {
          event: 'trace_export_failed',
          endpoint: `${endpoint.origin}${endpoint.pathname}`,
          error: (result.error?.message ?? 'failed').slice(0, 200),
        });
      }
      done(result);
    });
  const provider = new sdk.BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': deps.version }),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('seed-mcp', deps.version);
  exporters++;
  let closing: Promise<void> | undefined;
  deps.logger.info('exporting traces', { event: 'tracing_started', endpoint: new URL(config.endpoint).origin, service: config.serviceName });
  return {
    serviceName: config.serviceName,
    exporter: { tracer, otel },
    close() {
      closing ??= (async () => {
        exporters--;
        // A collector that does not answer delays the stop by 5 s at most.
        let timer: NodeJS.Timeout | undefined;
        const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000).unref()));
        await Promise.race([provider.shutdown().catch(() => {}), limit]);
        clearTimeout(timer);
      })();
      return closing;
    },
  };
}
