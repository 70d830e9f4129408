/**
 * `GET /health` (liveness) and `GET /health/ready` (readiness): both answer while the server shuts
 * down, so that the load balancer sees it leave.
 */
import type { TokenValidator } from '../auth/validator.js';
import type { IdpClient } from '../oauth/idp.js';
import type { RevocationList } from '../store/revocations.js';
import type { SharedStore } from '../store/types.js';
import { sendJson } from './respond.js';
import type { Route } from './router.js';

export interface ReadinessDeps {
  authRequired: boolean;
  validator?: TokenValidator;
  store?: SharedStore;
  sessions: { size(): number; readonly max: number };
  revocations?: RevocationList;
  revocationFailMode: 'closed' | 'open';
  idp?: IdpClient;
  /** Gateway mode: each child's state. A child down degrades readiness; it never makes the replica unready (the others still serve). */
  children?(): Array<{ name: string; status: string; breaker: string; detail?: string }>;
  shuttingDown(): boolean;
}

export interface Readiness {
  ok: boolean;
  body: { status: 'ok' | 'degraded' | 'unavailable'; timestamp: string; checks: Record<string, Record<string, unknown>> };
}

/**
 * Whether this replica should get traffic, and each check's status. Not ready while shutting down
 * or while an allowed issuer has no keys at all; Redis trouble degrades but does not make the
 * replica unready: every replica would see it at once, and taking them all out of the load
 * balancer would take the service down.
 */
export function readiness(deps: ReadinessDeps): Readiness {
  const shuttingDown = deps.shuttingDown();
  // An issuer with cached keys still serves (stale-if-error): not ready only when one has none.
  const jwks = (deps.validator?.jwksStatus() ?? []).map((j) => ({ ...j, status: j.keys === 0 ? 'unavailable' : j.fresh && !j.lastError ? 'ok' : 'stale' }));
  const jwksOk = jwks.every((j) => j.keys > 0);
  const storeHealth = deps.store?.health();
  const checks: Record<string, Record<string, unknown>> = {
    shutdown: { status: shuttingDown ? 'shutting_down' : 'ok' },
    jwks: { status: !deps.authRequired ? 'disabled' : !jwksOk ? 'unavailable' : jwks.every((j) => j.status === 'ok') ? 'ok' : 'degraded', issuers: jwks },
    redis:
      storeHealth?.backend === 'redis'
        ? { status: storeHealth.status, breaker: storeHealth.breaker, ...(storeHealth.lastError ? { lastError: storeHealth.lastError } : {}) }
        : { status: 'not_configured' },
    circuit_breaker: { status: storeHealth?.backend === 'redis' ? storeHealth.breaker : 'not_configured' },
    sessions: { status: deps.sessions.size() < deps.sessions.max ? 'ok' : 'full', active: deps.sessions.size(), max: deps.sessions.max },
  };
  if (deps.revocations) checks.revocations = { ...deps.revocations.health(), fail_mode: deps.revocationFailMode };
  if (deps.idp) checks.oauth_proxy = deps.idp.status();
  if (deps.children) {
    const children = deps.children();
    const down = children.filter((c) => c.status === 'down').map((c) => c.name);
    checks.children = { status: down.length === 0 ? 'ok' : 'degraded', ...(down.length > 0 ? { down } : {}), children };
  }
  const ok = !shuttingDown && (jwksOk || !deps.authRequired);
  const degraded = Object.values(checks).some((c) => c.status === 'unavailable' || c.status === 'degraded' || c.status === 'open' || c.status === 'half-open');
  return { ok, body: { status: !ok ? 'unavailable' : degraded ? 'degraded' : 'ok', timestamp: new Date().toISOString(), checks } };
}

export function healthRoutes(deps: ReadinessDeps): Route[] {
  return [
    {
      path: '/health',
      servesDuringShutdown: true,
      anyHost: true,
      handle(_req, res) {
        const down = deps.shuttingDown();
        sendJson(res, down ? 503 : 200, { status: down ? 'shutting_down' : 'ok', timestamp: new Date().toISOString() });
      },
    },
    {
      path: '/health/ready',
      servesDuringShutdown: true,
      anyHost: true,
      handle(_req, res) {
        const r = readiness(deps);
        sendJson(res, r.ok ? 200 : 503, r.body);
      },
    },
  ];
}
