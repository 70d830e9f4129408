import * as client from 'openid-client';
import { SeedError } from '../../shared/errors.js';
import { chooseAuthMethod, clientAuthFor, type ClientKey } from './client-auth.js';
import { mapOAuthError, unreachableHint, unreachableReason } from './map-error.js';

/** True for http URLs on the loopback interface, the only place plain http is allowed. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Issuers for which a missing authorization-server metadata means the MCP 2025-03-26 default
 * endpoints: the origins of MCP servers found without protected-resource metadata in this process.
 */
const legacyIssuers = new Set<string>();

/** Marks an issuer (an MCP server's origin) as one whose default endpoints may be used. */
export function allowDefaultEndpoints(issuer: string): void {
  legacyIssuers.add(trimSlash(issuer));
}

function trimSlash(value: string): string {
  return value.endsWith('/') ? value.slice(0, -1) : value;
}

/**
 * The authorization-server metadata URLs for an issuer, in the order the MCP authorization spec
 * gives. With a path: RFC 8414 path insertion, OpenID Connect path insertion, OpenID Connect path
 * appending. Without: RFC 8414, then OpenID Connect.
 */
export function authorizationServerMetadataUrls(issuer: URL): string[] {
  const path = issuer.pathname.replace(/\/$/, '');
  const origin = issuer.origin;
  if (!path) return [`${origin}/.well-known/oauth-authorization-server`, `${origin}/.well-known/openid-configuration`];
  return [`${origin}/.well-known/oauth-authorization-server${path}`, `${origin}/.well-known/openid-configuration${path}`, `${origin}${path}/.well-known/openid-configuration`];
}

/** RFC 8414 §3.3: the metadata's issuer must be the one the URL was built from (one trailing slash aside). */
export function sameIssuer(expected: string, actual: string): boolean {
  return trimSlash(expected) === trimSlash(actual);
}

/** The MCP 2025-03-26 default endpoints of a server without authorization-server metadata. */
export function defaultEndpointsMetadata(origin: string): client.ServerMetadata {
  return {
    issuer: origin,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    registration_endpoint: `${origin}/register`,
    // The 2025-03-26 spec makes PKCE mandatory for these servers.
    code_challenge_methods_supported: ['S256'],
  };
}

export interface DiscoverIssuerOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** A private key for `private_key_jwt` (`--client-key-file`). */
  clientKey?: ClientKey;
  /** The token endpoint auth method a saved registration names. */
  registeredAuthMethod?: string;
  profile: string;
  /** Accept an IdP that does not advertise S256 (Entra ID omits the field but supports it). */
  assumePkce?: boolean;
  /**
   * With no authorization-server metadata, use the MCP 2025-03-26 default endpoints
   * (`/authorize`, `/token`, `/register` at the issuer's origin). Also on for issuers marked
   * with {@link allowDefaultEndpoints}.
   */
  defaultEndpoints?: boolean;
  timeoutMs?: number;
}

/** An authorization server's metadata, found as {@link discoverServer} says. */
export interface DiscoveredServer {
  issuer: string;
  metadata: client.ServerMetadata;
  /** Plain http (loopback only): openid-client must be told. */
  insecure: boolean;
  /** Seconds, for openid-client's requests. */
  timeout: number;
}

/**
 * Finds an authorization server's metadata. The metadata URLs are tried in the MCP spec's order
 * ({@link authorizationServerMetadataUrls}); the metadata's `issuer` must equal the configured one,
 * one trailing slash aside (RFC 8414 §3.3), and its own spelling is used from then on — except for
 * a 2025-03-26 MCP server's own origin, whose metadata may name an issuer on that origin with a
 * path. The server must advertise PKCE S256. Plain http is accepted for loopback issuers only.
 */
export async function discoverServer(options: Omit<DiscoverIssuerOptions, 'clientId' | 'clientSecret' | 'clientKey' | 'registeredAuthMethod'>): Promise<DiscoveredServer> {
  const { issuer, profile } = options;
  const url = new URL(issuer);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
    throw new SeedError('CONFIG_INVALID', `could not use issuer ${issuer}: it must be https (plain http only on 127.0.0.1 or localhost)`, {
      hint: 'pass the https issuer URL from your IdP',
    });
  }
  const legacy = options.defaultEndpoints || legacyIssuers.has(trimSlash(issuer));
  const requestOptions: client.DiscoveryRequestOptions = {
    timeout: Math.ceil((options.timeoutMs ?? 15_000) / 1000),
    ...(url.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
  };
  let serverMetadata: client.ServerMetadata | undefined;
  const tried: string[] = [];
  let lastError: unknown;
  try {
    for (const candidate of authorizationServerMetadataUrls(url)) {
      tried.push(candidate);
      let found: client.Configuration;
      try {
        // A URL with /.well-known/ in it is fetched as is, with no issuer check: done below.
        found = await client.discovery(new URL(candidate), 'seed-mcp', undefined, client.None(), requestOptions);
      } catch (err) {
        if (httpStatus(err) === undefined) throw err;
        lastError = err;
        continue;
      }
      const { supportsPKCE: _helper, ...metadata } = found.serverMetadata();
      if (!sameIssuer(issuer, metadata.issuer)) {
        // Entra ID's multi-tenant issuers ({tenantid}) are understood by openid-client's own discovery.
        if (metadata.issuer.includes('{tenantid}')) {
          const entra = await client.discovery(url, 'seed-mcp', undefined, client.None(), requestOptions);
          const { supportsPKCE: _entraHelper, ...entraMetadata } = entra.serverMetadata();
          serverMetadata = entraMetadata;
          break;
        }
        // MCP 2025-03-26: the metadata at the MCP server's origin is its authorization server's,
        // whatever path its issuer has on that origin.
        if (legacy && sameOrigin(metadata.issuer, url)) {
          serverMetadata = metadata;
          break;
        }
        throw new SeedError('ISSUER_MISMATCH', `could not use issuer ${issuer}: its metadata names another issuer (${metadata.issuer}) at ${candidate}`, {
          hint: 'pass the exact issuer URL your IdP publishes (the "issuer" of its metadata); a mismatch can also mean the URL is not your IdP',
        });
      }
      serverMetadata = metadata;
      break;
    }
  } catch (err) {
    throw mapDiscoveryError(err, issuer, profile);
  }
  if (!serverMetadata) {
    if (legacy) {
      serverMetadata = defaultEndpointsMetadata(url.origin);
    } else {
      const status = httpStatus(lastError);
      throw new SeedError(
        'DISCOVERY_FAILED',
        `could not discover the identity provider at ${issuer}: no authorization-server metadata found (tried ${tried.join(', ')}${status ? `; last answer HTTP ${status}` : ''})`,
        {
          hint: 'check the issuer URL: one of these must answer with its RFC 8414 or OpenID Connect metadata',
          cause: lastError,
        },
      );
    }
  }
  const methods = serverMetadata.code_challenge_methods_supported;
  if (!(Array.isArray(methods) && methods.includes('S256')) && !options.assumePkce) {
    throw new SeedError(
      'PKCE_UNSUPPORTED',
      `could not use issuer ${issuer}: it does not advertise PKCE S256 (code_challenge_methods_supported: ${methods ? JSON.stringify(methods) : 'absent'})`,
      { hint: 'seed-mcp always uses PKCE S256; if your IdP supports it without saying so (Entra ID), pass --assume-pkce' },
    );
  }
  return { issuer: serverMetadata.issuer, metadata: serverMetadata, insecure: url.protocol === 'http:', timeout: requestOptions.timeout! };
}

function sameOrigin(candidate: string, url: URL): boolean {
  try {
    return new URL(candidate).origin === url.origin;
  } catch {
    return false;
  }
}

/**
 * openid-client's configuration for a client at a discovered server, with the token endpoint
 * authentication the credentials, the registration and the server allow ({@link chooseAuthMethod}).
 */
export async function configureClient(
  server: DiscoveredServer,
  credentials: { clientId: string; clientSecret?: string; clientKey?: ClientKey; registeredAuthMethod?: string },
): Promise<client.Configuration> {
  const input = { clientSecret: credentials.clientSecret, clientKey: credentials.clientKey, registeredMethod: credentials.registeredAuthMethod };
  const method = chooseAuthMethod(input, server.metadata.token_endpoint_auth_methods_supported, server.issuer);
  const config = new client.Configuration(server.metadata, credentials.clientId, undefined, await clientAuthFor(method, input));
  config.timeout = server.timeout;
  if (server.insecure) client.allowInsecureRequests(config);
  return config;
}

/**
 * Discovers the IdP ({@link discoverServer}) and returns openid-client's configuration for the
 * client ({@link configureClient}).
 */
export async function discoverIssuer(options: DiscoverIssuerOptions): Promise<client.Configuration> {
  const server = await discoverServer(options);
  return configureClient(server, options);
}

/** The HTTP status of a discovery answer that was not metadata, if it was one. */
function httpStatus(err: unknown): number | undefined {
  for (let e: unknown = err, i = 0; e && typeof e === 'object' && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const status = (e as { status?: unknown }).status;
    if (typeof status === 'number' && status !== 200) return status;
  }
  return undefined;
}

function mapDiscoveryError(err: unknown, issuer: string, profile: string): SeedError {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' || /"issuer"/.test(message)) {
    const actual = ((err as { cause?: { body?: { issuer?: unknown } } }).cause?.body?.issuer ?? '') as string;
    return new SeedError('ISSUER_MISMATCH', `could not use issuer ${issuer}: its metadata names another issuer${actual ? ` (${actual})` : ''}`, {
      hint: 'pass the exact issuer URL your IdP publishes (compare with its /.well-known/openid-configuration); a mismatch can also mean the URL is not your IdP',
      cause: err,
    });
  }
  const net = unreachableReason(err);
  if (net) return new SeedError('IDP_UNREACHABLE', `could not reach ${issuer}: ${net}`, { hint: unreachableHint(issuer), cause: err });
  const mapped = mapOAuthError(err, { doing: `discover the identity provider at ${issuer}`, issuer, profile });
  if (mapped.code === 'AUTH_FAILED' || mapped.code === 'IDP_ERROR') {
    return new SeedError('DISCOVERY_FAILED', `could not discover the identity provider at ${issuer}: ${message}`, {
      hint: `check the issuer URL: ${issuer.replace(/\/$/, '')}/.well-known/openid-configuration (OpenID Connect) or /.well-known/oauth-authorization-server (RFC 8414) must answer with its metadata`,
      cause: err,
    });
  }
  return mapped;
}
