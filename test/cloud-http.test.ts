/**
 * The cloud's HTTP layer piece by piece, without a socket: the error table and the answers derived
 * from it, the router, and each step of the MCP endpoint with its dependencies passed in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TokenValidator, VerifiedToken } from '../src/cloud/auth/validator.js';
import { authErrorOf, JwksUnavailableError } from '../src/cloud/auth/errors.js';
import { AUTH_FAILURE_CODES, CLOUD_ERRORS, CloudError, type CloudErrorCode } from '../src/cloud/errors.js';
import { readiness, type ReadinessDeps } from '../src/cloud/http/health.js';
import { createAuthenticate } from '../src/cloud/http/mcp/authenticate.js';
import { createRateLimitStep } from '../src/cloud/http/mcp/rate-limit.js';
import { readMessage } from '../src/cloud/http/mcp/read-message.js';
import { checkToolAccess } from '../src/cloud/http/mcp/tool-access.js';
import { protectedResourceMetadata } from '../src/cloud/http/protected-resource.js';
import { bearerChallenge, sendError } from '../src/cloud/http/respond.js';
import { createRouter } from '../src/cloud/http/router.js';
import { AUTH_CODE_LABELS, createMetrics } from '../src/cloud/metrics.js';
import { parsePolicy } from '../src/cloud/policy.js';
import { createMemoryRateLimitStore, createRateLimiter } from '../src/cloud/rate-limit.js';
import { createLogger, silentLogger } from '../src/shared/logger.js';
import type { Caller, ToolDefinition } from '../src/shared/tools/types.js';

const PRM = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

/** Just enough of a ServerResponse to see what a handler answered. */
function response() {
  const headers: Record<string, string> = {};
  const answer = { status: 0, headers, body: '', ended: false };
  const res = {
    get headersSent() {
      return answer.status !== 0;
    },
    setHeader(name: string, value: string | number) {
      headers[name.toLowerCase()] = String(value);
      return res;
    },
    getHeader: (name: string) => headers[name.toLowerCase()],
    writeHead(status: number, more: Record<string, string> = {}) {
      answer.status = status;
      for (const [k, v] of Object.entries(more)) headers[k.toLowerCase()] = v;
      return res;
    },
    end(body?: string) {
      answer.body = body ?? '';
      answer.ended = true;
      return res;
    },
  };
  return { res: res as unknown as ServerResponse, answer, json: () => JSON.parse(answer.body) as Record<string, unknown> };
}

/** A request with a body, headers and a peer address, as a stream. */
function request(init: { method?: string; url?: string; headers?: Record<string, string>; body?: string } = {}): IncomingMessage {
  const stream = new PassThrough();
  Object.assign(stream, { method: init.method ?? 'POST', url: init.url ?? '/mcp', headers: init.headers ?? {}, socket: { remoteAddress: '203.0.113.9' } });
  stream.end(init.body ?? '');
  return stream as unknown as IncomingMessage;
}

describe('the error table', () => {
  it('derives the auth_attempts_total code labels from the codes that are decisions about the caller', () => {
    expect([...AUTH_CODE_LABELS].sort()).toEqual([...AUTH_FAILURE_CODES].sort());
    expect(AUTH_CODE_LABELS).toContain('RATE_LIMITED');
    expect(AUTH_CODE_LABELS).not.toContain('JWKS_UNAVAILABLE');
  });

  it('gives every code a consistent row', () => {
    for (const [code, spec] of Object.entries(CLOUD_ERRORS) as Array<[CloudErrorCode, (typeof CLOUD_ERRORS)[CloudErrorCode]]>) {
      expect(spec.action, code).not.toMatch(/^Action:/);
      expect(spec.action.length, code).toBeGreaterThan(5);
      if ('challenge' in spec && spec.challenge === 'bearer') expect([400, 401, 403], code).toContain(spec.status);
      if ('challenge' in spec && spec.challenge === 'basic') expect(spec.status, code).toBe(401);
      if (spec.body === 'jsonrpc') expect('rpcCode' in spec, code).toBe(true);
      if (spec.body === 'oauth') expect('error' in spec, code).toBe(true);
    }
  });

  it('answers a resource-server failure with its challenge, code and one Action: prefix', () => {
    const { res, answer, json } = response();
    sendError(res, authErrorOf('TOKEN_EXPIRED', 'token expired'), { resourceMetadataUrl: PRM });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe(`Bearer error="invalid_token", error_description="token expired", resource_metadata="${PRM}"`);
    expect(json()).toEqual({
      error: 'TOKEN_EXPIRED',
      error_description: 'token expired',
      message: 'Action: refresh the token or sign in again (seed-mcp login); check the clock of the machine that sent it',
    });
  });

  it('sends no error in the challenge of a request without a token, and the scopes of a 403', () => {
    expect(bearerChallenge(authErrorOf('MISSING_AUTHORIZATION', 'no header'), PRM)).toBe(`Bearer resource_metadata="${PRM}"`);
    const scope = new CloudError('INSUFFICIENT_SCOPE', 'needs more', { scope: ['checklist.read', 'checklist.list'] });
    expect(bearerChallenge(scope, PRM)).toBe(
      `Bearer error="insufficient_scope", error_description="needs more", scope="checklist.read checklist.list", resource_metadata="${PRM}"`,
    );
  });

  it('answers 503s without a challenge, with Retry-After, and keeps the operator detail out of the body', () => {
    const { res, answer, json } = response();
    sendError(res, new JwksUnavailableError('https://idp.example.com', 'connect ECONNREFUSED 10.0.0.1:443'), { resourceMetadataUrl: PRM });
    expect(answer.status).toBe(503);
    expect(answer.headers['www-authenticate']).toBeUndefined();
    expect(answer.headers['retry-after']).toBe('5');
    expect(JSON.stringify(json())).not.toContain('ECONNREFUSED');
    expect(json()).toMatchObject({ error: 'JWKS_UNAVAILABLE', message: expect.stringMatching(/^Action: retry shortly/) });
  });

  it('answers JSON-RPC and OAuth shapes', () => {
    const a = response();
    sendError(a.res, new CloudError('BODY_TOO_LARGE', 'request body over 10 bytes'), { resourceMetadataUrl: PRM });
    expect(a.answer.status).toBe(413);
    expect(a.answer.headers.connection).toBe('close');
    expect(a.json()).toEqual({ jsonrpc: '2.0', error: { code: -32600, message: 'request body over 10 bytes; send a smaller request' }, id: null });
    const b = response();
    sendError(b.res, new CloudError('OAUTH_INVALID_CLIENT', 'the client credentials are wrong'), { resourceMetadataUrl: PRM });
    expect(b.answer.status).toBe(401);
    expect(b.answer.headers['www-authenticate']).toBe('Basic realm="seed-mcp"');
    expect(b.json()).toMatchObject({ error: 'invalid_client', error_description: 'the client credentials are wrong' });
  });

  it('keeps descriptions header-safe', () => {
    const err = new CloudError('INVALID_TOKEN', 'bad "quote" \\ and\nnewline');
    expect(err.description).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
  });
});

describe('the router', () => {
  const router = createRouter(
    [
      { path: '/a', methods: ['POST'], cors: 'public', handle: (_req, res) => void res.writeHead(200).end('a') },
      {
        path: '/b',
        handle: () => {
          throw new CloudError('RATE_LIMITED', 'too many', { retryAfterSec: 7 });
        },
      },
      {
        path: '/c',
        handle: () => {
          throw new Error('boom');
        },
      },
    ],
    { resourceMetadataUrl: PRM },
  );

  it('dispatches by exact path and says when no route matches', async () => {
    const { res, answer } = response();
    expect(await router.dispatch(request({ method: 'POST' }), res, '/a')).toBe(true);
    expect(answer).toMatchObject({ status: 200, body: 'a' });
    expect(answer.headers['access-control-allow-origin']).toBe('*');
    expect(await router.dispatch(request(), response().res, '/a/')).toBe(false);
  });

  it('answers a public preflight and a wrong method', async () => {
    const pre = response();
    await router.dispatch(request({ method: 'OPTIONS' }), pre.res, '/a');
    expect(pre.answer.status).toBe(204);
    expect(pre.answer.headers['access-control-allow-methods']).toBe('POST, OPTIONS');
    const wrong = response();
    await router.dispatch(request({ method: 'GET' }), wrong.res, '/a');
    expect(wrong.answer.status).toBe(405);
    expect(wrong.answer.headers.allow).toBe('POST');
  });

  it('answers a thrown CloudError from the table and lets anything else through', async () => {
    const { res, answer } = response();
    await router.dispatch(request(), res, '/b');
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('7');
    await expect(router.dispatch(request(), response().res, '/c')).rejects.toThrow('boom');
  });

  it('refuses two routes with one path', () => {
    expect(() =>
      createRouter(
        [
          { path: '/x', handle: () => {} },
          { path: '/x', handle: () => {} },
        ],
        { resourceMetadataUrl: PRM },
      ),
    ).toThrow(/routed twice/);
  });
});

const caller = (scopes: string[], subject = 'alice'): Caller => ({ subject, issuer: 'https://idp.example.com', scopes });
const verified = (scopes: string[]): VerifiedToken =>
  Object.freeze({
    subject: 'alice',
    issuer: 'https://idp.example.com',
    audience: ['https://mcp.example.com/mcp'],
    scopes,
    expiresAt: 2e9,
    tokenId: 'j1',
    claims: {},
    caller: caller(scopes),
  });

describe('step: authenticate', () => {
  function validatorAnswering(answer: () => unknown): TokenValidator {
    return {
      authenticate: answer as TokenValidator['authenticate'],
      verify: () => Promise.reject(new Error('unused')),
      parseAuthorization: () => '',
      jwksStatus: () => [],
      warm: async () => {},
      close: () => {},
    };
  }

  it('answers a cached token synchronously, with one AuthInfo per token, and audits each request', () => {
    const lines: string[] = [];
    const metrics = createMetrics({ collectDefault: false });
    const v = verified(['checklist.read']);
    const authenticate = createAuthenticate({
      validator: validatorAnswering(() => ({ token: 'tok', verified: v })),
      authRequired: true,
      logger: createLogger({ format: 'json', write: (l) => lines.push(l) }),
      metrics,
    });
    const first = authenticate(request());
    const second = authenticate(request());
    expect(first).not.toBeInstanceOf(Promise);
    expect(second).toBe(first);
    expect((first as { info?: { scopes: string[] } }).info?.scopes).toEqual(['checklist.read']);
    expect(lines.join('\n').match(/token_validated/g)?.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toContain('tok"');
  });

  it('records a refusal as an auth failure with its code, and a 503 as an operator error', async () => {
    const lines: string[] = [];
    const metrics = createMetrics({ collectDefault: false });
    const logger = createLogger({ format: 'json', write: (l) => lines.push(l) });
    const refusing = createAuthenticate({ validator: validatorAnswering(() => Promise.reject(authErrorOf('TOKEN_EXPIRED', 'expired'))), authRequired: true, logger, metrics });
    await expect(refusing(request())).rejects.toMatchObject({ code: 'TOKEN_EXPIRED', status: 401 });
    const unavailable = createAuthenticate({
      validator: validatorAnswering(() => {
        throw new JwksUnavailableError('https://idp.example.com', 'down');
      }),
      authRequired: true,
      logger,
      metrics,
    });
    expect(() => unavailable(request())).toThrow(JwksUnavailableError);
    const text = (await metrics.render()).body;
    expect(text).toMatch(/auth_attempts_total\{result="failure",code="TOKEN_EXPIRED"\} 1/);
    expect(text).not.toMatch(/code="JWKS_UNAVAILABLE"/);
    const joined = lines.join('\n');
    expect(joined).toMatch(/"event":"cloud_auth_failed".*"code":"TOKEN_EXPIRED"/);
    expect(joined).toMatch(/"event":"jwks_unavailable"/);
  });

  it('lets everyone through, anonymous, without AUTH_REQUIRED', () => {
    const authenticate = createAuthenticate({ authRequired: false, logger: silentLogger });
    expect(authenticate(request())).toEqual({});
  });
});

describe('step: rate limit', () => {
  it('passes the RateLimit headers, then refuses with RATE_LIMITED carrying them and Retry-After', async () => {
    const limiter = createRateLimiter({ store: createMemoryRateLimitStore(), max: 2, windowMs: 60_000 });
    const step = createRateLimitStep({ limiter, max: 2, windowMs: 60_000, trustProxy: false, logger: silentLogger });
    const auth = { verified: verified([]) };
    expect(await step(request(), auth)).toMatchObject({ 'RateLimit-Limit': '2', 'RateLimit-Remaining': '1' });
    await step(request(), auth);
    const refused = await step(request(), auth).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CloudError);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterSec: expect.any(Number) });
    expect((refused as CloudError).headers).toMatchObject({ 'RateLimit-Remaining': '0' });
    // Another principal has its own window.
    expect(await step(request(), { verified: { ...verified([]), subject: 'bob' } })).toMatchObject({ 'RateLimit-Remaining': '1' });
  });
});

describe('step: read the message', () => {
  it('parses JSON, refuses what is not JSON, and refuses a body over the cap (declared or streamed)', async () => {
    expect(await readMessage(request({ body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' }))).toEqual({ jsonrpc: '2.0', id: 1, method: 'ping' });
    await expect(readMessage(request({ body: '{nope' }))).rejects.toMatchObject({ code: 'PARSE_ERROR', status: 400 });
    await expect(readMessage(request({ body: 'x'.repeat(64) }), 32)).rejects.toMatchObject({ code: 'BODY_TOO_LARGE', status: 413 });
    await expect(readMessage(request({ body: '{}', headers: { 'content-length': '100000000' } }), 32)).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
  });
});

describe('step: tool access', () => {
  const tool = (name: string, requiredScopes?: string[]): ToolDefinition =>
    ({ name, description: name, inputSchema: { type: 'object' }, ...(requiredScopes ? { requiredScopes } : {}), handler: async () => ({ content: [] }) }) as ToolDefinition;
  const tools = new Map([tool('get_checklist', ['checklist.read']), tool('whoami')].map((t) => [t.name, t]));
  const call = (name: string) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } });

  it('refuses a missing scope naming every scope the tool needs', () => {
    const deps = { tools, access: { authRequired: true }, logger: silentLogger };
    expect(() => checkToolAccess(deps, call('get_checklist'), caller([]))).toThrow(expect.objectContaining({ code: 'INSUFFICIENT_SCOPE', scope: 'checklist.read' }));
    expect(() => checkToolAccess(deps, call('get_checklist'), caller(['checklist.read']))).not.toThrow();
    // Other methods, unknown tools and batches with only allowed calls pass.
    expect(() => checkToolAccess(deps, [{ jsonrpc: '2.0', id: 2, method: 'tools/list' }, call('whoami'), call('nope')], caller([]))).not.toThrow();
    expect(() => checkToolAccess(deps, [call('whoami'), call('get_checklist')], caller([]))).toThrow(expect.objectContaining({ code: 'INSUFFICIENT_SCOPE' }));
  });

  it('refuses what the policy denies with ACCESS_DENIED and its reason', () => {
    const policy = parsePolicy('rules:\n  - tools: [whoami]\n    allow: { subjects: [alice] }\n', 'yaml', 'policy.yaml');
    const deps = { tools, access: { authRequired: true, policy: { current: () => policy } }, logger: silentLogger };
    expect(() => checkToolAccess(deps, call('whoami'), caller([]))).not.toThrow();
    expect(() => checkToolAccess(deps, call('whoami'), caller([], 'mallory'))).toThrow(expect.objectContaining({ code: 'ACCESS_DENIED', status: 403 }));
    const err = (() => {
      try {
        checkToolAccess(deps, call('get_checklist'), caller(['checklist.read']));
      } catch (e) {
        return e as CloudError;
      }
    })();
    expect(err?.action).toMatch(/^ask the server's operator for access to get_checklist \(no rule of policy\.yaml allows get_checklist/);
  });
});

describe('readiness', () => {
  const deps = (over: Partial<ReadinessDeps> = {}): ReadinessDeps => ({
    authRequired: true,
    validator: { jwksStatus: () => [{ issuer: 'https://idp.example.com', keys: 2, fresh: true }] } as unknown as TokenValidator,
    sessions: { size: () => 0, max: 10 },
    revocationFailMode: 'closed',
    shuttingDown: () => false,
    ...over,
  });

  it('is ready with keys, degraded with stale keys, unready without keys or while shutting down', () => {
    expect(readiness(deps()).body.status).toBe('ok');
    const stale = deps({ validator: { jwksStatus: () => [{ issuer: 'i', keys: 1, fresh: false, lastError: 'timeout' }] } as unknown as TokenValidator });
    expect(readiness(stale)).toMatchObject({ ok: true, body: { status: 'degraded' } });
    const none = deps({ validator: { jwksStatus: () => [{ issuer: 'i', keys: 0, fresh: false }] } as unknown as TokenValidator });
    expect(readiness(none)).toMatchObject({ ok: false, body: { status: 'unavailable' } });
    expect(readiness(deps({ shuttingDown: () => true }))).toMatchObject({ ok: false, body: { checks: { shutdown: { status: 'shutting_down' } } } });
    expect(readiness(deps({ sessions: { size: () => 10, max: 10 } })).body.checks.sessions).toMatchObject({ status: 'full' });
  });
});

describe('protected-resource metadata', () => {
  it('names the resource, the authorization servers and the scopes', () => {
    expect(protectedResourceMetadata({ resource: 'https://mcp.example.com/mcp', authorizationServers: ['https://idp.example.com'], scopesSupported: ['checklist.read'] })).toEqual({
      resource: 'https://mcp.example.com/mcp',
      authorization_servers: ['https://idp.example.com'],
      scopes_supported: ['checklist.read'],
      bearer_methods_supported: ['header'],
      resource_name: 'seed-mcp',
    });
  });
});
