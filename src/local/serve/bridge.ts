import { ProtocolError } from '@modelcontextprotocol/server';
import type { Logger } from '../../shared/logger.js';
import type { UpstreamProxy } from '../../shared/mcp/upstream.js';
import { redact } from '../../shared/redact.js';
import { ToolError } from '../../shared/tools/types.js';
import { pruneDeadDependants } from './abort-signals.js';
import type { LocalAuth } from './local-auth.js';

export interface BridgeOptions {
  url: string;
  /** Static headers for every upstream request (`--header NAME:VALUE`). */
  headers?: Record<string, string>;
  auth: LocalAuth;
  logger: Logger;
  clientInfo: { name: string; version: string };
  /** Told about every upstream failure, for metrics. */
  onUpstreamError?: (kind: 'unreachable' | 'auth' | 'protocol') => void;
}

/** Calls between two prunes of the transport signal's dead dependants (see ./abort-signals.ts). */
const PRUNE_EVERY = 256;

/** The network failure behind an error, by its code (ECONNREFUSED…) wherever it sits in the cause chain. */
function networkReason(err: unknown): string | undefined {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 8; e = e.cause) chain.push(e);
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
  }
  return chain.find((e) => /fetch failed|socket hang up|other side closed/i.test(e.message))?.message;
}

/**
 * Bridges to a remote MCP server over Streamable HTTP with the bearer token. The SDK client
 * negotiates the protocol era (2026-07-28, else `initialize`). Connects lazily, refreshes once
 * on a 401, turns a 403 `insufficient_scope` into a step-up sign-in, and when the upstream is
 * down answers a tool call with a tool error and a list request with an empty list (and a warning
 * on stderr), and connects again on a later call — no restart needed.
 */
export function createBridge(options: BridgeOptions): UpstreamProxy {
  const { auth, logger } = options;
  const url = new URL(options.url);
  // The MCP client loads on the first upstream call, not at start-up: `initialize` needs none of it.
  type ClientModule = typeof import('@modelcontextprotocol/client');
  type Client = InstanceType<ClientModule['Client']>;
  let sdk: ClientModule | undefined;
  let connecting: Promise<Client> | undefined;
  let lastToken: string | undefined;
  // The transport's own long-lived abort signal, which every request's signal is combined with
  // (see ./abort-signals.ts): pruned every PRUNE_EVERY calls, so memory stays flat under load.
  let transportSignal: AbortSignal | undefined;
  let calls = 0;

  function connect(): Promise<Client> {
    connecting ??= (async () => {
      sdk ??= await import('@modelcontextprotocol/client');
      const { Client, StreamableHTTPClientTransport } = sdk;
      const transport = new StreamableHTTPClientTransport(url, {
        authProvider: {
          token: async () => (lastToken = await auth.accessToken()),
          onUnauthorized: async () => {
            if (lastToken) await auth.refreshAfter401(lastToken);
          },
        },
        onInsufficientScope: 'throw',
        ...(options.headers ? { requestInit: { headers: options.headers } } : {}),
      });
      // `auto`: 2026-07-28 when the upstream speaks it, else the `initialize` handshake.
      const client = new Client(options.clientInfo, { capabilities: {}, versionNegotiation: { mode: 'auto' } });
      client.onclose = () => {
        connecting = undefined;
      };
      await client.connect(transport);
      transportSignal = (transport as unknown as { _abortController?: AbortController })._abortController?.signal;
      logger.debug(`connected to the upstream ${url.href}`);
      return client;
    })();
    connecting.catch(() => {
      connecting = undefined;
    });
    return connecting;
  }

  async function call<T>(what: string, op: (c: Client) => Promise<T>): Promise<T> {
    if (++calls % PRUNE_EVERY === 0) pruneDeadDependants(transportSignal);
    try {
      return await op(await connect());
    } catch (err) {
      if (!(sdk && err instanceof sdk.InsufficientScopeError)) throw await translate(err, what);
      options.onUpstreamError?.('auth');
      // Throws what to do unless tokens with the asked scopes are held by now: then send it once more.
      await auth.stepUp(err.requiredScope);
    }
    try {
      return await op(await connect());
    } catch (err) {
      throw await translate(err, what);
    }
  }

  async function translate(err: unknown, what: string): Promise<Error> {
    if (err instanceof ToolError || err instanceof ProtocolError) return err;
    if (sdk && err instanceof sdk.InsufficientScopeError) {
      options.onUpstreamError?.('auth');
      try {
        await auth.stepUp(err.requiredScope);
      } catch (stepUp) {
        return stepUp as Error;
      }
      return new ToolError(`Could not ${what}: the upstream MCP server at ${url.origin} asked for more scopes; seed-mcp now holds a new token. Retry this request.`);
    }
    if (sdk && err instanceof sdk.SdkHttpError && err.status === 403) {
      // A 403 that asks for no scope is a decision about who you are (a tool policy): signing in
      // again changes nothing.
      options.onUpstreamError?.('auth');
      return new ToolError(`The upstream MCP server at ${url.origin} does not allow you to ${what} (HTTP 403, ${redact(err.message)}). Ask its operator for access.`);
    }
    if (sdk && (err instanceof sdk.UnauthorizedError || (err instanceof sdk.SdkHttpError && err.status === 401))) {
      options.onUpstreamError?.('auth');
      return new ToolError(
        `The upstream MCP server at ${url.origin} refused the token even after a refresh (${redact(err.message)}). Run \`seed-mcp login\` for this profile, or check that its audience matches the server (--resource).`,
      );
    }
    const reason = networkReason(err);
    // Drop the connection: the next call connects again.
    const stale = connecting;
    connecting = undefined;
    stale?.then((c) => c.close()).catch(() => {});
    if (reason) {
      options.onUpstreamError?.('unreachable');
      return new ToolError(
        `Could not ${what}: the upstream MCP server at ${url.href} is unreachable (${reason}). It may be restarting; retry in a moment — seed-mcp reconnects by itself.`,
      );
    }
    options.onUpstreamError?.('protocol');
    logger.warn(`upstream ${what} failed: ${redact((err as Error).message)}`);
    return new ToolError(`Could not ${what}: the upstream MCP server at ${url.href} failed (${redact((err as Error).message)}). Retry; if it persists, check the server.`);
  }

  /**
   * A list request while the upstream cannot answer (down, or no token yet): an empty page and a
   * warning on stderr, not an error. Hosts ask for these lists on their own at start-up and show a
   * failed one as a broken server (Claude Desktop does), while an empty one lets them go on with
   * seed-mcp's own tools and ask again later; the next call reconnects. An answer from the upstream
   * itself (a JSON-RPC error) passes through as it came.
   */
  async function list<T>(noun: string, empty: T, op: (c: Client) => Promise<T>): Promise<T> {
    try {
      return await call(`list ${noun}`, op);
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      // The error reads `Could not list tools: why` for a tool result; the log line says it once.
      const message = (err as Error).message;
      const why = message.startsWith(`Could not list ${noun}: `) ? message.slice(`Could not list ${noun}: `.length) : message;
      logger.warn(`could not list the upstream's ${noun}, answering an empty list: ${why}`);
      return empty;
    }
  }

  return {
    // `tools/list` too: an empty page here, seed-mcp's own tools added by the server (see server-factory.ts).
    listTools: (cursor, signal) => list('tools', { tools: [] }, (c) => c.listTools(cursor ? { cursor } : undefined, { signal })),
    // A plain request, not client.callTool(): that would also check structuredContent against the
    // tool's output schema, which the host does itself; the bridge only passes the result on.
    callTool: (params, signal) => call(`call ${params.name}`, (c) => c.request({ method: 'tools/call', params }, { signal })) as never,
    listResources: (cursor, signal) =>
      list('resources', { resources: [] }, async (c) => (c.getServerCapabilities()?.resources ? c.listResources(cursor ? { cursor } : undefined, { signal }) : { resources: [] })),
    listResourceTemplates: (cursor, signal) =>
      list('resource templates', { resourceTemplates: [] }, async (c) =>
        c.getServerCapabilities()?.resources ? c.listResourceTemplates(cursor ? { cursor } : undefined, { signal }) : { resourceTemplates: [] },
      ),
    readResource: (params, signal) => call(`read ${params.uri}`, (c) => c.readResource(params, { signal })),
    listPrompts: (cursor, signal) =>
      list('prompts', { prompts: [] }, async (c) => (c.getServerCapabilities()?.prompts ? c.listPrompts(cursor ? { cursor } : undefined, { signal }) : { prompts: [] })),
    getPrompt: (params, signal) => call(`get the prompt ${params.name}`, (c) => c.getPrompt(params, { signal })),
    async close() {
      const c = connecting;
      connecting = undefined;
      await c?.then((client) => client.close()).catch(() => {});
    },
  };
}
