/**
 * One child MCP server of the gateway: a connection (Streamable HTTP, either protocol era, or a
 * stdio process the gateway spawns and restarts with backoff) through the MCP client SDK, the
 * gateway's own credential on every HTTP request (the caller's token never leaves the gateway), a
 * circuit breaker, a timeout per request, cached lists refreshed on the child's list-changed
 * notifications and on a timer, and per-child metrics.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CallToolResult, GetPromptResult, ListResourceTemplatesResult, Prompt, ReadResourceResult, Resource, Tool } from '@modelcontextprotocol/server';

/** A resource template as listed (not the server SDK's class of the same name). */
export type ResourceTemplate = ListResourceTemplatesResult['resourceTemplates'][number];
import type { Logger } from '../../shared/logger.js';
import { redact } from '../../shared/redact.js';
import type { Caller } from '../../shared/tools/types.js';
import { ToolError } from '../../shared/tools/types.js';
import type { BreakerState, ChildOutcome, Metrics } from '../metrics.js';
import { createBreaker, type Breaker } from '../store/breaker.js';
import type { ChildCredential } from './credentials.js';
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

export function createChild(spec: ChildSpec, deps: ChildDeps): Child {
  const { name } = spec;
  const { logger, metrics, credential } = deps;
  const now = deps.now ?? Date.now;
  const listTtlMs = deps.listTtlMs ?? 60_000;
  const label = spec.url ? new URL(spec.url).origin : `stdio ${spec.command![0]}`;
  const calls = new AsyncLocalStorage<ChildCall>();
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

  /** The gateway's credential and the trace context on every HTTP request to the child; one retry after a 401. */
  const childFetch: typeof fetch = async (input, init) => {
    const doFetch = deps.fetch ?? fetch;
    const call = calls.getStore();
    const headers = new Headers(init?.headers);
    const request = call ? { callerToken: call.callerToken, callerKey: `${call.caller.issuer} ${call.caller.subject}` } : {};
    const token = await credential.token(request);
    if (token) headers.set('authorization', `Bearer ${token}`);
    else headers.delete('authorization');
    if (call?.traceparent) {
      headers.set('traceparent', call.traceparent);
      const tracestate = currentTracestate();
      if (tracestate) headers.set('tracestate', tracestate);
    }
    let res = await doFetch(input, { ...init, headers });
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
  async function request<T>(what: string, call: ChildCall, op: (client: Client, options: { timeout: number; signal?: AbortSignal }) => Promise<T>, tool?: string): Promise<T> {
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
          const result = await op(client, { timeout: spec.timeoutMs, ...(call.signal ? { signal: call.signal } : {}) });
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
      // A plain request: the host checks structured content against the output schema itself.
      request(
        `tools/call ${tool}`,
        call,
        (c, o) => c.request({ method: 'tools/call', params: { name: tool, ...(args ? { arguments: args } : {}) } }, o) as Promise<CallToolResult>,
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
