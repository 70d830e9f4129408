/** `seed-mcp config check`, run as a subprocess: the effective config, secrets redacted, and exit 2 with every problem. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDirs } from './support/cli.js';
import { signingKeyPem } from './support/signing-key.js';

const newDir = tempDirs();

const SECRETS = ['client-s3cret-from-file', 'metrics-t0ken', 'redis-p4ss'];

describe('config check', () => {
  it('prints the effective configuration as JSON with secrets redacted, warnings on stderr, exit 0', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'client-secret'), 'client-s3cret-from-file\n');
    const pem = signingKeyPem();
    writeFileSync(join(dir, 'signing-keys.pem'), pem);
    const r = await runCli(['config', 'check'], {
      ALLOWED_ISSUERS: 'https://a.example.com,https://b.example.com/tenant/',
      OIDC_ISSUER: 'https://a.example.com',
      OIDC_AUDIENCE: 'api://seed',
      MCP_PORT: '8080',
      OAUTH_PROXY_ENABLED: 'yes',
      OAUTH_CLIENT_SECRET_FILE: join(dir, 'client-secret'),
      OAUTH_SIGNING_KEYS_FILE: join(dir, 'signing-keys.pem'),
      METRICS_TOKEN: 'metrics-t0ken',
      REDIS_URL: 'redis://default:redis-p4ss@redis:6379/0',
    });
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout);
    expect(printed).toMatchObject({
      authMode: 'cloud',
      port: 8080,
      baseUrl: 'http://localhost:8080',
      authRequired: true,
      allowedIssuers: ['https://a.example.com', 'https://b.example.com/tenant/'],
      audiences: ['api://seed'],
      oauthProxy: { enabled: true, clientId: 'api://seed', clientSecret: '[REDACTED]', signingKeys: '[REDACTED]' },
      metrics: { enabled: true, token: '[REDACTED]' },
      redisUrl: 'redis://default:[REDACTED]@redis:6379/0',
      checklistDir: null,
    });
    expect(r.stderr).toMatch(/^⚠ BASE_URL is not set: using http:\/\/localhost:8080/m);
    for (const secret of SECRETS) expect(r.stdout + r.stderr).not.toContain(secret);
    expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY');
  });

  it('prints every problem in the contract form and exits 2, never a secret', async () => {
    const r = await runCli(['config', 'check'], {
      PORT: '99999',
      OIDC_AUDIENCE: 'api://seed',
      METRICS_TOKEN: 'metrics-t0ken',
      REDIS_URL: 'http://:redis-p4ss@redis:6379',
    });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('✗ Configuration validation failed:');
    expect(lines).toContain('  - PORT must be between 1 and 65535, got: 99999');
    expect(lines).toContain('  - OIDC_ISSUER must be configured when AUTH_REQUIRED=true (or ALLOWED_ISSUERS, a comma-separated list of issuer URLs)');
    expect(lines).toContain('  - REDIS_URL must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL with a host');
    expect(r.stderr).toMatch(/→ .*seed-mcp config check/);
    expect(r.stderr).not.toContain('✖');
    for (const secret of SECRETS) expect(r.stderr).not.toContain(secret);
  });

  it('warns loudly when AUTH_REQUIRED=false and still exits 0', async () => {
    const r = await runCli(['config', 'check'], { AUTH_REQUIRED: 'false', BASE_URL: 'http://localhost:3000' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ authRequired: false, allowedIssuers: [], audiences: [] });
    expect(r.stderr).toMatch(/^⚠ AUTH_REQUIRED=false: AUTHENTICATION IS OFF/m);
  });

  it('names an unreadable NAME_FILE', async () => {
    const dir = newDir();
    const r = await runCli(['config', 'check'], { OIDC_ISSUER: 'https://login.example.com', OIDC_AUDIENCE_FILE: join(dir, 'missing') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`  - OIDC_AUDIENCE_FILE could not be read: ENOENT (${join(dir, 'missing')})`);
  });
});
