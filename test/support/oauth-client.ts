/**
 * An MCP client's side of OAuth, for tests of the OAuth proxy: the SDK's `OAuthClientProvider`
 * kept in memory, with a loopback redirect listener, and the scripted browser as the person who
 * signs in. What the SDK does with it (discovery, registration or a client ID metadata document,
 * PKCE, the code exchange, refresh) is the SDK's own code.
 */
import type { OAuthClientMetadata, OAuthClientProvider, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client';
import { followLogin } from './scripted-browser.mjs';
import { startStub, type Stub } from './http-stub.js';

export interface TestOAuthClient {
  provider: OAuthClientProvider;
  /** The code and iss of the last callback the browser reached. */
  lastCallback(): { code?: string; iss?: string; error?: string; state?: string } | undefined;
  tokens(): StoredOAuthTokens | undefined;
  clientInformation(): StoredOAuthClientInformation | undefined;
  redirectUrl: string;
  close(): Promise<void>;
}

/**
 * A provider whose `redirectToAuthorization` has the scripted browser sign `login` in (the IdP's
 * login and consent pages) and land on the loopback callback. With `clientMetadataUrl`, the client
 * names its metadata document instead of registering. With `browser`, the authorization URL is
 * handed to it instead (a test that drives a real browser records it and opens it itself), and
 * `lastCallback()` is whatever the loopback listener then receives.
 */
export async function createTestOAuthClient(
  options: { login?: string; clientMetadataUrl?: string; redirectPath?: string; browser?: (authorizationUrl: URL) => void | Promise<void> } = {},
): Promise<TestOAuthClient> {
  let last: ReturnType<TestOAuthClient['lastCallback']>;
  const redirectPath = options.redirectPath ?? '/callback';
  const callback: Stub = await startStub((req, res) => {
    // What a real loopback listener sees: the browser's request with the server's parameters (a
    // real browser also asks for /favicon.ico).
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (options.browser && url.pathname === redirectPath) last = callbackOf(url);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<p>Signed in; you can close this tab.</p>');
  });
  const redirectUrl = `${callback.url}${redirectPath}`;
  let info: StoredOAuthClientInformation | undefined;
  let tokens: StoredOAuthTokens | undefined;
  let verifier = '';
  const metadata: OAuthClientMetadata = {
    client_name: 'seed-mcp test client',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  const provider: OAuthClientProvider = {
    get redirectUrl() {
      return redirectUrl;
    },
    ...(options.clientMetadataUrl ? { clientMetadataUrl: options.clientMetadataUrl } : {}),
    get clientMetadata() {
      return metadata;
    },
    clientInformation: () => info,
    saveClientInformation: (saved) => {
      info = saved;
    },
    tokens: () => tokens,
    saveTokens: (saved) => {
      tokens = saved;
    },
    saveCodeVerifier: (v) => {
      verifier = v;
    },
    codeVerifier: () => verifier,
    async redirectToAuthorization(url) {
      if (options.browser) return void (await options.browser(url));
      const { callbackUrl } = await followLogin(url.href, { login: options.login ?? 'alice' });
      last = callbackOf(new URL(callbackUrl));
    },
  };
  return {
    provider,
    redirectUrl,
    lastCallback: () => last,
    tokens: () => tokens,
    clientInformation: () => info,
    close: () => callback.close(),
  };
}

/** The parameters of a callback request that `lastCallback()` reports. */
function callbackOf(url: URL): ReturnType<TestOAuthClient['lastCallback']> {
  const p = url.searchParams;
  return {
    ...(p.get('code') ? { code: p.get('code')! } : {}),
    ...(p.get('iss') ? { iss: p.get('iss')! } : {}),
    ...(p.get('error') ? { error: p.get('error')! } : {}),
    ...(p.get('state') ? { state: p.get('state')! } : {}),
  };
}
