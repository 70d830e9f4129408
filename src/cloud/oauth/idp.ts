/**
 * The OAuth proxy's own client at the company IdP (`OAUTH_CLIENT_ID`, `OAUTH_CLIENT_SECRET`),
 * through openid-client: discovery (or the `OAUTH_AUTHORIZATION_URL` / `OAUTH_TOKEN_URL`
 * overrides), the authorization URL with the proxy's PKCE, the code exchange, refresh and
 * revocation. The IdP's tokens are passed through to the MCP client unchanged.
 */
import type * as OpenId from 'openid-client';
import { silentLogger, type Logger } from '../../shared/logger.js';

export interface IdpClientOptions {
  issuer: string;
  clientId: string;
  /** Absent: a public client (PKCE only). */
  clientSecret?: string;
  /** How a confidential client authenticates; default: basic when the IdP advertises it, else post. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  /** The proxy's callback at this server: `${BASE_URL}/oauth/authorize/callback`. */
  redirectUri: string;
  authorizationUrl?: string;
  tokenUrl?: string;
  timeoutMs?: number;
  /** Discovery failures and recoveries; silent unless given. */
  logger?: Logger;
  /** After a failed discovery, the first background retry (then doubled, up to 60 s); default 10 s. */
  retryMs?: number;
}

/** What the IdP's token endpoint answered, as the proxy hands it on. */
export interface IdpTokens {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  scope?: string;
  id_token?: string;
  /**
   * Who signed in, from the ID token openid-client checked (issuer, audience, expiry) on a code
   * exchange over TLS; absent when the IdP sent none (plain OAuth 2.0, no `openid` scope).
   */
  user?: IdpUser;
}

/** The person behind a sign-in at the IdP. */
export interface IdpUser {
  issuer: string;
  subject: string;
  name?: string;
  email?: string;
  /** `groups` and `roles` claims, merged: what tool policies match. */
  groups?: string[];
}

export interface IdpClient {
  /** The IdP's authorization URL for one transaction. */
  authorizationUrl(params: { state: string; codeChallenge: string; scope: string; resource?: string; prompt?: string }): Promise<URL>;
  /** Exchanges the code of the callback at `callbackUrl` (state checked against `state`). */
  exchangeCode(callbackUrl: URL, checks: { state: string; codeVerifier: string; resource?: string }): Promise<IdpTokens>;
  refresh(refreshToken: string, params: { scope?: string; resource?: string }): Promise<IdpTokens>;
  /** RFC 7009 at the IdP; false when it publishes no revocation endpoint. */
  revoke(token: string, hint?: string): Promise<boolean>;
  /** Discovers the IdP now (at start-up); never rejects. */
  warm(): Promise<void>;
  /** Whether the IdP's metadata could be had (for readiness). */
  status(): { status: 'ok' | 'pending' | 'unavailable'; lastError?: string };
  /** Stops the background retries. */
  close(): void;
}

/** The IdP answered with an OAuth error (`invalid_grant`, …) or not at all. */
export class IdpError extends Error {
  override readonly name = 'IdpError';
  constructor(
    message: string,
    /** The IdP's `error`, when it sent one: passed on to the MCP client. */
    readonly oauthError: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The `groups` and `roles` claims of an ID token, merged; undefined when it has neither. */
function groupsOf(claims: Record<string, unknown>): string[] | undefined {
  const all = [claims.groups, claims.roles].flatMap((v) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []));
  return all.length ? [...new Set(all)] : undefined;
}

const isLoopbackHttp = (url: URL) => url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);

/**
 * Creates the client; the IdP is discovered at `warm()` or on first use, so that the server starts
 * while the IdP is down and readiness reports it. After a failure it is discovered again in the
 * background (10 s, then doubled up to 60 s) until it answers, so readiness turns `ok` by itself
 * when the IdP returns; a request may also try again, at most every `retryMs`.
 */
export function createIdpClient(options: IdpClientOptions): IdpClient {
  let configuration: Promise<OpenId.Configuration> | undefined;
  let lastError: string | undefined;
  let failedAt = 0;
  let lib: typeof OpenId | undefined;
  const firstRetryMs = options.retryMs ?? 10_000;
  let retryMs = firstRetryMs;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  async function config(): Promise<{ client: typeof OpenId; config: OpenId.Configuration }> {
    lib ??= await import('openid-client');
    const client = lib;
    if (!configuration || (lastError !== undefined && Date.now() - failedAt >= firstRetryMs)) {
      const logger = options.logger ?? silentLogger;
      configuration = discover(client).then(
        (c) => {
          if (lastError !== undefined) logger.info('oauth proxy: the identity provider is reachable again', { event: 'oauth_idp_discovered', issuer: options.issuer });
          else logger.debug('oauth proxy: discovered the identity provider', { event: 'oauth_idp_discovered', issuer: options.issuer });
          lastError = undefined;
          retryMs = firstRetryMs;
          return c;
        },
        (err: unknown) => {
          lastError = err instanceof Error ? err.message : String(err);
          failedAt = Date.now();
          if (!closed && !retryTimer) {
            retryTimer = setTimeout(() => {
              retryTimer = undefined;
              void config().catch(() => undefined);
            }, retryMs);
            retryTimer.unref();
            retryMs = Math.min(retryMs * 2, 60_000);
          }
          logger.warn('oauth proxy: could not discover the identity provider', { event: 'oauth_idp_discovery_failed', issuer: options.issuer, error: lastError });
          throw new IdpError(`could not discover the identity provider at ${options.issuer}: ${lastError}`, undefined, { cause: err });
        },
      );
    }
    return { client, config: await configuration };
  }

  async function discover(client: typeof OpenId): Promise<OpenId.Configuration> {
    const issuer = new URL(options.issuer);
    const insecure = isLoopbackHttp(issuer);
    const requestOptions: OpenId.DiscoveryRequestOptions = {
      timeout: Math.ceil((options.timeoutMs ?? 10_000) / 1000),
      ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
    };
    const auth = (metadata?: OpenId.ServerMetadata) => {
      if (!options.clientSecret) return client.None();
      const basic = options.authMethod
        ? options.authMethod === 'client_secret_basic'
        : (metadata?.token_endpoint_auth_methods_supported ?? ['client_secret_basic']).includes('client_secret_basic');
      return basic ? client.ClientSecretBasic(options.clientSecret) : client.ClientSecretPost(options.clientSecret);
    };
    let found: OpenId.Configuration;
    if (options.authorizationUrl && options.tokenUrl) {
      found = new client.Configuration(
        { issuer: options.issuer, authorization_endpoint: options.authorizationUrl, token_endpoint: options.tokenUrl },
        options.clientId,
        undefined,
        auth(),
      );
      if (insecure) client.allowInsecureRequests(found);
    } else {
      try {
        found = await client.discovery(issuer, options.clientId, undefined, client.None(), requestOptions);
      } catch (err) {
        const status = (err as { cause?: { status?: number } }).cause?.status;
        if (status !== 404) throw err;
        found = await client.discovery(issuer, options.clientId, undefined, client.None(), { ...requestOptions, algorithm: 'oauth2' });
      }
      // Discovery without a secret, then the configuration with the method the IdP advertises.
      const { supportsPKCE: _helper, ...discovered } = found.serverMetadata();
      const metadata: OpenId.ServerMetadata = {
        ...discovered,
        ...(options.authorizationUrl ? { authorization_endpoint: options.authorizationUrl } : {}),
        ...(options.tokenUrl ? { token_endpoint: options.tokenUrl } : {}),
      };
      found = new client.Configuration(metadata, options.clientId, undefined, auth(metadata));
      if (insecure) client.allowInsecureRequests(found);
    }
    return found;
  }

  const userOf = (response: OpenId.TokenEndpointResponse & OpenId.TokenEndpointResponseHelpers): IdpUser | undefined => {
    const claims = response.claims();
    if (!claims || typeof claims.iss !== 'string' || typeof claims.sub !== 'string') return undefined;
    return {
      issuer: claims.iss,
      subject: claims.sub,
      ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
      ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
      ...(groupsOf(claims) ? { groups: groupsOf(claims)! } : {}),
    };
  };

  const tokensOf = (response: OpenId.TokenEndpointResponse): IdpTokens => ({
    access_token: response.access_token,
    token_type: response.token_type ?? 'Bearer',
    ...(typeof response.expires_in === 'number' ? { expires_in: response.expires_in } : {}),
    ...(response.refresh_token ? { refresh_token: response.refresh_token } : {}),
    ...(response.scope ? { scope: response.scope } : {}),
    ...(response.id_token ? { id_token: response.id_token } : {}),
  });

  const failure = (doing: string, err: unknown): IdpError => {
    if (err instanceof IdpError) return err;
    const e = err as { error?: string; code?: string; message?: string; cause?: { error?: string } };
    const oauthError = e.error ?? e.cause?.error;
    return new IdpError(`could not ${doing} at the identity provider: ${oauthError ?? e.message ?? String(err)}`, oauthError, { cause: err });
  };

  return {
    async authorizationUrl({ state, codeChallenge, scope, resource, prompt }) {
      const { client, config: c } = await config();
      return client.buildAuthorizationUrl(c, {
        redirect_uri: options.redirectUri,
        response_type: 'code',
        scope,
        state,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        ...(resource ? { resource } : {}),
        ...(prompt ? { prompt } : {}),
      });
    },
    async exchangeCode(callbackUrl, { state, codeVerifier, resource }) {
      const { client, config: c } = await config();
      try {
        const response = await client.authorizationCodeGrant(
          c,
          callbackUrl,
          { pkceCodeVerifier: codeVerifier, expectedState: state, idTokenExpected: false },
          resource ? { resource } : undefined,
        );
        const user = userOf(response);
        return { ...tokensOf(response), ...(user ? { user } : {}) };
      } catch (err) {
        throw failure('exchange the authorization code', err);
      }
    },
    async refresh(refreshToken, { scope, resource }) {
      const { client, config: c } = await config();
      try {
        const response = await client.refreshTokenGrant(c, refreshToken, { ...(scope ? { scope } : {}), ...(resource ? { resource } : {}) });
        return tokensOf(response);
      } catch (err) {
        throw failure('refresh the token', err);
      }
    },
    async revoke(token, hint) {
      const { client, config: c } = await config();
      if (!c.serverMetadata().revocation_endpoint) return false;
      try {
        await client.tokenRevocation(c, token, hint ? { token_type_hint: hint } : undefined);
        return true;
      } catch (err) {
        throw failure('revoke the token', err);
      }
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
    },
    async warm() {
      await config().catch(() => undefined);
    },
    status() {
      if (lastError !== undefined) return { status: 'unavailable', lastError };
      return { status: configuration ? 'ok' : 'pending' };
    },
  };
}
