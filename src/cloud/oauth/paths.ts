/**
 * Where the OAuth proxy's endpoints live. Fixed paths, not configurable: the RFC 8414 metadata
 * announces them, and the metrics' route labels and the deployment guides name them.
 */
export const OAUTH_PATHS = {
  metadata: '/.well-known/oauth-authorization-server',
  authorize: '/oauth/authorize',
  callback: '/oauth/authorize/callback',
  token: '/oauth/token',
  register: '/oauth/register',
  revoke: '/oauth/revoke',
  /** The public keys of the proxy's access tokens. */
  jwks: '/oauth/jwks',
  /** The consent page's form posts here. */
  consent: '/oauth/consent',
  /** A signed-in user's approvals, each revocable. */
  consents: '/oauth/consents',
} as const;
