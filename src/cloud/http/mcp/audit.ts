/**
 * What the MCP endpoint records of a refusal: an auth failure is counted in
 * `auth_attempts_total{result="failure",code}` and written as a `cloud_auth_failed` audit event;
 * a 503 the caller did not cause is an error in the operator's log. The error table says which.
 */
import type { Logger } from '../../../shared/logger.js';
import { errorSpec, type CloudError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';

export interface RefusalDeps {
  logger: Logger;
  metrics?: Metrics;
}

/** Records `err` as refused; `fields` go into the audit event (never a token). */
export function recordRefusal(deps: RefusalDeps, err: CloudError, fields: Record<string, unknown>, seconds?: number, noCredentials = false): void {
  if (errorSpec(err.code).authFailure) {
    deps.metrics?.authAttempt('failure', err.code, seconds);
    // A request with no Authorization header at all is how every MCP client starts (the 401
    // challenge leads it to the metadata and a sign-in): an audit event at info, not a warning.
    // Another scheme (Basic, a bare token…) or a token that fails is one.
    const level = noCredentials && err.code === 'MISSING_AUTHORIZATION' ? 'info' : 'warn';
    deps.logger[level]('cloud_auth_failed', { event: 'cloud_auth_failed', code: err.code, ...fields });
    return;
  }
  switch (err.code) {
    case 'REVOCATION_UNAVAILABLE':
      // Fail closed (REVOCATION_FAIL_MODE=closed): the shared revocation list cannot be trusted now.
      deps.logger.error(`could not check a token against the revocation list: ${err.message}`, { event: 'revocation_unavailable' });
      return;
    case 'JWKS_UNAVAILABLE':
      // Not the caller's fault: the IdP's keys cannot be had right now.
      deps.logger.error(`could not verify a token: ${err.message}`, { event: 'jwks_unavailable' });
      return;
    default:
      deps.logger.warn(`refused a request: ${err.message}`, { event: 'request_refused', code: err.code });
  }
}
