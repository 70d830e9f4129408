/**
 * The proxy's RFC 8414 authorization server metadata: where MCP clients find its endpoints and
 * what it supports, after RFC 9728 protected-resource metadata has pointed them here.
 */
import { sendOAuthJson } from './answers.js';
import { OAUTH_PATHS } from './paths.js';
import type { EndpointHandler } from './unavailable.js';

/**
 * The scope asked of the IdP when neither the request nor the client names one: OpenID's, a
 * refresh token (`offline_access`) and this server's scopes.
 */
export function defaultScope(scopesSupported: readonly string[]): string {
  return [...new Set(['openid', 'profile', 'email', 'offline_access', ...scopesSupported])].join(' ');
}

/** The metadata document of the proxy at `baseUrl` (its issuer identifier). */
export function authorizationServerMetadata(baseUrl: string, scope: string): Record<string, unknown> {
  return {
    issuer: baseUrl,
    authorization_endpoint: `${baseUrl}${OAUTH_PATHS.authorize}`,
    token_endpoint: `${baseUrl}${OAUTH_PATHS.token}`,
    registration_endpoint: `${baseUrl}${OAUTH_PATHS.register}`,
    revocation_endpoint: `${baseUrl}${OAUTH_PATHS.revoke}`,
    jwks_uri: `${baseUrl}${OAUTH_PATHS.jwks}`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    scopes_supported: scope.split(' '),
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: true,
    service_documentation: 'https://www.npmjs.com/package/seed-mcp',
  };
}

/** The metadata endpoint: the document, cacheable for five minutes (it changes only with the configuration). */
export function createMetadataEndpoint(metadata: () => Record<string, unknown>): EndpointHandler {
  return async (_req, res) => sendOAuthJson(res, 200, metadata(), { 'cache-control': 'public, max-age=300' });
}
