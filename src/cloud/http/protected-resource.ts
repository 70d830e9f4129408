/**
 * RFC 9728 protected-resource metadata, at `/.well-known/oauth-protected-resource` and its
 * path-suffixed form for the MCP endpoint: where MCP clients learn which authorization servers to
 * send the user to.
 */
import { sendJson } from './respond.js';
import type { Route } from './router.js';

export const PRM_PATH = '/.well-known/oauth-protected-resource';

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name: string;
}

export function protectedResourceMetadata(options: { resource: string; authorizationServers: readonly string[]; scopesSupported: readonly string[] }): ProtectedResourceMetadata {
  return {
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    scopes_supported: [...options.scopesSupported],
    bearer_methods_supported: ['header'],
    resource_name: 'seed-mcp',
  };
}

/** The metadata routes: public (any origin may read them), cacheable for five minutes. */
export function protectedResourceRoutes(metadata: ProtectedResourceMetadata, resourcePath: string): Route[] {
  const handle: Route['handle'] = (_req, res) => sendJson(res, 200, metadata, { 'cache-control': 'public, max-age=300' });
  return [
    { path: PRM_PATH, cors: 'public', handle },
    { path: `${PRM_PATH}${resourcePath}`, cors: 'public', handle },
  ];
}
