import { ProtocolError, ProtocolErrorCode, Server, type CallToolResult, type ServerContext, type Tool } from '@modelcontextprotocol/server';
import type { Logger } from '../logger.js';
import { errorResult, ToolError, type Caller, type ToolDefinition } from '../tools/types.js';
import type { UpstreamContext, UpstreamProxy } from './upstream.js';

export interface ServerFactoryOptions {
  info: { name: string; version: string };
  mode: 'local' | 'cloud';
  tools: ToolDefinition[];
  /** The caller of one request: local mode asks the token source, cloud mode reads `authInfo`. */
  callerFrom(ctx: ServerContext, options: { signIn: boolean }): Promise<Caller>;
  /** Cloud mode: throws a `ToolError` when the caller may not use the tool (scopes, policy). */
  authorize?(tool: ToolDefinition, caller: Caller): void;
  /** Local bridge mode: a remote server's tools, resources and prompts, offered as our own. */
  upstream?: UpstreamProxy;
  /** Who each proxied request is for (the cloud gateway); absent for the local bridge. */
  upstreamContext?: (ctx: ServerContext) => UpstreamContext | undefined;
  /** Told about every tool call, for metrics. */
  onToolCall?(tool: string, status: 'success' | 'error', seconds: number): void;
  logger: Logger;
  instructions?: string;
}

const asTool = (t: ToolDefinition): Tool => ({
  name: t.name,
  ...(t.title ? { title: t.title } : {}),
  description: t.description,
  inputSchema: t.inputSchema,
  ...(t.annotations ? { annotations: t.annotations } : {}),
});

/** Resolves the caller of one call: `signIn: false` must not start a sign-in. */
export type CallerResolver = (options?: { signIn?: boolean }) => Promise<Caller>;

/**
 * Runs seed-mcp's own tools with one set of semantics wherever the call arrives from (the SDK's
 * `tools/call` handler, or the cloud fast path): authorization, handler, a `ToolError` as an
 * error result, any other failure as a logged internal error, the call counted and timed.
 */
export function createToolRunner(options: Pick<ServerFactoryOptions, 'tools' | 'mode' | 'info' | 'authorize' | 'onToolCall' | 'logger'>) {
  const own = new Map(options.tools.map((t) => [t.name, t]));
  const list = options.tools.map(asTool);
  return {
    list,
    has: (name: string) => own.has(name),
    async call(name: string, args: Record<string, unknown>, caller: CallerResolver, signal: AbortSignal): Promise<CallToolResult> {
      const tool = own.get(name);
      if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown tool: ${name}`);
      const started = performance.now();
      let result: CallToolResult;
      try {
        if (options.authorize) options.authorize(tool, await caller());
        result = await tool.handler(args, { mode: options.mode, server: options.info, caller, signal });
      } catch (err) {
        if (err instanceof ProtocolError) throw err;
        if (err instanceof ToolError) {
          result = errorResult(err.message);
        } else {
          options.logger.error(`tool ${name} failed: ${(err as Error).message}`);
          result = errorResult(`could not run ${name}: an internal error occurred; see the seed-mcp log on stderr`);
        }
      }
      options.onToolCall?.(name, result.isError ? 'error' : 'success', (performance.now() - started) / 1000);
      return result;
    },
  };
}

/** One call's caller, resolved at most once (a status check without sign-in is not remembered). */
export function callerResolver(resolve: (o: { signIn: boolean }) => Promise<Caller>): CallerResolver {
  let caller: Promise<Caller> | undefined;
  return (o) => (o?.signIn === false ? (caller ?? resolve({ signIn: false })) : (caller ??= resolve({ signIn: true })));
}

/**
 * The one MCP server of seed-mcp, knowing nothing of transports: stdio (`serve`) and Streamable
 * HTTP (`cloud`) both call the returned factory. Its own tools come first; with an upstream, the
 * upstream's tools, resources and prompts follow (an upstream tool named like one of ours is
 * hidden, so `whoami` always answers for seed-mcp).
 */
export function createServerFactory(options: ServerFactoryOptions): () => Server {
  const runner = createToolRunner(options);
  const own = new Set(options.tools.map((t) => t.name));
  const ownList = runner.list;
  const { upstream, logger } = options;
  const contextOf = (ctx: ServerContext) => options.upstreamContext?.(ctx);

  return () => {
    const server = new Server(options.info, {
      capabilities: {
        tools: {},
        ...(upstream ? { resources: {}, prompts: {} } : {}),
      },
      ...(options.instructions ? { instructions: options.instructions } : {}),
    });

    server.setRequestHandler('tools/list', async (request, ctx) => {
      const cursor = request.params?.cursor;
      if (!upstream) return { tools: ownList };
      try {
        const remote = await upstream.listTools(cursor, ctx.mcpReq.signal, contextOf(ctx));
        const tools = remote.tools.filter((t) => !own.has(t.name));
        return { tools: cursor ? tools : [...ownList, ...tools], ...(remote.nextCursor ? { nextCursor: remote.nextCursor } : {}) };
      } catch (err) {
        // The upstream is down or needs a sign-in: still list what we can serve ourselves.
        logger.warn(`could not list the upstream's tools: ${(err as Error).message}`);
        return { tools: cursor ? [] : ownList };
      }
    });

    server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
      const { name } = request.params;
      if (runner.has(name)) {
        const args = (request.params.arguments ?? {}) as Record<string, unknown>;
        return runner.call(
          name,
          args,
          callerResolver((o) => options.callerFrom(ctx, o)),
          ctx.mcpReq.signal,
        );
      }
      if (!upstream) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown tool: ${name}`);
      const started = performance.now();
      let result: CallToolResult;
      try {
        result = await upstream.callTool(request.params, ctx.mcpReq.signal, contextOf(ctx));
      } catch (err) {
        if (err instanceof ProtocolError) throw err;
        result = errorResult(err instanceof ToolError ? err.message : `could not run ${name}: ${(err as Error).message}`);
      }
      options.onToolCall?.(name, result.isError ? 'error' : 'success', (performance.now() - started) / 1000);
      return result;
    });

    if (upstream) {
      server.setRequestHandler('resources/list', (r, ctx) => upstream.listResources(r.params?.cursor, ctx.mcpReq.signal, contextOf(ctx)).catch(asProtocolError));
      server.setRequestHandler('resources/templates/list', (r, ctx) => upstream.listResourceTemplates(r.params?.cursor, ctx.mcpReq.signal, contextOf(ctx)).catch(asProtocolError));
      server.setRequestHandler('resources/read', (r, ctx) => upstream.readResource(r.params, ctx.mcpReq.signal, contextOf(ctx)).catch(asProtocolError));
      server.setRequestHandler('prompts/list', (r, ctx) => upstream.listPrompts(r.params?.cursor, ctx.mcpReq.signal, contextOf(ctx)).catch(asProtocolError));
      server.setRequestHandler('prompts/get', (r, ctx) => upstream.getPrompt(r.params, ctx.mcpReq.signal, contextOf(ctx)).catch(asProtocolError));
    }
    return server;
  };
}

/** Resources and prompts have no error result: their failures travel as JSON-RPC errors. */
function asProtocolError(err: unknown): never {
  if (err instanceof ProtocolError) throw err;
  throw new ProtocolError(ProtocolErrorCode.InternalError, (err as Error).message);
}
