import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { InMemoryTransport, PROTOCOL_VERSION_META_KEY, ProtocolError, type AuthInfo, type CallToolResult, type JSONRPCMessage, type Server } from '@modelcontextprotocol/server';
import { isPlainToolResult } from './plain-result.js';
import { callerResolver, type createToolRunner } from '../../../shared/mcp/server-factory.js';
import type { UpstreamContext, UpstreamProxy } from '../../../shared/mcp/upstream.js';
import { errorResult, ToolError, type Caller } from '../../../shared/tools/types.js';

type ToolRunner = ReturnType<typeof createToolRunner>;
// Our tools finish promptly; a call answered straight from the runner has no cancellation.
const NEVER_ABORTED = new AbortController().signal;

type JsonRpcRequest = { jsonrpc: '2.0'; id: string | number; method: string; params?: Record<string, unknown> };

/**
 * Gateway mode: a child's `tools/call` answered without the long-lived server, as the server's
 * `tools/call` handler (server-factory.ts) answers it — the same proxy call, the same metric, a
 * `ToolError` or other failure as an error result, a `ProtocolError` as a JSON-RPC error. A result
 * the SDK's validation would change (anything but text content, see {@link isPlainToolResult}) goes
 * through the server after all, replayed ({@link replayable}): the child is called once.
 */
export interface DirectUpstream {
  proxy: UpstreamProxy;
  contextOf: (authInfo: AuthInfo | undefined) => UpstreamContext;
  onToolCall?: (tool: string, status: 'success' | 'error', seconds: number) => void;
  replay: Replayable;
}

type DirectOptions = { runner: ToolRunner; callerOf: (authInfo: AuthInfo | undefined) => Caller; listDirect?: boolean; upstream?: DirectUpstream };

/**
 * The upstream proxy the server is given in gateway mode: the same proxy, but a `tools/call` of
 * a name that {@link Replayable.stash} handed out returns that stored result once, without calling
 * the child. The names carry a random per-process prefix that no client can guess; their tool
 * call metric is skipped ({@link Replayable.isReplay}), the direct path counted the real call.
 */
export interface Replayable {
  proxy: UpstreamProxy;
  stash(result: CallToolResult): string;
  isReplay(tool: string): boolean;
}

export function replayable(upstream: UpstreamProxy): Replayable {
  const prefix = `seed-mcp-replay-${randomUUID()}-`;
  const stored = new Map<string, CallToolResult>();
  let next = 0;
  return {
    proxy: {
      listTools: (...a) => upstream.listTools(...a),
      callTool(params, signal, context) {
        const result = params.name.startsWith(prefix) ? stored.get(params.name) : undefined;
        if (!result) return upstream.callTool(params, signal, context);
        stored.delete(params.name);
        return Promise.resolve(result);
      },
      listResources: (...a) => upstream.listResources(...a),
      listResourceTemplates: (...a) => upstream.listResourceTemplates(...a),
      readResource: (...a) => upstream.readResource(...a),
      listPrompts: (...a) => upstream.listPrompts(...a),
      getPrompt: (...a) => upstream.getPrompt(...a),
      close: () => upstream.close(),
    },
    stash(result) {
      const name = `${prefix}${++next}`;
      stored.set(name, result);
      return name;
    },
    isReplay: (tool) => tool.startsWith(prefix),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether a POST may skip the SDK's per-request HTTP machinery: one claim-less JSON-RPC request of
 * the `initialize` era (no 2026-07-28 envelope, no session), other than `initialize` itself, with
 * the media types that era requires. Anything else — 2026-07-28 requests, sessions, batches,
 * notifications, odd headers — goes to the SDK, which owns those answers.
 */
export function fastPathEligible(req: IncomingMessage, body: unknown): body is JsonRpcRequest {
  if (req.headers['mcp-session-id'] !== undefined) return false;
  const version = req.headers['mcp-protocol-version'];
  if (version !== undefined && !/^20(24|25)-\d\d-\d\d$/.test(String(version))) return false;
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return false;
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return false;
  if (!body || typeof body !== 'object' || Array.isArray(body)) return false;
  const m = body as Partial<JsonRpcRequest>;
  if (m.jsonrpc !== '2.0' || typeof m.method !== 'string' || m.method === 'initialize') return false;
  if (typeof m.id !== 'string' && typeof m.id !== 'number') return false;
  const meta = (m.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  return meta?.[PROTOCOL_VERSION_META_KEY] === undefined;
}

/**
 * One long-lived MCP server answering the requests {@link fastPathEligible} admits, over the SDK's
 * in-memory transport: each request carries its caller's `authInfo`, ids are made unique inside
 * and restored in the answer. A server per request (the SDK's stateless serving) costs several
 * times more than the request itself.
 */
export async function createFastPath(server: Server, direct?: DirectOptions) {
  const [client, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const pending = new Map<number, (reply: JSONRPCMessage) => void>();
  let nextId = 0;
  client.onmessage = (message) => {
    const id = (message as { id?: unknown }).id;
    if (typeof id !== 'number') return; // the server sends nothing else unasked in this era
    pending.get(id)?.(message);
    pending.delete(id);
  };
  await client.start();
  async function viaServer(request: JsonRpcRequest, authInfo: AuthInfo | undefined): Promise<JSONRPCMessage> {
    const id = ++nextId;
    const reply = new Promise<JSONRPCMessage>((resolve) => pending.set(id, resolve));
    await client.send({ ...request, id } as JSONRPCMessage, authInfo ? { authInfo } : undefined);
    return { ...(await reply), id: request.id } as JSONRPCMessage;
  }
  return {
    async dispatch(request: JsonRpcRequest, authInfo: AuthInfo | undefined): Promise<JSONRPCMessage> {
      // seed-mcp's own tools and their list are answered by the runner the SDK handler uses too,
      // without the SDK's per-message validation and context, and so are children's tool calls in
      // gateway mode; every other method goes to the server.
      if (direct && (request.method === 'tools/list' || request.method === 'tools/call')) {
        const answer = await answerDirectly(request, authInfo, direct, viaServer);
        if (answer) return answer;
      }
      return viaServer(request, authInfo);
    },
    async close(): Promise<void> {
      await client.close().catch(() => {});
      await server.close().catch(() => {});
    },
  };
}

async function answerDirectly(
  request: JsonRpcRequest,
  authInfo: AuthInfo | undefined,
  { runner, callerOf, listDirect = true, upstream }: DirectOptions,
  viaServer: (request: JsonRpcRequest, authInfo: AuthInfo | undefined) => Promise<JSONRPCMessage>,
): Promise<JSONRPCMessage | undefined> {
  const fail = (code: number, message: string) => ({ jsonrpc: '2.0', id: request.id, error: { code, message } }) as JSONRPCMessage;
  if (request.method === 'tools/list') {
    if (!listDirect) return undefined;
    // Our list has one page: a cursor is the SDK's business (it answers an invalid one).
    if (request.params?.cursor !== undefined) return undefined;
    return { jsonrpc: '2.0', id: request.id, result: { tools: runner.list } } as JSONRPCMessage;
  }
  const name = request.params?.name;
  if (typeof name !== 'string') return undefined;
  if (!runner.has(name)) return upstream ? answerUpstream(request, name, authInfo, upstream, viaServer) : undefined;
  const args = request.params?.arguments;
  if (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args))) return fail(-32602, 'Invalid params: arguments must be an object');
  const caller = callerOf(authInfo);
  try {
    const result = await runner.call(
      name,
      (args ?? {}) as Record<string, unknown>,
      callerResolver(async () => caller),
      NEVER_ABORTED,
    );
    return { jsonrpc: '2.0', id: request.id, result } as JSONRPCMessage;
  } catch (err) {
    if (err instanceof ProtocolError) return fail(err.code, err.message);
    throw err;
  }
}

/** A child's `tools/call` (gateway mode), answered as the server's handler answers it; see {@link DirectUpstream}. */
async function answerUpstream(
  request: JsonRpcRequest,
  name: string,
  authInfo: AuthInfo | undefined,
  upstream: DirectUpstream,
  viaServer: (request: JsonRpcRequest, authInfo: AuthInfo | undefined) => Promise<JSONRPCMessage>,
): Promise<JSONRPCMessage | undefined> {
  // Only `name` and object `arguments`: `_meta` and anything else is for the SDK to validate.
  const params = request.params!;
  for (const key in params) if (key !== 'name' && key !== 'arguments') return undefined;
  const args = params.arguments;
  if (args !== undefined && !isObject(args)) return undefined;
  if (upstream.replay.isReplay(name)) return undefined;
  const started = performance.now();
  let result: CallToolResult;
  try {
    result = await upstream.proxy.callTool(args === undefined ? { name } : { name, arguments: args }, undefined, upstream.contextOf(authInfo));
  } catch (err) {
    if (err instanceof ProtocolError) {
      // As the SDK's server answers a handler's error (2025 era: -32002 is answered as -32602).
      const code = Number.isSafeInteger(err.code) ? (err.code === -32002 ? -32602 : err.code) : -32603;
      const data = (err as { data?: unknown }).data;
      return { jsonrpc: '2.0', id: request.id, error: { code, message: err.message ?? 'Internal error', ...(data !== undefined ? { data } : {}) } } as JSONRPCMessage;
    }
    result = errorResult(err instanceof ToolError ? err.message : `could not run ${name}: ${(err as Error).message}`);
  }
  upstream.onToolCall?.(name, result.isError ? 'error' : 'success', (performance.now() - started) / 1000);
  if (isPlainToolResult(result)) return { jsonrpc: '2.0', id: request.id, result } as JSONRPCMessage;
  return viaServer({ ...request, params: { name: upstream.replay.stash(result), arguments: {} } }, authInfo);
}
