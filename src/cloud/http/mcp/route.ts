/**
 * `POST/GET/DELETE /mcp`: the MCP endpoint as named steps, each taking its dependencies as
 * arguments: origin (CORS) → authenticate → rate limit → read the message → tool access →
 * dispatch. A step refuses by throwing a CloudError, which the router answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forbiddenOrigin, type Cors } from '../../cors.js';
import { noteMcpMessage } from '../../tracing.js';
import type { Route } from '../router.js';
import type { Authenticate, Authenticated } from './authenticate.js';
import type { McpDispatch } from './dispatch.js';
import { readMessage } from './read-message.js';
import type { RateLimitStep } from './rate-limit.js';
import { checkToolAccess, type ToolAccessStepDeps } from './tool-access.js';

export const MCP_PATH = '/mcp';

export interface McpRouteDeps {
  cors: Cors;
  authenticate: Authenticate;
  /** Absent with RATE_LIMIT_ENABLED=false. */
  rateLimit?: RateLimitStep;
  /** Absent with AUTH_REQUIRED=false: nothing to check scopes against. */
  toolAccess?: ToolAccessStepDeps;
  mcp: McpDispatch;
}

/** Refuses a browser page on an origin not allowed (DNS rebinding, CSRF); sets the CORS headers otherwise. */
export function checkOrigin(cors: Cors, req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin;
  if (origin && !cors.isAllowed(origin)) throw forbiddenOrigin(origin);
  cors.apply(req, res);
}

/**
 * The first steps of every MCP endpoint (`/mcp` and a gateway child's `/mcp/<name>`): the CORS
 * preflight (answered here: resolves undefined), the origin, the caller, the rate limit.
 */
export async function enterMcp(deps: Pick<McpRouteDeps, 'cors' | 'authenticate' | 'rateLimit'>, req: IncomingMessage, res: ServerResponse): Promise<Authenticated | undefined> {
  if (deps.cors.preflight(req, res)) return undefined;
  checkOrigin(deps.cors, req, res);
  const pending = deps.authenticate(req);
  const auth = pending instanceof Promise ? await pending : pending;
  if (deps.rateLimit) {
    const headers = await deps.rateLimit(req, auth);
    for (const name in headers) res.setHeader(name, headers[name]!);
  }
  return auth;
}

export function mcpRoute(deps: McpRouteDeps): Route {
  return {
    path: MCP_PATH,
    async handle(req, res) {
      const auth = await enterMcp(deps, req, res);
      if (!auth) return;
      let message: unknown;
      if (req.method === 'POST') {
        message = await readMessage(req);
        noteMcpMessage(message);
        if (deps.toolAccess && auth.verified) checkToolAccess(deps.toolAccess, message, auth.verified.caller);
      }
      await deps.mcp.dispatch(req, res, message, auth);
    },
  };
}
