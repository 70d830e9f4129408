/**
 * Proves the upstream MCP fixture (test/support/upstream.ts) on its own, with the real v2 SDK
 * client and real tokens from the test IdP, for both eras: if these fail, bridge tests built on
 * it cannot be trusted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Client,
  InsufficientScopeError,
  SdkHttpError,
  StreamableHTTPClientTransport,
  UnauthorizedError,
  type StreamableHTTPClientTransportOptions,
} from '@modelcontextprotocol/client';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdp, type TestIdp } from './support/idp.js';
import { followLogin } from './support/scripted-browser.mjs';
import { startUpstream, type TestUpstream, type UpstreamEra } from './support/upstream.js';

/** A stand-in for a loopback redirect listener: followLogin requests the callback like a browser. */
async function startCallbackServer(): Promise<{ redirectUri: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>You can close this tab</h1>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const text = (result: { content?: unknown }) => (result.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('');

/** Protocol versions each era ends up with. */
const MODERN_VERSION = '2026-07-28';
const LEGACY_VERSION = '2025-11-25';
/** Another resource the IdP issues tokens for: the upstream must refuse them (audience). */
const OTHER_RESOURCE = 'https://other.example.test/mcp';

describe.each<UpstreamEra>(['modern', 'legacy'])('test upstream MCP server (%s era)', (era) => {
  let upstream: TestUpstream;
  let idp: TestIdp;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let config: oidc.Configuration;
  let adminToken: string;
  let userToken: string;
  const clients: Client[] = [];

  /** Signs `login` in at the IdP (code + PKCE) and returns an access token for the upstream. */
  async function accessToken(scope: string, login: string, resource = upstream.url): Promise<string> {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callback.redirectUri,
      scope,
      resource,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
    });
    const result = await followLogin(url.href, { login });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(result.callbackUrl), {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
    });
    return tokens.access_token;
  }

  /** A connected v2 client; `auto` negotiation unless told otherwise. */
  async function connect(
    token: string | (() => string | undefined) | undefined,
    options: { negotiate?: 'auto' | 'legacy'; transport?: StreamableHTTPClientTransportOptions } = {},
  ): Promise<Client> {
    const current = typeof token === 'function' ? token : () => token;
    const transport = new StreamableHTTPClientTransport(new URL(upstream.url), {
      ...(token === undefined ? {} : { authProvider: { token: async () => current() } }),
      ...options.transport,
    });
    const client = new Client({ name: 'upstream-test', version: '1.0.0' }, { versionNegotiation: { mode: options.negotiate ?? 'auto' } });
    clients.push(client);
    await client.connect(transport);
    return client;
  }

  beforeAll(async () => {
    // The IdP must know the upstream's URL (its resource indicator), so the upstream starts first
    // and learns which IdP to trust afterwards.
    upstream = await startUpstream({ era, requiredScopes: { admin_op: 'mcp:admin' } });
    idp = await startIdp({ resources: [upstream.url, OTHER_RESOURCE], extraScopes: ['mcp:admin'] });
    upstream.trust(idp);
    callback = await startCallbackServer();
    config = await oidc.discovery(new URL(idp.issuer), 'seed-cli', undefined, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    adminToken = await accessToken('openid mcp:admin', 'alice');
    userToken = await accessToken('openid', 'bob');
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((client) => client.close()));
    await upstream?.close();
    await callback?.close();
    await idp?.close();
  });

  it('gets tokens for the upstream from the IdP, with mcp:admin or without', () => {
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}/mcp`);
    expect(decodeJwt(adminToken)).toMatchObject({ aud: upstream.url, sub: 'alice', scope: 'mcp:admin' });
    const user = decodeJwt(userToken);
    expect(user).toMatchObject({ aud: upstream.url, sub: 'bob' });
    expect(String(user.scope ?? '').split(' ')).not.toContain('mcp:admin');
  });

  it('serves RFC 9728 metadata and answers 401 invalid_token with resource_metadata', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await fetch(new URL(path, upstream.url));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ resource: upstream.url, authorization_servers: [idp.issuer] });
    }
    expect(upstream.resourceMetadataUrl).toBe(`http://127.0.0.1:${upstream.port}/.well-known/oauth-protected-resource/mcp`);

    const before = upstream.counts.unauthorized;
    const expected = `Bearer error="invalid_token", resource_metadata="${upstream.resourceMetadataUrl}"`;
    const initialize = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: LEGACY_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    });
    const post = (headers: Record<string, string>) =>
      fetch(upstream.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: initialize,
      });

    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe(expected);
    expect(upstream.lastHeaders.authorization).toBeUndefined();

    const garbage = await post({ authorization: 'Bearer not-a-jwt' });
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get('www-authenticate')).toBe(expected);
    expect(upstream.lastHeaders.authorization).toBe('Bearer [present]');

    // A bad signature, and a good token of the same IdP for another resource (audience).
    const tampered = `${adminToken.slice(0, -4)}${adminToken.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    expect((await post({ authorization: `Bearer ${tampered}` })).status).toBe(401);
    const elsewhere = await accessToken('openid mcp:admin', 'alice', OTHER_RESOURCE);
    expect(decodeJwt(elsewhere).aud).toBe(OTHER_RESOURCE);
    expect((await post({ authorization: `Bearer ${elsewhere}` })).status).toBe(401);
    expect(upstream.counts.unauthorized).toBe(before + 4);

    // The SDK client: with an AuthProvider that has no token, UnauthorizedError; with no
    // AuthProvider at all, an SdkHttpError carrying the 401.
    await expect(connect(() => undefined)).rejects.toBeInstanceOf(UnauthorizedError);
    const bare = await connect(undefined).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(bare).toBeInstanceOf(SdkHttpError);
    expect(bare).toMatchObject({ data: { status: 401 } });
  });

  it('lists and calls tools, reads the resource and gets the prompt for a valid token', async () => {
    const before = { ...upstream.counts };
    const client = await connect(adminToken);

    // With `auto` negotiation, the v2 handler serves 2026-07-28; the v1 server only `initialize`.
    expect(client.getProtocolEra()).toBe(era);
    expect(client.getNegotiatedProtocolVersion()).toBe(era === 'modern' ? MODERN_VERSION : LEGACY_VERSION);
    expect(client.getServerVersion()).toMatchObject({ name: 'test-upstream' });

    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['admin_op', 'echo', 'slow']);

    const echo = await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(text(echo)).toBe('echo: hi');
    expect(echo.structuredContent).toEqual({ text: 'hi', subject: 'alice' });

    expect(text(await client.callTool({ name: 'admin_op', arguments: {} }))).toBe('admin done');

    const resource = await client.readResource({ uri: 'test://hello' });
    expect(resource.contents).toEqual([expect.objectContaining({ uri: 'test://hello', text: 'hello from upstream' })]);

    const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
    expect(prompt.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'Hello, Ada!' } }]);

    expect(upstream.counts.toolCalls).toBe(before.toolCalls + 2);
    expect(upstream.subjects.slice(-2)).toEqual(['alice', 'alice']);
    expect(upstream.counts.requests).toBeGreaterThan(before.requests + 4);
    expect(upstream.counts.unauthorized).toBe(before.unauthorized);
    expect(upstream.lastHeaders).toMatchObject({
      authorization: 'Bearer [present]',
      'mcp-protocol-version': era === 'modern' ? MODERN_VERSION : LEGACY_VERSION,
    });
    expect(JSON.stringify(upstream.lastHeaders)).not.toContain(adminToken);
  });

  it('falls back to the 2025 handshake for a client that does not negotiate', async () => {
    const client = await connect(adminToken, { negotiate: 'legacy' });
    expect(client.getProtocolEra()).toBe('legacy');
    expect(client.getNegotiatedProtocolVersion()).toBe(LEGACY_VERSION);
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'old' } }))).toBe('echo: old');
  });

  it('answers GET /mcp (no standalone SSE stream) with 405', async () => {
    const res = await fetch(upstream.url, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${adminToken}` },
    });
    expect(res.status).toBe(405);
  });

  it('answers 403 insufficient_scope for admin_op without mcp:admin; the client throws InsufficientScopeError', async () => {
    const client = await connect(userToken, { transport: { onInsufficientScope: 'throw' } });
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'bob here' } });
    expect(echo.structuredContent).toEqual({ text: 'bob here', subject: 'bob' });

    const before = { ...upstream.counts };
    const error = await client.callTool({ name: 'admin_op', arguments: {} }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect(error).toMatchObject({ requiredScope: 'mcp:admin' });
    expect((error as InsufficientScopeError).resourceMetadataUrl?.href).toBe(upstream.resourceMetadataUrl);
    expect(upstream.counts.forbidden).toBe(before.forbidden + 1);
    expect(upstream.counts.toolCalls).toBe(before.toolCalls);

    // The raw challenge, as the spec has it.
    const res = await fetch(upstream.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${userToken}`,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'admin_op', arguments: {} } }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="${upstream.resourceMetadataUrl}"`);

    // Still fine for tools that need nothing.
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'again' } }))).toBe('echo: again');
  });

  it('runs slow tool calls concurrently', async () => {
    const client = await connect(adminToken);
    const started = Date.now();
    const results = await Promise.all([400, 400, 400].map((ms) => client.callTool({ name: 'slow', arguments: { ms } })));
    expect(results.map(text)).toEqual(['slept 400ms', 'slept 400ms', 'slept 400ms']);
    expect(Date.now() - started).toBeLessThan(1100);
  });

  it('stop() refuses connections; restart() serves again on the same port, same client', async () => {
    const client = await connect(adminToken);
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('echo: before');
    const toolCalls = upstream.counts.toolCalls;

    await upstream.stop();
    const refused = await fetch(upstream.url).then(
      () => undefined,
      (err: unknown) => err as Error & { cause?: { code?: string } },
    );
    expect(refused?.cause?.code).toBe('ECONNREFUSED');
    // The SDK surfaces fetch's own error: TypeError('fetch failed') caused by ECONNREFUSED.
    await expect(client.callTool({ name: 'echo', arguments: { text: 'down' } })).rejects.toMatchObject({
      cause: { code: 'ECONNREFUSED' },
    });

    await upstream.restart();
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}/mcp`);
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('echo: after');
    // State survives the restart.
    expect(upstream.counts.toolCalls).toBe(toolCalls + 1);
  });

  it('follows the IdP key rotation (the JWKS is read on every verification)', async () => {
    await idp.rotateKeys();
    const stale = await fetch(upstream.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: '{}',
    });
    expect(stale.status).toBe(401);

    adminToken = await accessToken('openid mcp:admin', 'alice');
    const client = await connect(adminToken);
    expect(text(await client.callTool({ name: 'admin_op', arguments: {} }))).toBe('admin done');
  });

  it('rejectCurrentTokens() turns every token seen so far into a 401; a new token works', async () => {
    let token = adminToken;
    const client = await connect(() => token);
    expect(text(await client.callTool({ name: 'echo', arguments: { text: 'one' } }))).toBe('echo: one');

    upstream.rejectCurrentTokens();
    const before = upstream.counts.unauthorized;
    await expect(client.callTool({ name: 'echo', arguments: { text: 'two' } })).rejects.toBeInstanceOf(UnauthorizedError);
    expect(upstream.counts.unauthorized).toBe(before + 1);

    // What a refreshing client does: a new token, same connection.
    token = await accessToken('openid mcp:admin', 'alice');
    expect(token).not.toBe(adminToken);
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'three' } });
    expect(echo.structuredContent).toEqual({ text: 'three', subject: 'alice' });
  });
});
