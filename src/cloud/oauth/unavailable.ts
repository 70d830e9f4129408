/**
 * The endpoints' boundary with what they depend on: the shared store and the IdP. Either being
 * down is not the client's fault, so it is answered 503 `temporarily_unavailable` with a
 * `Retry-After`, and logged for the operator (`event: oauth_unavailable`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../shared/logger.js';
import { CloudError } from '../errors.js';
import { isStoreUnavailable } from '../store/types.js';
import { IdpError } from './idp.js';

/** An endpoint's request handler. */
export type EndpointHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * `handler`, with a store or IdP failure it does not handle itself turned into
 * `CloudError('OAUTH_TEMPORARILY_UNAVAILABLE')`. An answer already started is left as it is.
 */
export function answerUnavailable(logger: Logger, handler: EndpointHandler): EndpointHandler {
  return async (req, res) => {
    try {
      await handler(req, res);
    } catch (err) {
      const store = isStoreUnavailable(err);
      if (res.headersSent || !(store || err instanceof IdpError)) throw err;
      logger.error(`oauth proxy: ${err.message}`, { event: 'oauth_unavailable' });
      throw new CloudError('OAUTH_TEMPORARILY_UNAVAILABLE', store ? 'the shared state store is unavailable' : 'the identity provider cannot be reached', { cause: err });
    }
  };
}
