/**
 * Step 5 of the MCP endpoint: the message reaches an MCP server. Which one depends on the era of
 * the client and the request:
 * - one claim-less `initialize`-era request: the long-lived server of the fast path;
 * - a request of a session held here: that session's server; of a session another replica holds
 *   (no sticky sessions at the load balancer): the fast path answers it for the same principal;
 * - an `initialize`: a new session (TTL, capacity);
 * - anything else (2026-07-28 requests, batches, GET, DELETE): the SDK's stateless handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { Logger } from '../../../shared/logger.js';
import { createServerFactory, createToolRunner, type ServerFactoryOptions } from '../../../shared/mcp/server-factory.js';
import type { UpstreamContext, UpstreamProxy } from '../../../shared/mcp/upstream.js';
import { ToolError, type Caller, type ToolDefinition } from '../../../shared/tools/types.js';
import { CloudError } from '../../errors.js';
import { createFastPath, fastPathEligible, replayable, type DirectUpstream } from './fast-path.js';
import type { Metrics } from '../../metrics.js';
import { createSessions, type Sessions } from '../../sessions.js';
import type { SharedStore } from '../../store/types.js';
import { toolAccess, type ToolAccessOptions } from '../../tool-access.js';
import { sendJson } from '../respond.js';
import type { Authenticated } from './authenticate.js';
import { MAX_BODY_BYTES } from './read-message.js';

export interface McpDispatchDeps {
  tools: ToolDefinition[];
  /** Gateway mode: the children served next to (`/mcp`) or instead of (`/mcp/<name>`) the tools above. */
  upstream?: UpstreamProxy;
  /** The server's name in `initialize` answers; `seed-mcp` unless set. */
  name?: string;
  version: string;
  access: ToolAccessOptions;
  logger: Logger;
  metrics?: Metrics;
  sessions: {
    /** `MCP_SESSION_TTL_SECONDS` and `MCP_MAX_SESSIONS`. */
    ttlSec: number;
    max: number;
    /** Session records for other replicas: only with Redis. */
    store?: SharedStore;
    /** Test seams. */
    now?: () => number;
    sweepMs?: number;
  };
}

export interface McpDispatch {
  /** Answers `message` (already read and checked) for the caller `auth`. */
  dispatch(req: IncomingMessage, res: ServerResponse, message: unknown, auth: Authenticated): Promise<void>;
  /** The sessions of `initialize`-era clients, for readiness. */
  readonly sessions: Sessions;
  close(): Promise<void>;
}

const ANONYMOUS: Caller = { subject: 'anonymous', issuer: 'none', scopes: [] };

/** The caller the authentication step put into `authInfo`; anonymous only with AUTH_REQUIRED=false. */
export const callerOf = (authInfo: AuthInfo | undefined): Caller => (authInfo?.extra as { caller?: Caller } | undefined)?.caller ?? ANONYMOUS;

/** Who a proxied request is for: the caller, their token (for a token exchange, never forwarded) and its audiences. */
export function upstreamContextOf(authInfo: AuthInfo | undefined): UpstreamContext {
  const audience = (authInfo?.extra as { audience?: readonly string[] } | undefined)?.audience;
  return { caller: callerOf(authInfo), ...(authInfo?.token ? { token: authInfo.token } : {}), ...(audience ? { audience } : {}) };
}

/** Builds the MCP servers behind the endpoint: the fast path, the sessions and the SDK's handler. */
export async function createMcpDispatch(deps: McpDispatchDeps): Promise<McpDispatch> {
  const { logger, metrics } = deps;
  const [{ createMcpHandler, isInitializeRequest }, { toNodeHandler }] = await Promise.all([import('@modelcontextprotocol/server'), import('@modelcontextprotocol/node')]);
  // Gateway mode: the fast path calls the children itself; what it hands back to the server is replayed.
  const replay = deps.upstream ? replayable(deps.upstream) : undefined;
  const onToolCall = (tool: string, status: 'success' | 'error', seconds: number) => metrics?.toolCall(tool, status, seconds);
  const factoryOptions: ServerFactoryOptions = {
    info: { name: deps.name ?? 'seed-mcp', version: deps.version },
    mode: 'cloud',
    tools: deps.tools,
    callerFrom: async (ctx) => callerOf(ctx.http?.authInfo),
    ...(replay ? { upstream: replay.proxy, upstreamContext: (ctx) => upstreamContextOf(ctx.http?.authInfo) } : {}),
    // The HTTP layer already answered 403; this keeps a tool safe however it is reached.
    authorize: (tool, caller) => {
      const access = toolAccess(tool, caller, deps.access);
      if (access.allowed) return;
      switch (access.code) {
        case 'INSUFFICIENT_SCOPE':
          throw new ToolError(`${tool.name} needs the scopes: ${access.missing.join(' ')}`);
        case 'ACCESS_DENIED':
          throw new ToolError(access.reason);
      }
    },
    logger,
    onToolCall: (tool, status, seconds) => {
      if (!replay?.isReplay(tool)) onToolCall(tool, status, seconds);
    },
  };
  const factory = createServerFactory(factoryOptions);
  // With children, the tool list is theirs too: own tool calls and children's tool calls skip the server.
  const upstream: DirectUpstream | undefined = deps.upstream && replay ? { proxy: deps.upstream, contextOf: upstreamContextOf, onToolCall, replay } : undefined;
  const fast = await createFastPath(factory(), { runner: createToolRunner(factoryOptions), callerOf, listDirect: !deps.upstream, ...(upstream ? { upstream } : {}) });
  const sessions = createSessions({
    ttlSec: deps.sessions.ttlSec,
    max: deps.sessions.max,
    factory,
    logger,
    metrics,
    now: deps.sessions.now,
    sweepMs: deps.sessions.sweepMs,
    ...(deps.sessions.store ? { store: deps.sessions.store } : {}),
  });
  const mcp = createMcpHandler(factory, { onerror: (err) => logger.warn(`mcp: ${err.message}`) });
  const mcpNode = toNodeHandler(mcp, { onerror: (err) => logger.warn(`mcp adapter: ${err.message}`), maxRequestBodySize: MAX_BODY_BYTES });

  /**
   * A request of a session another replica opened: answered here by the long-lived server, as the
   * fast path answers them, with the session id echoed; notifications are accepted; DELETE ends
   * it. A server-sent event stream (GET) stays with the replica that holds the session.
   */
  async function answerForeignSession(req: IncomingMessage, res: ServerResponse, sessionId: string, message: unknown, info: AuthInfo | undefined): Promise<void> {
    const headers = { 'mcp-session-id': sessionId };
    if (req.method === 'DELETE') {
      await sessions.forget(sessionId);
      res.writeHead(200, headers).end();
      return;
    }
    if (req.method !== 'POST') {
      throw new CloudError('SESSION_STREAM_ELSEWHERE', 'this replica does not hold the session stream', { headers: { ...headers, allow: 'POST, DELETE' } });
    }
    const m = message as { id?: unknown; method?: unknown } | undefined;
    if (m && !Array.isArray(m) && typeof m.method === 'string' && m.id === undefined) {
      res.writeHead(202, headers).end();
      return;
    }
    if (!m || Array.isArray(m) || typeof m.method !== 'string' || (typeof m.id !== 'string' && typeof m.id !== 'number') || m.method === 'initialize') {
      throw new CloudError('INVALID_SESSION_REQUEST', 'Invalid Request', { headers });
    }
    sendJson(res, 200, await fast.dispatch(m as Parameters<typeof fast.dispatch>[0], info), headers);
  }

  return {
    sessions,
    async dispatch(req, res, message, auth) {
      const { verified, info } = auth;
      if (req.method === 'POST' && fastPathEligible(req, message)) {
        sendJson(res, 200, await fast.dispatch(message, info));
        return;
      }
      // Only the SDK's handlers read it; set late, as a new property changes the request's shape.
      if (info) (req as IncomingMessage & { auth?: AuthInfo }).auth = info;
      const owner = verified ? `${verified.issuer} ${verified.subject}` : 'anonymous';
      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        if (await sessions.ownedElsewhere(sessionId, owner)) return answerForeignSession(req, res, sessionId, message, info);
        if ((await sessions.handle(sessionId, req, res, message, owner)) === 'not-found') throw new CloudError('SESSION_NOT_FOUND', 'Session not found');
        return;
      }
      if (req.method === 'POST' && isInitializeRequest(message)) {
        // initialize-era clients get a session (TTL, capacity); 2026-07-28 clients need none.
        if ((await sessions.open(req, res, message, owner)) === 'full') {
          throw new CloudError('SESSIONS_FULL', `session capacity reached (${deps.sessions.max})`);
        }
        return;
      }
      await mcpNode(req, res, message);
    },
    async close() {
      await sessions.closeAll();
      await fast.close();
      await mcp.close().catch(() => {});
    },
  };
}
