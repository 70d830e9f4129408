/** The cloud-mode config schema: defaults, aliases, NAME_FILE, every problem at once, redaction. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCloudConfig, redactCloudConfig, type CloudConfig } from '../src/cloud/config.js';
import { tempDirs } from './support/cli.js';
import { configError, problems } from './support/config-error.js';
import { signingKeyPem } from './support/signing-key.js';

const newDir = tempDirs('seed-mcp-cloud-config-');

/** The least a valid cloud config needs. */
const minimal = { OIDC_ISSUER: 'https://login.example.com', OIDC_AUDIENCE: 'api://seed' };

describe('loadCloudConfig', () => {
  it('fills in the defaults of the contract', () => {
    const c = loadCloudConfig(minimal);
    expect(c).toMatchObject({
      authMode: 'cloud',
      port: 3000,
      host: '0.0.0.0',
      baseUrl: 'http://localhost:3000',
      authRequired: true,
      allowedIssuers: ['https://login.example.com'],
      audiences: ['api://seed'],
      jwksCacheTtlSec: 3600,
      scopesSupported: [],
      oauthProxy: { enabled: false, clientId: 'api://seed', dcrClientTtlSec: 2_592_000, dcrRateLimitMax: 10 },
      metrics: { enabled: true },
      rateLimit: { enabled: true, max: 100, windowMs: 60_000 },
      corsExtraOrigins: [],
      sessionTtlSec: 3600,
      maxSessions: 1000,
      logLevel: 'info',
      logFormat: 'json',
      trustProxy: false,
    });
    for (const key of ['oauthAuthorizationUrl', 'oauthTokenUrl', 'redisUrl', 'toolPolicyFile', 'checklistDir', 'processDir'] as const) {
      expect(c[key]).toBeUndefined();
    }
    expect(c.oauthProxy.clientSecret).toBeUndefined();
    expect(c.metrics.token).toBeUndefined();
    expect(c.warnings).toEqual([expect.stringMatching(/^BASE_URL is not set: using http:\/\/localhost:3000/)]);
  });

  it('returns a deeply frozen object', () => {
    const c = loadCloudConfig(minimal);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.oauthProxy)).toBe(true);
    expect(Object.isFrozen(c.allowedIssuers)).toBe(true);
    expect(Object.isFrozen(c.warnings)).toBe(true);
  });

  it('reads every variable, booleans in any of their spellings', () => {
    const dir = newDir();
    const pem = signingKeyPem();
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'rules: []\n');
    mkdirSync(join(dir, 'checklists'));
    mkdirSync(join(dir, 'processes'));
    const c = loadCloudConfig({
      ...minimal,
      AUTH_MODE: 'CLOUD',
      PORT: '8080',
      HOST: '127.0.0.1',
      BASE_URL: 'https://mcp.example.com/',
      AUTH_REQUIRED: 'Yes',
      JWKS_CACHE_TTL: '600',
      SCOPES_SUPPORTED: 'openid, checklist.read process.read',
      OAUTH_AUTHORIZATION_URL: 'https://login.example.com/authorize',
      OAUTH_TOKEN_URL: 'https://login.example.com/token',
      OAUTH_PROXY_ENABLED: '1',
      OAUTH_CLIENT_ID: 'seed-proxy',
      OAUTH_SIGNING_KEYS: pem,
      OAUTH_ACCESS_TOKEN_TTL: '300',
      OAUTH_REFRESH_TOKEN_TTL: '86400',
      DCR_CLIENT_TTL: '86400',
      DCR_RATE_LIMIT_MAX: '5',
      METRICS_ENABLED: 'no',
      RATE_LIMIT_ENABLED: 'FALSE',
      MCP_RATE_LIMIT_MAX: '50',
      MCP_RATE_LIMIT_WINDOW_MS: '30000',
      CORS_EXTRA_ORIGINS: 'https://app.example.com/, http://localhost:5173',
      MCP_SESSION_TTL_SECONDS: '60',
      MCP_MAX_SESSIONS: '1',
      TOOL_POLICY_FILE: policy,
      CHECKLIST_DIR: join(dir, 'checklists'),
      PROCESS_DIR: join(dir, 'processes'),
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      TRUST_PROXY: '0',
    });
    expect(c).toMatchObject({
      authMode: 'cloud',
      port: 8080,
      host: '127.0.0.1',
      baseUrl: 'https://mcp.example.com',
      authRequired: true,
      jwksCacheTtlSec: 600,
      scopesSupported: ['openid', 'checklist.read', 'process.read'],
      oauthAuthorizationUrl: 'https://login.example.com/authorize',
      oauthTokenUrl: 'https://login.example.com/token',
      oauthProxy: { enabled: true, clientId: 'seed-proxy', dcrClientTtlSec: 86400, dcrRateLimitMax: 5, signingKeys: pem, accessTokenTtlSec: 300, refreshTokenTtlSec: 86400 },
      metrics: { enabled: false },
      rateLimit: { enabled: false, max: 50, windowMs: 30000 },
      corsExtraOrigins: ['https://app.example.com', 'http://localhost:5173'],
      sessionTtlSec: 60,
      maxSessions: 1,
      toolPolicyFile: policy,
      checklistDir: join(dir, 'checklists'),
      processDir: join(dir, 'processes'),
      logLevel: 'debug',
      logFormat: 'pretty',
      trustProxy: false,
    });
    expect(c.warnings).toEqual([]);
  });

  it('takes MCP_PORT when PORT is unset, PORT when both are set (with a warning), and derives BASE_URL from it', () => {
    const alias = loadCloudConfig({ ...minimal, MCP_PORT: '4000' });
    expect(alias.port).toBe(4000);
    expect(alias.baseUrl).toBe('http://localhost:4000');
    const both = loadCloudConfig({ ...minimal, PORT: '8080', MCP_PORT: '4000', BASE_URL: 'https://mcp.example.com' });
    expect(both.port).toBe(8080);
    expect(both.warnings).toEqual(['PORT=8080 and MCP_PORT=4000 are both set: listening on PORT (8080)']);
    expect(loadCloudConfig({ ...minimal, PORT: '8080', MCP_PORT: '8080', BASE_URL: 'https://mcp.example.com' }).warnings).toEqual([]);
  });

  it('lets overrides (CLI flags) win over env, including over NAME_FILE', () => {
    const dir = newDir();
    writeFileSync(join(dir, 'port'), '5000\n');
    const c = loadCloudConfig({ ...minimal, PORT_FILE: join(dir, 'port'), HOST: '0.0.0.0' }, { PORT: '6000', HOST: '::' });
    expect(c.port).toBe(6000);
    expect(c.host).toBe('::');
  });

  it('merges RESOURCE_IDENTIFIER and OIDC_AUDIENCE, and the proxy client id defaults to the first OIDC_AUDIENCE', () => {
    const c = loadCloudConfig({
      OIDC_ISSUER: 'https://login.example.com',
      RESOURCE_IDENTIFIER: 'https://mcp.example.com/mcp, api://seed',
      OIDC_AUDIENCE: 'api://seed,seed-client , other',
    });
    expect(c.audiences).toEqual(['https://mcp.example.com/mcp', 'api://seed', 'seed-client', 'other']);
    expect(c.oauthProxy.clientId).toBe('api://seed');
    expect(loadCloudConfig({ ...minimal, RESOURCE_IDENTIFIER: 'https://mcp.example.com/mcp' }).audiences).toEqual(['https://mcp.example.com/mcp', 'api://seed']);
    // RESOURCE_IDENTIFIER alone is enough, and gives the proxy no client id.
    expect(loadCloudConfig({ OIDC_ISSUER: 'https://login.example.com', RESOURCE_IDENTIFIER: 'https://mcp.example.com/mcp' }).oauthProxy.clientId).toBeUndefined();
  });

  it('adds OIDC_ISSUER to ALLOWED_ISSUERS, deduplicated, each kept exactly as given', () => {
    const c = loadCloudConfig({
      ...minimal,
      ALLOWED_ISSUERS: 'https://a.example.com/tenant1/, https://b.example.com,https://login.example.com, http://127.0.0.1:9000,http://localhost:8080/realms/x',
    });
    expect(c.allowedIssuers).toEqual([
      'https://a.example.com/tenant1/',
      'https://b.example.com',
      'https://login.example.com',
      'http://127.0.0.1:9000',
      'http://localhost:8080/realms/x',
    ]);
    expect(loadCloudConfig({ ALLOWED_ISSUERS: 'https://a.example.com', OIDC_AUDIENCE: 'x' }).allowedIssuers).toEqual(['https://a.example.com']);
  });

  it('refuses non-URL issuers and plain http off loopback', () => {
    const err = configError(() =>
      loadCloudConfig({ ...minimal, ALLOWED_ISSUERS: 'https://ok.example.com,not a url,http://idp.example.com', OIDC_ISSUER: 'https://x.example.com/?a=1' }),
    );
    expect(problems(err)).toEqual([
      'ALLOWED_ISSUERS must be a URL, got: not a url',
      'ALLOWED_ISSUERS must use https (http only on localhost, 127.0.0.1 or [::1]), got: http://idp.example.com',
      'OIDC_ISSUER must not have a query or fragment, got: https://x.example.com/?a=1',
    ]);
  });

  it('reads NAME_FILE, trimming one trailing newline only', () => {
    const dir = newDir();
    writeFileSync(join(dir, 'secret'), 's3cret with space \n\n');
    writeFileSync(join(dir, 'issuer'), 'https://login.example.com\r\n');
    writeFileSync(join(dir, 'token'), 'metrics-token');
    const c = loadCloudConfig({
      OIDC_AUDIENCE: 'api://seed',
      OIDC_ISSUER_FILE: join(dir, 'issuer'),
      OAUTH_CLIENT_SECRET_FILE: join(dir, 'secret'),
      METRICS_TOKEN_FILE: join(dir, 'token'),
    });
    expect(c.allowedIssuers).toEqual(['https://login.example.com']);
    expect(c.oauthProxy.clientSecret).toBe('s3cret with space \n');
    expect(c.metrics.token).toBe('metrics-token');
  });

  it('treats an empty variable as unset', () => {
    const dir = newDir();
    writeFileSync(join(dir, 'secret'), 'from-file\n');
    const c = loadCloudConfig({ ...minimal, PORT: '', OAUTH_CLIENT_SECRET: '', OAUTH_CLIENT_SECRET_FILE: join(dir, 'secret') });
    expect(c.port).toBe(3000);
    expect(c.oauthProxy.clientSecret).toBe('from-file');
  });

  it('reports NAME and NAME_FILE both set, an unreadable NAME_FILE and an empty one', () => {
    const dir = newDir();
    writeFileSync(join(dir, 'empty'), '\n');
    const err = configError(() =>
      loadCloudConfig({
        ...minimal,
        OAUTH_CLIENT_SECRET: 'inline-secret',
        OAUTH_CLIENT_SECRET_FILE: join(dir, 'empty'),
        METRICS_TOKEN_FILE: join(dir, 'missing'),
        REDIS_URL_FILE: join(dir, 'empty'),
      }),
    );
    expect(problems(err)).toEqual([
      'OAUTH_CLIENT_SECRET and OAUTH_CLIENT_SECRET_FILE are both set; set only one',
      `REDIS_URL_FILE is empty (${join(dir, 'empty')})`,
      `METRICS_TOKEN_FILE could not be read: ENOENT (${join(dir, 'missing')})`,
    ]);
    expect(err.message).not.toContain('inline-secret');
  });

  it('reports every problem at once, in env-var words, with a hint to config check', () => {
    const file = join(newDir(), 'a-file');
    writeFileSync(file, '');
    const err = configError(() =>
      loadCloudConfig({
        PORT: '99999',
        AUTH_REQUIRED: 'true',
        JWKS_CACHE_TTL: '59',
        MCP_SESSION_TTL_SECONDS: '5',
        MCP_MAX_SESSIONS: 'lots',
        METRICS_ENABLED: 'maybe',
        LOG_LEVEL: 'verbose',
        BASE_URL: 'mcp.example.com',
        REDIS_URL: 'http://:hunter2@redis:6379',
        CHECKLIST_DIR: file,
        PROCESS_DIR: join(file, 'nope'),
        CORS_EXTRA_ORIGINS: 'https://app.example.com/path',
      }),
    );
    expect(err.message.split('\n')[0]).toBe('Configuration validation failed:');
    expect(err.message).toMatch(/^Configuration validation failed:(\n {2}- [^\n]+)+$/);
    expect(problems(err)).toEqual([
      'PORT must be between 1 and 65535, got: 99999',
      'BASE_URL must be a URL, got: mcp.example.com',
      'JWKS_CACHE_TTL must be at least 60, got: 59',
      'REDIS_URL must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL with a host',
      'METRICS_ENABLED must be true or false (or 1/0, yes/no), got: maybe',
      'CORS_EXTRA_ORIGINS must list origins such as https://app.example.com, got: https://app.example.com/path',
      'MCP_SESSION_TTL_SECONDS must be at least 60, got: 5',
      'MCP_MAX_SESSIONS must be a whole number at least 1, got: lots',
      `CHECKLIST_DIR must be a directory, got: ${file} (not a directory)`,
      `PROCESS_DIR must be an existing directory, got: ${join(file, 'nope')} (ENOTDIR)`,
      'LOG_LEVEL must be one of debug, info, warn, error, got: verbose',
      'OIDC_ISSUER must be configured when AUTH_REQUIRED=true (or ALLOWED_ISSUERS, a comma-separated list of issuer URLs)',
      'RESOURCE_IDENTIFIER or OIDC_AUDIENCE must be configured when AUTH_REQUIRED=true',
    ]);
    expect(err.message).not.toContain('hunter2');
    expect(err.hint).toContain('seed-mcp config check');
    expect(err.exitCode).toBe(2);
  });

  it('stays silent about a missing issuer when the issuer variable itself is the problem', () => {
    const err = configError(() => loadCloudConfig({ OIDC_ISSUER: 'login.example.com', OIDC_AUDIENCE: 'api://seed' }));
    expect(problems(err)).toEqual(['OIDC_ISSUER must be a URL, got: login.example.com']);
  });

  it('asks the OAuth proxy for a client id and an IdP', () => {
    const err = configError(() => loadCloudConfig({ AUTH_REQUIRED: 'false', OAUTH_PROXY_ENABLED: 'true', RESOURCE_IDENTIFIER: 'https://mcp.example.com/mcp' }));
    expect(problems(err)).toEqual([
      'OAUTH_CLIENT_ID must be configured when OAUTH_PROXY_ENABLED=true (or OIDC_AUDIENCE, whose first value is the default)',
      'OIDC_ISSUER must be configured when OAUTH_PROXY_ENABLED=true (or both OAUTH_AUTHORIZATION_URL and OAUTH_TOKEN_URL)',
    ]);
  });

  it('allows AUTH_REQUIRED=false without issuers or audiences, with a loud warning', () => {
    const c = loadCloudConfig({ AUTH_REQUIRED: 'false', BASE_URL: 'http://localhost:3000' });
    expect(c.authRequired).toBe(false);
    expect(c.allowedIssuers).toEqual([]);
    expect(c.audiences).toEqual([]);
    expect(c.warnings).toEqual([expect.stringMatching(/^AUTH_REQUIRED=false: AUTHENTICATION IS OFF\. Anyone who can reach this server can call every tool/)]);
  });

  it('accepts redis://, rediss://, redis+sentinel:// and redis+cluster:// URLs', () => {
    for (const url of [
      'redis://redis:6379',
      'rediss://default:pw@redis.example.com:6380/2',
      'redis+sentinel://:pw@s1:26379,s2:26379/mymaster',
      'redis+cluster://:pw@n1:6379,n2:6379',
    ]) {
      expect(loadCloudConfig({ ...minimal, REDIS_URL: url }).redisUrl).toBe(url);
    }
  });
});

describe('REDIS_URL checked as the store will read it', () => {
  it('refuses two hosts in a redis:// URL, a bad port and a query, at start-up', () => {
    const err = configError(() => loadCloudConfig({ ...minimal, REDIS_URL: 'redis://a:6379,b:6379' }));
    expect(problems(err)).toEqual(['REDIS_URL is not usable: a redis:// URL names one host; use redis+sentinel:// or redis+cluster:// for several']);
    expect(problems(configError(() => loadCloudConfig({ ...minimal, REDIS_URL: 'redis://:s3cret@host:99999' })))[0]).toMatch(/^REDIS_URL is not usable: /);
    expect(problems(configError(() => loadCloudConfig({ ...minimal, REDIS_URL: 'redis://:s3cret@host:99999' })))[0]).not.toContain('s3cret');
  });
});

describe("seed-mcp's own scale-out variables", () => {
  it('OAUTH_IDP_RESOURCE defaults to the first audience, none sends none; REDIS_KEY_PREFIX and REVOCATION_FAIL_MODE', () => {
    const proxy = { ...minimal, OAUTH_PROXY_ENABLED: 'true', OAUTH_CLIENT_ID: 'proxy' };
    const defaults = loadCloudConfig(proxy);
    expect(defaults.oauthProxy.idpResource).toBe(defaults.audiences[0]);
    expect(defaults.redisKeyPrefix).toBe('seed-mcp:');
    expect(defaults.revocationFailMode).toBe('closed');
    expect(loadCloudConfig({ ...proxy, OAUTH_IDP_RESOURCE: 'none' }).oauthProxy.idpResource).toBeUndefined();
    expect(
      loadCloudConfig({ ...proxy, OAUTH_IDP_RESOURCE: 'api://mcp', REDIS_KEY_PREFIX: 'team-a:', REVOCATION_FAIL_MODE: 'open', OAUTH_CLIENT_AUTH_METHOD: 'client_secret_post' }),
    ).toMatchObject({
      oauthProxy: { idpResource: 'api://mcp', clientAuthMethod: 'client_secret_post' },
      redisKeyPrefix: 'team-a:',
      revocationFailMode: 'open',
    });
    const err = configError(() => loadCloudConfig({ ...proxy, REVOCATION_FAIL_MODE: 'sometimes', OAUTH_CLIENT_AUTH_METHOD: 'private_key_jwt' }));
    expect(problems(err)).toEqual([
      'OAUTH_CLIENT_AUTH_METHOD must be one of client_secret_basic, client_secret_post, got: private_key_jwt',
      'REVOCATION_FAIL_MODE must be one of closed, open, got: sometimes',
    ]);
  });

  it('REVOCATION_MAX_STALENESS: seconds the revocation mirror answers alone while Redis is down; 60 unless set, 0 to 86400', () => {
    expect(loadCloudConfig(minimal).revocationMaxStalenessSec).toBe(60);
    expect(loadCloudConfig({ ...minimal, REVOCATION_MAX_STALENESS: '0' }).revocationMaxStalenessSec).toBe(0);
    expect(loadCloudConfig({ ...minimal, REVOCATION_MAX_STALENESS: '300' }).revocationMaxStalenessSec).toBe(300);
    for (const bad of ['-1', '1.5', '60s', '86401']) {
      const err = configError(() => loadCloudConfig({ ...minimal, REVOCATION_MAX_STALENESS: bad }));
      expect(problems(err)).toEqual([expect.stringMatching(/^REVOCATION_MAX_STALENESS must be (a whole number )?between 0 and 86400, got: /)]);
    }
  });
});

describe("seed-mcp's own security variables", () => {
  it("ALLOWED_HOSTS defaults to BASE_URL's host name; host lists keep an explicit port, default ones included", () => {
    expect(loadCloudConfig({ ...minimal, BASE_URL: 'https://MCP.example.com:8443' }).allowedHosts).toEqual(['mcp.example.com']);
    const set = loadCloudConfig({ ...minimal, ALLOWED_HOSTS: 'MCP.example.com, mcp.example.com:80,[::1]:8443', FETCH_ALLOWED_HOSTS: 'docs.internal:443' });
    expect(set.allowedHosts).toEqual(['mcp.example.com', 'mcp.example.com:80', '[::1]:8443']);
    expect(set.fetchAllowedHosts).toEqual(['docs.internal:443']);
    const err = configError(() => loadCloudConfig({ ...minimal, ALLOWED_HOSTS: 'https://x.example', FETCH_ALLOWED_HOSTS: 'a.example:99999' }));
    expect(problems(err)).toEqual([
      'ALLOWED_HOSTS must list host names such as mcp.example.com or mcp.example.com:8443, got: https://x.example',
      'FETCH_ALLOWED_HOSTS must list host names such as mcp.example.com or mcp.example.com:8443, got: a.example:99999',
    ]);
  });

  it('OAUTH_CONSENT_TTL, OAUTH_CONSENT_SKIP_LOOPBACK and OAUTH_CONSENT_SKIP_CLIENTS: consent for every client unless set', () => {
    expect(loadCloudConfig(minimal).oauthProxy.consent).toEqual({ ttlSec: 2_592_000, skipLoopback: false, skipClients: [] });
    expect(
      loadCloudConfig({ ...minimal, OAUTH_CONSENT_TTL: '3600', OAUTH_CONSENT_SKIP_LOOPBACK: 'true', OAUTH_CONSENT_SKIP_CLIENTS: 'a, https://c.example/client.json' }).oauthProxy
        .consent,
    ).toEqual({
      ttlSec: 3600,
      skipLoopback: true,
      skipClients: ['a', 'https://c.example/client.json'],
    });
  });
});

describe('redactCloudConfig', () => {
  const secretEnv = {
    ...minimal,
    BASE_URL: 'https://mcp.example.com',
    OAUTH_CLIENT_SECRET: 'client-s3cret',
    METRICS_TOKEN: 'metrics-t0ken',
    REDIS_URL: 'rediss://default:redis-p4ss@redis.example.com:6380/0',
  };

  it('hides the client secret, the metrics token and the Redis password, and keeps the rest', () => {
    const config: CloudConfig = loadCloudConfig(secretEnv);
    const printed = redactCloudConfig(config);
    const text = JSON.stringify(printed);
    for (const secret of ['client-s3cret', 'metrics-t0ken', 'redis-p4ss']) expect(text).not.toContain(secret);
    expect(printed).toMatchObject({
      port: 3000,
      baseUrl: 'https://mcp.example.com',
      allowedIssuers: ['https://login.example.com'],
      oauthProxy: { enabled: false, clientId: 'api://seed', clientSecret: '[REDACTED]' },
      metrics: { enabled: true, token: '[REDACTED]' },
      redisUrl: 'rediss://default:[REDACTED]@redis.example.com:6380/0',
      toolPolicyFile: null,
    });
    expect(printed).not.toHaveProperty('warnings');
    // The field order is the config's.
    expect(Object.keys(printed)).toEqual(Object.keys(config).filter((k) => k !== 'warnings'));
  });

  it('shows unset secrets as null, and redacts every form of Redis credential', () => {
    expect(redactCloudConfig(loadCloudConfig(minimal))).toMatchObject({ redisUrl: null, metrics: { token: null }, oauthProxy: { clientSecret: null } });
    const redis = (url: string) => redactCloudConfig(loadCloudConfig({ ...minimal, REDIS_URL: url })).redisUrl;
    expect(redis('redis://redis:6379')).toBe('redis://redis:6379');
    expect(redis('redis://:pw@redis:6379')).toBe('redis://:[REDACTED]@redis:6379');
    expect(redis('redis://onlysecret@redis:6379')).toBe('redis://[REDACTED]@redis:6379');
    expect(redis('redis://u:p#w/x@redis:6379')).toBe('redis://u:[REDACTED]@redis:6379');
    expect(redis('redis+sentinel://:pw@s1:26379,s2:26379/mymaster/1')).toBe('redis+sentinel://:[REDACTED]@s1:26379,s2:26379/mymaster/1');
    // Query parameters are not read by the store: refused at start-up, the password not echoed.
    const err = configError(() => loadCloudConfig({ ...minimal, REDIS_URL: 'redis+sentinel://s1:26379,s2:26379/mymaster?sentinelPassword=sp&db=1' }));
    expect(problems(err)).toEqual(['REDIS_URL is not usable: query parameters and fragments are not supported']);
  });
});
