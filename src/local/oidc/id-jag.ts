/**
 * Enterprise-managed authorization (MCP ext-auth, SEP-990; draft-ietf-oauth-identity-assertion-authz-grant):
 * the two token requests of the cross-app access flow.
 *
 * 1. RFC 8693 token exchange at the company IdP: an OIDC ID token → an Identity Assertion JWT
 *    Authorization Grant (ID-JAG) for the MCP authorization server (`audience`) and the MCP
 *    server (`resource`).
 * 2. RFC 7523 JWT-bearer grant at the MCP authorization server: the ID-JAG → an access token.
 *
 * openid-client is loaded lazily (`serve` starts before any of this is needed). Nothing here
 * logs: the ID token, the ID-JAG and the secrets never leave these requests.
 */
import type * as client from 'openid-client';
import { SeedError } from '../../shared/errors.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const ID_JAG_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';

export interface IdJagRequest {
  /** The user's (or workload's) OIDC ID token from this IdP. */
  idToken: string;
  /** The MCP authorization server's issuer identifier. */
  audience: string;
  /** The MCP server's resource identifier (RFC 9728 `resource`). */
  resource?: string;
  /** Only when the user asked for scopes explicitly. */
  scope?: string;
}

/** The parameters of the RFC 8693 request (exported for tests and `doctor`-style checks). */
export function tokenExchangeParameters(request: IdJagRequest): Record<string, string> {
  return {
    requested_token_type: ID_JAG_TOKEN_TYPE,
    subject_token: request.idToken,
    subject_token_type: ID_TOKEN_TYPE,
    audience: request.audience,
    ...(request.resource ? { resource: request.resource } : {}),
    ...(request.scope ? { scope: request.scope } : {}),
  };
}

/**
 * Asks the IdP for an ID-JAG (RFC 8693). Returns the ID-JAG (carried in `access_token`); throws
 * openid-client's errors as they are (the caller maps them) and a `SeedError` when the IdP
 * answered with another token type.
 */
export async function requestIdJag(idpConfig: client.Configuration, request: IdJagRequest): Promise<string> {
  const { genericGrantRequest } = await import('openid-client');
  const res = await genericGrantRequest(idpConfig, TOKEN_EXCHANGE_GRANT, tokenExchangeParameters(request));
  const issued = (res as { issued_token_type?: unknown }).issued_token_type;
  if (issued !== ID_JAG_TOKEN_TYPE) {
    throw new SeedError(
      'IDP_ERROR',
      `could not get an identity assertion (ID-JAG) from ${idpConfig.serverMetadata().issuer}: it issued ${typeof issued === 'string' ? `a token of type ${issued}` : 'a token without issued_token_type'}, not ${ID_JAG_TOKEN_TYPE}`,
      { hint: 'ask your IdP admin to enable cross-app access (Identity Assertion JWT Authorization Grant) for this client and the MCP authorization server' },
    );
  }
  return res.access_token;
}

export interface JwtBearerRequest {
  assertion: string;
  resource?: string;
  scope?: string;
}

/** Redeems the ID-JAG at the MCP authorization server (RFC 7523 JWT-bearer grant). */
export async function redeemIdJag(mcpConfig: client.Configuration, request: JwtBearerRequest): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  const { genericGrantRequest } = await import('openid-client');
  return genericGrantRequest(mcpConfig, JWT_BEARER_GRANT, {
    assertion: request.assertion,
    ...(request.resource ? { resource: request.resource } : {}),
    ...(request.scope ? { scope: request.scope } : {}),
  });
}
