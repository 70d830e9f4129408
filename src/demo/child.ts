/**
 * The demo's gateway child: a small MCP server of its own ("tickets") that `seed-mcp demo` starts
 * on an ephemeral 127.0.0.1 port and that the demo's `seed-mcp cloud` fronts through
 * `UPSTREAMS_FILE` (README "Gateway"). Like a real internal MCP server, it trusts nobody by
 * default: every request needs a bearer JWT from the demo IdP for this server's own URL (audience
 * = its MCP URL), verified with jose against the IdP's JWKS. Only the gateway gets such a token
 * (client credentials with the demo's service client): a demo user's token, which is for the
 * demo's `/mcp`, is refused here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { McpServer, createMcpHandler, type AuthInfo } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** The child's name in the upstreams file: its tools are `tickets_<tool>` on the demo's `/mcp`, and it alone is `/mcp/tickets`. */
export const DEMO_CHILD_NAME = 'tickets';

export interface DemoChildOptions {
  /** Port on 127.0.0.1; 0 (the demo's choice) = an ephemeral one. */
  port: number;
  /** The demo IdP: its tokens alone are accepted (its JWKS at `<issuer>/jwks`, fetched on first use: the IdP may start after the child). */
  issuer: string;
  logger: Logger;
}

export interface DemoChild {
  /** `http://127.0.0.1:<port>/mcp`: the MCP endpoint, and the audience its tokens must carry. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Harmless demo data. */
const TICKETS = [
  { id: 'TCK-101', title: 'Laptop for the new engineer', status: 'open', team: 'IT' },
  { id: 'TCK-102', title: 'Access review for the finance share', status: 'open', team: 'Security' },
  { id: 'TCK-103', title: 'Renew the staging TLS certificate', status: 'closed', team: 'Platform' },
] as const;

interface Caller {
  subject: string;
  clientId: string;
  audience: string[];
}

function ticketsServer(caller: Caller): McpServer {
  const server = new McpServer({ name: 'seed-mcp-demo-tickets', version: '1.0.0' });
  server.registerTool(
    'list_tickets',
    {
      title: 'List demo tickets',
      description: 'Lists the demo help-desk tickets, optionally only the open or the closed ones.',
      inputSchema: z.object({ status: z.enum(['open', 'closed']).optional() }),
      annotations: { readOnlyHint: true },
    },
    async ({ status }) => {
      const tickets = TICKETS.filter((t) => status === undefined || t.status === status);
      return {
        content: [{ type: 'text', text: tickets.map((t) => `${t.id} [${t.status}] ${t.title} (${t.team})`).join('\n') || 'no tickets' }],
        structuredContent: { count: tickets.length, tickets: tickets.map((t) => ({ ...t })) },
      };
    },
  );
  server.registerTool(
    'who_called',
    {
      title: 'Who called this server',
      description: "What this MCP server sees of its caller: the gateway's service identity from the token it received, never the signed-in user's token.",
      annotations: { readOnlyHint: true },
    },
    async () => ({
      content: [{ type: 'text', text: `called with a token of ${caller.clientId || caller.subject} (subject ${caller.subject}) for ${caller.audience.join(' ')}` }],
      structuredContent: { subject: caller.subject, client_id: caller.clientId, audience: caller.audience },
    }),
  );
  return server;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1_000_000) req.destroy(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts the demo's tickets MCP server on 127.0.0.1. */
export async function startDemoChild(options: DemoChildOptions): Promise<DemoChild> {
  const { logger, issuer } = options;
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  let url = '';
  const metadataPath = '/.well-known/oauth-protected-resource/mcp';
  let metadataUrl = '';

  const handler = toNodeHandler(
    createMcpHandler(({ authInfo }) =>
      ticketsServer({
        subject: String(authInfo?.extra?.sub ?? ''),
        clientId: authInfo?.clientId ?? '',
        audience: Array.isArray(authInfo?.extra?.aud) ? (authInfo.extra.aud as string[]) : [],
      }),
    ),
  );

  const unauthorized = (res: ServerResponse, description: string) =>
    sendJson(res, 401, { error: 'invalid_token', error_description: description }, { 'www-authenticate': `Bearer error="invalid_token", resource_metadata="${metadataUrl}"` });

  async function verify(req: IncomingMessage): Promise<{ token: string; payload: JWTPayload } | { error: string }> {
    const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    if (!match?.[1]) return { error: 'this MCP server needs a bearer token' };
    try {
      const { payload } = await jwtVerify(match[1], jwks, { issuer, audience: url, typ: 'at+jwt' });
      return { token: match[1], payload };
    } catch (err) {
      return { error: `the access token is not for this MCP server (${(err as Error).message})` };
    }
  }

  async function handle(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === metadataPath && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, { resource: url, authorization_servers: [issuer], bearer_methods_supported: ['header'], resource_name: 'seed-mcp demo tickets (gateway child)' });
      return;
    }
    if (path !== '/mcp') {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    const auth = await verify(req);
    if ('error' in auth) {
      req.resume();
      logger.debug('demo tickets server refused a request', { event: 'demo_child_refused', reason: auth.error });
      unauthorized(res, auth.error);
      return;
    }
    const { token, payload } = auth;
    req.auth = {
      token,
      clientId: typeof payload.client_id === 'string' ? payload.client_id : '',
      scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
      ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp } : {}),
      resource: new URL(url),
      extra: { sub: typeof payload.sub === 'string' ? payload.sub : '', aud: typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []) },
    };
    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
        return;
      }
    }
    await handler(req, res, body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      logger.error(`demo tickets server failed: ${err.message}`, { event: 'demo_child_error' });
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new SeedError('USAGE', `could not start the demo tickets MCP server on 127.0.0.1: ${err.code ?? err.message}`, { hint: 'free a port, or run the demo again', cause: err }),
      ),
    );
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}/mcp`;
  metadataUrl = `http://127.0.0.1:${port}${metadataPath}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
