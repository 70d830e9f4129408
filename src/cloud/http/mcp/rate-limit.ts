/**
 * Step 2 of the MCP endpoint: the per-principal rate limit (per client address without a token).
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../../shared/logger.js';
import { CloudError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import { clientIp, rateLimitHeaders, rateLimitKey, type RateLimiter } from '../../rate-limit.js';
import { recordRefusal } from './audit.js';
import type { Authenticated } from './authenticate.js';

export interface RateLimitStepDeps {
  limiter: RateLimiter;
  /** `MCP_RATE_LIMIT_MAX` and `MCP_RATE_LIMIT_WINDOW_MS`, for the headers and the message. */
  max: number;
  windowMs: number;
  /** `TRUST_PROXY`: the client address from `X-Forwarded-For`. */
  trustProxy: boolean;
  logger: Logger;
  metrics?: Metrics;
}

/** Counts the request; resolves with the `RateLimit-*` headers, or rejects with RATE_LIMITED (429). */
export type RateLimitStep = (req: IncomingMessage, auth: Authenticated) => Promise<Record<string, string>>;

export function createRateLimitStep(deps: RateLimitStepDeps): RateLimitStep {
  return async (req, auth) => {
    const v = auth.verified;
    const result = await deps.limiter.check(rateLimitKey({ subject: v?.subject, issuer: v?.issuer, ip: clientIp(req, deps.trustProxy) }));
    const headers = rateLimitHeaders(result, deps.max);
    if (result.allowed) return headers;
    deps.metrics?.rateLimitHit();
    const err = new CloudError('RATE_LIMITED', `more than ${deps.max} requests in ${deps.windowMs / 1000} s`, {
      action: `wait ${result.retryAfterSec} s before retrying`,
      retryAfterSec: result.retryAfterSec,
      headers,
    });
    recordRefusal(deps, err, { subject: v?.subject });
    throw err;
  };
}
