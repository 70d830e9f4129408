import * as client from 'openid-client';
import { SeedError } from '../../shared/errors.js';
import { chooseAuthMethod, clientAuthFor, type ClientKey } from './client-auth.js';
import { mapOAuthError } from './map-error.js';

/** True for http URLs on the loopback interface, the only place plain http is allowed. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
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
  timeoutMs?: number;
}

/**
 * Discovers the IdP (OpenID Connect discovery, then RFC 8414) and returns openid-client's
 * configuration. The metadata's `issuer` must equal the configured one (openid-client checks it),
 * and the IdP must advertise PKCE S256. Plain http is accepted for loopback issuers only. The
 * client authentication is chosen from the metadata once it is known ({@link chooseAuthMethod}).
 */
export async function discoverIssuer(options: DiscoverIssuerOptions): Promise<client.Configuration> {
  const { issuer, clientId, profile } = options;
  const url = new URL(issuer);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackUrl(url))) {
    throw new SeedError('CONFIG_INVALID', `could not use issuer ${issuer}: it must be https (plain http only on 127.0.0.1 or localhost)`, {
      hint: 'pass the https issuer URL from your IdP',
    });
  }
  const requestOptions: client.DiscoveryRequestOptions = {
    timeout: Math.ceil((options.timeoutMs ?? 15_000) / 1000),
    ...(url.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {}),
  };
  let discovered: client.Configuration;
  try {
    try {
      discovered = await client.discovery(url, clientId, undefined, client.None(), requestOptions);
    } catch (err) {
      // Plain OAuth servers publish RFC 8414 metadata only.
      if (!isNotFound(err)) throw err;
      discovered = await client.discovery(url, clientId, undefined, client.None(), { ...requestOptions, algorithm: 'oauth2' });
    }
  } catch (err) {
    throw mapDiscoveryError(err, issuer, profile);
  }
  // Discovery needs no client authentication; the configuration then gets the method the server
  // and the registration allow.
  const { supportsPKCE: _helper, ...serverMetadata } = discovered.serverMetadata();
  const credentials = { clientSecret: options.clientSecret, clientKey: options.clientKey, registeredMethod: options.registeredAuthMethod };
  const method = chooseAuthMethod(credentials, serverMetadata.token_endpoint_auth_methods_supported, issuer);
  const config = new client.Configuration(serverMetadata, clientId, undefined, await clientAuthFor(method, credentials));
  config.timeout = requestOptions.timeout;
  if (url.protocol === 'http:') client.allowInsecureRequests(config);
  const metadata = config.serverMetadata();
  if (!metadata.supportsPKCE() && !options.assumePkce) {
    const advertised = metadata.code_challenge_methods_supported;
    throw new SeedError(
      'PKCE_UNSUPPORTED',
      `could not use issuer ${issuer}: it does not advertise PKCE S256 (code_challenge_methods_supported: ${advertised ? JSON.stringify(advertised) : 'absent'})`,
      { hint: 'seed-mcp always uses PKCE S256; if your IdP supports it without saying so (Entra ID), pass --assume-pkce' },
    );
  }
  return config;
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'cause' in err && (err.cause as { status?: number } | undefined)?.status === 404;
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
  const mapped = mapOAuthError(err, { doing: `discover the identity provider at ${issuer}`, issuer, profile });
  if (mapped.code === 'AUTH_FAILED' || mapped.code === 'IDP_ERROR') {
    return new SeedError('DISCOVERY_FAILED', `could not discover the identity provider at ${issuer}: ${message}`, {
      hint: `check the issuer URL: ${issuer.replace(/\/$/, '')}/.well-known/openid-configuration (OpenID Connect) or /.well-known/oauth-authorization-server (RFC 8414) must answer with its metadata`,
      cause: err,
    });
  }
  return mapped;
}
