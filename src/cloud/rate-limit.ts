/**
 * Rate limiting for cloud mode (`RATE_LIMIT_ENABLED`, `MCP_RATE_LIMIT_MAX`,
 * `MCP_RATE_LIMIT_WINDOW_MS`): fixed-window counters per principal, else per client IP, answered
 * with `429 RATE_LIMITED` and `Retry-After`.
 *
 * Counting lives behind {@link RateLimitStore}, one `hit` per request, so that several replicas can
 * share counters through Redis (`REDIS_URL`; an `INCR` + `PEXPIRE NX` script fits the same
 * contract) while a single replica keeps them in memory ({@link createMemoryRateLimitStore}).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { ExpiringMap } from '../shared/expiring-map.js';

/** Where the counters live: memory for one replica, Redis for several. */
export interface RateLimitStore {
  /**
   * Counts one hit for `key` in its current fixed window and returns the count so far, this hit
   * included, and when the window ends (epoch ms). A key whose window has ended (`resetAt <= now`)
   * starts a new one of `windowMs` at `now`.
   */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>;
}

export interface MemoryRateLimitStoreOptions {
  /** The most keys held at once; past it the oldest window is dropped. 100,000 unless set. */
  maxKeys?: number;
  /** How often expired keys are swept; 60,000 ms unless set. The timer never holds the process open. */
  sweepIntervalMs?: number;
  /** The clock the sweep compares `resetAt` with: the one callers pass to `hit`. `Date.now` unless set. */
  now?: () => number;
}

export type MemoryRateLimitStore = RateLimitStore & {
  /** Keys held now, expired ones not yet swept included. */
  size(): number;
  /** Stops the sweep timer and drops every counter. */
  close(): void;
};

/**
 * Fixed-window counters in a `Map`, for a single replica.
 *
 * Memory is bounded: expired keys are swept on an unref'd timer, and past `maxKeys` the window
 * that started first is dropped at once, so a flood of distinct keys (spoofed or rotating IPs)
 * cannot grow it. The price of the bound: an evicted client starts a fresh window, so during a
 * flood of more than `maxKeys` keys inside one window the limit is approximate for the keys pushed
 * out.
 *
 * @example
 * const store = createMemoryRateLimitStore();
 * const limiter = createRateLimiter({ store, max: 100, windowMs: 60_000 });
 * // on shutdown
 * store.close();
 */
export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions = {}): MemoryRateLimitStore {
  const maxKeys = positiveInteger('maxKeys', options.maxKeys ?? 100_000);
  const sweepIntervalMs = positiveInteger('sweepIntervalMs', options.sweepIntervalMs ?? 60_000);
  const clock = options.now ?? Date.now;
  // Key → the count of its current window, which expires when the window ends. Past maxKeys the
  // window that started first goes (a renewed window starts again at the back).
  const windows = new ExpiringMap<string, number>({ now: clock, maxEntries: maxKeys });
  const timer = setInterval(() => windows.sweep(), sweepIntervalMs);
  timer.unref();

  return {
    async hit(key, windowMs, now) {
      const current = windows.entry(key, now);
      if (current) {
        current.value += 1;
        return { count: current.value, resetAt: current.expiresAt };
      }
      return { count: 1, resetAt: windows.setUntil(key, 1, now + windowMs).expiresAt };
    },
    size: () => windows.size,
    close() {
      clearInterval(timer);
      windows.clear();
    },
  };
}

export interface RateLimiterOptions {
  store: RateLimitStore;
  /** Requests allowed per window (`MCP_RATE_LIMIT_MAX`). */
  max: number;
  /** Window length in ms (`MCP_RATE_LIMIT_WINDOW_MS`). */
  windowMs: number;
  /** Test seam: the clock; `Date.now` unless set. */
  now?: () => number;
}

/** The verdict on one request. */
export interface RateLimitResult {
  /** False: answer 429 `RATE_LIMITED`. */
  allowed: boolean;
  /** Requests left in this window, never below 0. */
  remaining: number;
  /** Whole seconds until the window ends, at least 1, when refused; 0 when allowed. */
  retryAfterSec: number;
  /** When the window ends, epoch ms. */
  resetAt: number;
}

export interface RateLimiter {
  /** Counts one request for `key` (see {@link rateLimitKey}) and says whether it may proceed. */
  check(key: string): Promise<RateLimitResult>;
}

/**
 * `max` requests per fixed window of `windowMs` per key. Refused requests count too, so a client
 * that keeps hammering stays refused until its window ends, no longer.
 *
 * @example
 * const limiter = createRateLimiter({ store, max: config.rateLimit.max, windowMs: config.rateLimit.windowMs });
 * const result = await limiter.check(rateLimitKey({ subject, issuer, ip: clientIp(req, config.trustProxy) }));
 * if (!result.allowed) sendAuthFailure(res, { status: 429, code: 'RATE_LIMITED', retryAfterSec: result.retryAfterSec, … }, url);
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const max = positiveInteger('max', options.max);
  const windowMs = positiveInteger('windowMs', options.windowMs);
  const { store } = options;
  const clock = options.now ?? Date.now;
  return {
    async check(key) {
      const now = clock();
      const { count, resetAt } = await store.hit(key, windowMs, now);
      const allowed = count <= max;
      return {
        allowed,
        remaining: Math.max(0, max - count),
        retryAfterSec: allowed ? 0 : Math.max(1, Math.ceil((resetAt - now) / 1000)),
        resetAt,
      };
    },
  };
}

/**
 * The counter key of a request: per principal when authenticated (`subject` set), else per IP.
 *
 * A principal is the pair (issuer, subject) — the same `sub` at two tenants is two people — and is
 * stored as `principal:<sha256 hex>` of that pair, not in plain text: the key ends up in memory
 * dumps and, with `REDIS_URL`, in a shared Redis where a user id has no business being readable,
 * and the digest also bounds the key length whatever the IdP puts in `sub`. The digest is
 * unsalted (replicas must agree on it), so it pseudonymises rather than anonymises.
 * Unauthenticated requests are keyed `ip:<addr>` with the address from {@link clientIp}.
 *
 * @example
 * rateLimitKey({ ip: '203.0.113.7' }); // 'ip:203.0.113.7'
 * rateLimitKey({ issuer: 'https://login.example.com', subject: 'alice', ip: '203.0.113.7' }); // 'principal:3f9c…'
 */
export function rateLimitKey(input: { subject?: string; issuer?: string; ip: string }): string {
  if (input.subject) {
    // JSON keeps the pair unambiguous: ('a:b', 'c') and ('a', 'b:c') hash differently.
    const digest = createHash('sha256')
      .update(JSON.stringify([input.issuer ?? '', input.subject]))
      .digest('hex');
    return `principal:${digest}`;
  }
  return `ip:${input.ip}`;
}

/**
 * The client's IP address: the socket's peer, or with `trustProxy` (`TRUST_PROXY`) the left-most
 * valid address in `X-Forwarded-For`, falling back to the peer when the header holds none.
 * IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`) become plain IPv4, so one client has one key
 * whether the server listens on `::` or `0.0.0.0`; IPv6 is lower-cased.
 *
 * Trust model: the left-most entry is whatever the first hop wrote, and any client can send the
 * header. Enable `trustProxy` only when every request reaches this server through a reverse proxy
 * that **overwrites** `X-Forwarded-For` with the peer it saw (nginx `proxy_set_header
 * X-Forwarded-For $remote_addr`, Envoy with `use_remote_address`, …) and the server is not
 * reachable around it. Behind a proxy that appends instead, the left-most entry is chosen by the
 * client, who can then pick a fresh rate-limit key per request. Without `trustProxy` the header is
 * ignored, and behind a proxy every client shares the proxy's address.
 *
 * Returns `unknown` when the socket has no peer address (already destroyed).
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    // Node joins repeated X-Forwarded-For headers with ', ', so this sees every hop.
    for (const entry of headerValue(req.headers['x-forwarded-for']).split(',')) {
      const ip = parseForwardedAddress(entry);
      if (ip) return ip;
    }
  }
  const peer = req.socket.remoteAddress;
  return peer ? normaliseIp(peer) : 'unknown';
}

/**
 * Draft IETF RateLimit header fields (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
 * in delta seconds) for `result`, plus `Retry-After` when the request was refused.
 * `now` is the clock the limiter used; `Date.now()` unless given.
 *
 * @example
 * res.writeHead(429, { ...rateLimitHeaders(result, config.rateLimit.max), 'content-type': 'application/json' });
 */
export function rateLimitHeaders(result: RateLimitResult, max: number, now: number = Date.now()): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(max),
    'RateLimit-Remaining': String(Math.max(0, result.remaining)),
    'RateLimit-Reset': String(Math.max(0, Math.ceil((result.resetAt - now) / 1000))),
  };
  if (!result.allowed) headers['Retry-After'] = String(result.retryAfterSec);
  return headers;
}

function headerValue(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

/** One `X-Forwarded-For` entry as an address, or undefined (`unknown`, an obfuscated id, garbage). */
function parseForwardedAddress(entry: string): string | undefined {
  let candidate = entry.trim();
  // Some proxies write ports: `[2001:db8::1]:443`, `203.0.113.7:5678`.
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(candidate);
  if (bracketed) candidate = bracketed[1] ?? '';
  else if (/^[\d.]+:\d+$/.test(candidate)) candidate = candidate.slice(0, candidate.lastIndexOf(':'));
  return isIP(candidate) ? normaliseIp(candidate) : undefined;
}

function normaliseIp(ip: string): string {
  const lower = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped?.[1] ?? lower;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`could not configure rate limiting: ${name} must be a positive integer, got: ${value}`);
  return value;
}
