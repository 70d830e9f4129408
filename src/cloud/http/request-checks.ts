/**
 * Checks every request passes before its route sees it: the `Host` it names (DNS rebinding: a page
 * on an attacker's domain that resolves to this server sends that domain as `Host`), and no more
 * than one `Authorization` header (which one would win is up to each parser on the way).
 */
import type { IncomingMessage } from 'node:http';
import { CloudError } from '../errors.js';

/** Whether `host` (a `Host` header's value, lower case) names a loopback address: no rebinding page can send it. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * The `Host` check: `allowed` holds host names (any port) and `name:port` entries (that port
 * only). Loopback names always pass.
 */
export function createHostCheck(allowed: readonly string[], options: { trustProxy: boolean }): (req: IncomingMessage) => void {
  const entries = new Set(allowed.map((h) => h.toLowerCase()));
  // The answer per `Host` value: a client sends the same one on every request, so the parse runs
  // once per value (bounded: a flood of invented values stops being remembered, not checked).
  const known = new Map<string, boolean>();
  const allows = (raw: string): boolean => {
    let hostname = '';
    try {
      hostname = raw ? new URL(`http://${raw}`).hostname : '';
    } catch {
      // refused
    }
    return hostname !== '' && (isLoopbackHost(hostname) || entries.has(hostname) || entries.has(raw));
  };
  return (req) => {
    const forwarded = options.trustProxy ? req.headers['x-forwarded-host'] : undefined;
    const raw = (typeof forwarded === 'string' && forwarded ? forwarded.split(',')[0]! : (req.headers.host ?? '')).trim().toLowerCase();
    let ok = known.get(raw);
    if (ok === undefined) {
      ok = allows(raw);
      if (known.size < 1_000) known.set(raw, ok);
    }
    if (!ok) throw new CloudError('FORBIDDEN_HOST', raw ? 'this server does not answer for that host name' : 'the request names no host');
  };
}

/** Refuses a request that carries more than one `Authorization` header (400 invalid_request). */
export function checkSingleAuthorization(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++seen > 1) {
      throw new CloudError('INVALID_REQUEST', 'the request has more than one Authorization header');
    }
  }
}
