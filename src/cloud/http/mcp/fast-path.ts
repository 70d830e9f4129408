import type { IncomingMessage } from 'node:http';
import { InMemoryTransport, PROTOCOL_VERSION_META_KEY, ProtocolError, type AuthInfo, type JSONRPCMessage, type Server } from '@modelcontextprotocol/server';
import { callerResolver, type createToolRunner } from '../../../shared/mcp/server-factory.js';
import type { Caller } from '../../../shared/tools/types.js';

type ToolRunner = ReturnType<typeof createToolRunner>;
// Our tools finish promptly; a call answered straight from the runner has no cancellation.
const NEVER_ABORTED = new AbortController().signal;

type JsonRpcRequest = { jsonrpc: '2.0'; id: string | number; method: string; params?: Record<string, unknown> };

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
export async function createFastPath(server: Server, direct?: { runner: ToolRunner; callerOf: (authInfo: AuthInfo | undefined) => Caller; listDirect?: boolean }) {
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
  return {
    async dispatch(request: JsonRpcRequest, authInfo: AuthInfo | undefined): Promise<JSONRPCMessage> {
      // seed-mcp's own tools and their list are answered by the runner the SDK handler uses too,
      // without the SDK's per-message validation and context; every other method goes to the server.
      if (direct && (request.method === 'tools/list' || request.method === 'tools/call')) {
        const answer = await answerDirectly(request, authInfo, direct);
        if (answer) return answer;
      }
      const id = ++nextId;
      const reply = new Promise<JSONRPCMessage>((resolve) => pending.set(id, resolve));
      await client.send({ ...request, id } as JSONRPCMessage, authInfo ? { authInfo } : undefined);
      return { ...(await reply), id: request.id } as JSONRPCMessage;
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
  { runner, callerOf, listDirect = true }: { runner: ToolRunner; callerOf: (authInfo: AuthInfo | undefined) => Caller; listDirect?: boolean },
): Promise<JSONRPCMessage | undefined> {
  const fail = (code: number, message: string) => ({ jsonrpc: '2.0', id: request.id, error: { code, message } }) as JSONRPCMessage;
  if (request.method === 'tools/list') {
    if (!listDirect) return undefined;
    // Our list has one page: a cursor is the SDK's business (it answers an invalid one).
    if (request.params?.cursor !== undefined) return undefined;
    return { jsonrpc: '2.0', id: request.id, result: { tools: runner.list } } as JSONRPCMessage;
  }
  const name = request.params?.name;
  if (typeof name !== 'string' || !runner.has(name)) return undefined;
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
