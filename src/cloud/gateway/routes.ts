/**
 * Gateway mode's HTTP surface: each child at `/mcp/<name>` (the MCP endpoint's steps, then the
 * child's tenancy and scopes answered at the HTTP level, then an MCP server of its own whose only
 * tools are the child's) and its RFC 9728 metadata at
 * `/.well-known/oauth-protected-resource/mcp/<name>`. A child's servers are made on its first
 * request and dropped when the upstreams file removes or changes it.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../shared/logger.js';
import { CloudError, isCloudError } from '../errors.js';
import type { Cors } from '../cors.js';
import type { Metrics } from '../metrics.js';
import type { Authenticate } from '../http/mcp/authenticate.js';
import { createMcpDispatch, type McpDispatch, type McpDispatchDeps, upstreamContextOf } from '../http/mcp/dispatch.js';
import { readMessage } from '../http/mcp/read-message.js';
import type { RateLimitStep } from '../http/mcp/rate-limit.js';
import { enterMcp } from '../http/mcp/route.js';
import { recordRefusal } from '../http/mcp/audit.js';
import { PRM_PATH, protectedResourceMetadata } from '../http/protected-resource.js';
import { noteMcpMessage } from '../tracing.js';
import { sendError, sendJson } from '../http/respond.js';
import type { Route } from '../http/router.js';
import { childAccess, type Gateway } from './gateway.js';
import { CHILD_PREFIX } from './types.js';

export interface GatewayRouteDeps {
  gateway: Gateway;
  baseUrl: string;
  /** The authorization servers of the server's own metadata (the proxy, or the allowed issuers). */
  authorizationServers: readonly string[];
  /** With the OAuth proxy the server sends clients to itself; a child's issuers narrow nothing then. */
  proxyEnabled: boolean;
  authRequired: boolean;
  policy?: McpDispatchDeps['access']['policy'];
  cors: Cors;
  authenticate: Authenticate;
  rateLimit?: RateLimitStep;
  /** Everything a child's MCP servers need but their upstream and tools. */
  dispatch: Omit<McpDispatchDeps, 'tools' | 'upstream' | 'name'>;
  logger: Logger;
  metrics?: Metrics;
}

/** `/mcp/docs` → `docs`; anything deeper or malformed → undefined. */
function childName(req: IncomingMessage, prefix: string): string | undefined {
  const path = (req.url ?? '').split('?')[0]!;
  const name = path.slice(prefix.length);
  return /^[a-z0-9-]{1,64}$/.test(name) ? name : undefined;
}

export interface GatewayRoutes {
  routes: Route[];
  /** Drops the servers of children the upstreams file no longer has as they were. */
  prune(): Promise<void>;
  close(): Promise<void>;
}

export function gatewayRoutes(deps: GatewayRouteDeps): GatewayRoutes {
  const { gateway, baseUrl } = deps;
  const servers = new Map<string, { key: string; dispatch: Promise<McpDispatch> }>();
  const keyOf = (name: string) => JSON.stringify(gateway.spec(name) ?? null);
  const metadataUrl = (name: string) => `${baseUrl}${PRM_PATH}${CHILD_PREFIX}${name}`;

  function serversOf(name: string): Promise<McpDispatch> {
    const key = keyOf(name);
    const known = servers.get(name);
    if (known && known.key === key) return known.dispatch;
    if (known) void known.dispatch.then((d) => d.close()).catch(() => {});
    const upstream = gateway.child(name)!;
    const dispatch = createMcpDispatch({ ...deps.dispatch, tools: [], upstream, name: `seed-mcp-gateway/${name}` });
    servers.set(name, { key, dispatch });
    dispatch.catch(() => servers.delete(name));
    return dispatch;
  }

  const mcp: Route = {
    path: CHILD_PREFIX,
    prefix: true,
    async handle(req, res) {
      const name = childName(req, CHILD_PREFIX);
      const spec = name ? gateway.spec(name) : undefined;
      const context = { resourceMetadataUrl: spec ? metadataUrl(spec.name) : `${baseUrl}${PRM_PATH}/mcp` };
      try {
        if (!spec)
          throw new CloudError('NOT_FOUND', `no MCP server is configured at ${(req.url ?? '').split('?')[0]}`, {
            action: `use ${baseUrl}/mcp, or one of: ${
              gateway
                .names()
                .map((n) => `${baseUrl}${CHILD_PREFIX}${n}`)
                .join(', ') || 'none configured'
            }`,
          });
        const auth = await enterMcp(deps, req, res);
        if (!auth) return;
        // The child's tenancy and scopes, answered before any MCP server: a 403 names what to ask for.
        const access = childAccess(spec, upstreamContextOf(auth.info), undefined, deps);
        if (!access.allowed) {
          const err =
            access.code === 'INSUFFICIENT_SCOPE'
              ? new CloudError('INSUFFICIENT_SCOPE', access.reason, { action: `sign in again asking for the scopes: ${spec.scopes.join(' ')}`, scope: spec.scopes.join(' ') })
              : new CloudError('ACCESS_DENIED', access.reason, { action: `ask the gateway's operator for access to ${spec.name}` });
          recordRefusal({ logger: deps.logger, ...(deps.metrics ? { metrics: deps.metrics } : {}) }, err, { subject: auth.verified?.subject, child: spec.name });
          throw err;
        }
        const message = req.method === 'POST' ? await readMessage(req) : undefined;
        noteMcpMessage(message);
        await (await serversOf(spec.name)).dispatch(req, res, message, auth);
      } catch (err) {
        if (!isCloudError(err) || res.headersSent) throw err;
        sendError(res, err, context);
      }
    },
  };

  const metadata: Route = {
    path: `${PRM_PATH}${CHILD_PREFIX}`,
    prefix: true,
    cors: 'public',
    handle(req, res) {
      const name = childName(req, `${PRM_PATH}${CHILD_PREFIX}`);
      const spec = name ? gateway.spec(name) : undefined;
      if (!spec) throw new CloudError('NOT_FOUND', 'no MCP server is configured there', { action: 'use the metadata of a configured MCP server' });
      const servers = !deps.proxyEnabled && spec.allowedIssuers ? spec.allowedIssuers : deps.authorizationServers;
      const body = protectedResourceMetadata({ resource: `${baseUrl}${CHILD_PREFIX}${spec.name}`, authorizationServers: servers, scopesSupported: spec.scopes });
      sendJson(res, 200, { ...body, resource_name: `seed-mcp gateway: ${spec.name}` }, { 'cache-control': 'public, max-age=300' });
    },
  };

  return {
    routes: [mcp, metadata],
    async prune() {
      for (const [name, entry] of servers) {
        if (gateway.spec(name) && keyOf(name) === entry.key) continue;
        servers.delete(name);
        await entry.dispatch.then((d) => d.close()).catch(() => {});
      }
    },
    async close() {
      const all = [...servers.values()];
      servers.clear();
      await Promise.allSettled(all.map((e) => e.dispatch.then((d) => d.close())));
    },
  };
}
