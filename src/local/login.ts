import * as client from 'openid-client';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Browser } from './browser.js';
import { startLoopback } from './loopback.js';
import { discoverFromResource } from './oidc/discover-resource.js';
import { discoverIssuer } from './oidc/issuer.js';
import { fromOAuthErrorCode, mapOAuthError } from './oidc/map-error.js';
import { writeProfileConfig, type ProfileConfig } from './profile-config.js';
import { DEFAULT_SCOPES, type LocalSettings } from './settings.js';
import type { IdentitySource, TokenStore } from './token-store/types.js';
import { identitySourceOf, toStoredTokens } from './tokens.js';

/** What the UI is told while a sign-in runs. */
export type LoginProgress =
  | { type: 'discovering'; target: string }
  | { type: 'authorize'; url: string; browserOpened: boolean | undefined }
  | { type: 'device'; userCode: string; verificationUri: string; verificationUriComplete?: string; expiresIn: number }
  | { type: 'exchanging' };

export interface LoginInput {
  settings: LocalSettings;
  /** An MCP server URL to discover the IdP and resource from (RFC 9728). */
  resourceUrl?: string;
  /** false = print the URL only (`--no-browser`). */
  openBrowser: boolean;
  /** RFC 8628 device flow instead of the browser redirect. */
  device: boolean;
  timeoutMs: number;
}

export interface LoginDeps {
  store: TokenStore;
  browser: Browser;
  logger: Logger;
  onProgress?: (event: LoginProgress) => void;
  signal?: AbortSignal;
  now?: () => number;
}

export interface LoginResult {
  profile: string;
  issuer: string;
  subject?: string;
  email?: string;
  name?: string;
  /** Where the identity above came from. */
  identitySource: IdentitySource;
  scope: string;
  resource?: string;
  expiresAt?: number;
  hasRefreshToken: boolean;
  store: string;
  storeKind: string;
}

/**
 * Signs the user in and stores the tokens: discovery (from `--issuer`, or from an MCP server URL),
 * then authorization code + PKCE S256 over a loopback redirect, or the device flow. Saves the
 * profile's settings so that later commands need no flags.
 */
export async function login(input: LoginInput, deps: LoginDeps): Promise<LoginResult> {
  const { settings } = input;
  const nowSec = () => Math.floor((deps.now?.() ?? Date.now()) / 1000);
  let issuer = settings.issuer;
  let resource = settings.resource;
  if (input.resourceUrl) {
    deps.onProgress?.({ type: 'discovering', target: input.resourceUrl });
    const found = await discoverFromResource(input.resourceUrl);
    if (!settings.noResource) resource ??= found.resource;
    if (!issuer) {
      issuer = found.authorizationServers[0];
      if (found.authorizationServers.length > 1) {
        deps.logger.info(`the server names ${found.authorizationServers.length} authorization servers; using ${issuer} (pass --issuer to choose)`);
      }
    }
  }
  if (!issuer) {
    throw new SeedError('USAGE', 'could not sign in: no identity provider given', {
      hint: 'pass --issuer https://idp.example.com (or set SEED_MCP_ISSUER), or an MCP server URL: `seed-mcp login https://mcp.example.com/mcp`',
    });
  }
  const clientId = settings.clientId;
  if (!clientId) {
    throw new SeedError('USAGE', 'could not sign in: no client id given', {
      hint: 'pass --client-id with the OAuth client registered for seed-mcp at your IdP (or set SEED_MCP_CLIENT_ID)',
    });
  }
  if (!input.resourceUrl) deps.onProgress?.({ type: 'discovering', target: issuer });
  const config = await discoverIssuer({
    issuer,
    clientId,
    clientSecret: settings.clientSecret,
    clientKey: settings.clientKey,
    profile: settings.profile,
    assumePkce: settings.assumePkce,
  });
  // Verify the ID token's signature against the issuer's JWKS, not only its claims.
  client.enableNonRepudiationChecks(config);
  const ctx = { issuer, clientId, profile: settings.profile };

  const resourceParams: Record<string, string> = resource ? { resource } : {};
  let response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  try {
    response = input.device ? await deviceFlow(config, input, deps, resourceParams) : await browserFlow(config, input, deps, resourceParams);
  } catch (err) {
    throw mapOAuthError(err, { ...ctx, doing: 'sign in' });
  }

  deps.onProgress?.({ type: 'exchanging' });
  const tokens = toStoredTokens(response, { issuer, clientId, requestedScope: settings.scopes, resource, nowSec: nowSec() });
  await deps.store.set(settings.profile, tokens);
  const saved: ProfileConfig = {
    issuer,
    clientId,
    ...(settings.clientSecretFile ? { clientSecretFile: settings.clientSecretFile } : {}),
    ...(settings.clientKeyFile ? { clientKeyFile: settings.clientKeyFile } : {}),
    ...(Object.keys(settings.authParams).length > 0 ? { authParams: settings.authParams } : {}),
    ...(settings.scopes !== DEFAULT_SCOPES ? { scopes: settings.scopes } : {}),
    ...(resource ? { resource } : {}),
    ...(settings.noResource ? { noResource: true } : {}),
    ...(settings.redirectHost !== '127.0.0.1' ? { redirectHost: settings.redirectHost } : {}),
    ...(settings.upstream ? { upstream: settings.upstream } : {}),
    ...(settings.assumePkce ? { assumePkce: true } : {}),
    ...(settings.prompt !== undefined ? { prompt: settings.prompt } : {}),
  };
  await writeProfileConfig(settings.configDir, settings.profile, saved);
  return {
    profile: settings.profile,
    issuer,
    subject: tokens.subject,
    email: tokens.email,
    name: tokens.name,
    identitySource: identitySourceOf(tokens),
    scope: tokens.scope,
    resource,
    expiresAt: tokens.expiresAt,
    hasRefreshToken: Boolean(tokens.refreshToken),
    store: deps.store.describe(settings.profile),
    storeKind: deps.store.kind,
  };
}

function promptFor(settings: LocalSettings): string | undefined {
  if (settings.prompt !== undefined) return settings.prompt === '' || settings.prompt === 'default' ? undefined : settings.prompt;
  // OpenID Connect Core §11: a request for offline_access must carry prompt=consent.
  return settings.scopes.split(' ').includes('offline_access') ? 'consent' : undefined;
}

async function browserFlow(config: client.Configuration, input: LoginInput, deps: LoginDeps, resourceParams: Record<string, string>) {
  const { settings } = input;
  const state = client.randomState();
  // OpenID Connect only: a nonce makes openid-client require an ID token, which a plain OAuth 2.1
  // server (or a scope without openid) never sends.
  const idTokenExpected = settings.scopes.split(' ').includes('openid');
  const nonce = idTokenExpected ? client.randomNonce() : undefined;
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const loopback = await startLoopback({
    port: settings.port,
    redirectHost: settings.redirectHost,
    expectedState: state,
    timeoutMs: input.timeoutMs,
    profile: settings.profile,
    signal: deps.signal,
  });
  try {
    const prompt = promptFor(settings);
    const url = client.buildAuthorizationUrl(config, {
      // First, so that nothing below can be overridden (settings refuse reserved names anyway).
      ...settings.authParams,
      redirect_uri: loopback.redirectUri,
      scope: settings.scopes,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      ...(nonce ? { nonce } : {}),
      ...(prompt ? { prompt } : {}),
      ...resourceParams,
    });
    await preflight(url, loopback.redirectUri, settings);
    let opened: boolean | undefined;
    if (input.openBrowser) opened = await deps.browser.open(url.href);
    deps.onProgress?.({ type: 'authorize', url: url.href, browserOpened: opened });
    const callbackUrl = await loopback.callback;
    deps.onProgress?.({ type: 'exchanging' });
    return await client.authorizationCodeGrant(
      config,
      callbackUrl,
      { pkceCodeVerifier: verifier, expectedState: state, ...(nonce ? { expectedNonce: nonce } : {}), idTokenExpected },
      resourceParams,
    );
  } finally {
    await loopback.close();
  }
}

const CLIENT_ERROR_RE = /invalid_client|unauthorized_client|client not found|unknown client|AADSTS700016|AADSTS7000215/i;
const REDIRECT_ERROR_RE = /redirect_uri|redirect uri|AADSTS50011/i;

/**
 * Asks the authorization endpoint once before opening the browser, so that an unknown client id or
 * an unregistered redirect URI is reported here rather than on an IdP error page the CLI never sees.
 * Only a 400 naming the client or redirect URI fails; anything else proceeds to the browser.
 */
async function preflight(url: URL, redirectUri: string, settings: LocalSettings): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000), headers: { accept: 'text/html' } });
  } catch (err) {
    throw mapOAuthError(err, { doing: 'reach the authorization endpoint', issuer: url.origin, profile: settings.profile });
  }
  const location = res.headers.get('location');
  if (location?.startsWith(redirectUri)) {
    const params = new URL(location).searchParams;
    const error = params.get('error');
    await res.body?.cancel();
    if (error) throw fromOAuthErrorCode(error, params.get('error_description') ?? undefined, { doing: 'sign in', profile: settings.profile, clientId: settings.clientId });
    return;
  }
  if (res.status !== 400) {
    await res.body?.cancel();
    return;
  }
  const body = (await res.text()).slice(0, 65_536);
  if (CLIENT_ERROR_RE.test(body)) {
    throw new SeedError('INVALID_CLIENT', `could not sign in: the identity provider does not know client id "${settings.clientId}"`, {
      hint: 'check --client-id against the app registered at your IdP (a native/public client with redirect URI http://127.0.0.1/callback)',
    });
  }
  if (REDIRECT_ERROR_RE.test(body)) {
    throw new SeedError('AUTH_FAILED', `could not sign in: the identity provider refused the redirect URI ${redirectUri}`, {
      hint: 'register http://127.0.0.1/callback for this client at your IdP (any port), or pass --redirect-host localhost / --port to match what is registered',
    });
  }
}

async function deviceFlow(config: client.Configuration, input: LoginInput, deps: LoginDeps, resourceParams: Record<string, string>) {
  const { settings } = input;
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new SeedError('AUTH_FAILED', `could not start the device flow: ${config.serverMetadata().issuer} offers no device authorization endpoint`, {
      hint: 'sign in with the browser instead (omit --device); over SSH use --no-browser and open the printed URL on your own machine',
    });
  }
  const started = await client.initiateDeviceAuthorization(config, { ...settings.authParams, scope: settings.scopes, ...resourceParams });
  deps.onProgress?.({
    type: 'device',
    userCode: started.user_code,
    verificationUri: started.verification_uri,
    verificationUriComplete: started.verification_uri_complete,
    expiresIn: started.expires_in,
  });
  const signal = AbortSignal.any([AbortSignal.timeout(Math.min(input.timeoutMs, started.expires_in * 1000)), ...(deps.signal ? [deps.signal] : [])]);
  try {
    return await client.pollDeviceAuthorizationGrant(config, started, resourceParams, { signal });
  } catch (err) {
    if (signal.aborted || (err instanceof client.ResponseBodyError && err.error === 'expired_token')) {
      throw new SeedError('LOGIN_TIMEOUT', 'could not sign in: the device code expired before it was approved', {
        hint: `run \`seed-mcp login --device --profile ${settings.profile}\` again and enter the code within the time shown`,
        cause: err,
      });
    }
    throw err;
  }
}
