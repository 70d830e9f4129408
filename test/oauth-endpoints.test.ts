/**
 * The OAuth proxy's parts without a socket: reading parameters and client credentials, client
 * authentication, the two grant functions against the memory store and a hand-written IdP, the
 * store/IdP boundary and the route table. test/oauth-proxy.test.ts runs the same endpoints end to
 * end over HTTP.
 */
import { createHash } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudError } from '../src/cloud/errors.js';
import { authenticateClient } from '../src/cloud/oauth/client-auth.js';
import { ClientMetadataError, createClientRegistry, type ClientRegistry, type OAuthClient } from '../src/cloud/oauth/clients.js';
import { authorizationCodeGrant } from '../src/cloud/oauth/grants/authorization-code.js';
import { refreshTokenGrant } from '../src/cloud/oauth/grants/refresh-token.js';
import { refreshTokenKey, type GrantDeps } from '../src/cloud/oauth/grants/tokens.js';
import { IdpError, type IdpClient, type IdpTokens } from '../src/cloud/oauth/idp.js';
import { defaultScope } from '../src/cloud/oauth/metadata.js';
import { param, presentedCredentials, readForm, required } from '../src/cloud/oauth/params.js';
import { createOAuthProxy } from '../src/cloud/oauth/proxy.js';
import { signingKeys } from '../src/cloud/oauth/signing-keys.js';
import { tokenIdOf } from '../src/cloud/auth/verified-token.js';
import { codeKey, seal } from '../src/cloud/oauth/seal.js';
import type { CodeGrant } from '../src/cloud/oauth/state.js';
import { answerUnavailable } from '../src/cloud/oauth/unavailable.js';
import { createMemoryStore } from '../src/cloud/store/memory-store.js';
import { StoreUnavailableError, type SharedStore } from '../src/cloud/store/types.js';
import { createLogger, silentLogger } from '../src/shared/logger.js';

const S256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** The CloudError `run` throws (or rejects with); fails the test when it throws nothing or something else. */
async function cloudError(run: () => unknown): Promise<CloudError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(CloudError);
    return err as CloudError;
  }
  throw new Error('expected a CloudError, nothing was thrown');
}

/** A request as the endpoints read it: headers and a body stream, no socket. */
function request(headers: Record<string, string>, body: string | Buffer): IncomingMessage {
  return Object.assign(Readable.from([Buffer.from(body)]), { headers }) as unknown as IncomingMessage;
}

describe('parameters (RFC 6749 §3.1)', () => {
  it('reads one value, treats an empty one as absent, and refuses a repeated one', async () => {
    const params = new URLSearchParams('code=abc&state=&scope=a&scope=b');
    expect(param(params, 'code')).toBe('abc');
    expect(param(params, 'state')).toBeUndefined();
    expect(param(params, 'nonce')).toBeUndefined();
    const repeated = await cloudError(() => param(params, 'scope'));
    expect([repeated.code, repeated.status, repeated.description]).toEqual(['OAUTH_INVALID_REQUEST', 400, 'the scope parameter is repeated']);
    expect(required(params, 'code')).toBe('abc');
    const missing = await cloudError(() => required(params, 'state'));
    expect([missing.code, missing.description]).toEqual(['OAUTH_INVALID_REQUEST', 'the state parameter is missing']);
  });

  it('reads a form body, and refuses another media type or a body over 64 KiB (declared or streamed)', async () => {
    const form = await readForm(request({ 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, 'grant_type=refresh_token&refresh_token=r%2B1'));
    expect(Object.fromEntries(form)).toEqual({ grant_type: 'refresh_token', refresh_token: 'r+1' });

    const json = await cloudError(() => readForm(request({ 'content-type': 'application/json' }, '{}')));
    expect([json.code, json.description]).toEqual(['OAUTH_INVALID_REQUEST', 'the body must be application/x-www-form-urlencoded']);

    const declared = await cloudError(() => readForm(request({ 'content-type': 'application/x-www-form-urlencoded', 'content-length': '70000' }, 'a=1')));
    expect([declared.code, declared.status, declared.description]).toEqual(['OAUTH_BODY_TOO_LARGE', 413, 'the body is larger than 65536 bytes']);
    const streamed = await cloudError(() => readForm(request({ 'content-type': 'application/x-www-form-urlencoded' }, Buffer.alloc(64 * 1024 + 1, 'a'))));
    expect(streamed.code).toBe('OAUTH_BODY_TOO_LARGE');
    const exactly = await readForm(request({ 'content-type': 'application/x-www-form-urlencoded' }, `a=${'b'.repeat(64 * 1024 - 2)}`));
    expect(exactly.get('a')).toHaveLength(64 * 1024 - 2);
  });
});

describe('client credentials (RFC 6749 §2.3.1)', () => {
  it('decodes Basic credentials as form-urlencoded, whatever the scheme case', () => {
    expect(presentedCredentials(basic('my+client%3A1', 's%C3%A9cret+x'), new URLSearchParams('client_id=ignored'))).toEqual({
      id: 'my client:1',
      secret: 'sécret x',
      basic: true,
    });
    expect(presentedCredentials(`bASIC ${Buffer.from('a:').toString('base64')}`, new URLSearchParams())).toEqual({ id: 'a', secret: '', basic: true });
  });

  it('refuses malformed Basic credentials with invalid_client', async () => {
    const noColon = await cloudError(() => presentedCredentials(`Basic ${Buffer.from('justid').toString('base64')}`, new URLSearchParams()));
    expect([noColon.code, noColon.status, noColon.description]).toEqual(['OAUTH_INVALID_CLIENT', 401, 'the Basic credentials are malformed']);
    const badEscape = await cloudError(() => presentedCredentials(basic('id', '%E0%A4%A'), new URLSearchParams()));
    expect(badEscape.code).toBe('OAUTH_INVALID_CLIENT');
  });

  it('takes client_id and client_secret from the body without Basic (another scheme is no credential)', () => {
    expect(presentedCredentials('Bearer x.y.z', new URLSearchParams('client_id=c1&client_secret=s1'))).toEqual({ id: 'c1', secret: 's1', basic: false });
    expect(presentedCredentials(undefined, new URLSearchParams('client_id=c1'))).toEqual({ id: 'c1', secret: undefined, basic: false });
  });
});

describe('client authentication', () => {
  let store: SharedStore;
  let clients: ClientRegistry;
  let documents: Record<string, Response>;
  beforeEach(() => {
    store = createMemoryStore();
    documents = {};
    const fetchDocument = (async (url: string) => documents[url] ?? new Response('gone', { status: 404 })) as typeof fetch;
    // client.example resolves (here) to a public address: the documents come from `documents`.
    const resolveHost = async () => [{ address: '93.184.215.14', family: 4 as const }];
    clients = createClientRegistry({ store, ttlSec: 3600, fetch: fetchDocument, resolveHost });
  });
  afterEach(() => store.close());

  it('authenticates a confidential client by its secret, in Basic or the body, and names what was wrong', async () => {
    const { client, secret } = await clients.register({ redirect_uris: ['https://app.example/cb'] });
    expect(client.secret_hash).toBe(S256(secret!)); // the stored format: sha256, base64url
    expect((await authenticateClient(clients, basic(client.client_id, secret!), new URLSearchParams())).client_id).toBe(client.client_id);
    const post = new URLSearchParams({ client_id: client.client_id, client_secret: secret! });
    expect((await authenticateClient(clients, undefined, post)).client_id).toBe(client.client_id);

    const wrong = await cloudError(() => authenticateClient(clients, basic(client.client_id, `${secret}x`), new URLSearchParams()));
    expect([wrong.code, wrong.description]).toEqual(['OAUTH_INVALID_CLIENT', 'the client credentials are wrong']);
    const missing = await cloudError(() => authenticateClient(clients, undefined, new URLSearchParams({ client_id: client.client_id })));
    expect(missing.description).toBe('the client secret is missing or wrong');
  });

  it('takes a public client by its client_id, and refuses none or an unknown one', async () => {
    const { client, secret } = await clients.register({ redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' });
    expect(secret).toBeUndefined();
    expect((await authenticateClient(clients, undefined, new URLSearchParams({ client_id: client.client_id }))).client_id).toBe(client.client_id);
    const none = await cloudError(() => authenticateClient(clients, undefined, new URLSearchParams()));
    expect(none.description).toBe('the request names no client (client_id)');
    const unknown = await cloudError(() => authenticateClient(clients, undefined, new URLSearchParams({ client_id: 'mcp_unknown' })));
    expect([unknown.code, unknown.description]).toEqual(['OAUTH_INVALID_CLIENT', 'the client is not registered here (or its registration expired): register again']);
  });

  it('answers invalid_client for a metadata document that cannot be fetched or is too large', async () => {
    const url = 'https://client.example/meta.json';
    const unreachable = await cloudError(() => authenticateClient(clients, undefined, new URLSearchParams({ client_id: url })));
    expect([unreachable.code, unreachable.description]).toEqual(['OAUTH_INVALID_CLIENT', 'the client metadata document could not be used']);
    documents[url] = new Response(JSON.stringify({ client_id: url, redirect_uris: ['http://127.0.0.1/cb'], padding: 'x'.repeat(6000) }));
    const huge = await cloudError(() => authenticateClient(clients, undefined, new URLSearchParams({ client_id: url })));
    expect([huge.code, huge.description]).toEqual(['OAUTH_INVALID_CLIENT', 'the client metadata document could not be used']);
    documents[url] = new Response(JSON.stringify({ client_id: url, redirect_uris: ['http://127.0.0.1/cb'] }));
    expect((await authenticateClient(clients, undefined, new URLSearchParams({ client_id: url }))).client_id).toBe(url);
  });

  it('refuses registrations with the RFC 7591 error codes, as CloudErrors', async () => {
    const uri = await cloudError(() => clients.register({ redirect_uris: ['http://evil.example/cb'] }));
    expect(uri).toBeInstanceOf(ClientMetadataError);
    expect([uri.code, uri.status]).toEqual(['OAUTH_INVALID_REDIRECT_URI', 400]);
    const grants = await cloudError(() => clients.register({ redirect_uris: ['https://a.example/cb'], grant_types: ['client_credentials'] }));
    expect(grants.code).toBe('OAUTH_INVALID_CLIENT_METADATA');
  });
});

/** A hand-written IdP: records refresh calls, answers what `next` says. */
function fakeIdp(next: () => Promise<IdpTokens>): IdpClient & { refreshes: { token: string; params: { scope?: string; resource?: string } }[] } {
  const refreshes: { token: string; params: { scope?: string; resource?: string } }[] = [];
  return {
    refreshes,
    authorizationUrl: async () => new URL('https://idp.example/authorize'),
    exchangeCode: async () => next(),
    refresh: async (token, params) => {
      refreshes.push({ token, params });
      return next();
    },
    revoke: async () => true,
    warm: async () => {},
    status: () => ({ status: 'ok' }),
    close: () => {},
  };
}

const MCP = 'https://mcp.example/mcp';

describe('the grants', () => {
  let store: SharedStore;
  let lines: string[];
  let idpAnswer: () => Promise<IdpTokens>;
  let idp: ReturnType<typeof fakeIdp>;
  let deps: GrantDeps;
  let revoked: Array<[string, number]>;
  const signing = signingKeys(undefined);
  const ISSUER = 'https://mcp.example';
  const client: OAuthClient = {
    client_id: 'mcp_a',
    redirect_uris: ['http://127.0.0.1/cb'],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    source: 'registration',
  };
  const user = { issuer: 'https://idp.example', subject: 'alice', email: 'alice@example.com', groups: ['sre'] };
  beforeEach(() => {
    store = createMemoryStore();
    lines = [];
    revoked = [];
    idpAnswer = async () => ({ access_token: 'idp-at-2', token_type: 'Bearer', expires_in: 300, refresh_token: 'idp-rt-2', scope: 'openid' });
    idp = fakeIdp(() => idpAnswer());
    deps = {
      baseUrl: ISSUER,
      store,
      idp,
      logger: createLogger({ format: 'json', write: (l) => lines.push(l) }),
      acceptedResources: [MCP],
      idpResource: 'api://seed',
      dcr: { ttlSec: 3600, rateLimitMax: 10 },
      signing,
      tokenTtl: { accessSec: 600, refreshSec: 3600 },
      revocations: { revoke: async (id, exp) => void revoked.push([id, exp]) },
    };
  });
  afterEach(() => store.close());

  /** The claims of a proxy access token, its signature checked against the published keys. */
  async function claimsOf(token: string) {
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys: signing.jwks as never }), { issuer: ISSUER, audience: MCP, typ: 'at+jwt' });
    expect(protectedHeader.kid).toBe(signing.current.kid);
    return payload;
  }

  /** Every value the store holds, as text: what someone who can read Redis sees. */
  async function storeText(): Promise<string> {
    return JSON.stringify(await store.entries(''));
  }

  const verifier = 'v'.repeat(43);
  const idpTokens: IdpTokens = {
    access_token: 'idp-at-1',
    token_type: 'Bearer',
    expires_in: 600,
    refresh_token: 'idp-rt-1',
    id_token: 'idp-id-1',
    scope: 'openid checklist.read',
    user,
  };
  /** A code as the callback leaves it: sealed in the store under its hash. */
  async function issueCode(grant: Partial<CodeGrant> = {}): Promise<string> {
    const code = `code-${Math.random()}`;
    const sealed: CodeGrant = {
      clientId: client.client_id,
      redirectUri: 'http://127.0.0.1/cb',
      codeChallenge: S256(verifier),
      resource: MCP,
      scope: 'checklist.read checklist.list',
      tokens: idpTokens,
      ...grant,
    };
    await store.set(codeKey(code), seal(code, sealed), 60_000);
    return code;
  }
  const redeem = (code: string, extra: Record<string, string> = {}) =>
    authorizationCodeGrant(new URLSearchParams({ code, redirect_uri: 'http://127.0.0.1/cb', code_verifier: verifier, ...extra }), client, deps);

  describe('authorization_code', () => {
    it("issues the proxy's own tokens once; the IdP's never leave, and the store holds none readable", async () => {
      const code = await issueCode();
      const answer = await redeem(code, { resource: MCP });
      expect(answer).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'checklist.read' });
      const claims = await claimsOf(answer.access_token);
      expect(claims).toMatchObject({ iss: ISSUER, aud: MCP, sub: 'alice', client_id: 'mcp_a', scope: 'checklist.read', email: 'alice@example.com', groups: ['sre'] });
      expect(claims.exp! - claims.iat!).toBe(600);
      expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{20,}$/);
      // The refresh token is an opaque handle, not the IdP's.
      expect(answer.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      for (const secret of ['idp-at-1', 'idp-rt-1', 'idp-id-1']) expect(JSON.stringify(answer)).not.toContain(secret);
      const text = JSON.stringify(answer) + (await storeText()) + lines.join('\n');
      for (const secret of ['idp-at-1', 'idp-rt-1', 'idp-id-1', answer.refresh_token!, code]) expect(text.replace(JSON.stringify(answer), '')).not.toContain(secret);
      const again = await cloudError(() => redeem(code));
      expect([again.code, again.description]).toEqual(['OAUTH_INVALID_GRANT', 'the code is unknown, expired or already used']);
      expect(lines.map((l) => JSON.parse(l))).toMatchObject([
        { msg: 'oauth tokens issued', event: 'oauth_token', grant_type: 'authorization_code', client_id: 'mcp_a' },
        { msg: 'a redeemed code came back: the tokens it gave are revoked', event: 'oauth_code_replayed' },
      ]);
      // The replay ended the grant: its access token is revoked, its refresh token dead.
      expect(revoked).toEqual([[tokenIdOf(ISSUER, claims.jti, ''), claims.exp]]);
      expect((await cloudError(() => refreshTokenGrant(new URLSearchParams({ refresh_token: answer.refresh_token! }), client, deps))).code).toBe('OAUTH_INVALID_GRANT');
    });

    it('gives no refresh token without an IdP refresh token, or to a client without the grant', async () => {
      expect((await redeem(await issueCode({ tokens: { ...idpTokens, refresh_token: undefined as never } }))).refresh_token).toBeUndefined();
      const codeOnly = { ...client, grant_types: ['authorization_code'] };
      const code = await issueCode();
      const answer = await authorizationCodeGrant(new URLSearchParams({ code, redirect_uri: 'http://127.0.0.1/cb', code_verifier: verifier }), codeOnly, deps);
      expect(answer.refresh_token).toBeUndefined();
    });

    it('refuses another client, another redirect URI or a wrong verifier, and the code is used up by the try', async () => {
      const other = await issueCode({ clientId: 'mcp_b' });
      expect((await cloudError(() => redeem(other))).description).toBe('the code was issued to another client');
      expect((await cloudError(() => redeem(other))).description).toBe('the code is unknown, expired or already used');
      const elsewhere = await cloudError(async () => redeem(await issueCode(), { redirect_uri: 'http://127.0.0.1/other' }));
      expect([elsewhere.code, elsewhere.description]).toEqual(['OAUTH_INVALID_GRANT', 'redirect_uri does not match the authorization request']);
      const wrong = await cloudError(async () => redeem(await issueCode(), { code_verifier: 'w'.repeat(43) }));
      expect(wrong.description).toBe('the code_verifier does not match the code_challenge');
      const short = await cloudError(async () => redeem(await issueCode({ codeChallenge: S256('short') }), { code_verifier: 'short' }));
      expect(short.description).toBe('the code_verifier does not match the code_challenge');
      expect(revoked).toEqual([]);
    });

    it('refuses a resource that is not this server, or not the one authorized', async () => {
      const foreign = await cloudError(async () => redeem(await issueCode(), { resource: 'https://other.example/mcp' }));
      expect([foreign.code, foreign.description]).toEqual(['OAUTH_INVALID_TARGET', 'the resource is not this server (RFC 8707)']);
      deps = { ...deps, acceptedResources: [MCP, 'https://mcp.example/other'] };
      const differs = await cloudError(async () => redeem(await issueCode(), { resource: 'https://mcp.example/other' }));
      expect([differs.code, differs.description]).toEqual(['OAUTH_INVALID_TARGET', 'the resource differs from the authorization request']);
    });
  });

  describe('refresh_token', () => {
    const refresh = (params: Record<string, string>, who: OAuthClient = client) => refreshTokenGrant(new URLSearchParams(params), who, deps);
    const signedIn = async () => (await redeem(await issueCode())).refresh_token!;

    it('checks the session at the IdP, rotates its own refresh token, and keeps the IdP rotation inside', async () => {
      const first = await signedIn();
      const answer = await refresh({ refresh_token: first, resource: MCP });
      expect(idp.refreshes).toEqual([{ token: 'idp-rt-1', params: { resource: 'api://seed' } }]);
      expect((await claimsOf(answer.access_token)).client_id).toBe('mcp_a');
      expect(answer.refresh_token).not.toBe(first);
      expect((await cloudError(() => refresh({ refresh_token: first }))).code).toBe('OAUTH_INVALID_GRANT');
      // The IdP's rotated refresh token is the one used next.
      await refresh({ refresh_token: answer.refresh_token! });
      expect(idp.refreshes[1]!.token).toBe('idp-rt-2');
      expect(JSON.stringify(answer) + lines.join('\n')).not.toMatch(/idp-rt|idp-at/);
    });

    it('narrows the scope on request, never widens it', async () => {
      const first = await signedIn();
      const wider = await cloudError(() => refresh({ refresh_token: first, scope: 'checklist.read admin' }));
      expect(wider.code).toBe('OAUTH_INVALID_GRANT');
    });

    it('ends the grant when another client presents the refresh token (it was stolen)', async () => {
      const stolen = await signedIn();
      const other = await cloudError(() => refresh({ refresh_token: stolen }, { ...client, client_id: 'mcp_b' }));
      expect([other.code, other.description]).toEqual(['OAUTH_INVALID_GRANT', 'the refresh token is unknown here or was issued to another client']);
      expect((await cloudError(() => refresh({ refresh_token: stolen }))).code).toBe('OAUTH_INVALID_GRANT');
      expect(revoked).toHaveLength(1);
      expect(lines.join('\n')).toContain('oauth_refresh_token_misused');
    });

    it('refuses a client without the grant, an unknown token and a foreign resource', async () => {
      const codeOnly = await cloudError(() => refresh({ refresh_token: 'x' }, { ...client, grant_types: ['authorization_code'] }));
      expect([codeOnly.code, codeOnly.description]).toEqual(['OAUTH_UNAUTHORIZED_CLIENT', 'the client did not register the refresh_token grant']);
      expect((await cloudError(() => refresh({ refresh_token: 'rt-unknown' }))).code).toBe('OAUTH_INVALID_GRANT');
      expect((await cloudError(() => refresh({ refresh_token: 'x', resource: 'https://other.example/mcp' }))).code).toBe('OAUTH_INVALID_TARGET');
      expect((await cloudError(() => refresh({}))).description).toBe('the refresh_token parameter is missing');
      expect(idp.refreshes).toEqual([]);
    });

    it('keeps the refresh token when the IdP is down, and ends the grant when the IdP ended the session', async () => {
      const token = await signedIn();
      idpAnswer = async () => {
        throw new IdpError('could not refresh the token at the identity provider: down', undefined);
      };
      await expect(refresh({ refresh_token: token })).rejects.toBeInstanceOf(IdpError);
      idpAnswer = async () => {
        throw new IdpError('could not refresh the token at the identity provider: invalid_grant', 'invalid_grant');
      };
      const refused = await cloudError(() => refresh({ refresh_token: token }));
      expect([refused.code, refused.description]).toEqual(['OAUTH_INVALID_GRANT', 'the identity provider ended the session: sign in again']);
      expect(await store.get(refreshTokenKey(token))).toBeUndefined();
      expect(revoked).toHaveLength(1);
    });
  });
});

describe('the store and IdP boundary', () => {
  const res = (headersSent = false) => ({ headersSent }) as ServerResponse;
  const req = {} as IncomingMessage;

  it('turns a store or IdP failure into a 503 temporarily_unavailable, logged, and leaves other errors alone', async () => {
    const lines: string[] = [];
    const logger = createLogger({ format: 'json', write: (l) => lines.push(l) });
    const failing = (err: Error) => answerUnavailable(logger, async () => Promise.reject(err));

    const store = await cloudError(() => failing(new StoreUnavailableError('redis: connection refused'))(req, res()));
    expect([store.code, store.status, store.description, store.retryAfterSec]).toEqual(['OAUTH_TEMPORARILY_UNAVAILABLE', 503, 'the shared state store is unavailable', 5]);
    const idp = await cloudError(() => failing(new IdpError('could not discover the identity provider', undefined))(req, res()));
    expect(idp.description).toBe('the identity provider cannot be reached');
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([
      { level: 'error', msg: 'oauth proxy: redis: connection refused', event: 'oauth_unavailable' },
      { level: 'error', msg: 'oauth proxy: could not discover the identity provider', event: 'oauth_unavailable' },
    ]);

    const bug = new TypeError('a bug');
    await expect(failing(bug)(req, res())).rejects.toBe(bug);
    const late = new StoreUnavailableError('after the answer started');
    await expect(failing(late)(req, res(true))).rejects.toBe(late);
    expect(lines).toHaveLength(2);
  });
});

describe('the proxy', () => {
  it('asks for OpenID, a refresh token and the server scopes by default, once each', () => {
    expect(defaultScope(['checklist.read', 'openid', 'checklist.read'])).toBe('openid profile email offline_access checklist.read');
  });

  it('routes its nine paths, with CORS on the ones browsers call across origins and none on the consent pages', () => {
    const store = createMemoryStore();
    const proxy = createOAuthProxy({
      baseUrl: 'https://mcp.example',
      acceptedResources: [MCP],
      scopesSupported: ['checklist.read'],
      dcr: { ttlSec: 3600, rateLimitMax: 10 },
      trustProxy: false,
      store,
      clients: createClientRegistry({ store, ttlSec: 3600 }),
      idp: fakeIdp(async () => ({ access_token: 'a', token_type: 'Bearer' })),
      logger: silentLogger,
    });
    expect(proxy.routes.map((r) => [r.path, r.methods, r.cors])).toEqual([
      ['/.well-known/oauth-authorization-server', ['GET'], 'public'],
      ['/oauth/authorize', ['GET'], undefined],
      ['/oauth/authorize/callback', ['GET'], undefined],
      ['/oauth/token', ['POST'], 'public'],
      ['/oauth/register', ['POST'], 'public'],
      ['/oauth/revoke', ['POST'], 'public'],
      ['/oauth/jwks', ['GET'], 'public'],
      ['/oauth/consent', ['POST'], undefined],
      ['/oauth/consents', ['GET', 'POST'], undefined],
    ]);
    expect(proxy.metadata()).toMatchObject({
      issuer: 'https://mcp.example',
      token_endpoint: 'https://mcp.example/oauth/token',
      scopes_supported: expect.arrayContaining(['checklist.read']),
    });
    void store.close();
  });
});
