/**
 * What the OAuth proxy is built from: its options, and the dependencies each endpoint takes. One
 * interface, so that an option means the same in every endpoint; each endpoint asks for the part
 * it uses (a `Pick`), so that a test builds only that.
 */
import type { Logger } from '../../shared/logger.js';
import type { TokenValidator } from '../auth/validator.js';
import type { Metrics } from '../metrics.js';
import type { SharedStore } from '../store/types.js';
import type { ClientRegistry } from './clients.js';
import type { ConsentSettings } from './consent.js';
import type { SigningKeys } from './signing-keys.js';
import type { IdpClient } from './idp.js';

/** The options of `createOAuthProxy`. */
export interface OAuthProxyOptions {
  /** This server's public URL, without trailing slash: the proxy's issuer identifier. */
  baseUrl: string;
  /** Resource indicators (RFC 8707) a client may ask for: this server's. */
  acceptedResources: readonly string[];
  scopesSupported: readonly string[];
  /** What the proxy asks the IdP for as `resource`; absent = no `resource` (Entra ID). */
  idpResource?: string;
  /** `DCR_CLIENT_TTL` (seconds) and `DCR_RATE_LIMIT_MAX` (per IP per hour). */
  dcr: { ttlSec: number; rateLimitMax: number };
  trustProxy: boolean;
  store: SharedStore;
  clients: ClientRegistry;
  idp: IdpClient;
  /** `OAUTH_CONSENT_*`: how long approvals last, and who skips the consent page; 30 days, nobody, unless given. */
  consent?: ConsentSettings;
  /** The keys the proxy signs its access tokens with; made at start-up unless given. */
  signing?: SigningKeys;
  /** `OAUTH_ACCESS_TOKEN_TTL` and `OAUTH_REFRESH_TOKEN_TTL`, seconds; 600 and 30 days unless given. */
  tokenTtl?: { accessSec: number; refreshSec: number };
  /** Tells this server's access tokens apart at `/oauth/revoke`. */
  validator?: TokenValidator;
  revocations?: { revoke(id: string, expiresAtSec: number): Promise<void> };
  metrics?: Metrics;
  logger: Logger;
}

/** What the endpoints are built from: the options, and what is derived from them once. */
export interface EndpointDeps extends OAuthProxyOptions {
  consent: ConsentSettings;
  signing: SigningKeys;
  tokenTtl: { accessSec: number; refreshSec: number };
  /** The scope asked of the IdP when neither the request nor the client's registration names one. */
  defaultScope: string;
  /** The resource the tokens are for, as the consent page names it. */
  resource: string;
  /** Cookies are `Secure` and `__Host-` prefixed: BASE_URL is https. */
  secureCookies: boolean;
}
