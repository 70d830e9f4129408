/**
 * The cloud-mode configuration: one zod schema over the environment, parsed once at start-up into a
 * frozen {@link CloudConfig}. Names follow the deployment guides users already have (each is in
 * docs/configuration.md, generated from {@link CLOUD_VARIABLES}); every variable also accepts `NAME_FILE` (Docker and
 * Kubernetes secrets), and CLI flags arrive as overrides under the same names. Every problem is
 * reported at once, in env-var names, in one `CONFIG_INVALID` error (exit 2).
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { SeedError } from '../shared/errors.js';
import { redact } from '../shared/redact.js';
import type { LogLevel } from '../shared/logger.js';
import { clientAssertionAlg, type IntrospectionAuthMethod, type IntrospectionIssuer } from './auth/introspection.js';
import { parseSigningKeys } from './oauth/signing-keys.js';
import { parseRedisUrl } from './store/redis-url.js';

/**
 * The effective cloud-mode configuration. Deeply frozen at run time, arrays included (they are
 * typed `string[]` only so that they pass to APIs that take plain arrays): nothing changes it after
 * start-up.
 */
export interface CloudConfig {
  /** `AUTH_MODE`; `cloud` unless set. */
  readonly authMode: 'cloud' | 'local';
  /** `PORT`, else `MCP_PORT`; 3000 unless set. */
  readonly port: number;
  /** `HOST`; `0.0.0.0` unless set. */
  readonly host: string;
  /** `BASE_URL` without trailing slashes; `http://localhost:<port>` when unset (with a warning). */
  readonly baseUrl: string;
  /** `AUTH_REQUIRED`; true unless set. False only ever comes with a warning. */
  readonly authRequired: boolean;
  /** `ALLOWED_ISSUERS` then `OIDC_ISSUER`, deduplicated, each exactly as given (`iss` must match it). */
  readonly allowedIssuers: string[];
  /** `RESOURCE_IDENTIFIER` then `OIDC_AUDIENCE` values, deduplicated: the accepted `aud` values. */
  readonly audiences: string[];
  /** `JWKS_CACHE_TTL` in seconds; 3600 unless set. */
  readonly jwksCacheTtlSec: number;
  /** Opaque access tokens: RFC 7662 token introspection per allowed issuer. */
  readonly introspection: {
    /** `INTROSPECTION` (secret: it may hold client secrets): a JSON array, one entry per issuer; none unless set. */
    readonly issuers: IntrospectionIssuer[];
    /** `INTROSPECTION_CACHE_TTL` in seconds: the longest an answer is reused (never past `exp`); 60 unless set, 0 = never. */
    readonly cacheTtlSec: number;
  };
  /** `SCOPES_SUPPORTED`, split on commas and white space. */
  readonly scopesSupported: string[];
  /** `OAUTH_AUTHORIZATION_URL`: overrides discovery. */
  readonly oauthAuthorizationUrl?: string;
  /** `OAUTH_TOKEN_URL`: overrides discovery. */
  readonly oauthTokenUrl?: string;
  readonly oauthProxy: {
    /** `OAUTH_PROXY_ENABLED`; false unless set. */
    readonly enabled: boolean;
    /** `OAUTH_CLIENT_ID`, else the first `OIDC_AUDIENCE` value. */
    readonly clientId?: string;
    /** `OAUTH_CLIENT_SECRET` (secret); absent = public client. */
    readonly clientSecret?: string;
    /** `DCR_CLIENT_TTL` in seconds; 2592000 (30 days) unless set. */
    readonly dcrClientTtlSec: number;
    /** `DCR_RATE_LIMIT_MAX` registrations per hour per IP; 10 unless set. */
    readonly dcrRateLimitMax: number;
    /**
     * `OAUTH_IDP_RESOURCE`: the RFC 8707 `resource` the proxy asks the IdP for; the first accepted
     * audience unless set, none with `none` (Entra ID rejects the parameter, AADSTS9010010).
     */
    readonly idpResource?: string;
    /** `OAUTH_CLIENT_AUTH_METHOD`: how a confidential proxy client authenticates; unset = what the IdP advertises. */
    readonly clientAuthMethod?: 'client_secret_basic' | 'client_secret_post';
    /** `OAUTH_SIGNING_KEYS` (secret): PEM private keys the proxy signs its access tokens with, the first signing; absent = one made at start-up. */
    readonly signingKeys?: string;
    /** `OAUTH_ACCESS_TOKEN_TTL` in seconds: the life of the proxy's access tokens; 600 unless set. */
    readonly accessTokenTtlSec: number;
    /** `OAUTH_REFRESH_TOKEN_TTL` in seconds: how long an unused refresh token of the proxy stays valid; 2592000 (30 days) unless set. */
    readonly refreshTokenTtlSec: number;
    readonly consent: {
      /** `OAUTH_CONSENT_TTL` in seconds: how long a user's approval of a client is remembered; 2592000 (30 days) unless set. */
      readonly ttlSec: number;
      /** `OAUTH_CONSENT_SKIP_LOOPBACK`: no consent page for clients whose redirect URI is loopback http; false unless set. */
      readonly skipLoopback: boolean;
      /** `OAUTH_CONSENT_SKIP_CLIENTS`: client ids (or metadata document URLs) the operator trusts: no consent page. */
      readonly skipClients: string[];
    };
  };
  /** `REDIS_KEY_PREFIX`: the namespace of every key and channel; `seed-mcp:` unless set. */
  readonly redisKeyPrefix: string;
  /**
   * `REVOCATION_FAIL_MODE`: while the shared revocation list cannot be trusted (Redis down),
   * `closed` (the default) refuses tokens with 503, `open` accepts those not known revoked.
   */
  readonly revocationFailMode: 'closed' | 'open';
  /**
   * `REVOCATION_MAX_STALENESS`, seconds: while Redis is down, revocation checks answer from this
   * replica's mirror for up to this long after it was last known in sync, and only then fail as
   * `REVOCATION_FAIL_MODE` says; 60 unless set, 0 fails at once.
   */
  readonly revocationMaxStalenessSec: number;
  /** `REDIS_URL` (secret: it may hold a password); absent = state in memory. */
  readonly redisUrl?: string;
  /**
   * `REDIS_REPLICA_ACK`, behind Sentinel or a Cluster: `required` (the default) fails a revocation
   * or a one-time code's redemption that no replica acknowledged in time (503, retried), so that a
   * failover cannot undo it; `best-effort` lets it succeed with a warning (for a master run
   * without replicas). No effect on a standalone Redis.
   */
  readonly redisReplicaAck: 'required' | 'best-effort';
  /** `REDIS_REPLICA_ACK_TIMEOUT_MS`: how long such a write waits for a replica (WAIT 1); 200 (`required`) or 20 (`best-effort`) unless set. */
  readonly redisReplicaAckTimeoutMs?: number;
  readonly metrics: {
    /** `METRICS_ENABLED`; true unless set. */
    readonly enabled: boolean;
    /** `METRICS_TOKEN` (secret): the bearer token `/metrics` asks for, when set. */
    readonly token?: string;
  };
  readonly rateLimit: {
    /** `RATE_LIMIT_ENABLED`; true unless set. */
    readonly enabled: boolean;
    /** `MCP_RATE_LIMIT_MAX` requests per window; 100 unless set. */
    readonly max: number;
    /** `MCP_RATE_LIMIT_WINDOW_MS`; 60000 unless set. */
    readonly windowMs: number;
  };
  /** `CORS_EXTRA_ORIGINS`, each normalised to its origin (`https://app.example.com`). */
  readonly corsExtraOrigins: string[];
  /** `MCP_SESSION_TTL_SECONDS`; 3600 unless set, at least 60. */
  readonly sessionTtlSec: number;
  /** `MCP_MAX_SESSIONS`; 1000 unless set. */
  readonly maxSessions: number;
  /** `TOOL_POLICY_FILE`, absolute; an existing file. */
  readonly toolPolicyFile?: string;
  /** `UPSTREAMS_FILE`, absolute; an existing file: gateway mode (the MCP servers fronted). */
  readonly upstreamsFile?: string;
  /** `CHECKLIST_DIR`, absolute; an existing directory. */
  readonly checklistDir?: string;
  /** `PROCESS_DIR`, absolute; an existing directory. */
  readonly processDir?: string;
  /** `LOG_LEVEL`; `info` unless set. */
  readonly logLevel: LogLevel;
  /** `LOG_FORMAT`; `json` unless set. */
  readonly logFormat: 'json' | 'pretty';
  /** `TRUST_PROXY`: honour `X-Forwarded-*`; false unless set. */
  readonly trustProxy: boolean;
  /**
   * `ALLOWED_HOSTS`: the `Host` values (name, or name:port) the MCP and OAuth endpoints answer, lower
   * case; unless set, BASE_URL's host name. Loopback names are always accepted: a DNS-rebinding
   * page cannot send them. Health, readiness and metrics answer any `Host` (probes use the pod IP).
   */
  readonly allowedHosts: string[];
  /**
   * `FETCH_ALLOWED_HOSTS`: host names a URL given by a client (a client ID metadata document) may
   * name although they resolve to a loopback, private, link-local or metadata address; lower case.
   */
  readonly fetchAllowedHosts: string[];
  /**
   * Span export over OTLP/HTTP (JSON); absent unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not true. A caller's
   * `traceparent` is continued to the gateway's children either way.
   */
  readonly tracing?: {
    /** The traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`. */
    readonly endpoint: string;
    /** `OTEL_EXPORTER_OTLP_HEADERS` (secret: it may hold an API key): `key=value` pairs, comma-separated. */
    readonly headers: Record<string, string>;
    /** `OTEL_SERVICE_NAME`; `seed-mcp` unless set. */
    readonly serviceName: string;
  };
  /** What the operator should hear at start-up although the configuration is valid. */
  readonly warnings: string[];
}

type Env = Record<string, string | undefined>;

const NAMES = [
  'AUTH_MODE',
  'PORT',
  'MCP_PORT',
  'HOST',
  'BASE_URL',
  'AUTH_REQUIRED',
  'ALLOWED_ISSUERS',
  'OIDC_ISSUER',
  'RESOURCE_IDENTIFIER',
  'OIDC_AUDIENCE',
  'JWKS_CACHE_TTL',
  'SCOPES_SUPPORTED',
  'OAUTH_AUTHORIZATION_URL',
  'OAUTH_TOKEN_URL',
  'OAUTH_PROXY_ENABLED',
  'OAUTH_CLIENT_ID',
  'OAUTH_CLIENT_SECRET',
  'DCR_CLIENT_TTL',
  'DCR_RATE_LIMIT_MAX',
  'REDIS_URL',
  'METRICS_ENABLED',
  'METRICS_TOKEN',
  'RATE_LIMIT_ENABLED',
  'MCP_RATE_LIMIT_MAX',
  'MCP_RATE_LIMIT_WINDOW_MS',
  'CORS_EXTRA_ORIGINS',
  'MCP_SESSION_TTL_SECONDS',
  'MCP_MAX_SESSIONS',
  'TOOL_POLICY_FILE',
  'UPSTREAMS_FILE',
  'CHECKLIST_DIR',
  'PROCESS_DIR',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'TRUST_PROXY',
  // Not in the deployment guides; seed-mcp's own (README, "Scale out").
  'OAUTH_IDP_RESOURCE',
  'OAUTH_CLIENT_AUTH_METHOD',
  'REDIS_KEY_PREFIX',
  'REDIS_REPLICA_ACK',
  'REDIS_REPLICA_ACK_TIMEOUT_MS',
  'REVOCATION_FAIL_MODE',
  'REVOCATION_MAX_STALENESS',
  'ALLOWED_HOSTS',
  'FETCH_ALLOWED_HOSTS',
  'OAUTH_CONSENT_TTL',
  'OAUTH_CONSENT_SKIP_LOOPBACK',
  'OAUTH_CONSENT_SKIP_CLIENTS',
  'OAUTH_SIGNING_KEYS',
  'OAUTH_ACCESS_TOKEN_TTL',
  'OAUTH_REFRESH_TOKEN_TTL',
  'INTROSPECTION',
  'INTROSPECTION_CACHE_TTL',
  // OpenTelemetry's standard variables (README, "Tracing").
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_SERVICE_NAME',
  'OTEL_SDK_DISABLED',
] as const;
type Name = (typeof NAMES)[number];

const REDACTED = '[REDACTED]';
const LOOPBACK_NOTE = 'http only on localhost, 127.0.0.1 or [::1]';

// ---------------------------------------------------------------------------------------------
// Sources: overrides, env and NAME_FILE

/** A variable that has a problem before its value is even known. */
class Unusable {
  constructor(readonly problem: string) {}
}
type Raw = string | Unusable | undefined;

const isSet = (v: string | undefined): v is string => v !== undefined && v !== '';

/**
 * Flags win over env as a whole per variable: a `--x` flag beats both `X` and `X_FILE` from the
 * environment. Within one layer, `X` and `X_FILE` together are ambiguous. Empty means unset, as
 * compose files write `X=` for "not this one".
 */
function readRaw(name: Name, env: Env, overrides: Env): Raw {
  const fileName = `${name}_FILE`;
  const layer = isSet(overrides[name]) || isSet(overrides[fileName]) ? overrides : env;
  const value = layer[name];
  const file = layer[fileName];
  if (isSet(value) && isSet(file)) return new Unusable(`${name} and ${fileName} are both set; set only one`);
  if (!isSet(file)) return isSet(value) ? value : undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return new Unusable(`${fileName} could not be read: ${(err as NodeJS.ErrnoException).code ?? 'error'} (${file})`);
  }
  text = text.replace(/\r?\n$/, '');
  return text === '' ? new Unusable(`${fileName} is empty (${file})`) : text;
}

// ---------------------------------------------------------------------------------------------
// Parsers: a value in, problems pushed in env-var words

type Parser<T> = (value: string, problems: string[]) => T;

const LIST = /,/;
const SCOPE_LIST = /[\s,]+/;

/**
 * One variable of the schema: runs `parse` on a set value, turns its problems into zod issues and
 * falls back to `fallback` when the variable is unset. Issues are marked `continue` so that the
 * cross-variable rules still run and every problem is reported at once.
 */
function variable<T>(parse: Parser<T>): z.ZodType<T | undefined, Raw>;
function variable<T>(parse: Parser<T>, fallback: T): z.ZodType<T, Raw>;
function variable<T>(parse: Parser<T>, fallback?: T): z.ZodType<T | undefined, Raw> {
  return z
    .custom<Raw>(() => true)
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return fallback;
      if (raw instanceof Unusable) {
        ctx.addIssue({ code: 'custom', message: raw.problem, continue: true });
        return z.NEVER;
      }
      const problems: string[] = [];
      const out = parse(raw, problems);
      for (const message of problems) ctx.addIssue({ code: 'custom', message, continue: true });
      return problems.length > 0 ? z.NEVER : out;
    });
}

const BOOLEANS: Record<string, boolean> = { true: true, '1': true, yes: true, false: false, '0': false, no: false };

const bool =
  (name: Name): Parser<boolean> =>
  (v, problems) => {
    const b = BOOLEANS[v.trim().toLowerCase()];
    if (b === undefined) problems.push(`${name} must be true or false (or 1/0, yes/no), got: ${v}`);
    return b ?? false;
  };

const int =
  (name: Name, min: number, max?: number): Parser<number> =>
  (v, problems) => {
    const text = v.trim();
    const n = Number(text);
    const range = max === undefined ? `at least ${min}` : `between ${min} and ${max}`;
    if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(n)) problems.push(`${name} must be a whole number ${range}, got: ${v}`);
    else if (n < min || (max !== undefined && n > max)) problems.push(`${name} must be ${range}, got: ${v}`);
    return n;
  };

const oneOf =
  <const T extends string>(name: Name, values: readonly T[]): Parser<T> =>
  (v, problems) => {
    const lower = v.trim().toLowerCase();
    const found = values.find((x) => x === lower);
    if (found === undefined) problems.push(`${name} must be one of ${values.join(', ')}, got: ${v}`);
    return found ?? values[0]!;
  };

const host =
  (name: Name): Parser<string> =>
  (v, problems) => {
    const text = v.trim();
    if (/[\s/]/.test(text)) problems.push(`${name} must be a host name or IP address, got: ${v}`);
    return text;
  };

const text = (v: string): string => v.trim();
const secret = (v: string): string => v;

function splitList(v: string, separators: RegExp): string[] {
  return [
    ...new Set(
      v
        .split(separators)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Checks one http(s) URL and returns it exactly as given. `secure`: https, except http on a
 * loopback host (a development IdP); issuers also refuse a query or fragment (RFC 8414 §2).
 */
function checkUrl(name: Name, value: string, problems: string[], opts: { secure?: boolean; issuer?: boolean } = {}): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} must be a URL, got: ${value}`);
    return value;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problems.push(`${name} must be an http(s) URL, got: ${value}`);
  } else if (opts.secure && url.protocol === 'http:' && !isLoopback(url.hostname)) {
    problems.push(`${name} must use https (${LOOPBACK_NOTE}), got: ${value}`);
  }
  if (opts.issuer && (url.search !== '' || url.hash !== '')) problems.push(`${name} must not have a query or fragment, got: ${value}`);
  return value;
}

const secureUrl =
  (name: Name): Parser<string> =>
  (v, problems) =>
    checkUrl(name, v.trim(), problems, { secure: true });

const baseUrl =
  (name: Name): Parser<string> =>
  (v, problems) =>
    checkUrl(name, v.trim(), problems).replace(/\/+$/, '');

/** `list`: comma-separated issuers; otherwise one issuer (`OIDC_ISSUER` "adds one"). */
const issuers =
  (name: Name, list: boolean): Parser<string[]> =>
  (v, problems) =>
    (list ? splitList(v, LIST) : [v.trim()]).map((entry) => checkUrl(name, entry, problems, { secure: true, issuer: true }));

const list =
  (separators: RegExp): Parser<string[]> =>
  (v) =>
    splitList(v, separators);

const origins =
  (name: Name): Parser<string[]> =>
  (v, problems) => {
    const out: string[] = [];
    for (const entry of splitList(v, /,/)) {
      let url: URL | undefined;
      try {
        url = new URL(entry);
      } catch {
        // reported below
      }
      if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/' || url.search || url.hash || url.username) {
        problems.push(`${name} must list origins such as https://app.example.com, got: ${entry}`);
      } else {
        out.push(url.origin);
      }
    }
    return [...new Set(out)];
  };

/** Host names, each optionally with `:port` (kept even when it is the scheme's default), lower case: no scheme, path or credentials. */
const hosts =
  (name: Name): Parser<string[]> =>
  (v, problems) => {
    const out: string[] = [];
    for (const entry of splitList(v, /,/)) {
      const m = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d{1,5}))?$/i.exec(entry);
      let hostname: string | undefined;
      try {
        hostname = m ? new URL(`http://${m[1]}`).hostname : undefined;
      } catch {
        // reported below
      }
      const port = m?.[2] === undefined ? undefined : Number(m[2]);
      if (!hostname || (port !== undefined && (port < 1 || port > 65535))) {
        problems.push(`${name} must list host names such as mcp.example.com or mcp.example.com:8443, got: ${entry}`);
      } else {
        out.push(port === undefined ? hostname : `${hostname}:${port}`);
      }
    }
    return [...new Set(out)];
  };

/** PEM private keys for the OAuth proxy's tokens, checked now (never quoted in a problem). */
const signingKeyPem: Parser<string> = (v, problems) => {
  try {
    parseSigningKeys(v);
  } catch (err) {
    problems.push(`OAUTH_SIGNING_KEYS must hold PEM private keys: ${(err as Error).message}`);
  }
  return v;
};

interface RedisUrlParts {
  scheme: string;
  userinfo: string | undefined;
  rest: string;
}

/**
 * Splits a Redis URL at the last `@`, so that a password with an unencoded `#`, `/` or `@` is still
 * taken as userinfo: redaction must never show part of it. Sentinel URLs list several hosts, which
 * `URL` refuses, hence no `URL` here.
 */
function splitRedisUrl(value: string): RedisUrlParts | undefined {
  const m = /^(rediss?(?:\+sentinel|\+cluster)?):\/\/(.*)$/is.exec(value);
  if (!m) return undefined;
  const after = m[2]!;
  const at = after.lastIndexOf('@');
  return { scheme: m[1]!, userinfo: at >= 0 ? after.slice(0, at) : undefined, rest: at >= 0 ? after.slice(at + 1) : after };
}

const redisUrl =
  (name: Name): Parser<string> =>
  (v, problems) => {
    const parts = splitRedisUrl(v.trim());
    // The value is not echoed: it may hold a password.
    if (!parts || !/^[^/?#]+/.test(parts.rest)) problems.push(`${name} must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL with a host`);
    else {
      // What the Redis store will make of it, checked now: a bad port or host list stops start-up.
      try {
        parseRedisUrl(v);
      } catch (err) {
        problems.push(`${name} is not usable: ${(err as Error).message.replace(/^could not parse REDIS_URL: /, '')}`);
      }
    }
    return v.trim();
  };

/** `redis://user:[REDACTED]@host:6379/0`: the URL stays readable, its password does not. */
function redactRedisUrl(value: string): string {
  const parts = splitRedisUrl(value);
  if (!parts) return REDACTED;
  let userinfo = '';
  if (parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(':');
    // Without a colon some clients take the userinfo as a password: hide it all.
    userinfo = `${colon >= 0 ? `${parts.userinfo.slice(0, colon)}:${REDACTED}` : REDACTED}@`;
  }
  const rest = parts.rest.replace(/([?&][^=&#]*(?:pass|secret|token|auth)[^=&#]*=)[^&#]*/gi, `$1${REDACTED}`);
  return redact(`${parts.scheme}://${userinfo}${rest}`);
}

/** An OTLP endpoint: any http(s) URL (collectors are often plain http inside the cluster); never echoed, it may hold credentials. */
const otlpUrl =
  (name: Name): Parser<string> =>
  (v, problems) => {
    let url: URL | undefined;
    try {
      url = new URL(v.trim());
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) problems.push(`${name} must be an http(s) URL such as http://otel-collector:4318`);
    return v.trim();
  };

/** `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs, comma-separated, values URL-encoded (W3C baggage form); never quoted. */
const otlpHeaders: Parser<Record<string, string>> = (v, problems) => {
  const out: Record<string, string> = {};
  for (const entry of v.split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    const key = eq > 0 ? entry.slice(0, eq).trim() : '';
    let value: string | undefined;
    try {
      value = eq > 0 ? decodeURIComponent(entry.slice(eq + 1).trim()) : undefined;
    } catch {
      value = undefined;
    }
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(key) || value === undefined || /[\r\n]/.test(value)) {
      problems.push('OTEL_EXPORTER_OTLP_HEADERS must be comma-separated key=value pairs such as api-key=secret (values URL-encoded)');
      return out;
    }
    out[key.toLowerCase()] = value;
  }
  return out;
};

const existing =
  (name: Name, kind: 'file' | 'directory'): Parser<string> =>
  (v, problems) => {
    const path = resolve(v.trim());
    try {
      const st = statSync(path);
      const ok = kind === 'file' ? st.isFile() : st.isDirectory();
      if (!ok) problems.push(`${name} must be a ${kind}, got: ${v} (${st.isDirectory() ? 'a directory' : 'not a directory'})`);
    } catch (err) {
      problems.push(`${name} must be an existing ${kind}, got: ${v} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return path;
  };

const INTROSPECTION_KEYS = new Set([
  'issuer',
  'endpoint',
  'client_id',
  'client_secret',
  'client_secret_file',
  'private_key_file',
  'key_id',
  'auth_method',
  'tokens',
  'require_audience',
]);
const INTROSPECTION_FORM = 'INTROSPECTION must be a JSON array of objects such as {"issuer":"https://idp.example.com","client_id":"mcp-rs","client_secret_file":"/run/secrets/rs"}';

/** A secret file of an INTROSPECTION entry: its content minus one trailing newline, never quoted. */
function readSecretFile(where: string, key: string, file: string, problems: string[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${where}: ${key} could not be read: ${(err as NodeJS.ErrnoException).code ?? 'error'} (${file})`);
    return undefined;
  }
  text = text.replace(/\r?\n$/, '');
  if (text === '') problems.push(`${where}: ${key} is empty (${file})`);
  return text === '' ? undefined : text;
}

/** `INTROSPECTION` parsed: the valid entries, every entry's issuer URL, and the entries' problems. */
interface IntrospectionEntries {
  issuers: IntrospectionIssuer[];
  named: string[];
  problems: string[];
}

/**
 * `INTROSPECTION`: a JSON array (or one object), one entry per issuer whose opaque tokens are
 * introspected. Secret files are read now, so a missing one stops start-up; the value itself is
 * never quoted in a problem (it may hold a client secret).
 */
const introspection: Parser<IntrospectionEntries> = (v, problems) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    problems.push(`${INTROSPECTION_FORM}; it is not valid JSON`);
    return { issuers: [], named: [], problems: [] };
  }
  const entries = Array.isArray(parsed) ? parsed : [parsed];
  const out: IntrospectionIssuer[] = [];
  const seen = new Set<string>();
  // Entry problems are reported with the cross-variable rules, so that an issuer missing from
  // ALLOWED_ISSUERS is named even when another entry is broken.
  const entryProblems: string[] = [];
  const named: string[] = [];
  entries.forEach((entry: unknown, index) => {
    let where = `INTROSPECTION[${index}]`;
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      entryProblems.push(`${INTROSPECTION_FORM}; entry ${index} is not an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const before = entryProblems.length;
    const str = (key: string): string | undefined => {
      const value = e[key];
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value.trim() === '') {
        entryProblems.push(`${where}: ${key} must be a non-empty string`);
        return undefined;
      }
      return value.trim();
    };
    const issuer = str('issuer');
    if (issuer === undefined) entryProblems.push(`${where}: issuer is required (an issuer URL from ALLOWED_ISSUERS or OIDC_ISSUER)`);
    else {
      where = `INTROSPECTION[${index}] (${issuer})`;
      const sub: string[] = [];
      checkUrl('INTROSPECTION', issuer, sub, { secure: true, issuer: true });
      entryProblems.push(...sub.map((p) => p.replace(/^INTROSPECTION/, `${where}: issuer`)));
      if (seen.has(issuer)) entryProblems.push(`${where}: the issuer is listed twice`);
      seen.add(issuer);
      if (sub.length === 0) named.push(issuer);
    }
    for (const key of Object.keys(e)) {
      if (!INTROSPECTION_KEYS.has(key)) entryProblems.push(`${where}: unknown key ${JSON.stringify(key.slice(0, 50))} (known: ${[...INTROSPECTION_KEYS].join(', ')})`);
    }
    const endpoint = str('endpoint');
    if (endpoint !== undefined) {
      const sub: string[] = [];
      checkUrl('INTROSPECTION', endpoint, sub, { secure: true });
      entryProblems.push(...sub.map((p) => p.replace(/^INTROSPECTION/, `${where}: endpoint`)));
    }
    const clientId = str('client_id');
    if (clientId === undefined && e.client_id === undefined) entryProblems.push(`${where}: client_id is required (this server's client at the IdP)`);
    const keyId = str('key_id');
    const credentials = ['client_secret', 'client_secret_file', 'private_key_file'].filter((key) => e[key] !== undefined);
    if (credentials.length !== 1) {
      entryProblems.push(`${where}: set exactly one of client_secret_file, private_key_file or client_secret${credentials.length > 1 ? `, got ${credentials.join(' and ')}` : ''}`);
    }
    let clientSecret: string | undefined;
    let privateKey: string | undefined;
    if (credentials.length === 1) {
      const which = credentials[0]!;
      if (which === 'client_secret') {
        if (typeof e.client_secret !== 'string' || e.client_secret === '') entryProblems.push(`${where}: client_secret must be a non-empty string`);
        else clientSecret = e.client_secret;
      } else {
        const file = str(which);
        const content = file === undefined ? undefined : readSecretFile(where, which, resolve(file), entryProblems);
        if (which === 'client_secret_file') clientSecret = content;
        else if (content !== undefined) {
          try {
            if (!clientAssertionAlg(createPrivateKey(content)))
              entryProblems.push(`${where}: private_key_file must hold an RSA, EC (P-256, P-384, P-521) or Ed25519 private key (${file})`);
            else privateKey = content;
          } catch {
            entryProblems.push(`${where}: private_key_file must hold a PEM private key (${file})`);
          }
        }
      }
    }
    const methods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
    let authMethod: IntrospectionAuthMethod = credentials[0] === 'private_key_file' ? 'private_key_jwt' : 'client_secret_basic';
    if (e.auth_method !== undefined) {
      const found = methods.find((m) => m === e.auth_method);
      if (!found) entryProblems.push(`${where}: auth_method must be one of ${methods.join(', ')}`);
      else if ((found === 'private_key_jwt') !== (credentials[0] === 'private_key_file')) {
        entryProblems.push(`${where}: auth_method ${found} needs ${found === 'private_key_jwt' ? 'private_key_file' : 'client_secret_file or client_secret'}`);
      } else authMethod = found;
    }
    if (e.tokens !== undefined && e.tokens !== 'opaque' && e.tokens !== 'all') entryProblems.push(`${where}: tokens must be "opaque" (the default) or "all"`);
    if (e.require_audience !== undefined && typeof e.require_audience !== 'boolean') entryProblems.push(`${where}: require_audience must be true or false`);
    if (entryProblems.length > before) return;
    out.push({
      issuer: issuer!,
      ...(endpoint !== undefined ? { endpoint } : {}),
      clientId: clientId!,
      authMethod,
      ...(clientSecret !== undefined ? { clientSecret } : {}),
      ...(privateKey !== undefined ? { privateKey } : {}),
      ...(keyId !== undefined ? { keyId } : {}),
      tokens: e.tokens === 'all' ? 'all' : 'opaque',
      requireAudience: e.require_audience !== false,
    });
  });
  if (entries.length === 0) problems.push(`${INTROSPECTION_FORM}; the array is empty`);
  return { issuers: out, named, problems: entryProblems };
};

// ---------------------------------------------------------------------------------------------
// The schema

const fields = z.object({
  AUTH_MODE: variable(oneOf('AUTH_MODE', ['cloud', 'local'] as const), 'cloud'),
  PORT: variable(int('PORT', 1, 65535)),
  MCP_PORT: variable(int('MCP_PORT', 1, 65535)),
  HOST: variable(host('HOST'), '0.0.0.0'),
  BASE_URL: variable(baseUrl('BASE_URL')),
  AUTH_REQUIRED: variable(bool('AUTH_REQUIRED'), true),
  ALLOWED_ISSUERS: variable(issuers('ALLOWED_ISSUERS', true), []),
  OIDC_ISSUER: variable(issuers('OIDC_ISSUER', false), []),
  RESOURCE_IDENTIFIER: variable(list(LIST), []),
  OIDC_AUDIENCE: variable(list(LIST), []),
  JWKS_CACHE_TTL: variable(int('JWKS_CACHE_TTL', 60), 3600),
  SCOPES_SUPPORTED: variable(list(SCOPE_LIST), []),
  OAUTH_AUTHORIZATION_URL: variable(secureUrl('OAUTH_AUTHORIZATION_URL')),
  OAUTH_TOKEN_URL: variable(secureUrl('OAUTH_TOKEN_URL')),
  OAUTH_PROXY_ENABLED: variable(bool('OAUTH_PROXY_ENABLED'), false),
  OAUTH_CLIENT_ID: variable(text),
  OAUTH_CLIENT_SECRET: variable(secret),
  DCR_CLIENT_TTL: variable(int('DCR_CLIENT_TTL', 60), 2_592_000),
  DCR_RATE_LIMIT_MAX: variable(int('DCR_RATE_LIMIT_MAX', 1), 10),
  REDIS_URL: variable(redisUrl('REDIS_URL')),
  METRICS_ENABLED: variable(bool('METRICS_ENABLED'), true),
  METRICS_TOKEN: variable(secret),
  RATE_LIMIT_ENABLED: variable(bool('RATE_LIMIT_ENABLED'), true),
  MCP_RATE_LIMIT_MAX: variable(int('MCP_RATE_LIMIT_MAX', 1), 100),
  MCP_RATE_LIMIT_WINDOW_MS: variable(int('MCP_RATE_LIMIT_WINDOW_MS', 1000), 60_000),
  CORS_EXTRA_ORIGINS: variable(origins('CORS_EXTRA_ORIGINS'), []),
  MCP_SESSION_TTL_SECONDS: variable(int('MCP_SESSION_TTL_SECONDS', 60), 3600),
  MCP_MAX_SESSIONS: variable(int('MCP_MAX_SESSIONS', 1), 1000),
  TOOL_POLICY_FILE: variable(existing('TOOL_POLICY_FILE', 'file')),
  UPSTREAMS_FILE: variable(existing('UPSTREAMS_FILE', 'file')),
  CHECKLIST_DIR: variable(existing('CHECKLIST_DIR', 'directory')),
  PROCESS_DIR: variable(existing('PROCESS_DIR', 'directory')),
  LOG_LEVEL: variable(oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const), 'info'),
  LOG_FORMAT: variable(oneOf('LOG_FORMAT', ['json', 'pretty'] as const), 'json'),
  TRUST_PROXY: variable(bool('TRUST_PROXY'), false),
  OAUTH_IDP_RESOURCE: variable(text),
  OAUTH_CLIENT_AUTH_METHOD: variable(oneOf('OAUTH_CLIENT_AUTH_METHOD', ['client_secret_basic', 'client_secret_post'] as const)),
  REDIS_KEY_PREFIX: variable(text, 'seed-mcp:'),
  REDIS_REPLICA_ACK: variable(oneOf('REDIS_REPLICA_ACK', ['required', 'best-effort'] as const), 'required'),
  // Under the 1 s command timeout: a WAIT that no replica answers holds its connection that long.
  REDIS_REPLICA_ACK_TIMEOUT_MS: variable(int('REDIS_REPLICA_ACK_TIMEOUT_MS', 1, 500)),
  REVOCATION_FAIL_MODE: variable(oneOf('REVOCATION_FAIL_MODE', ['closed', 'open'] as const), 'closed'),
  REVOCATION_MAX_STALENESS: variable(int('REVOCATION_MAX_STALENESS', 0, 86_400), 60),
  ALLOWED_HOSTS: variable(hosts('ALLOWED_HOSTS'), []),
  FETCH_ALLOWED_HOSTS: variable(hosts('FETCH_ALLOWED_HOSTS'), []),
  OAUTH_CONSENT_TTL: variable(int('OAUTH_CONSENT_TTL', 60), 2_592_000),
  OAUTH_CONSENT_SKIP_LOOPBACK: variable(bool('OAUTH_CONSENT_SKIP_LOOPBACK'), false),
  OAUTH_CONSENT_SKIP_CLIENTS: variable(list(/,/), []),
  OAUTH_SIGNING_KEYS: variable(signingKeyPem),
  OAUTH_ACCESS_TOKEN_TTL: variable(int('OAUTH_ACCESS_TOKEN_TTL', 60, 86_400), 600),
  OAUTH_REFRESH_TOKEN_TTL: variable(int('OAUTH_REFRESH_TOKEN_TTL', 300), 2_592_000),
  INTROSPECTION: variable(introspection, { issuers: [], named: [], problems: [] }),
  INTROSPECTION_CACHE_TTL: variable(int('INTROSPECTION_CACHE_TTL', 0, 86_400), 60),
  OTEL_EXPORTER_OTLP_ENDPOINT: variable(otlpUrl('OTEL_EXPORTER_OTLP_ENDPOINT')),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: variable(otlpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')),
  OTEL_EXPORTER_OTLP_HEADERS: variable(otlpHeaders, {}),
  // Only OTLP over HTTP with JSON bodies is spoken: another protocol is refused rather than silently not exported.
  OTEL_EXPORTER_OTLP_PROTOCOL: variable(oneOf('OTEL_EXPORTER_OTLP_PROTOCOL', ['http/json'] as const), 'http/json'),
  OTEL_SERVICE_NAME: variable(text, 'seed-mcp'),
  OTEL_SDK_DISABLED: variable(bool('OTEL_SDK_DISABLED'), false),
} satisfies Record<Name, z.ZodType<unknown, Raw>>);

type Fields = z.output<typeof fields>;

const schema = fields
  .superRefine(
    (o, ctx) => {
      // A variable that failed holds no value: a rule that reads it stays silent rather than
      // adding a second, misleading problem about the same variable.
      const failed = new Set(ctx.issues.map((issue) => issue.path?.[0]));
      const known = (...names: Name[]) => names.every((n) => !failed.has(n));
      const problem = (message: string) => ctx.addIssue({ code: 'custom', message, continue: true });

      const noIssuer = known('ALLOWED_ISSUERS', 'OIDC_ISSUER') && o.ALLOWED_ISSUERS.length + o.OIDC_ISSUER.length === 0;
      if (known('AUTH_REQUIRED') && o.AUTH_REQUIRED) {
        if (noIssuer) problem('OIDC_ISSUER must be configured when AUTH_REQUIRED=true (or ALLOWED_ISSUERS, a comma-separated list of issuer URLs)');
        if (known('RESOURCE_IDENTIFIER', 'OIDC_AUDIENCE') && o.RESOURCE_IDENTIFIER.length + o.OIDC_AUDIENCE.length === 0) {
          problem('RESOURCE_IDENTIFIER or OIDC_AUDIENCE must be configured when AUTH_REQUIRED=true');
        }
      }
      if (known('INTROSPECTION')) {
        for (const message of o.INTROSPECTION.problems) problem(message);
        if (known('ALLOWED_ISSUERS', 'OIDC_ISSUER')) {
          const allowed = new Set([...o.ALLOWED_ISSUERS, ...o.OIDC_ISSUER]);
          for (const issuer of o.INTROSPECTION.named) {
            if (!allowed.has(issuer)) problem(`INTROSPECTION names ${issuer}, which is not an allowed issuer (add it to ALLOWED_ISSUERS or OIDC_ISSUER)`);
          }
        }
      }
      if (known('OAUTH_PROXY_ENABLED') && o.OAUTH_PROXY_ENABLED) {
        if (known('OAUTH_CLIENT_ID', 'OIDC_AUDIENCE') && !o.OAUTH_CLIENT_ID && o.OIDC_AUDIENCE.length === 0) {
          problem('OAUTH_CLIENT_ID must be configured when OAUTH_PROXY_ENABLED=true (or OIDC_AUDIENCE, whose first value is the default)');
        }
        const endpoints = known('OAUTH_AUTHORIZATION_URL', 'OAUTH_TOKEN_URL') && o.OAUTH_AUTHORIZATION_URL && o.OAUTH_TOKEN_URL;
        const saidAlready = known('AUTH_REQUIRED') && o.AUTH_REQUIRED;
        if (known('OAUTH_SIGNING_KEYS', 'REDIS_URL') && o.REDIS_URL && !o.OAUTH_SIGNING_KEYS) {
          problem(
            'OAUTH_SIGNING_KEYS must be configured when OAUTH_PROXY_ENABLED=true with REDIS_URL: every replica must sign with the same keys (OAUTH_SIGNING_KEYS_FILE, a PEM private key)',
          );
        }
        if (noIssuer && !endpoints && !saidAlready && known('OAUTH_AUTHORIZATION_URL', 'OAUTH_TOKEN_URL')) {
          problem('OIDC_ISSUER must be configured when OAUTH_PROXY_ENABLED=true (or both OAUTH_AUTHORIZATION_URL and OAUTH_TOKEN_URL)');
        }
      }
    },
    { when: () => true },
  )
  .transform(toConfig);

function toConfig(o: Fields): CloudConfig {
  const warnings: string[] = [];
  const port = o.PORT ?? o.MCP_PORT ?? 3000;
  if (o.PORT !== undefined && o.MCP_PORT !== undefined && o.PORT !== o.MCP_PORT) {
    // Platforms such as Cloud Run inject PORT and expect it to be obeyed.
    warnings.push(`PORT=${o.PORT} and MCP_PORT=${o.MCP_PORT} are both set: listening on PORT (${o.PORT})`);
  }
  const baseUrl = o.BASE_URL ?? `http://localhost:${port}`;
  if (o.BASE_URL === undefined) {
    warnings.push(`BASE_URL is not set: using ${baseUrl} in protected-resource metadata and OAuth redirects; set BASE_URL to this server's public URL`);
  }
  if (o.OAUTH_PROXY_ENABLED && !o.OAUTH_SIGNING_KEYS) {
    warnings.push(
      'OAUTH_SIGNING_KEYS is not set: the OAuth proxy signs its tokens with a key made at start-up, so they stop working when this process restarts; set OAUTH_SIGNING_KEYS_FILE',
    );
  }
  if (!o.AUTH_REQUIRED) {
    warnings.push('AUTH_REQUIRED=false: AUTHENTICATION IS OFF. Anyone who can reach this server can call every tool without a token; use this only for local development');
  }
  return deepFreeze({
    authMode: o.AUTH_MODE,
    port,
    host: o.HOST,
    baseUrl,
    authRequired: o.AUTH_REQUIRED,
    allowedIssuers: [...new Set([...o.ALLOWED_ISSUERS, ...o.OIDC_ISSUER])],
    audiences: [...new Set([...o.RESOURCE_IDENTIFIER, ...o.OIDC_AUDIENCE])],
    jwksCacheTtlSec: o.JWKS_CACHE_TTL,
    introspection: { issuers: o.INTROSPECTION.issuers, cacheTtlSec: o.INTROSPECTION_CACHE_TTL },
    scopesSupported: o.SCOPES_SUPPORTED,
    oauthAuthorizationUrl: o.OAUTH_AUTHORIZATION_URL,
    oauthTokenUrl: o.OAUTH_TOKEN_URL,
    oauthProxy: {
      enabled: o.OAUTH_PROXY_ENABLED,
      clientId: o.OAUTH_CLIENT_ID ?? o.OIDC_AUDIENCE[0],
      clientSecret: o.OAUTH_CLIENT_SECRET,
      dcrClientTtlSec: o.DCR_CLIENT_TTL,
      dcrRateLimitMax: o.DCR_RATE_LIMIT_MAX,
      idpResource: o.OAUTH_IDP_RESOURCE === 'none' ? undefined : (o.OAUTH_IDP_RESOURCE ?? [...o.RESOURCE_IDENTIFIER, ...o.OIDC_AUDIENCE][0]),
      clientAuthMethod: o.OAUTH_CLIENT_AUTH_METHOD,
      signingKeys: o.OAUTH_SIGNING_KEYS,
      accessTokenTtlSec: o.OAUTH_ACCESS_TOKEN_TTL,
      refreshTokenTtlSec: o.OAUTH_REFRESH_TOKEN_TTL,
      consent: { ttlSec: o.OAUTH_CONSENT_TTL, skipLoopback: o.OAUTH_CONSENT_SKIP_LOOPBACK, skipClients: o.OAUTH_CONSENT_SKIP_CLIENTS },
    },
    redisUrl: o.REDIS_URL,
    redisKeyPrefix: o.REDIS_KEY_PREFIX,
    redisReplicaAck: o.REDIS_REPLICA_ACK,
    redisReplicaAckTimeoutMs: o.REDIS_REPLICA_ACK_TIMEOUT_MS,
    revocationFailMode: o.REVOCATION_FAIL_MODE,
    revocationMaxStalenessSec: o.REVOCATION_MAX_STALENESS,
    metrics: { enabled: o.METRICS_ENABLED, token: o.METRICS_TOKEN },
    rateLimit: { enabled: o.RATE_LIMIT_ENABLED, max: o.MCP_RATE_LIMIT_MAX, windowMs: o.MCP_RATE_LIMIT_WINDOW_MS },
    corsExtraOrigins: o.CORS_EXTRA_ORIGINS,
    sessionTtlSec: o.MCP_SESSION_TTL_SECONDS,
    maxSessions: o.MCP_MAX_SESSIONS,
    toolPolicyFile: o.TOOL_POLICY_FILE,
    upstreamsFile: o.UPSTREAMS_FILE,
    checklistDir: o.CHECKLIST_DIR,
    processDir: o.PROCESS_DIR,
    logLevel: o.LOG_LEVEL,
    logFormat: o.LOG_FORMAT,
    trustProxy: o.TRUST_PROXY,
    allowedHosts: o.ALLOWED_HOSTS.length > 0 ? o.ALLOWED_HOSTS : [new URL(baseUrl).hostname],
    fetchAllowedHosts: o.FETCH_ALLOWED_HOSTS,
    tracing: tracingOf(o),
    warnings,
  });
}

function tracingOf(o: Fields): CloudConfig['tracing'] {
  const endpoint = o.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (o.OTEL_EXPORTER_OTLP_ENDPOINT ? `${o.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!endpoint || o.OTEL_SDK_DISABLED) return undefined;
  return { endpoint, headers: o.OTEL_EXPORTER_OTLP_HEADERS, serviceName: o.OTEL_SERVICE_NAME };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// The reference: docs/configuration.md is generated from this table and the schema's own
// defaults (`npm run docs:config`, scripts/gen-config-docs.mjs). Typed against NAMES, so a
// variable cannot be added to the schema without its entry here.

/** One variable of cloud mode as the configuration reference describes it. */
export interface CloudVariableDoc {
  /** The reference's section. */
  readonly group: string;
  /** What it does, for an operator: Markdown, one paragraph. */
  readonly description: string;
  /** Only for a default the schema cannot state (one computed from other variables); otherwise the schema's fallback is the default. */
  readonly default?: string;
  /** Other names for the same setting, and how they combine. */
  readonly aliases?: readonly string[];
  /** A CLI flag of `seed-mcp cloud` that overrides it. */
  readonly flag?: string;
  /** It holds a secret: `config check` prints `[REDACTED]`, and NAME_FILE is the way to give it. */
  readonly secret?: boolean;
}

const SERVER = 'Server';
const TOKENS = 'Accepted tokens';
const PROXY = 'OAuth proxy';
const STATE = 'Shared state (Redis)';
const LIMITS = 'Limits and sessions';
const TOOLS = 'Tools, policy and gateway';
const OPS = 'Metrics and logs';
const TRACING = 'Tracing (OpenTelemetry)';

export const CLOUD_VARIABLES = {
  AUTH_MODE: {
    group: SERVER,
    description:
      '`cloud` or `local`. `AUTH_MODE=cloud seed-mcp serve` runs this server (the start command of existing deployment guides); `seed-mcp cloud` runs it whatever the value.',
  },
  PORT: {
    group: SERVER,
    default: '`3000`',
    aliases: ['MCP_PORT'],
    flag: '--port',
    description: 'The port to listen on, 1–65535. Wins over `MCP_PORT` when both are set (with a warning if they differ).',
  },
  MCP_PORT: { group: SERVER, default: '`3000`', aliases: ['PORT'], flag: '--port', description: 'The port to listen on when `PORT` is not set.' },
  HOST: { group: SERVER, flag: '--host', description: 'The address to listen on: a host name or IP address.' },
  BASE_URL: {
    group: SERVER,
    default: '`http://localhost:<port>`, with a warning',
    description:
      "This server's public URL (trailing slashes removed): the `resource` of its protected-resource metadata, the OAuth proxy's issuer and callback (`${BASE_URL}/oauth/authorize/callback`), the allowed `Origin`, and the default of `ALLOWED_HOSTS`.",
  },
  AUTH_REQUIRED: {
    group: SERVER,
    description: '`false` turns authentication off: anyone who can reach the server can call every tool. For local development only; it is logged as a warning at start-up.',
  },
  TRUST_PROXY: {
    group: SERVER,
    description: 'Honour `X-Forwarded-For` (the client address, for rate limits) and `X-Forwarded-Host` (the `Host` check). Only behind a proxy that overwrites them.',
  },
  ALLOWED_HOSTS: {
    group: SERVER,
    default: "`BASE_URL`'s host name",
    description:
      'Comma-separated `Host` values (`name` for any port, or `name:port`) that `/mcp`, the metadata and the OAuth endpoints answer; others get 403 `forbidden_host` (DNS rebinding). Loopback names are always accepted; `/health`, `/health/ready` and `/metrics` answer any `Host`.',
  },
  CORS_EXTRA_ORIGINS: {
    group: SERVER,
    description: "Comma-separated origins (`https://app.example.com`) allowed besides `BASE_URL`'s: they get CORS preflights and an echoed origin. Any other `Origin` gets 403.",
  },
  ALLOWED_ISSUERS: {
    group: TOKENS,
    aliases: ['OIDC_ISSUER'],
    description:
      "Comma-separated issuer URLs whose tokens are accepted, each exactly as the tokens' `iss` says it (https, or http on loopback; no query or fragment). Combined with `OIDC_ISSUER`; one of the two is required when `AUTH_REQUIRED=true`.",
  },
  OIDC_ISSUER: {
    group: TOKENS,
    aliases: ['ALLOWED_ISSUERS'],
    description:
      "One issuer URL, added to `ALLOWED_ISSUERS`. It is also the OAuth proxy's IdP (discovered from its metadata unless `OAUTH_AUTHORIZATION_URL` and `OAUTH_TOKEN_URL` are set).",
  },
  RESOURCE_IDENTIFIER: {
    group: TOKENS,
    aliases: ['OIDC_AUDIENCE'],
    description:
      "Comma-separated `aud` values accepted, combined with `OIDC_AUDIENCE`; one of the two is required when `AUTH_REQUIRED=true`. The first is this server's `resource` in its metadata and the OAuth proxy's default `OAUTH_IDP_RESOURCE`.",
  },
  OIDC_AUDIENCE: {
    group: TOKENS,
    aliases: ['RESOURCE_IDENTIFIER'],
    description: 'Comma-separated `aud` values accepted, added to `RESOURCE_IDENTIFIER`. Its first value is the default `OAUTH_CLIENT_ID`.',
  },
  SCOPES_SUPPORTED: { group: TOKENS, description: "Scopes listed in the protected-resource metadata's `scopes_supported`, separated by commas or spaces." },
  JWKS_CACHE_TTL: {
    group: TOKENS,
    description: "Seconds an issuer's keys (JWKS) are used before they are fetched again, at least 60. Stale keys keep being used while the IdP cannot be reached.",
  },
  INTROSPECTION: {
    group: TOKENS,
    secret: true,
    description:
      'Opaque access tokens: a JSON array (or one object), one entry per issuer to introspect (RFC 7662), with `issuer` (an allowed issuer), `client_id`, one credential (`client_secret_file`, `private_key_file` with optional `key_id`, or `client_secret`), and optional `endpoint`, `auth_method`, `tokens` (`opaque` or `all`) and `require_audience`. README, "Opaque access tokens".',
  },
  INTROSPECTION_CACHE_TTL: {
    group: TOKENS,
    description: "The longest, in seconds, an introspection answer is reused (never past the token's `exp`), 0–86400; 0 asks every time.",
  },
  OAUTH_PROXY_ENABLED: {
    group: PROXY,
    description:
      'Turns on the OAuth proxy: this server becomes the authorization server its metadata names, with dynamic client registration, client ID metadata documents, a consent page and tokens of its own, and signs users in at the IdP with one client of its own. README, "The OAuth proxy".',
  },
  OAUTH_CLIENT_ID: {
    group: PROXY,
    default: 'the first `OIDC_AUDIENCE` value',
    description: "The proxy's client at the IdP; required with `OAUTH_PROXY_ENABLED=true` unless `OIDC_AUDIENCE` is set.",
  },
  OAUTH_CLIENT_SECRET: { group: PROXY, secret: true, description: "The secret of the proxy's client at the IdP; unset, it is a public client (PKCE only)." },
  OAUTH_CLIENT_AUTH_METHOD: {
    group: PROXY,
    default: 'what the IdP advertises',
    description: '`client_secret_basic` or `client_secret_post`: how a confidential proxy client authenticates at the IdP.',
  },
  OAUTH_AUTHORIZATION_URL: {
    group: PROXY,
    default: "the IdP's metadata",
    description:
      "The IdP's authorization endpoint (https, or http on loopback), instead of discovery from `OIDC_ISSUER`. With `OAUTH_TOKEN_URL`, the proxy needs no issuer metadata.",
  },
  OAUTH_TOKEN_URL: { group: PROXY, default: "the IdP's metadata", description: "The IdP's token endpoint (https, or http on loopback), instead of discovery from `OIDC_ISSUER`." },
  OAUTH_IDP_RESOURCE: {
    group: PROXY,
    default: 'the first accepted audience',
    description: 'The RFC 8707 `resource` the proxy asks the IdP for; `none` sends none, as Entra ID requires (AADSTS9010010).',
  },
  OAUTH_SIGNING_KEYS: {
    group: PROXY,
    default: 'a key made at start-up, with a warning',
    secret: true,
    description:
      'PEM private keys (EC P-256/P-384, RSA ≥ 2048, Ed25519) the proxy signs its access tokens with: the first signs, all are published at `/oauth/jwks`. Required with `REDIS_URL` (every replica must sign with the same keys); usually `OAUTH_SIGNING_KEYS_FILE`.',
  },
  OAUTH_ACCESS_TOKEN_TTL: { group: PROXY, description: "Seconds the proxy's access tokens live, 60–86400." },
  OAUTH_REFRESH_TOKEN_TTL: {
    group: PROXY,
    description: 'Seconds an unused refresh token of the proxy stays valid, at least 300 (default 30 days). Refresh tokens are rotated on use.',
  },
  DCR_CLIENT_TTL: { group: PROXY, description: 'Seconds a dynamically registered client (RFC 7591) lives, at least 60 (default 30 days).' },
  DCR_RATE_LIMIT_MAX: { group: PROXY, description: 'Client registrations per client address per hour, then 429 with `Retry-After`.' },
  OAUTH_CONSENT_TTL: { group: PROXY, description: "Seconds a user's approval of a client is remembered, at least 60 (default 30 days)." },
  OAUTH_CONSENT_SKIP_LOOPBACK: { group: PROXY, description: 'No consent page for clients whose redirect URI is loopback http.' },
  OAUTH_CONSENT_SKIP_CLIENTS: { group: PROXY, description: 'Comma-separated client ids (or client metadata document URLs) the operator trusts: no consent page for them.' },
  FETCH_ALLOWED_HOSTS: {
    group: PROXY,
    description:
      'Comma-separated host names (`host` for any port, or `host:port`) that a client metadata document URL may name although they resolve to a loopback, private, link-local or metadata address (SSRF protection otherwise refuses them).',
  },
  REDIS_URL: {
    group: STATE,
    default: 'state in memory (one replica)',
    secret: true,
    description:
      'Shared state for several replicas: `redis://[user:pass@]host:6379/0`, `rediss://…` (TLS), `redis+sentinel://[user:pass@]h1:26379,h2:26379/mymaster` or `redis+cluster://h1:6379,h2:6379`. Its password is redacted in `config check` and never logged. README, "Several replicas".',
  },
  REDIS_KEY_PREFIX: { group: STATE, description: 'The prefix of every Redis key and channel, so that several deployments can share one Redis.' },
  REDIS_REPLICA_ACK: {
    group: STATE,
    description:
      "Behind Sentinel or a Cluster: `required` fails a revocation or a one-time code's redemption that no replica acknowledged in time (503 with `Retry-After`), so a failover cannot undo it; `best-effort` lets it succeed with a warning (a master run without replicas). No effect on a standalone Redis. Redis's own `min-replicas-to-write` is the server-side equivalent.",
  },
  REDIS_REPLICA_ACK_TIMEOUT_MS: {
    group: STATE,
    default: '200 (`required`), 20 (`best-effort`)',
    description: 'Milliseconds, 1–500: how long such a write waits for a replica (`WAIT 1`); it holds its Redis connection that long when no replica answers.',
  },
  REVOCATION_MAX_STALENESS: {
    group: STATE,
    description:
      "Seconds, 0–86400: while Redis is down, revocation checks answer from this replica's copy of the list for up to this long after it was last in sync; 0 fails at once.",
  },
  REVOCATION_FAIL_MODE: {
    group: STATE,
    description: 'After `REVOCATION_MAX_STALENESS`, while the revocation list cannot be trusted: `closed` refuses tokens with 503, `open` accepts those not known revoked.',
  },
  MCP_RATE_LIMIT_MAX: { group: LIMITS, description: 'Requests per window per principal (issuer and subject), else per client address; then 429 with `Retry-After`.' },
  MCP_RATE_LIMIT_WINDOW_MS: { group: LIMITS, description: 'The rate-limit window in milliseconds, at least 1000.' },
  RATE_LIMIT_ENABLED: { group: LIMITS, description: '`false` turns the MCP rate limit off.' },
  MCP_SESSION_TTL_SECONDS: { group: LIMITS, description: 'Seconds an idle `initialize`-era session lives, at least 60.' },
  MCP_MAX_SESSIONS: { group: LIMITS, description: 'Open sessions at most; beyond, new sessions get 503 with `Retry-After`.' },
  TOOL_POLICY_FILE: {
    group: TOOLS,
    description:
      'A YAML or JSON policy file (`examples/tool-policy.yaml`) of rules that allow tools by subject, email, group or role, scopes or anyone; with a policy, no rule means 403. Reloaded on change and on SIGHUP.',
  },
  UPSTREAMS_FILE: {
    group: TOOLS,
    description: 'A YAML or JSON file (`examples/upstreams.yaml`) of MCP servers to front: gateway mode. Reloaded on change and on SIGHUP. README, "Gateway".',
  },
  CHECKLIST_DIR: { group: TOOLS, description: 'A directory of checklists served by the `list_checklists` and `get_checklist` tools.' },
  PROCESS_DIR: { group: TOOLS, description: 'A directory of process documents served by `list_processes`, `get_process` and `search_processes`.' },
  METRICS_ENABLED: { group: OPS, description: '`false` turns `/metrics` (Prometheus) off.' },
  METRICS_TOKEN: { group: OPS, secret: true, description: 'The bearer token `/metrics` asks for (compared in constant time); unset, `/metrics` is open.' },
  LOG_LEVEL: { group: OPS, description: '`debug`, `info`, `warn` or `error`. `warn` keeps only the failures among the authentication audit lines.' },
  LOG_FORMAT: { group: OPS, description: '`json` (one object per line on stderr) or `pretty`.' },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    group: TRACING,
    default: 'no export',
    description: 'An OTLP/HTTP collector (`http://otel-collector:4318`): spans are exported to it with `/v1/traces` appended.',
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: { group: TRACING, description: 'The traces URL, used as given; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`.' },
  OTEL_EXPORTER_OTLP_HEADERS: { group: TRACING, secret: true, description: 'Headers sent to the collector: `key=value` pairs, comma-separated, values URL-encoded (`api-key=…`).' },
  OTEL_EXPORTER_OTLP_PROTOCOL: { group: TRACING, description: 'Only `http/json` is spoken; any other value is refused rather than silently not exported.' },
  OTEL_SERVICE_NAME: { group: TRACING, description: 'The `service.name` of exported spans.' },
  OTEL_SDK_DISABLED: { group: TRACING, description: '`true` exports nothing, whatever the endpoint.' },
} as const satisfies Record<Name, CloudVariableDoc>;

/** One row of the reference: the table's entry, with the default the schema falls back to when the table states none. */
export interface CloudVariable extends CloudVariableDoc {
  readonly name: Name;
}

/**
 * Every cloud-mode variable, in the reference's order, each with its default: the schema's own
 * fallback (what an unset variable parses to), or the table's words for a default computed from
 * other variables. A default stated in both places is a mistake, refused here.
 */
export function cloudVariables(): CloudVariable[] {
  return (Object.keys(CLOUD_VARIABLES) as Name[]).map((name) => {
    const doc: CloudVariableDoc = CLOUD_VARIABLES[name];
    const parsed = fields.shape[name].safeParse(undefined);
    const fallback = parsed.success ? formatDefault(parsed.data) : undefined;
    if (fallback !== undefined && doc.default !== undefined) throw new Error(`${name}: the schema's default (${fallback}) and the table's (${doc.default}) are both set`);
    const value = fallback ?? doc.default;
    return { name, ...doc, ...(value !== undefined ? { default: value } : {}) };
  });
}

/** A schema fallback as the reference writes it; an empty list or object is no default. */
function formatDefault(value: unknown): string | undefined {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return undefined;
  return `\`${String(value)}\``;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Reads and validates the cloud-mode configuration, once, at start-up.
 *
 * `overrides` are CLI flags already mapped to env names (`{ PORT: '8080' }`); per variable they win
 * over `env`, `NAME` and `NAME_FILE` alike. Every variable also accepts `NAME_FILE`: the file's
 * content, minus one trailing newline, is the value.
 *
 * @throws SeedError `CONFIG_INVALID` (exit 2) whose message is `Configuration validation failed:`
 *   followed by one `\n  - <problem>` line per problem, every problem at once.
 *
 * @example
 * ```ts
 * const config = loadCloudConfig(process.env, { PORT: opts.port });
 * for (const w of config.warnings) logger.warn(w);
 * ```
 */
export function loadCloudConfig(env: Env, overrides: Partial<Record<string, string>> = {}): CloudConfig {
  const raw = Object.fromEntries(NAMES.map((name) => [name, readRaw(name, env, overrides)]));
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = [...new Set(result.error.issues.map((issue) => issue.message))];
  throw new SeedError('CONFIG_INVALID', `Configuration validation failed:${problems.map((p) => `\n  - ${p}`).join('')}`, {
    hint: 'fix the variables above (each also accepts NAME_FILE); `seed-mcp config check` prints the effective configuration',
  });
}

/**
 * The effective configuration for printing: every field of {@link CloudConfig} but `warnings`,
 * unset optional values as `null`, and secrets replaced by `[REDACTED]` (the OAuth client secret,
 * the metrics token, and the password inside `redisUrl`, whose URL stays readable).
 *
 * @example
 * ```ts
 * stdout.write(JSON.stringify(redactCloudConfig(config), null, 2));
 * ```
 */
export function redactCloudConfig(config: CloudConfig): Record<string, unknown> {
  const hidden = (v: string | undefined) => (v === undefined ? null : REDACTED);
  const nulls = (o: object) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === undefined ? null : v]));
  // Assigning over keys that `nulls` already set keeps the fields in their declared order.
  const out = nulls(config);
  delete out.warnings;
  out.oauthProxy = { ...nulls(config.oauthProxy), clientSecret: hidden(config.oauthProxy.clientSecret), signingKeys: hidden(config.oauthProxy.signingKeys) };
  out.redisUrl = config.redisUrl === undefined ? null : redactRedisUrl(config.redisUrl);
  out.metrics = { ...nulls(config.metrics), token: hidden(config.metrics.token) };
  // The endpoint may carry credentials in its URL; the headers usually do.
  out.tracing = config.tracing
    ? {
        endpoint: redact(config.tracing.endpoint.replace(/\/\/[^/?#]*@/, `//${REDACTED}@`)),
        headers: Object.fromEntries(Object.keys(config.tracing.headers).map((k) => [k, REDACTED])),
        serviceName: config.tracing.serviceName,
      }
    : null;
  out.introspection = {
    ...config.introspection,
    issuers: config.introspection.issuers.map((entry) => ({ ...nulls(entry), clientSecret: hidden(entry.clientSecret), privateKey: hidden(entry.privateKey) })),
  };
  return out;
}
