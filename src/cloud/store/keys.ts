/**
 * Every key and channel name seed-mcp uses in the shared store, defined once. The store adds
 * `REDIS_KEY_PREFIX` in front of each; values that come from outside (codes, tokens, IP
 * addresses) are hashed before they become part of a key.
 */
export const STORE_KEYS = {
  /** A registered (RFC 7591) client, by its client id. */
  client: (clientId: string) => `client:${clientId}`,
  /** A client ID metadata document, cached, by its URL. */
  clientMetadataDocument: (url: string) => `cimd:${url}`,
  /** An authorization waiting at the IdP, by the proxy's `state`. */
  transaction: (state: string) => `tx:${state}`,
  /** A one-time code of the proxy, by sha256(code). */
  code: (codeHash: string) => `code:${codeHash}`,
  /** The client a refresh token was issued to, by sha256(refresh token). */
  refreshToken: (tokenHash: string) => `rt:${tokenHash}`,
  /** The registration counter of one address, by sha256(IP). */
  registrations: (ipHash: string) => `dcr:${ipHash}`,
  /** A revoked access token, by its id. */
  revoked: (tokenId: string) => `revoked:${tokenId}`,
  /** The prefix of every revoked token (the mirror's reload scans it). */
  revokedPrefix: 'revoked:',
  /** An MCP rate-limit window, by its limiter key. */
  rateLimit: (key: string) => `rl:${key}`,
  /** A refresh token of the proxy: its grant, sealed under the token, by sha256(refresh token). */
  proxyRefresh: (tokenHash: string) => `prt:${tokenHash}`,
  /** A grant of the proxy by its id: the current refresh token's hash and access token's jti, to end it. */
  proxyGrant: (grantId: string) => `grant:${grantId}`,
  /** A code already redeemed, by sha256(code): the grant it started, ended if the code comes back. */
  redeemedCode: (codeHash: string) => `usedcode:${codeHash}`,
  /** A user's approval of a client at the proxy's consent page, by sha256(user) and sha256(client id). */
  consent: (userHash: string, clientHash: string) => `consent:${userHash}:${clientHash}`,
  /** The prefix of one user's approvals (the consents page lists them). */
  consentsOf: (userHash: string) => `consent:${userHash}:`,
  /** A browser signed in through the proxy: the user it belongs to, by sha256(cookie value). */
  browserSession: (cookieHash: string) => `bsession:${cookieHash}`,
  /** The owner of an initialize-era MCP session, by session id. */
  session: (sessionId: string) => `session:${sessionId}`,
} as const;

/** Every pub/sub channel. */
export const STORE_CHANNELS = {
  /** Revoked token ids, so each replica's mirror learns at once. */
  revocations: 'revocations',
  /** Closed session ids, so the replica that holds a session closes it. */
  sessionClosed: 'sessions:closed',
} as const;
