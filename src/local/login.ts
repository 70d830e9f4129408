import * as client from 'openid-client';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Browser } from './browser.js';
import { startLoopback } from './loopback.js';
import { discoverFromResource, type ResourceDiscovery } from './oidc/discover-resource.js';
import { configureClient, discoverServer, type DiscoveredServer } from './oidc/issuer.js';
import { fromOAuthErrorCode, mapOAuthError } from './oidc/map-error.js';
import { writeProfileConfig, type ProfileConfig } from './profile-config.js';
import { findRegistration, forgetRegistration, registerClient, saveRegistration, type Registration } from './registrations.js';
import { DEFAULT_SCOPES, type LocalSettings } from './settings.js';
import type { IdentitySource, TokenStore } from './token-store/types.js';
import { identitySourceOf, toStoredTokens } from './tokens.js';

/** What the UI is told while a sign-in runs. */
export type LoginProgress =
  | { type: 'discovering'; target: string }
  | { type: 'authorize'; url: string; browserOpened: boolean | undefined }
  | { type: 'device'; userCode: string; verificationUri: string; verificationUriComplete?: string; expiresIn: number }
  | { type: 'exchanging' }
  /** The profile held another issuer: the sign-in went to the one the server URL names. */
  | { type: 'issuer-changed'; profile: string; from: string; to: string };

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
  /** The issuer the profile held before, when this sign-in changed it. */
  previousIssuer?: string;
  /** The MCP server (upstream) the profile now points to, if any. */
  server?: string;
  clientId: string;
  /** Where the client id came from. */
  clientSource: ClientSource;
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

/** Where the client id of a sign-in came from. */
export type ClientSource = 'given' | 'metadata-document' | 'registered' | 'registration-reused';

/**
 * Client ids that signed in successfully in this process: a saved registration is asked about
 * (preflight) only before its first use here, so that a server that forgot it is found out early.
 */
const provenClients = new Set<string>();

/**
 * The scopes to ask for, as the MCP spec says when the user chose none: the 401 challenge's
 * `scope`, else the protected resource's `scopes_supported`, else none at all; `offline_access`
 * added only when the authorization server lists it.
 */
export function selectScopes(found: Pick<ResourceDiscovery, 'challengeScope' | 'scopesSupported'>, serverScopes: readonly string[] | undefined): string {
  const base = found.challengeScope ?? (found.scopesSupported && found.scopesSupported.length > 0 ? found.scopesSupported.join(' ') : '');
  const list = base.split(/\s+/).filter(Boolean);
  if (serverScopes?.includes('offline_access') && !list.includes('offline_access')) list.push('offline_access');
  return list.join(' ');
}

/**
 * Signs the user in and stores the tokens: discovery (from `--issuer`, or from an MCP server URL:
 * the protected resource's metadata names the authorization server), the client (given, a client
 * ID metadata document, or registered dynamically and kept per authorization server), then
 * authorization code + PKCE S256 over a loopback redirect, or the device flow. Saves the profile's
 * settings so that later commands need no flags.
 */
export async function login(input: LoginInput, deps: LoginDeps): Promise<LoginResult> {
  const { settings } = input;
  const nowSec = () => Math.floor((deps.now?.() ?? Date.now()) / 1000);
  // A server URL typed on the command line beats an issuer the profile saved (only --issuer or
  // SEED_MCP_ISSUER beat it): the profile may hold an older server's issuer (another demo's, say).
  const urlWins = input.resourceUrl !== undefined && settings.issuerSource === 'profile';
  let issuer = settings.discovered || urlWins ? undefined : settings.issuer;
  // The saved resource belongs to the saved server: a URL given anew brings its own.
  let resource = urlWins && settings.resourceSource === 'profile' && input.resourceUrl !== settings.upstream ? undefined : settings.resource;
  // Without a URL or an issuer, the profile's server (`seed-mcp login --profile demo` after `seed-mcp demo`).
  const serverUrl = input.resourceUrl ?? (settings.discovered || !settings.issuer ? settings.upstream : undefined);
  let found: ResourceDiscovery | undefined;
  if (serverUrl) {
    deps.onProgress?.({ type: 'discovering', target: serverUrl });
    found = await discoverFromResource(serverUrl);
    if (!settings.noResource) resource ??= found.resource;
    if (!issuer) {
      issuer = found.authorizationServers[0];
      if (found.authorizationServers.length > 1) {
        deps.logger.info(`the server names ${found.authorizationServers.length} authorization servers; using ${issuer} (pass --issuer to choose)`);
      }
    }
  }
  if (!urlWins) issuer ??= settings.issuer;
  if (!issuer) {
    throw new SeedError('USAGE', 'could not sign in: no identity provider given', {
      hint: 'pass an MCP server URL (`seed-mcp login https://mcp.example.com/mcp`, or `serve --upstream URL`), or --issuer https://idp.example.com (SEED_MCP_ISSUER)',
    });
  }
  if (!serverUrl) deps.onProgress?.({ type: 'discovering', target: issuer });
  const defaultEndpoints = Boolean(found?.legacy) || (!found && settings.defaultEndpoints);
  const server = await discoverServer({ issuer, profile: settings.profile, assumePkce: settings.assumePkce, defaultEndpoints });
  const scopes = found && settings.scopeSource === 'default' ? selectScopes(found, server.metadata.scopes_supported) : settings.scopes;
  const effective: LocalSettings = { ...settings, scopes };

  const resourceParams: Record<string, string> = resource ? { resource } : {};
  let response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  let chosen: ChosenClient;
  try {
    if (input.device) {
      if (!settings.clientId && server.metadata.registration_endpoint) {
        throw new SeedError('USAGE', `could not start the device flow at ${server.issuer}: it needs a client id registered for the device flow`, {
          hint: 'pass --client-id with a client allowed the device grant, or sign in without --device: the browser sign-in registers seed-mcp by itself (over SSH: --no-browser --port N with `ssh -L N:127.0.0.1:N`)',
        });
      }
      chosen = await chooseClient(effective, server, undefined);
      const config = await configureClient(server, chosen);
      client.enableNonRepudiationChecks(config);
      response = await deviceFlow(config, { ...input, settings: effective }, deps, resourceParams);
    } else {
      ({ response, chosen } = await browserFlow(server, { ...input, settings: effective }, deps, resourceParams));
    }
  } catch (err) {
    const mapped = mapOAuthError(err, { issuer, clientId: settings.clientId, profile: settings.profile, doing: 'sign in' });
    if (mapped.code === 'LOGIN_TIMEOUT' && !input.device) throw browserTimeout(mapped, input);
    throw mapped;
  }
  const clientId = chosen.clientId;
  provenClients.add(`${server.issuer} ${clientId}`);

  deps.onProgress?.({ type: 'exchanging' });
  const tokens = toStoredTokens(response, { issuer: server.issuer, clientId, requestedScope: scopes, resource, nowSec: nowSec() });
  await deps.store.set(settings.profile, tokens);
  const discovered = Boolean(found) && (settings.discovered || urlWins || !settings.issuer);
  // The profile's saved issuer, when this sign-in ended at another one: said, not silently replaced.
  const previousIssuer = settings.issuerSource === 'profile' && settings.issuer !== undefined && settings.issuer !== server.issuer ? settings.issuer : undefined;
  if (previousIssuer) {
    const event = { type: 'issuer-changed', profile: settings.profile, from: previousIssuer, to: server.issuer } as const;
    // A caller with no UI (`serve` signing in on demand) has it in its log.
    if (deps.onProgress) deps.onProgress(event);
    else deps.logger.info(`issuer for profile ${event.profile} changed: ${event.from} → ${event.to}`);
  }
  const upstream = discovered && input.resourceUrl ? input.resourceUrl : settings.upstream;
  const saved: ProfileConfig = {
    issuer: server.issuer,
    ...(chosen.source === 'given' ? { clientId } : {}),
    ...(settings.clientSecretFile ? { clientSecretFile: settings.clientSecretFile } : {}),
    ...(settings.clientKeyFile ? { clientKeyFile: settings.clientKeyFile } : {}),
    ...(settings.clientMetadataUrl ? { clientMetadataUrl: settings.clientMetadataUrl } : {}),
    ...(Object.keys(settings.authParams).length > 0 ? { authParams: settings.authParams } : {}),
    ...(settings.scopeSource === 'explicit' && settings.scopes !== DEFAULT_SCOPES ? { scopes: settings.scopes } : {}),
    ...(resource ? { resource } : {}),
    ...(settings.noResource ? { noResource: true } : {}),
    ...(settings.redirectHost !== '127.0.0.1' ? { redirectHost: settings.redirectHost } : {}),
    ...(upstream ? { upstream } : {}),
    ...(settings.assumePkce ? { assumePkce: true } : {}),
    ...(settings.prompt !== undefined ? { prompt: settings.prompt } : {}),
    ...(discovered ? { discovered: true } : {}),
    ...(defaultEndpoints ? { defaultEndpoints: true } : {}),
  };
  await writeProfileConfig(settings.configDir, settings.profile, saved);
  return {
    profile: settings.profile,
    issuer: server.issuer,
    ...(previousIssuer ? { previousIssuer } : {}),
    ...(upstream ? { server: upstream } : {}),
    clientId,
    clientSource: chosen.source,
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

/** The client a sign-in uses, with what authenticates it at the token endpoint. */
interface ChosenClient {
  clientId: string;
  clientSecret?: string;
  clientKey?: LocalSettings['clientKey'];
  registeredAuthMethod?: string;
  source: ClientSource;
}

/**
 * The client, in the MCP spec's order: a client id given (flag, env or profile); a client ID
 * metadata document when the server supports them and the user published one; a registration
 * kept for this authorization server (`saved`); otherwise none (the caller registers one, or
 * fails with {@link noClientError}).
 */
async function chooseClient(settings: LocalSettings, server: DiscoveredServer, saved: Registration | undefined): Promise<ChosenClient> {
  if (settings.clientId) return { clientId: settings.clientId, clientSecret: settings.clientSecret, clientKey: settings.clientKey, source: 'given' };
  if (settings.clientMetadataUrl && server.metadata.client_id_metadata_document_supported === true) {
    return { clientId: settings.clientMetadataUrl, clientKey: settings.clientKey, source: 'metadata-document' };
  }
  if (saved) return { clientId: saved.clientId, clientSecret: saved.clientSecret, registeredAuthMethod: saved.tokenEndpointAuthMethod, source: 'registration-reused' };
  throw noClientError(settings, server);
}

function noClientError(settings: LocalSettings, server: DiscoveredServer): SeedError {
  const cimd = server.metadata.client_id_metadata_document_supported === true;
  return new SeedError(
    'CONFIG_INVALID',
    `could not sign in at ${server.issuer}: it offers no dynamic client registration${cimd ? '' : ' and no client ID metadata documents'}, and no client id was given`,
    {
      hint: `register a public client for seed-mcp at ${server.issuer} (native app, redirect URI http://127.0.0.1/callback, any port; authorization code + PKCE, refresh tokens) and pass its id with --client-id (SEED_MCP_CLIENT_ID)${cimd ? ', or publish a client ID metadata document and pass its URL with --client-metadata-url' : ''}${settings.profile ? `; it is saved in profile ${settings.profile}` : ''}`,
    },
  );
}

/** The port of a loopback redirect URI on the redirect host, if the registration has one. */
function registeredPort(reg: Registration, redirectHost: string): number | undefined {
  for (const uri of reg.redirectUris) {
    try {
      const u = new URL(uri);
      if (u.protocol === 'http:' && u.hostname === redirectHost && u.pathname === '/callback' && u.port) return Number(u.port);
    } catch {
      // not a URL: skip it
    }
  }
  return undefined;
}

function promptFor(settings: LocalSettings): string | undefined {
  if (settings.prompt !== undefined) return settings.prompt === '' || settings.prompt === 'default' ? undefined : settings.prompt;
  // OpenID Connect Core §11: a request for offline_access must carry prompt=consent.
  return settings.scopes.split(' ').includes('offline_access') ? 'consent' : undefined;
}

async function browserFlow(server: DiscoveredServer, input: LoginInput, deps: LoginDeps, resourceParams: Record<string, string>) {
  const { settings } = input;
  const state = client.randomState();
  // OpenID Connect only: a nonce makes openid-client require an ID token, which a plain OAuth 2.1
  // server (or a scope without openid) never sends.
  const idTokenExpected = settings.scopes.split(' ').includes('openid');
  const nonce = idTokenExpected ? client.randomNonce() : undefined;
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const needsRegistration = !settings.clientId && !(settings.clientMetadataUrl && server.metadata.client_id_metadata_document_supported === true);
  let saved = needsRegistration ? await findRegistration(settings.configDir, server.issuer) : undefined;
  const loopbackOptions = { redirectHost: settings.redirectHost, expectedState: state, timeoutMs: input.timeoutMs, profile: settings.profile, signal: deps.signal };
  // A registered client comes back on the port it was registered with; a busy port means a new registration.
  const savedPort = saved && !settings.port ? registeredPort(saved, settings.redirectHost) : undefined;
  let loopback = await startLoopback({ ...loopbackOptions, port: savedPort ?? settings.port }).catch((err: unknown) => {
    if (savedPort === undefined) throw err;
    return undefined;
  });
  loopback ??= await startLoopback({ ...loopbackOptions, port: settings.port });
  try {
    const register = async (): Promise<ChosenClient> => {
      const endpoint = server.metadata.registration_endpoint;
      if (!endpoint) throw noClientError(settings, server);
      const grants = server.metadata.grant_types_supported;
      saved = await registerClient({
        issuer: server.issuer,
        registrationEndpoint: endpoint,
        redirectUri: loopback.redirectUri,
        scope: settings.scopes || undefined,
        refreshTokens: !grants || grants.includes('refresh_token'),
      });
      await saveRegistration(settings.configDir, saved);
      deps.logger.debug(`registered seed-mcp at ${server.issuer} (dynamic client registration)`);
      return { clientId: saved.clientId, clientSecret: saved.clientSecret, registeredAuthMethod: saved.tokenEndpointAuthMethod, source: 'registered' };
    };
    let chosen = needsRegistration && (!saved || !saved.redirectUris.includes(loopback.redirectUri)) ? await register() : await chooseClient(settings, server, saved);
    let config: client.Configuration;
    let url: URL;
    for (let attempt = 0; ; attempt++) {
      config = await configureClient(server, chosen);
      // Verify the ID token's signature against the issuer's JWKS, not only its claims.
      client.enableNonRepudiationChecks(config);
      const prompt = promptFor(settings);
      url = client.buildAuthorizationUrl(config, {
        // First, so that nothing below can be overridden (settings refuse reserved names anyway).
        ...settings.authParams,
        redirect_uri: loopback.redirectUri,
        ...(settings.scopes ? { scope: settings.scopes } : {}),
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
        ...(nonce ? { nonce } : {}),
        ...(prompt ? { prompt } : {}),
        ...resourceParams,
      });
      // A client id given by hand, or a registration not used yet by this process, is asked about
      // before the browser opens: an unknown one is then reported here, not on a page the CLI never sees.
      if (chosen.source === 'given' || (chosen.source === 'registration-reused' && !provenClients.has(`${server.issuer} ${chosen.clientId}`))) {
        try {
          await preflight(url, loopback.redirectUri, { ...settings, clientId: chosen.clientId });
        } catch (err) {
          if (attempt === 0 && chosen.source === 'registration-reused' && err instanceof SeedError && err.code === 'INVALID_CLIENT') {
            // The server forgot the registration (restarted, expired): register again, once.
            deps.logger.info(`${server.issuer} no longer knows seed-mcp's registration; registering again`);
            await forgetRegistration(settings.configDir, server.issuer, chosen.clientId);
            chosen = await register();
            continue;
          }
          throw err;
        }
      }
      break;
    }
    let opened: boolean | undefined;
    if (input.openBrowser) opened = await deps.browser.open(url.href);
    deps.onProgress?.({ type: 'authorize', url: url.href, browserOpened: opened });
    const callbackUrl = await loopback.callback;
    deps.onProgress?.({ type: 'exchanging' });
    // The browser's page waits for the exchange: it then says who signed in, where and until when (or what failed).
    const response = await loopback.finish(
      client.authorizationCodeGrant(
        config,
        callbackUrl,
        { pkceCodeVerifier: verifier, expectedState: state, ...(nonce ? { expectedNonce: nonce } : {}), idTokenExpected },
        resourceParams,
      ),
      { issuer: server.issuer, clientId: chosen.clientId, server: input.resourceUrl ?? settings.upstream ?? resourceParams.resource },
    );
    return { response, chosen };
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
  const started = await client.initiateDeviceAuthorization(config, { ...settings.authParams, ...(settings.scopes ? { scope: settings.scopes } : {}), ...resourceParams });
  deps.onProgress?.({
    type: 'device',
    userCode: started.user_code,
    verificationUri: started.verification_uri,
    verificationUriComplete: started.verification_uri_complete,
    expiresIn: started.expires_in,
  });
  const waitMs = Math.min(input.timeoutMs, started.expires_in * 1000);
  // Ours (--timeout) when it is shorter than the code's own lifetime; else the code's.
  const ownTimeout = input.timeoutMs < started.expires_in * 1000;
  const timer = AbortSignal.timeout(waitMs);
  const signal = AbortSignal.any([timer, ...(deps.signal ? [deps.signal] : [])]);
  try {
    return await client.pollDeviceAuthorizationGrant(config, started, resourceParams, { signal });
  } catch (err) {
    if (deps.signal?.aborted) throw new SeedError('AUTH_FAILED', 'could not sign in: cancelled', { hint: `run \`${loginCommand(input, '--device')}\` to try again`, cause: err });
    const expired = err instanceof client.ResponseBodyError && err.error === 'expired_token';
    if (timer.aborted && ownTimeout && !expired) {
      throw new SeedError('LOGIN_TIMEOUT', `could not sign in: gave up waiting for the device code to be approved after ${seconds(input.timeoutMs)} (--timeout)`, {
        hint: `run \`${loginCommand(input, '--device', `--timeout ${Math.max(600, Math.ceil((input.timeoutMs * 2) / 1000))}`)}\` to wait longer (the code itself is valid ${seconds(started.expires_in * 1000)}), and enter the code at ${started.verification_uri}`,
        cause: err,
      });
    }
    if (timer.aborted || expired) {
      throw new SeedError('LOGIN_TIMEOUT', `could not sign in: the device code expired after ${seconds(started.expires_in * 1000)} before it was approved`, {
        hint: `run \`${loginCommand(input, '--device')}\` again and enter the new code at ${started.verification_uri} within the time shown`,
        cause: err,
      });
    }
    throw err;
  }
}

/** `300 s` or `10 min`. */
function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 120 && s % 60 === 0 ? `${s / 60} min` : `${s} s`;
}

/** The `seed-mcp login` command line that repeats this sign-in, with `extra` flags. */
function loginCommand(input: LoginInput, ...extra: string[]): string {
  const { settings } = input;
  return ['seed-mcp login', ...extra, `--profile ${settings.profile}`, ...(input.resourceUrl ? [input.resourceUrl] : [])].join(' ');
}

/** The loopback's timeout, with a hint that fits how the sign-in was started (browser or `--no-browser`). */
function browserTimeout(err: SeedError, input: LoginInput): SeedError {
  const longer = `--timeout ${Math.max(600, Math.ceil((input.timeoutMs * 2) / 1000))}`;
  const hint = input.openBrowser
    ? `run \`${loginCommand(input, longer)}\` and finish signing in within the time; if no browser opened, add --no-browser and open the printed URL yourself, or use --device`
    : `run \`${loginCommand(input, '--no-browser', longer)}\` and open the printed URL within the time, in a browser that can reach 127.0.0.1 here (over SSH: add --port N and \`ssh -L N:127.0.0.1:N\`), or use --device`;
  return new SeedError('LOGIN_TIMEOUT', `could not sign in: no answer from the browser within ${seconds(input.timeoutMs)}`, { hint, cause: err.cause ?? err });
}
