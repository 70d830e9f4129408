/**
 * The token set kept for one profile. Holds secrets: never log it, never print it.
 * Times are seconds since the epoch.
 */
export interface StoredTokens {
  version: 1;
  issuer: string;
  clientId: string;
  accessToken: string;
  tokenType: string;
  /** When the access token expires; absent when the IdP did not say. */
  expiresAt?: number;
  refreshToken?: string;
  idToken?: string;
  /** Scopes granted (space-separated), as the IdP answered or as requested. */
  scope: string;
  /** RFC 8707 resource the access token was requested for. */
  resource?: string;
  /** Identity from the validated ID token (or access token claims); see `identitySource`. */
  subject?: string;
  email?: string;
  name?: string;
  /**
   * Where `subject`/`email`/`name` came from. Absent in sets stored by older versions: read it
   * through `identitySourceOf` (tokens.ts), which infers it.
   */
  identitySource?: IdentitySource;
  obtainedAt: number;
}

/**
 * `id_token`: the validated ID token; `access_token`: the claims of a JWT access token, decoded
 * without verification (the user's own token, for display only); `unknown`: neither (a plain
 * OAuth server that sent no ID token and an opaque access token).
 */
export type IdentitySource = 'id_token' | 'access_token' | 'unknown';

export type TokenStoreKind = 'keychain' | 'file' | 'memory';

/**
 * Where a profile's tokens live. Adapters: OS keychain, a 0600 file, process memory.
 * Every method may reject with a `SeedError` of code `TOKEN_STORE_FAILED`.
 */
export interface TokenStore {
  readonly kind: TokenStoreKind;
  /** Human-readable location for `status`, e.g. `OS keychain (service seed-mcp, account work)`. */
  describe(profile: string): string;
  get(profile: string): Promise<StoredTokens | undefined>;
  set(profile: string, tokens: StoredTokens): Promise<void>;
  /** Removes the profile's tokens; resolves `false` when there were none. */
  delete(profile: string): Promise<boolean>;
}
