/**
 * Proves the test IdP and the scripted browser work on their own, with openid-client as the
 * relying party and no product code: if these fail, end-to-end tests of the CLI cannot be trusted.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCE, startIdp, type TestIdp } from './support/idp.js';
import { approveDevice, followLogin } from './support/scripted-browser.mjs';

/** A stand-in for the CLI's loopback listener: answers /callback and remembers what came. */
async function startCallbackServer(): Promise<{ redirectUri: string; received: URL[]; close(): Promise<void> }> {
  const received: URL[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    received.push(url);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>You can close this tab</h1>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('test IdP (oidc-provider) with the scripted browser', () => {
  let idp: TestIdp;
  let config: oidc.Configuration;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;

  beforeAll(async () => {
    idp = await startIdp();
    callback = await startCallbackServer();
    // Plain http is refused by openid-client unless allowed; only ever for loopback test IdPs.
    config = await oidc.discovery(new URL(idp.issuer), 'seed-cli', undefined, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
  });

  afterAll(async () => {
    await callback?.close();
    await idp?.close();
  });

  async function authorizationRequest(extra: Record<string, string> = {}) {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callback.redirectUri,
      scope: 'openid profile email offline_access',
      // Without prompt=consent oidc-provider drops offline_access, and so the refresh token.
      prompt: 'consent',
      resource: DEFAULT_RESOURCE,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, codeVerifier, state, nonce };
  }

  it('serves discovery at a loopback issuer without a trailing slash', () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(idp.issuer);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.device_authorization_endpoint).toBeDefined();
    expect(metadata.revocation_endpoint).toBeDefined();
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'offline_access']));
  });

  it('signs alice in with code + PKCE, issues a JWT access token for the resource, and rotates the refresh token', async () => {
    const { url, codeVerifier, state, nonce } = await authorizationRequest();
    const steps: string[] = [];
    const result = await followLogin(url.href, { login: 'alice', log: (line) => steps.push(line) });

    expect(result.status).toBe(200);
    expect(result.body).toContain('You can close this tab');
    const callbackUrl = new URL(result.callbackUrl);
    expect(callbackUrl.origin + callbackUrl.pathname).toBe(callback.redirectUri);
    expect(callbackUrl.searchParams.get('code')).toBeTruthy();
    expect(callback.received.at(-1)?.href).toBe(result.callbackUrl);
    // The log names paths only, never the code.
    expect(steps.join('\n')).not.toContain(callbackUrl.searchParams.get('code'));

    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    expect(idp.counts.authorizationCode).toBe(1);

    // Access token: an RFC 9068 JWT for the resource, verifiable against the published JWKS.
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(idp.keys), {
      issuer: idp.issuer,
      audience: DEFAULT_RESOURCE,
      typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'seed-cli' });
    expect(tokens.expires_in).toBe(3600);

    const claims = tokens.claims();
    expect(claims).toMatchObject({ sub: 'alice', email: 'alice@example.test', name: 'Alice Example', nonce });

    const firstRefreshToken = tokens.refresh_token;
    expect(firstRefreshToken).toBeTruthy();

    const refreshed = await oidc.refreshTokenGrant(config, firstRefreshToken!);
    expect(idp.counts.refresh).toBe(1);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(firstRefreshToken);
    expect(decodeJwt(refreshed.access_token).aud).toBe(DEFAULT_RESOURCE);

    // Reusing the rotated-out refresh token fails (and revokes the grant, per oidc-provider).
    await expect(oidc.refreshTokenGrant(config, firstRefreshToken!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(idp.counts.failedRefresh).toBe(1);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('reaches a callback registered as localhost (the CLI may write that host)', async () => {
    const redirectUri = callback.redirectUri.replace('127.0.0.1', 'localhost');
    const { url } = await authorizationRequest({ redirect_uri: redirectUri });
    const result = await followLogin(url.href);
    expect(result.status).toBe(200);
    expect(result.callbackUrl.startsWith(`${redirectUri}?`)).toBe(true);
    expect(new URL(result.callbackUrl).searchParams.get('code')).toBeTruthy();
  });

  it('defaults the resource when the client names none, and rejects unknown ones', async () => {
    const { url, codeVerifier, state, nonce } = await authorizationRequest();
    url.searchParams.delete('resource');
    const result = await followLogin(url.href);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(result.callbackUrl), {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(decodeJwt(tokens.access_token).aud).toBe(DEFAULT_RESOURCE);

    const unknown = await authorizationRequest({ resource: 'https://elsewhere.example.test/mcp' });
    const denied = await followLogin(unknown.url.href);
    expect(new URL(denied.callbackUrl).searchParams.get('error')).toBe('invalid_target');
  });

  it('answers error=access_denied to the loopback callback when the person clicks Cancel', async () => {
    const { url, state } = await authorizationRequest();
    const before = idp.counts.authorizationCode;
    const result = await followLogin(url.href, { action: 'deny' });
    const callbackUrl = new URL(result.callbackUrl);
    expect(result.status).toBe(200);
    expect(callbackUrl.searchParams.get('error')).toBe('access_denied');
    expect(callbackUrl.searchParams.get('state')).toBe(state);
    expect(callbackUrl.searchParams.has('code')).toBe(false);
    expect(idp.counts.authorizationCode).toBe(before);
  });

  it('runs the device flow (RFC 8628) with the interval it announces', async () => {
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid email offline_access' });
    expect(device.interval).toBe(1);
    expect(device.verification_uri_complete).toContain('user_code=');

    const polling = oidc.pollDeviceAuthorizationGrant(config, device);
    const approved = await approveDevice(device.verification_uri_complete!, { login: 'bob' });
    expect(approved.outcome).toBe('approved');

    const tokens = await polling;
    expect(idp.counts.deviceCode).toBe(1);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: 'bob', aud: DEFAULT_RESOURCE });
    expect(tokens.claims()).toMatchObject({ email: 'bob@example.test' });
    // The device authorization endpoint takes no prompt, so offline_access is kept.
    expect(tokens.refresh_token).toBeTruthy();

    // Revoking the refresh token ends it (JWT access tokens cannot be revoked: oidc-provider
    // answers unsupported_token_type for any structured token).
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    expect(idp.counts.revocations).toBe(1);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    await expect(oidc.tokenRevocation(config, tokens.access_token)).rejects.toMatchObject({
      error: 'unsupported_token_type',
    });
  });

  it('answers access_denied to the device when the person aborts', async () => {
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const polling = oidc.pollDeviceAuthorizationGrant(config, device);
    polling.catch(() => {});
    const aborted = await approveDevice(device.verification_uri_complete!, { action: 'deny' });
    expect(aborted.outcome).toBe('denied');
    await expect(polling).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('issues client_credentials tokens to seed-service', async () => {
    const service = await oidc.discovery(new URL(idp.issuer), 'seed-service', undefined, oidc.ClientSecretBasic('service-secret'), { execute: [oidc.allowInsecureRequests] });
    const tokens = await oidc.clientCredentialsGrant(service);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: DEFAULT_RESOURCE, client_id: 'seed-service' });
    expect(idp.counts.clientCredentials).toBe(1);
  });

  it('rotateKeys() publishes a new kid and signs with it', async () => {
    const before = idp.keys.keys.map((k) => k.kid);
    await idp.rotateKeys();
    const after = idp.keys.keys.map((k) => k.kid);
    expect(after).toHaveLength(before.length);
    expect(after.some((kid) => before.includes(kid))).toBe(false);

    const served = (await (await fetch(idp.url('/jwks'))).json()) as { keys: Array<{ kid: string; d?: string }> };
    expect(served.keys.map((k) => k.kid)).toEqual(after);
    expect(served.keys.every((k) => k.d === undefined)).toBe(true);

    const { url, codeVerifier, state, nonce } = await authorizationRequest();
    const result = await followLogin(url.href);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(result.callbackUrl), {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(after).toContain(decodeProtectedHeader(tokens.access_token).kid);

    await idp.rotateKeys({ keepPrevious: true });
    expect(idp.keys.keys.map((k) => k.kid)).toEqual(expect.arrayContaining(after));
    expect(idp.keys.keys).toHaveLength(after.length * 2);
  });

  describe("as a program (the CLI's BROWSER)", () => {
    const script = fileURLToPath(new URL('./support/scripted-browser.mjs', import.meta.url));
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'scripted-browser-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** Runs `node scripted-browser.mjs <url>` as BROWSER would; returns its output and log lines. */
    async function launch(url: string, env: Record<string, string>) {
      const log = join(dir, `${Math.random().toString(36).slice(2)}.jsonl`);
      const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, [script, '--new-window', url], { env: { ...process.env, ...env, SCRIPTED_BROWSER_LOG: log } }, (_err, out, err) =>
          resolve({ code: child.exitCode, stdout: out, stderr: err }),
        );
      });
      const lines = (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return { code, stdout, stderr, lines };
    }

    it('signs in, requests the callback, logs one line without the code, exits 0', async () => {
      const { url, codeVerifier, state, nonce } = await authorizationRequest();
      const received = callback.received.length;
      const run = await launch(url.href, { SCRIPTED_BROWSER_LOGIN: 'carol' });
      expect(run.code).toBe(0);
      expect(run.lines).toHaveLength(1);
      expect(run.lines[0]).toMatchObject({ url: url.href, callbackStatus: 200, hasCode: true, action: 'approve' });
      expect(callback.received).toHaveLength(received + 1);
      const callbackUrl = callback.received.at(-1)!;
      const code = callbackUrl.searchParams.get('code')!;
      expect(JSON.stringify(run.lines) + run.stdout + run.stderr).not.toContain(code);

      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: codeVerifier,
        expectedState: state,
        expectedNonce: nonce,
      });
      expect(tokens.claims()?.sub).toBe('carol');
    });

    it('denies via SCRIPTED_BROWSER_ACTION=deny', async () => {
      const { url } = await authorizationRequest();
      const run = await launch(url.href, { SCRIPTED_BROWSER_ACTION: 'deny' });
      expect(run.lines[0]).toMatchObject({ callbackStatus: 200, callbackError: 'access_denied', hasCode: false });
    });

    it('exits 0 and records the error when the callback server is gone', async () => {
      const gone = await startCallbackServer();
      await gone.close();
      const { url } = await authorizationRequest({ redirect_uri: gone.redirectUri });
      const run = await launch(url.href, {});
      expect(run.code).toBe(0);
      expect(run.lines[0]?.error).toMatch(/callback request failed: ECONNREFUSED/);
      expect(run.lines[0]?.callbackStatus).toBeUndefined();
    });
  });

  it('counts requests and saw no server errors', () => {
    expect(idp.counts.requests).toBeGreaterThan(10);
    expect(idp.requestLog.some((r) => r.path === '/jwks')).toBe(true);
    expect(idp.serverErrors).toEqual([]);
  });
});

describe('test IdP options', () => {
  it('issues ES256 access tokens with a short TTL and extra scopes, on a fixed port', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const idp = await startIdp({
      port,
      accessTokenAlg: 'ES256',
      accessTokenTtl: 120,
      extraScopes: ['mcp:tools'],
      resources: ['https://a.example.test/mcp', 'https://b.example.test/mcp'],
      refreshTokens: 'always',
    });
    const callback = await startCallbackServer();
    try {
      expect(idp.issuer).toBe(`http://127.0.0.1:${port}`);
      const config = await oidc.discovery(new URL(idp.issuer), 'seed-cli', undefined, undefined, {
        execute: [oidc.allowInsecureRequests],
      });
      const codeVerifier = oidc.randomPKCECodeVerifier();
      // No prompt=consent and no offline_access: refreshTokens 'always' still issues one.
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: callback.redirectUri,
        scope: 'openid mcp:tools',
        resource: 'https://b.example.test/mcp',
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      });
      const result = await followLogin(url.href);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(result.callbackUrl), {
        pkceCodeVerifier: codeVerifier,
      });
      expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: 'https://b.example.test/mcp', scope: 'mcp:tools' });
      expect(tokens.expires_in).toBe(120);
      expect(tokens.refresh_token).toBeTruthy();
    } finally {
      await callback.close();
      await idp.close();
    }
  });

  it('requires PKCE from the native client', async () => {
    const idp = await startIdp();
    try {
      const url = new URL(`${idp.issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: 'seed-cli',
        response_type: 'code',
        scope: 'openid',
        redirect_uri: 'http://127.0.0.1:9/callback',
      }).toString();
      const res = await fetch(url, { redirect: 'manual' });
      const location = new URL(res.headers.get('location') ?? '');
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
    } finally {
      await idp.close();
    }
  });
});
