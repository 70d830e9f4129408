/**
 * Step 1 of the MCP endpoint: who is calling. The bearer token is validated (synchronously when
 * the verified-token cache knows it), the success counted and audited, and what the tools and the
 * SDK's handlers receive of the caller built once per token.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/server';
import type { Span } from '@opentelemetry/api';
import type { Logger } from '../../../shared/logger.js';
import type { TokenValidator, VerifiedToken } from '../../auth/validator.js';
import { isCloudError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import { endSpan, startSpan } from '../../tracing.js';
import { recordRefusal } from './audit.js';

/** The caller of one request; empty when tokens are not required (AUTH_REQUIRED=false). */
export interface Authenticated {
  verified?: VerifiedToken;
  /** What the SDK's handlers and the tools receive. */
  info?: AuthInfo;
}

export interface AuthenticateDeps {
  /** Absent only with AUTH_REQUIRED=false. */
  validator?: TokenValidator;
  authRequired: boolean;
  logger: Logger;
  metrics?: Metrics;
}

/** Resolves the caller of `req`, or throws (rejects with) the CloudError to answer. */
export type Authenticate = (req: IncomingMessage) => Authenticated | Promise<Authenticated>;

const NO_AUTH: Authenticated = Object.freeze({});

/**
 * The authentication step.
 *
 * @example
 * ```ts
 * const authenticate = createAuthenticate({ validator, authRequired: true, logger, metrics });
 * const pending = authenticate(req);
 * const auth = pending instanceof Promise ? await pending : pending;
 * ```
 */
export function createAuthenticate(deps: AuthenticateDeps): Authenticate {
  const { validator, logger, metrics } = deps;
  if (!deps.authRequired || !validator) return () => NO_AUTH;

  // Built once per token: the verified-token cache hands back the same frozen VerifiedToken for
  // every request that presents the token.
  const perToken = new WeakMap<VerifiedToken, { audit: () => void; auth: Authenticated }>();
  const succeeded = (token: string, v: VerifiedToken, started: number): Authenticated => {
    metrics?.authAttempt('success', 'none', (performance.now() - started) / 1000);
    let known = perToken.get(v);
    if (!known) {
      const info: AuthInfo = {
        token,
        clientId: v.clientId ?? v.subject,
        scopes: v.scopes,
        ...(v.expiresAt ? { expiresAt: v.expiresAt } : {}),
        extra: { caller: v.caller, audience: v.audience },
      };
      known = {
        audit: logger.prepare('info', 'token_validated', { event: 'token_validated', subject: v.subject, issuer: v.issuer, client_id: v.clientId }),
        auth: { verified: v, info },
      };
      perToken.set(v, known);
    }
    known.audit();
    return known.auth;
  };
  const refused = (err: unknown, req: IncomingMessage, started: number): never => {
    if (isCloudError(err)) {
      const seconds = (performance.now() - started) / 1000;
      recordRefusal(deps, err, { reason: err.description, ip: req.socket.remoteAddress }, seconds, req.headers.authorization === undefined);
    }
    throw err;
  };

  // The `auth.validate` span (when spans are exported): the outcome and the refusal's code, never the token.
  const spanned = (span: Span, err?: unknown, cached?: boolean) =>
    endSpan(
      span,
      err === undefined ? { 'auth.result': 'success', 'auth.cached': cached === true } : { 'auth.result': 'refused' },
      err === undefined ? undefined : isCloudError(err) ? err.code : 'internal',
    );

  return (req) => {
    const started = performance.now();
    const span = startSpan('auth.validate');
    try {
      const answer = validator.authenticate(req.headers.authorization);
      if (!(answer instanceof Promise)) {
        if (span) spanned(span, undefined, true);
        return succeeded(answer.token, answer.verified, started);
      }
      return answer.then(
        ({ token, verified }) => {
          if (span) spanned(span);
          return succeeded(token, verified, started);
        },
        (err: unknown) => {
          if (span) spanned(span, err);
          return refused(err, req, started);
        },
      );
    } catch (err) {
      if (span) spanned(span, err);
      return refused(err, req, started);
    }
  };
}
