/**
 * `POST /oauth/register`: dynamic client registration (RFC 7591), limited per address and hour
 * (`DCR_RATE_LIMIT_MAX`) because anyone may call it.
 */
import type { IncomingMessage } from 'node:http';
import { sha256Base64url } from '../../shared/crypto.js';
import { CloudError, isCloudError } from '../errors.js';
import { clientIp } from '../rate-limit.js';
import { STORE_KEYS } from '../store/keys.js';
import { sendOAuthJson } from './answers.js';
import { ClientMetadataError, type ClientRegistry } from './clients.js';
import type { EndpointDeps } from './options.js';
import { mediaType, readBodyText } from './params.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

/** What the registration endpoint needs. */
export type RegisterDeps = Pick<EndpointDeps, 'store' | 'clients' | 'dcr' | 'trustProxy' | 'metrics' | 'logger'>;

const WINDOW_MS = 3_600_000;

/** The registration request's JSON body (RFC 7591 §3.1); its content is checked by the registry. */
async function readRegistration(req: IncomingMessage): Promise<unknown> {
  if (mediaType(req) !== 'application/json') throw new CloudError('OAUTH_INVALID_CLIENT_METADATA', 'the registration request must be application/json');
  try {
    return JSON.parse(await readBodyText(req));
  } catch (err) {
    if (isCloudError(err)) throw err;
    throw new CloudError('OAUTH_INVALID_CLIENT_METADATA', 'the registration request is not JSON');
  }
}

/** The registration endpoint's handler. */
export function createRegisterEndpoint(deps: RegisterDeps): EndpointHandler {
  const { store, clients, metrics, logger } = deps;

  /** `OAUTH_RATE_LIMITED` past `DCR_RATE_LIMIT_MAX` registrations from the request's address this hour. */
  async function limit(req: IncomingMessage): Promise<void> {
    // The address is hashed: the store does not keep who registered.
    const window = await store.hit(STORE_KEYS.registrations(sha256Base64url(clientIp(req, deps.trustProxy))), WINDOW_MS);
    if (window.count <= deps.dcr.rateLimitMax) return;
    metrics?.dcrRegistration('failure');
    metrics?.rateLimitHit();
    const retry = Math.max(1, Math.ceil((window.resetAt - Date.now()) / 1000));
    throw new CloudError('OAUTH_RATE_LIMITED', `more than ${deps.dcr.rateLimitMax} registrations from this address in an hour`, {
      retryAfterSec: retry,
      action: `wait ${retry} s, or reuse the client you registered`,
    });
  }

  return answerUnavailable(logger, async (req, res) => {
    await limit(req);
    const body = await readRegistration(req);
    let registered: Awaited<ReturnType<ClientRegistry['register']>>;
    try {
      registered = await clients.register(body);
    } catch (err) {
      if (err instanceof ClientMetadataError) metrics?.dcrRegistration('failure');
      throw err;
    }
    const { client, secret } = registered;
    metrics?.dcrRegistration('success');
    logger.info('oauth client registered', { event: 'oauth_client_registered', client_id: client.client_id, client_name: client.client_name });
    // The stored hash and the origin stay here; the secret is shown this once (RFC 7591 §3.2.1).
    const { secret_hash: _hash, source: _source, ...published } = client;
    sendOAuthJson(res, 201, {
      ...published,
      ...(secret ? { client_secret: secret, client_secret_expires_at: (client.client_id_issued_at ?? 0) + deps.dcr.ttlSec } : {}),
    });
  });
}
