/**
 * One child MCP server of the gateway: a connection (Streamable HTTP, either protocol era, or a
 * stdio process the gateway spawns and restarts with backoff) through the MCP client SDK, the
 * gateway's own credential on every HTTP request (the caller's token never leaves the gateway), a
 * circuit breaker, a timeout per request, cached lists refreshed on the child's list-changed
 * notifications and on a timer, and per-child metrics. A `tools/call` to an HTTP child of the
 * `initialize` era is sent by the gateway itself on the SDK's connection (see `directCallTool`),
 * with the SDK answering whatever is not a plain JSON answer.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { CallToolResult, GetPromptResult, ListResourceTemplatesResult, Prompt, ReadResourceResult, Resource, Tool } from '@modelcontextprotocol/server';
import { isPlainToolResult } from '../http/mcp/plain-result.js';

/** A resource template as listed (not the server SDK's class of the same name). */
export type ResourceTemplate = ListResourceTemplatesResult['resourceTemplates'][number];
import type { Logger } from '../../shared/logger.js';
import { redact } from '../../shared/redact.js';
import type { Caller } from '../../shared/tools/types.js';
import { ToolError } from '../../shared/tools/types.js';
import type { BreakerState, ChildOutcome, Metrics } from '../metrics.js';
import { createBreaker, type Breaker } from '../store/breaker.js';
import type { ChildCredential } from './credentials.js';
import type { KeepAliveFetch } from './keepalive-fetch.js';
import { bounded, childTraceparent, currentTracestate, endSpan, startSpan } from '../tracing.js';
import type { ChildSpec } from './types.js';

/** Who a request to a child is for, and how it travels. */
export interface ChildCall {
  caller: Caller;
  /** The caller's own token: only a token-exchange credential reads it (as the subject token). */
  callerToken?: string;
  /** The W3C `traceparent` sent to the child; unless given, made per request from the current request's trace (tracing.ts). */
  traceparent?: string;
  signal?: AbortSignal;
}

export interface ChildHealth {
  name: string;
  status: 'ok' | 'down' | 'unknown';
  breaker: BreakerState;
  detail?: string;
}

export interface Child {
  readonly name: string;
  readonly spec: ChildSpec;
  tools(call: ChildCall): Promise<Tool[]>;
  callTool(tool: string, args: Record<string, unknown> | undefined, call: ChildCall): Promise<CallToolResult>;
  resources(call: ChildCall): Promise<Resource[]>;
  resourceTemplates(call: ChildCall): Promise<ResourceTemplate[]>;
  readResource(uri: string, call: ChildCall): Promise<ReadResourceResult>;
  prompts(call: ChildCall): Promise<Prompt[]>;
  getPrompt(prompt: string, args: Record<string, string> | undefined, call: ChildCall): Promise<GetPromptResult>;
  health(): ChildHealth;
  close(): Promise<void>;
}

export interface ChildDeps {
  credential: ChildCredential;
  logger: Logger;
  metrics?: Metrics;
  clientInfo: { name: string; version: string };
  /** How long a list is served from cache without a list-changed notification; 60 s. */
  listTtlMs?: number;
  /** Consecutive failures that open the breaker (5) and how long it stays open (10 s). */
  breaker?: { failureThreshold?: number; openMs?: number };
  /** First restart delay of a stdio child, doubled per failed restart up to 30 s; 500 ms. */
  restartDelayMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** A child that cannot answer now: down, restarting, breaker open, or its credential failed. */
export class ChildUnavailableError extends ToolError {}

const MAX_RESTART_DELAY_MS = 30_000;
const MAX_PAGES = 50;

type ClientModule = typeof import('@modelcontextprotocol/client');
type Client = InstanceType<ClientModule['Client']>;
type CallParams = { name: string; arguments?: Record<string, unknown> };

/** An answer of the child already received by the direct `tools/call`, handed to the SDK's transport as its fetch's answer. */
interface Replay {
  answer: Response;
  used: boolean;
  /** The answer's body still arriving (an event stream…): ended when the SDK's request is aborted, as its own fetch's would be. */
  source?: IncomingMessage;
}
/** What a request to the child runs with: the call, and (only when the direct path hands over) the answer to replay. */
type CallContext = ChildCall & { replay?: Replay };

/**
 * How the direct `tools/call` reaches an HTTP child of the `initialize` era on a connection the
 * SDK made: its URL, the headers the SDK's transport sends on it (the upstreams file's headers,
 * the session id, the negotiated protocol version, the media types), and the calls in flight (for
 * a close of the connection).
 */
interface DirectTarget {
  url: URL;
  headers: Record<string, string>;
  inflight: Set<() => void>;
}

/** Where the credential and trace headers go: a `Headers` (childFetch) or a plain record (the direct path). */
interface HeaderSink {
  set(name: string, value: string): void;
  delete(name: string): void;
}

export function createChild(spec: ChildSpec, deps: ChildDeps): Child {
  const { name } = spec;
  const { logger, metrics, credential } = deps;
  const now = deps.now ?? Date.now;
  const listTtlMs = deps.listTtlMs ?? 60_000;
  const label = spec.url ? new URL(spec.url).origin : `stdio ${spec.command![0]}`;
  const calls = new AsyncLocalStorage<CallContext>();
  // The gateway's keep-alive HTTP client (gateway.ts): the direct `tools/call` needs its raw request.
  const keepAlive = typeof (deps.fetch as Partial<KeepAliveFetch> | undefined)?.request === 'function' ? (deps.fetch as KeepAliveFetch) : undefined;
  const directTargets = new WeakMap<Client, DirectTarget | null>();
  let sdk: ClientModule | undefined;
  let connecting: Promise<Client> | undefined;
  let closed = false;
  let restarts = 0;
  let nextStartAt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let lastError: string | undefined;
  let everConnected = false;

  const breaker: Breaker = createBreaker({
    name: `child ${name}`,
    failureThreshold: deps.breaker?.failureThreshold ?? 5,
    openMs: deps.breaker?.openMs ?? 10_000,
    now,
    onStateChange: (state) => {
      metrics?.childBreaker(name, state);
      logger[state === 'open' ? 'warn' : 'info']('child_breaker', { event: 'child_breaker', child: name, state });
    },
    isFailure: (err) => !(err instanceof ToolError) && !isProtocolAnswer(err),
    refuse: (message) => new ChildUnavailableError(`the MCP server "${name}" is unavailable: ${message}; retry in a few seconds`),
  });
  metrics?.childBreaker(name, 'closed');

  /** What the credential is asked for a request made for `call`. */
  const tokenRequest = (call: ChildCall | undefined) => (call ? { callerToken: call.callerToken, callerKey: `${call.caller.issuer} ${call.caller.subject}` } : {});

  /** The gateway's credential (`token`, or none) and the trace context of `call`, on one request's headers. */
  function credentialHeaders(headers: HeaderSink, call: ChildCall | undefined, token: string | undefined): void {
    if (token) headers.set('authorization', `Bearer ${token}`);
    else headers.delete('authorization');
    if (call?.traceparent) {
      headers.set('traceparent', call.traceparent);
      const tracestate = currentTracestate();
      if (tracestate) headers.set('tracestate', tracestate);
    }
  }

  /** The gateway's credential and the trace context on every HTTP request to the child; one retry after a 401. */
  const childFetch: typeof fetch = async (input, init) => {
    const doFetch = deps.fetch ?? fetch;
    const call = calls.getStore();
    const headers = new Headers(init?.headers);
    const request = tokenRequest(call);
    const token = await credential.token(request);
    credentialHeaders(headers, call, token);
    // The direct tools/call's answer, handed over: the SDK's POST of that call gets it instead of a second call.
    const replay = call?.replay;
    let res: Response;
    if (replay && !replay.used && init?.method === 'POST') {
      replay.used = true;
      res = replay.answer;
      const { source } = replay;
      const signal = init.signal;
      if (source && signal) {
        const stop = () => source.destroy(signal.reason as Error);
        if (signal.aborted) stop();
        else if (!source.destroyed) {
          signal.addEventListener('abort', stop, { once: true });
          source.once('close', () => signal.removeEventListener('abort', stop));
        }
      }
    } else res = await doFetch(input, { ...init, headers });
    if (res.status === 401 && token) {
      await res.body?.cancel().catch(() => {});
      const fresh = await credential.token({ ...request, rejected: token });
      if (fresh && fresh !== token) {
        headers.set('authorization', `Bearer ${fresh}`);
        res = await doFetch(input, { ...init, headers });
      }
    }
    return res;
  };

  const lists = new Map<string, { at: number; value: Promise<unknown[]> }>();
  const invalidate = (kind: string) => lists.delete(kind);

  function scheduleRestart(): void {
    restarts += 1;
    const delay = Math.min(MAX_RESTART_DELAY_MS, (deps.restartDelayMs ?? 500) * 2 ** (restarts - 1));
    nextStartAt = now() + delay;
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      if (!closed) void connect().catch(() => {});
    }, delay);
    restartTimer.unref();
  }

  function connect(): Promise<Client> {
    if (closed) return Promise.reject(new ChildUnavailableError(`the MCP server "${name}" is shutting down`));
    if (connecting) return connecting;
    const wait = nextStartAt - now();
    if (wait > 0) {
      return Promise.reject(new ChildUnavailableError(`the MCP server "${name}" is restarting (next attempt in ${Math.ceil(wait / 1000)} s); retry in a moment`));
    }
    const attempt = (async () => {
      sdk ??= await import('@modelcontextprotocol/client');
      const client = new sdk.Client(deps.clientInfo, {
        capabilities: {},
        versionNegotiation: { mode: 'auto' },
        listChanged: {
          tools: { onChanged: () => invalidate('tools') },
          prompts: { onChanged: () => invalidate('prompts') },
          resources: { onChanged: () => invalidate('resources') },
        },
      });
      let transport;
      if (spec.url) {
        transport = new sdk.StreamableHTTPClientTransport(new URL(spec.url), { fetch: childFetch, requestInit: { headers: spec.headers } });
      } else {
        const stdio = await import('@modelcontextprotocol/client/stdio');
        const [command, ...args] = spec.command!;
        transport = new stdio.StdioClientTransport({
          command: command!,
          args,
          env: { ...stdio.getDefaultEnvironment(), ...spec.env },
          ...(spec.cwd ? { cwd: spec.cwd } : {}),
          stderr: 'pipe',
        });
        transport.stderr?.on('data', (chunk: Buffer) => {
          for (const line of String(chunk).split('\n')) if (line.trim()) logger.debug('child_stderr', { child: name, line: redact(line.slice(0, 500)) });
        });
      }
      client.onclose = () => {
        // Direct calls in flight end as the SDK's own requests do when the connection closes.
        const target = directTargets.get(client);
        if (target) for (const end of [...target.inflight]) end();
        if (connecting === attempt) connecting = undefined;
        lists.clear();
        if (!closed && spec.command) {
          logger.warn('child_exited', { event: 'child_exited', child: name, restarts });
          scheduleRestart();
        }
      };
      await client.connect(transport, { timeout: spec.timeoutMs });
      everConnected = true;
      lastError = undefined;
      logger.info('child_connected', { event: 'child_connected', child: name, target: label });
      return client;
    })();
    connecting = attempt;
    attempt.catch((err: unknown) => {
      if (connecting === attempt) connecting = undefined;
      lastError = reason(err);
      if (spec.command && !closed) scheduleRestart();
    });
    return attempt;
  }

  /** One request to the child: breaker, timeout, metrics, and an error that names the child. */
  async function request<T>(
    what: string,
    call: ChildCall,
    op: (client: Client, options: { timeout: number; signal?: AbortSignal }, call: ChildCall) => Promise<T>,
    tool?: string,
  ): Promise<T> {
    const started = performance.now();
    let outcome: ChildOutcome = 'success';
    // The `mcp.child_call` span (when spans are exported), and the trace context the child gets.
    const span = startSpan('mcp.child_call');
    span?.setAttributes({ 'mcp.child': name, 'mcp.operation': bounded(what), ...(tool !== undefined ? { 'mcp.tool.name': bounded(tool) } : {}) });
    const traceparent = call.traceparent ?? childTraceparent(span);
    if (traceparent) call = { ...call, traceparent };
    try {
      return await calls.run(call, () =>
        breaker.run(async () => {
          const client = await connect();
          const result = await op(client, { timeout: spec.timeoutMs, ...(call.signal ? { signal: call.signal } : {}) }, call);
          if (spec.command && restarts > 0) restarts = 0;
          return result;
        }),
      );
    } catch (err) {
      if (isProtocolAnswer(err)) {
        outcome = 'error';
        throw err;
      }
      outcome = isTimeout(err) ? 'timeout' : 'unavailable';
      lastError = reason(err);
      if (err instanceof ToolError) throw err;
      // The connection may be broken (an HTTP child restarted, a session lost): connect again next time.
      if (!spec.command) {
        const stale = connecting;
        connecting = undefined;
        void stale?.then((c) => c.close()).catch(() => {});
      }
      logger.warn('child_request_failed', { event: 'child_request_failed', child: name, what, error: lastError });
      throw new ChildUnavailableError(
        outcome === 'timeout'
          ? `the MCP server "${name}" did not answer ${what} within ${spec.timeoutMs} ms; retry, or ask its operator`
          : `the MCP server "${name}" is unavailable (${lastError}); retry in a moment — the gateway reconnects by itself`,
      );
    } finally {
      metrics?.childRequest(name, outcome, (performance.now() - started) / 1000);
      if (span) endSpan(span, { 'mcp.outcome': outcome }, outcome === 'success' ? undefined : outcome);
    }
  }

  /** `tools/call` through the SDK client: a plain request (the host checks structured content against the output schema itself). */
  const sdkCallTool = (client: Client, params: CallParams, options: { timeout: number; signal?: AbortSignal }) =>
    client.request({ method: 'tools/call', params }, options) as Promise<CallToolResult>;

  /**
   * Whether `tools/call` may go straight to the child ({@link directCallTool}): an HTTP child on
   * the gateway's keep-alive client, connected in the `initialize` era (a 2026-07-28 connection
   * wraps every request in the protocol's `_meta` envelope: the SDK's business). The headers are
   * the ones the SDK's transport sends on this connection, read from it once.
   */
  function directTarget(client: Client): DirectTarget | undefined {
    const known = directTargets.get(client);
    if (known !== undefined) return known ?? undefined;
    let target: DirectTarget | null = null;
    const transport = client.transport as { sessionId?: string; protocolVersion?: string } | undefined;
    const counter = (client as unknown as { _requestMessageId?: unknown })._requestMessageId;
    if (spec.url && keepAlive && transport && client.getProtocolEra() === 'legacy' && typeof transport.protocolVersion === 'string' && typeof counter === 'number') {
      const headers: Record<string, string> = {};
      new Headers(spec.headers).forEach((value, key) => (headers[key] = value));
      if (transport.sessionId) headers['mcp-session-id'] = transport.sessionId;
      headers['mcp-protocol-version'] = transport.protocolVersion;
      headers['content-type'] = 'application/json';
      const types = [...(headers.accept?.split(',').map((t) => t.trim().toLowerCase()) ?? []), 'application/json', 'text/event-stream'];
      headers.accept = [...new Set(types)].join(', ');
      target = { url: new URL(spec.url), headers, inflight: new Set() };
    }
    directTargets.set(client, target);
    return target ?? undefined;
  }

  /**
   * A child's `tools/call` sent by the gateway itself on the connection the SDK made, skipping the
   * SDK client's request machinery and `Response`: the same JSON-RPC request (the client's next
   * id), the same headers (the transport's, then childFetch's credential and trace headers), the
   * same timeout and cancellation. A plain JSON answer is read here: a result the SDK's validation
   * would pass unchanged ({@link isPlainToolResult}) is the result, a JSON-RPC error is the SDK's
   * `ProtocolError`. Any other answer — an event stream, a 401 (the credential's re-mint and retry),
   * a lost session, an HTTP error, a redirect, another body, a result the SDK would normalise or
   * refuse — is handed to the SDK's request as its transport's answer ({@link Replay}): the SDK
   * answers it exactly as if it had sent the request, and the child is called once.
   */
  function directCallTool(client: Client, target: DirectTarget, params: CallParams, options: { timeout: number; signal?: AbortSignal }, call: ChildCall): Promise<CallToolResult> {
    const mcp = sdk!;
    const counter = client as unknown as { _requestMessageId: number };
    const id = counter._requestMessageId++;
    const deadline = performance.now() + options.timeout;
    const { signal } = options;
    return new Promise<CallToolResult>((resolve, reject) => {
      if (signal?.aborted) {
        const why: unknown = signal.reason;
        reject(why instanceof mcp.SdkError ? why : new mcp.SdkError(mcp.SdkErrorCode.RequestTimeout, String(why)));
        return;
      }
      const abort = new AbortController();
      let settled = false;
      const end = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        target.inflight.delete(onClose);
      };
      const fail = (err: unknown) => {
        if (settled) return;
        end();
        reject(err);
        abort.abort();
      };
      // As the SDK's request: a cancellation notice to the child, and a timeout error.
      const cancel = (why: unknown) => {
        if (settled) return;
        void client.notification({ method: 'notifications/cancelled', params: { requestId: id, reason: String(why) } }).catch(() => {});
        fail(why instanceof mcp.SdkError ? why : new mcp.SdkError(mcp.SdkErrorCode.RequestTimeout, String(why)));
      };
      const onAbort = () => cancel(signal!.reason);
      const onClose = () => fail(new mcp.SdkError(mcp.SdkErrorCode.ConnectionClosed, 'Connection closed'));
      const timer = setTimeout(() => cancel(new mcp.SdkError(mcp.SdkErrorCode.RequestTimeout, 'Request timed out', { timeout: options.timeout })), options.timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
      target.inflight.add(onClose);
      const handOver = (answer: Response, source?: IncomingMessage) => {
        if (settled) return;
        end();
        const replay: Replay = { answer, used: false, ...(source ? { source } : {}) };
        const timeout = Math.max(1, Math.round(deadline - performance.now()));
        resolve(
          calls.run({ ...call, replay }, async () => {
            // The SDK's request takes the id this call was sent with (and the answer carries).
            const next = counter._requestMessageId;
            counter._requestMessageId = id;
            try {
              return sdkCallTool(client, params, { ...options, timeout });
            } finally {
              counter._requestMessageId = next;
            }
          }),
        );
      };
      void (async () => {
        const body = JSON.stringify({ method: 'tools/call', params, jsonrpc: '2.0', id });
        const token = await credential.token(tokenRequest(call));
        if (settled) return;
        const headers: Record<string, string> = { ...target.headers, 'content-length': String(Buffer.byteLength(body)) };
        credentialHeaders(recordSink(headers), call, token);
        const res = await keepAlive!.request(target.url, 'POST', headers, body, abort.signal);
        if (settled) return void res.resume();
        const type = res.headers['content-type'];
        if (res.statusCode !== 200 || res.headers['content-encoding'] !== undefined || !type || !JSON_TYPE.test(type)) {
          return handOver(await keepAlive!.response(res, 'POST', abort.signal), res);
        }
        const raw = await readBody(res);
        if (settled) return;
        let message: unknown;
        try {
          message = JSON.parse(raw.toString('utf8'));
        } catch {
          message = undefined;
        }
        const answer = directAnswer(message, id);
        if (answer && 'result' in answer) {
          end();
          resolve(answer.result);
        } else if (answer) {
          end();
          reject(mcp.ProtocolError.fromError(answer.error.code, answer.error.message, answer.error.data));
        } else handOver(bufferedResponse(res, raw));
      })().catch(fail);
    });
  }

  /** A list, every page, cached until the child says it changed or the TTL passes. */
  function cachedList<T>(
    kind: string,
    call: ChildCall,
    page: (client: Client, cursor: string | undefined, o: { timeout: number }) => Promise<{ items: T[]; next?: string }>,
  ): Promise<T[]> {
    const hit = lists.get(kind);
    if (hit && now() - hit.at < listTtlMs) return hit.value as Promise<T[]>;
    const value = request(`the ${kind} list`, call, async (client, options) => {
      const items: T[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < MAX_PAGES; i++) {
        const r = await page(client, cursor, options);
        items.push(...r.items);
        if (!r.next) break;
        cursor = r.next;
      }
      return items;
    });
    lists.set(kind, { at: now(), value });
    value.catch(() => {
      if (lists.get(kind)?.value === value) lists.delete(kind);
    });
    return value;
  }

  const capable = (client: Client, what: 'resources' | 'prompts') => Boolean(client.getServerCapabilities()?.[what]);

  return {
    name,
    spec,
    tools: (call) =>
      cachedList<Tool>('tools', call, async (c, cursor, o) => {
        const r = await c.listTools(cursor ? { cursor } : undefined, o);
        return { items: r.tools, ...(r.nextCursor ? { next: r.nextCursor } : {}) };
      }),
    callTool: (tool, args, call) =>
      request(
        `tools/call ${tool}`,
        call,
        (c, o, traced) => {
          const params: CallParams = { name: tool, ...(args ? { arguments: args } : {}) };
          const target = keepAlive && c.transport ? directTarget(c) : undefined;
          return target ? directCallTool(c, target, params, o, traced) : sdkCallTool(c, params, o);
        },
        tool,
      ),
    resources: (call) =>
      cachedList<Resource>('resources', call, async (c, cursor, o) => {
        if (!capable(c, 'resources')) return { items: [] };
        const r = await c.listResources(cursor ? { cursor } : undefined, o);
        return { items: r.resources, ...(r.nextCursor ? { next: r.nextCursor } : {}) };
      }),
    resourceTemplates: (call) =>
      cachedList<ResourceTemplate>('resource templates', call, async (c, cursor, o) => {
        if (!capable(c, 'resources')) return { items: [] };
        const r = await c.listResourceTemplates(cursor ? { cursor } : undefined, o);
        return { items: r.resourceTemplates, ...(r.nextCursor ? { next: r.nextCursor } : {}) };
      }),
    readResource: (uri, call) => request(`resources/read`, call, (c, o) => c.readResource({ uri }, o)),
    prompts: (call) =>
      cachedList<Prompt>('prompts', call, async (c, cursor, o) => {
        if (!capable(c, 'prompts')) return { items: [] };
        const r = await c.listPrompts(cursor ? { cursor } : undefined, o);
        return { items: r.prompts, ...(r.nextCursor ? { next: r.nextCursor } : {}) };
      }),
    getPrompt: (prompt, args, call) => request(`prompts/get ${prompt}`, call, (c, o) => c.getPrompt({ name: prompt, ...(args ? { arguments: args } : {}) }, o)),
    health() {
      const state = breaker.state();
      const credentialStatus = credential.status();
      if (state === 'open') return { name, status: 'down', breaker: state, detail: lastError ?? 'circuit breaker open' };
      if (!credentialStatus.ok) return { name, status: 'down', breaker: state, detail: credentialStatus.detail };
      if (nextStartAt > now()) return { name, status: 'down', breaker: state, detail: `restarting: ${lastError ?? 'exited'}` };
      if (lastError) return { name, status: everConnected ? 'ok' : 'down', breaker: state, detail: lastError };
      return { name, status: everConnected ? 'ok' : 'unknown', breaker: state };
    },
    async close() {
      closed = true;
      clearTimeout(restartTimer);
      const c = connecting;
      connecting = undefined;
      await c?.then((client) => client.close()).catch(() => {});
      credential.close();
    },
  };
}

const JSON_TYPE = /^application\/json\s*(;|$)/i;

const recordSink = (headers: Record<string, string>): HeaderSink => ({
  set: (name, value) => void (headers[name] = value),
  delete: (name) => void delete headers[name],
});

/** A whole answer body; a failure as `fetch` reports one. */
function readBody(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    res.once('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
  });
}

/** An answer already read, as the `Response` fetch would have given. */
function bufferedResponse(res: IncomingMessage, body: Buffer): Response {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return new Response(body as unknown as ConstructorParameters<typeof Response>[0], { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A JSON-RPC answer to request `id` that the SDK would take as it is: a result that passes its
 * validation unchanged ({@link isPlainToolResult}), or an error; undefined for anything else.
 */
function directAnswer(message: unknown, id: number): { result: CallToolResult } | { error: { code: number; message: string; data?: unknown } } | undefined {
  if (!isObject(message) || message.jsonrpc !== '2.0' || message.id !== id) return undefined;
  let keys = 0;
  for (const _ in message) keys++;
  if (keys !== 3) return undefined;
  if ('result' in message) return isPlainToolResult(message.result) ? { result: message.result } : undefined;
  const error = message.error;
  if (!isObject(error) || !Number.isSafeInteger(error.code) || typeof error.message !== 'string') return undefined;
  for (const key in error) if (key !== 'code' && key !== 'message' && key !== 'data') return undefined;
  return { error: error as { code: number; message: string; data?: unknown } };
}

/** A JSON-RPC error the child answered (unknown tool, invalid params): an answer, not a failure of the child. */
function isProtocolAnswer(err: unknown): boolean {
  return Boolean(err) && (err as { name?: unknown }).name === 'ProtocolError';
}

function isTimeout(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'REQUEST_TIMEOUT' || (err as { name?: unknown }).name === 'TimeoutError';
}

/** Why a request failed, for logs and answers: the network code or the message, never a token. */
function reason(err: unknown): string {
  for (let e: unknown = err, i = 0; e instanceof Error && i < 6; e = e.cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
  }
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number') return `HTTP ${status}`;
  return redact(err instanceof Error ? err.message : String(err)).slice(0, 300);
}
