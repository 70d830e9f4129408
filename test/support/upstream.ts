/**
 * A real upstream MCP server for bridge tests: Streamable HTTP on 127.0.0.1, behind bearer auth
 * with JWT access tokens from the test IdP (`startIdp`).
 *
 * Two eras, same surface:
 * - `'modern'`: the v2 SDK's `createMcpHandler` (`@modelcontextprotocol/server`) behind
 *   `toNodeHandler` (`@modelcontextprotocol/node`), default options: it serves the 2026-07-28
 *   revision (`server/discover`, per-request `_meta` envelope) and falls back to stateless
 *   2025-era serving for clients that open with `initialize`;
 * - `'legacy'`: the v1 SDK (`@modelcontextprotocol/sdk`) McpServer + StreamableHTTPServerTransport
 *   in stateless mode, a new server and transport per request: a server that only knows the
 *   `initialize`-era protocol (up to 2025-11-25).
 *
 * In front of MCP sits what a real resource server does: RFC 6750 bearer validation (signature
 * against the IdP's JWKS, read on every verification so key rotation works; issuer; audience =
 * the MCP URL; `typ: at+jwt`), RFC 9728 protected resource metadata, and the MCP spec's
 * `insufficient_scope` step-up challenge for tools listed in `requiredScopes`.
 */
import type { JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { z } from 'zod';
import { McpServer, createMcpHandler, type AuthInfo } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { McpServer as V1McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport as V1StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export type UpstreamEra = 'modern' | 'legacy';

/** Who issues the tokens the upstream accepts. */
export type UpstreamAuthority =
  /** Issuer and a JWKS getter (called on every verification). */
  | { issuer: string; jwks: () => { keys: JsonWebKey[] } }
  /** Anything with `issuer` and live `keys`, such as a `TestIdp`. */
  | { readonly issuer: string; readonly keys: { keys: JsonWebKey[] } };

export interface UpstreamOptions {
  era: UpstreamEra;
  /**
   * Accepted token issuer. With `jwks` (or instead, `idp`), the authority; all may be left out
   * and given later with {@link TestUpstream.trust}, since the IdP must know the upstream's URL
   * (its resource indicator) before it starts. Until then every token is refused (401).
   */
  issuer?: string;
  /** The issuer's public JWKS, read on each verification (so `idp.rotateKeys()` is seen). */
  jwks?: () => { keys: JsonWebKey[] };
  /** Shorthand for `issuer: idp.issuer, jwks: () => idp.keys`. */
  idp?: { readonly issuer: string; readonly keys: { keys: JsonWebKey[] } };
  /** Port on 127.0.0.1; default 0 (a free one). `restart()` keeps whichever port it got. */
  port?: number;
  /** Tool name → scope its `tools/call` needs in the token's `scope` claim, e.g. `{ admin_op: 'mcp:admin' }`. */
  requiredScopes?: Record<string, string>;
}

export interface UpstreamCounts {
  /** Every request to `/mcp` (any method, authenticated or not). */
  requests: number;
  /** `/mcp` requests answered 401 (no, invalid, expired or rejected token). */
  unauthorized: number;
  /** `tools/call` requests answered 403 `insufficient_scope`. */
  forbidden: number;
  /** `tools/call` requests that passed auth and scope checks and reached the MCP server. */
  toolCalls: number;
}

export interface TestUpstream {
  readonly era: UpstreamEra;
  /** `http://127.0.0.1:<port>/mcp`: the MCP endpoint, and the token audience (resource). */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>/.well-known/oauth-protected-resource/mcp` (RFC 9728). */
  readonly resourceMetadataUrl: string;
  /** Live counters; see {@link UpstreamCounts}. */
  readonly counts: UpstreamCounts;
  /**
   * Headers of the last `/mcp` request, names lowercased, repeated ones joined with `, `. The
   * token never appears: `authorization` reads `Bearer [present]` (or `[present]` for another
   * scheme).
   */
  readonly lastHeaders: Record<string, string>;
  /** `sub` of each `tools/call` counted in `counts.toolCalls`, in order. */
  readonly subjects: readonly string[];
  /** Sets (or replaces) the authority whose tokens are accepted. */
  trust(authority: UpstreamAuthority): void;
  /**
   * Every token received so far is refused from now on (401 `invalid_token`), as if the upstream
   * had revoked them; tokens first seen later are unaffected.
   */
  rejectCurrentTokens(): void;
  /** Sets the counters back to 0 and clears `subjects` and `lastHeaders`. */
  resetCounts(): void;
  /**
   * Stops listening and destroys every connection: new requests get ECONNREFUSED (one in flight,
   * or sent by another process on a pooled socket before it saw the close, gets a socket error).
   */
  stop(): Promise<void>;
  /** Listens again on the same port, with the same state (counters, rejected tokens, authority). */
  restart(): Promise<void>;
  /** Stops for good. */
  close(): Promise<void>;
}

const SERVER_INFO = { name: 'test-upstream', version: '1.0.0' };

/** What the MCP tools see of the caller. */
interface Caller {
  subject: string;
}

const echoOutput = { text: z.string(), subject: z.string() };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The v2 (`@modelcontextprotocol/server`) server: one per request, for one caller. */
function modernServer(caller: Caller): McpServer {
  const server = new McpServer(SERVER_INFO);
  server.registerTool(
    'echo',
    {
      description: 'Echoes the text, with the caller token subject.',
      inputSchema: z.object({ text: z.string() }),
      outputSchema: z.object(echoOutput),
    },
    async ({ text }) => ({
      content: [{ type: 'text', text: `echo: ${text}` }],
      structuredContent: { text, subject: caller.subject },
    }),
  );
  server.registerTool('admin_op', { description: 'Needs an admin scope when requiredScopes says so.' }, async () => ({
    content: [{ type: 'text', text: 'admin done' }],
  }));
  server.registerTool('slow', { description: 'Waits ms milliseconds, then answers.', inputSchema: z.object({ ms: z.number() }) }, async ({ ms }) => {
    await sleep(ms);
    return { content: [{ type: 'text', text: `slept ${ms}ms` }] };
  });
  server.registerResource('hello', 'test://hello', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'hello from upstream' }],
  }));
  server.registerPrompt('greet', { description: 'Greets someone.', argsSchema: z.object({ name: z.string() }) }, ({ name }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${name}!` } }],
  }));
  return server;
}

/** The v1 (`@modelcontextprotocol/sdk`) server: one per request, for one caller. */
function legacyServer(caller: Caller): V1McpServer {
  const server = new V1McpServer(SERVER_INFO);
  server.registerTool(
    'echo',
    {
      description: 'Echoes the text, with the caller token subject.',
      inputSchema: { text: z.string() },
      outputSchema: echoOutput,
    },
    async ({ text }) => ({
      content: [{ type: 'text', text: `echo: ${text}` }],
      structuredContent: { text, subject: caller.subject },
    }),
  );
  server.registerTool('admin_op', { description: 'Needs an admin scope when requiredScopes says so.' }, async () => ({
    content: [{ type: 'text', text: 'admin done' }],
  }));
  server.registerTool('slow', { description: 'Waits ms milliseconds, then answers.', inputSchema: { ms: z.number() } }, async ({ ms }) => {
    await sleep(ms);
    return { content: [{ type: 'text', text: `slept ${ms}ms` }] };
  });
  server.registerResource('hello', 'test://hello', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'hello from upstream' }],
  }));
  server.registerPrompt('greet', { description: 'Greets someone.', argsSchema: { name: z.string() } }, ({ name }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${name}!` } }],
  }));
  return server;
}

function toVerifier(authority: UpstreamAuthority): { issuer: string; jwks: () => { keys: JsonWebKey[] } } {
  if ('jwks' in authority) return { issuer: authority.issuer, jwks: authority.jwks };
  return { issuer: authority.issuer, jwks: () => authority.keys };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** `tools/call` names in a JSON-RPC message or batch. */
function toolCallNames(body: unknown): string[] {
  const messages = Array.isArray(body) ? body : [body];
  const names: string[] = [];
  for (const message of messages) {
    if (!message || typeof message !== 'object') continue;
    const { method, params } = message as { method?: unknown; params?: { name?: unknown } };
    if (method === 'tools/call') names.push(typeof params?.name === 'string' ? params.name : '');
  }
  return names;
}

/**
 * Starts an upstream MCP server on 127.0.0.1. Give it the IdP with `idp` (or `issuer` + `jwks`),
 * or later with `trust()`; the IdP must list `upstream.url` among its `resources`.
 */
export async function startUpstream(options: UpstreamOptions): Promise<TestUpstream> {
  const { era } = options;
  const requiredScopes = { ...(options.requiredScopes ?? {}) };
  let authority: { issuer: string; jwks: () => { keys: JsonWebKey[] } } | undefined;
  if (options.idp) authority = toVerifier(options.idp);
  else if (options.issuer && options.jwks) authority = { issuer: options.issuer, jwks: options.jwks };
  else if (options.issuer || options.jwks) throw new Error('startUpstream: give issuer and jwks together (or idp)');

  const counts: UpstreamCounts = { requests: 0, unauthorized: 0, forbidden: 0, toolCalls: 0 };
  const subjects: string[] = [];
  let lastHeaders: Record<string, string> = {};
  const seenTokens = new Set<string>();
  const rejectedTokens = new Set<string>();

  // Filled once the server listens (the port may be 0).
  let port = 0;
  let url = '';
  let resourceMetadataUrl = '';

  const metadata = () => ({
    resource: url,
    authorization_servers: authority ? [authority.issuer] : [],
    bearer_methods_supported: ['header'],
    scopes_supported: [...new Set(Object.values(requiredScopes))],
    resource_name: 'test upstream MCP server',
  });

  const challenge = (params: Record<string, string>) =>
    `Bearer ${Object.entries({ ...params, resource_metadata: resourceMetadataUrl })
      .map(([key, value]) => `${key}="${value.replace(/["\\]/g, '\\$&')}"`)
      .join(', ')}`;

  const unauthorized = (res: ServerResponse, description: string) => {
    counts.unauthorized += 1;
    sendJson(res, 401, { error: 'invalid_token', error_description: description }, { 'www-authenticate': challenge({ error: 'invalid_token' }) });
  };

  /** The verified token's claims, or why it is refused. */
  async function authenticate(req: IncomingMessage): Promise<{ token: string; payload: JWTPayload } | { error: string }> {
    const header = req.headers.authorization;
    const match = header ? /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header) : null;
    if (!match?.[1]) return { error: header ? 'malformed Authorization header' : 'no access token' };
    const token = match[1];
    seenTokens.add(token);
    if (rejectedTokens.has(token)) return { error: 'the access token is no longer accepted' };
    if (!authority) return { error: 'no authorization server is trusted yet' };
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(authority.jwks() as JSONWebKeySet), {
        issuer: authority.issuer,
        audience: url,
        typ: 'at+jwt',
      });
      return { token, payload };
    } catch (err) {
      return { error: `invalid access token: ${(err as Error).message}` };
    }
  }

  // -------------------------------------------------------------------------------------------
  // The MCP servers behind the auth gate

  /** The caller of a request, for the factory (v2 passes `req.auth` on as `authInfo`). */
  const callerOf = (authInfo: AuthInfo | undefined): Caller => ({
    subject: typeof authInfo?.extra?.sub === 'string' ? authInfo.extra.sub : '',
  });

  const modernHandler = era === 'modern' ? createMcpHandler(({ authInfo }) => modernServer(callerOf(authInfo))) : undefined;
  const modernNode = modernHandler ? toNodeHandler(modernHandler) : undefined;

  async function serveLegacy(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse, body: unknown) {
    // Stateless v1 serving has no standalone SSE stream and no session to delete.
    if (req.method !== 'POST') {
      sendJson(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }, { allow: 'POST' });
      return;
    }
    const server = legacyServer(callerOf(req.auth));
    const transport = new V1StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  async function handleMcp(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse) {
    counts.requests += 1;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    if (headers.authorization !== undefined) {
      headers.authorization = /^Bearer\s/i.test(headers.authorization) ? 'Bearer [present]' : '[present]';
    }
    lastHeaders = headers;

    const auth = await authenticate(req);
    if ('error' in auth) {
      req.resume();
      unauthorized(res, auth.error);
      return;
    }
    const { token, payload } = auth;
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    const subject = typeof payload.sub === 'string' ? payload.sub : '';
    req.auth = {
      token,
      clientId: typeof payload.client_id === 'string' ? payload.client_id : '',
      scopes,
      ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp } : {}),
      resource: new URL(url),
      extra: { sub: subject },
    };

    let body: unknown;
    if (req.method === 'POST') {
      const text = await readBody(req);
      try {
        body = JSON.parse(text);
      } catch {
        sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
        return;
      }
      const calls = toolCallNames(body);
      const missing = calls.map((name) => requiredScopes[name]).find((scope) => scope && !scopes.includes(scope));
      if (missing) {
        counts.forbidden += 1;
        sendJson(
          res,
          403,
          { error: 'insufficient_scope', error_description: `this tool needs the scope ${missing}` },
          { 'www-authenticate': challenge({ error: 'insufficient_scope', scope: missing }) },
        );
        return;
      }
      counts.toolCalls += calls.length;
      for (let i = 0; i < calls.length; i += 1) subjects.push(subject);
    }

    if (modernNode) await modernNode(req, res, body);
    else await serveLegacy(req, res, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://upstream.invalid').pathname;
    if (path === '/.well-known/oauth-protected-resource/mcp' || path === '/.well-known/oauth-protected-resource') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET' });
        return;
      }
      sendJson(res, 200, metadata(), { 'cache-control': 'no-store' });
      return;
    }
    if (path === '/mcp') {
      await handleMcp(req, res);
      return;
    }
    sendJson(res, 404, { error: 'not found' });
  }

  // -------------------------------------------------------------------------------------------
  // Listening, stopping, restarting

  let server: Server | undefined;
  const sockets = new Set<Socket>();

  async function listen(onPort: number): Promise<void> {
    const next = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        console.error('test upstream error:', err);
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err) });
        else res.destroy();
      });
    });
    next.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(onPort, '127.0.0.1', () => {
        next.off('error', reject);
        resolve();
      });
    });
    server = next;
  }

  async function stop(): Promise<void> {
    const current = server;
    server = undefined;
    if (!current) return;
    await new Promise<void>((resolve) => {
      current.close(() => resolve());
      current.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    });
    // Let clients in this process see their keep-alive sockets close, so that their next request
    // opens a new connection (ECONNREFUSED) rather than failing on a dead pooled socket.
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
  }

  await listen(options.port ?? 0);
  port = (server!.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}/mcp`;
  resourceMetadataUrl = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;

  let closed: Promise<void> | undefined;

  return {
    era,
    url,
    port,
    resourceMetadataUrl,
    counts,
    get lastHeaders() {
      return lastHeaders;
    },
    subjects,
    trust(next) {
      authority = toVerifier(next);
    },
    rejectCurrentTokens() {
      for (const token of seenTokens) rejectedTokens.add(token);
    },
    resetCounts() {
      for (const key of Object.keys(counts) as Array<keyof UpstreamCounts>) counts[key] = 0;
      subjects.length = 0;
      lastHeaders = {};
    },
    stop,
    async restart() {
      if (closed) throw new Error('test upstream: restart() after close()');
      if (server) return;
      await listen(port);
    },
    close() {
      closed ??= (async () => {
        await stop();
        await modernHandler?.close();
      })();
      return closed;
    },
  };
}
