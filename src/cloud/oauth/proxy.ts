/**
 * The OAuth proxy (`OAUTH_PROXY_ENABLED=true`): an OAuth 2.1 authorization server facade for MCP
 * clients that expect dynamic client registration (RFC 7591) or client ID metadata documents, in
 * front of a company IdP that offers neither to them (Okta, Entra ID).
 *
 * The flow: the MCP client registers (or names its metadata document), sends the user to
 * `/oauth/authorize` with its PKCE challenge; the proxy remembers that in a transaction and sends
 * the browser to the IdP with its OWN client id, PKCE and callback; `/oauth/authorize/callback`
 * exchanges the IdP's code, seals the IdP's tokens under a new one-time code bound to the client,
 * its redirect URI and its PKCE challenge, and redirects back to the client; `/oauth/token` hands
 * the tokens over once the verifier matches. Refresh is passed through to the IdP; `/oauth/revoke`
 * puts access tokens on the shared revocation list until they expire and passes refresh tokens
 * to the IdP. Every piece of state lives in the shared store, so any replica can take any step.
 *
 * Each endpoint is a file of its own (authorize.ts, callback.ts, token.ts, register.ts,
 * revoke.ts); this one wires them into routes.
 */
import { sendJson } from '../http/respond.js';
import type { Route } from '../http/router.js';
import { createAuthorizeEndpoint } from './authorize.js';
import { createCallbackEndpoint } from './callback.js';
import { createConsentEndpoint, createConsentsEndpoint } from './consent-endpoints.js';
import { authorizationServerMetadata, createMetadataEndpoint, defaultScope } from './metadata.js';
import type { EndpointDeps, OAuthProxyOptions } from './options.js';
import { OAUTH_PATHS } from './paths.js';
import { createRegisterEndpoint } from './register.js';
import { createRevokeEndpoint } from './revoke.js';
import { signingKeys } from './signing-keys.js';
import { createTokenEndpoint } from './token.js';

export { OAUTH_PATHS } from './paths.js';
export type { OAuthProxyOptions } from './options.js';

export interface OAuthProxy {
  /** RFC 8414 metadata of the proxy. */
  metadata(): Record<string, unknown>;
  /** The routes of {@link OAUTH_PATHS}, for the server's router. */
  routes: Route[];
}

/** The proxy's endpoints over `options`' store, clients and IdP. */
export function createOAuthProxy(options: OAuthProxyOptions): OAuthProxy {
  const deps: EndpointDeps = {
    ...options,
    consent: options.consent ?? { ttlSec: 30 * 86_400, skipLoopback: false, skipClients: [] },
    signing: options.signing ?? signingKeys(undefined),
    tokenTtl: options.tokenTtl ?? { accessSec: 600, refreshSec: 30 * 86_400 },
    defaultScope: defaultScope(options.scopesSupported),
    resource: options.acceptedResources[0] ?? `${options.baseUrl}/mcp`,
    secureCookies: new URL(options.baseUrl).protocol === 'https:',
  };
  const metadata = () => authorizationServerMetadata(options.baseUrl, deps.defaultScope);
  // Browser-based MCP clients call the metadata, token, registration and revocation endpoints
  // across origins (no cookies are involved); authorize and the callback are navigations.
  const routes: Route[] = [
    { path: OAUTH_PATHS.metadata, methods: ['GET'], cors: 'public', handle: createMetadataEndpoint(metadata) },
    { path: OAUTH_PATHS.authorize, methods: ['GET'], handle: createAuthorizeEndpoint(deps) },
    { path: OAUTH_PATHS.callback, methods: ['GET'], handle: createCallbackEndpoint(deps) },
    { path: OAUTH_PATHS.token, methods: ['POST'], cors: 'public', handle: createTokenEndpoint(deps) },
    { path: OAUTH_PATHS.register, methods: ['POST'], cors: 'public', handle: createRegisterEndpoint(deps) },
    { path: OAUTH_PATHS.revoke, methods: ['POST'], cors: 'public', handle: createRevokeEndpoint(deps) },
    // The public keys of the proxy's access tokens (RFC 8414 jwks_uri).
    {
      path: OAUTH_PATHS.jwks,
      methods: ['GET'],
      cors: 'public',
      handle: (_req, res) => sendJson(res, 200, { keys: deps.signing.jwks }, { 'cache-control': 'public, max-age=300' }),
    },
    // The consent pages are the user's, in the browser: no CORS.
    { path: OAUTH_PATHS.consent, methods: ['POST'], handle: createConsentEndpoint(deps) },
    { path: OAUTH_PATHS.consents, methods: ['GET', 'POST'], handle: createConsentsEndpoint(deps) },
  ];
  return { metadata, routes };
}
