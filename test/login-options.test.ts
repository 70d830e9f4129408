/**
 * Login options and checks beyond the main path: the ID token's signature, --redirect-host,
 * --port, the OS keychain through the CLI (checked from outside with secret-tool), the
 * no-keychain fallback, and doctor.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, runCli, SCRIPTED_BROWSER, startCli, tempDirs } from './support/cli.js';
import { approveDevice } from './support/scripted-browser.mjs';
import { startIdp, startIdpWithBrokenIdTokens, type TestIdp } from './support/idp.js';

let idp: TestIdp;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  idp = await startIdp();
});
afterAll(async () => {
  for (const c of cleanups) await c();
  await idp?.close();
});

const newDir = tempDirs();

const browserEnv = (dir: string, extra: Record<string, string> = {}) => ({
  SEED_MCP_CONFIG_DIR: dir,
  SEED_MCP_TOKEN_STORE: 'file',
  BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
  ...extra,
});

describe('the ID token is validated', () => {
  it('refuses an ID token whose signature was tampered with, storing nothing', async () => {
    // Flip the signature of every ID token the token endpoint hands out.
    const tampering = await startIdpWithBrokenIdTokens();
    cleanups.push(() => tampering.close());
    const dir = newDir();
    const r = await runCli(['login', '--issuer', tampering.issuer, '--client-id', tampering.clientId], browserEnv(dir));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('could not sign in: the ID token failed validation (JWT signature verification failed)');
    expect(r.stderr).toContain('→ nothing was stored');
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(false);
  });
});

describe('redirect options', () => {
  it('--redirect-host localhost puts localhost in the redirect URI but still binds 127.0.0.1', async () => {
    const dir = newDir();
    const r = await runCli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--redirect-host', 'localhost'], browserEnv(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/redirect_uri=http%3A%2F%2Flocalhost%3A\d+%2Fcallback/);
    expect(r.stdout).toContain('Signed in');
  });

  it('--port uses that port, and a busy port is a usage error (exit 2)', async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
    const busy = (blocker.address() as AddressInfo).port;
    cleanups.push(() => new Promise((res) => blocker.close(res)));
    const dir = newDir();
    const r = await runCli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--port', String(busy)], browserEnv(dir));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`could not listen on 127.0.0.1:${busy}: EADDRINUSE`);
    expect(r.stderr).toContain('→ another program uses that port');

    // A free port: find one, release it, and log in on it.
    const probe = createServer();
    await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res));
    const free = (probe.address() as AddressInfo).port;
    await new Promise((res) => probe.close(res));
    const ok = await runCli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--port', String(free)], browserEnv(dir));
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`redirect_uri=http%3A%2F%2F127.0.0.1%3A${free}%2Fcallback`);
  });
});

describe('browser and device options', () => {
  it('--browser-command wins over BROWSER, with %s standing for the URL', async () => {
    const dir = newDir();
    const log = join(dir, 'browser.log');
    const r = await runCli(
      ['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--browser-command', `${process.execPath} ${SCRIPTED_BROWSER} %s`],
      browserEnv(dir, { BROWSER: 'false', SCRIPTED_BROWSER_LOG: log }),
    );
    expect(r.code, r.stderr).toBe(0);
    const [launch] = await logLines(log);
    const url = new URL(launch.url);
    expect(url.origin).toBe(idp.issuer);
    // The authorization request as the contract has it.
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: idp.clientId,
      scope: 'openid profile email offline_access',
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
    for (const p of ['state', 'nonce', 'code_challenge']) expect(url.searchParams.get(p)).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  });

  it('the device flow honours slow_down: the next poll waits 5 s longer', async () => {
    const polls: number[] = [];
    let slowed = false;
    const slow = await startIdp({
      deviceInterval: 1,
      onTokenResponse: (body, status) => {
        if (status !== 400 || body.error !== 'authorization_pending') return;
        polls.push(Date.now());
        if (!slowed) {
          slowed = true;
          body.error = 'slow_down';
        }
      },
    });
    cleanups.push(() => slow.close());
    const dir = newDir();
    const running = startCli(['login', '--device', '--issuer', slow.issuer, '--client-id', slow.clientId], browserEnv(dir));
    const m = await running.waitForStderr(/\(or open (\S+)\)/);
    // Approve only after the slowed poll and at least one more, so both gaps are seen.
    while (polls.length < 2) await new Promise((res) => setTimeout(res, 100));
    await approveDevice(m[1]!);
    const r = await running.done;
    expect(r.code, r.stderr).toBe(0);
    expect(polls[1]! - polls[0]!).toBeGreaterThanOrEqual(5_500);
  }, 30_000);
});

describe('the OS keychain through the CLI', () => {
  const keychainEnv = (dir: string) => {
    const e: Record<string, string> = browserEnv(dir);
    delete e.SEED_MCP_TOKEN_STORE; // auto: the keychain when it answers
    return e;
  };
  const profile = `cli-${process.pid}-${Date.now()}`;

  it('stores tokens in the Secret Service, names it in status, and logout removes them', async () => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
      throw new Error('no D-Bus session: run the tests with `npm test` (it starts gnome-keyring under dbus-run-session); install gnome-keyring libsecret-tools dbus');
    }
    const dir = newDir();
    const r = await runCli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--profile', profile], keychainEnv(dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Tokens stored in OS keychain (service seed-mcp, account ${profile})`);
    expect(r.stderr).not.toContain('not available');
    expect(existsSync(join(dir, 'tokens', `${profile}.json`))).toBe(false);
    // From outside: secret-tool sees the entry under service seed-mcp.
    const found = execFileSync('secret-tool', ['search', '--all', 'service', 'seed-mcp', 'username', profile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(found.length).toBeGreaterThan(0);
    const status = await runCli(['status', '--profile', profile, '--json'], keychainEnv(dir));
    expect(JSON.parse(status.stdout).store).toEqual({ kind: 'keychain', location: `OS keychain (service seed-mcp, account ${profile})` });
    const token = await runCli(['token', '--profile', profile], keychainEnv(dir));
    expect(token.code).toBe(0);
    expect(token.stdout.split('.')).toHaveLength(3);
    expect((await runCli(['logout', '--profile', profile], keychainEnv(dir))).code).toBe(0);
    let after = '';
    try {
      after = execFileSync('secret-tool', ['lookup', 'service', 'seed-mcp', 'username', profile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      // secret-tool exits 1 when nothing matches.
    }
    expect(after).toBe('');
  });

  it('falls back to a 0600 file and says so once when no keychain answers', async () => {
    const dir = newDir();
    const e = { ...keychainEnv(dir), DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };
    const r = await runCli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId], e);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/OS keychain not available/g)).toHaveLength(1);
    expect(r.stdout).toContain('Tokens stored in file');
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(true);
    const s = await runCli(['status', '--json'], e);
    expect(JSON.parse(s.stdout).store.kind).toBe('file');
    expect(s.stderr).not.toContain('OS keychain not available'); // said once, not on every command
  });
});

describe('doctor', () => {
  it('passes every check against a healthy IdP and fails with the fix for a dead one', async () => {
    const dir = newDir();
    const ok = await runCli(['doctor', '--json'], { ...browserEnv(dir), SEED_MCP_ISSUER: idp.issuer, SEED_MCP_CLIENT_ID: idp.clientId });
    const report = JSON.parse(ok.stdout);
    expect(ok.code, ok.stdout).toBe(0);
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual(['keychain', 'identity provider', 'clock', 'loopback port', 'upstream']);
    expect(report.checks.find((c: { name: string }) => c.name === 'clock').detail).toMatch(/local clock is \d+ s (ahead of|behind) the IdP/);

    // A port nothing listens on (not a fetch "bad port" such as 9).
    const probe = createServer();
    await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res));
    const dead = (probe.address() as AddressInfo).port;
    await new Promise((res) => probe.close(res));
    const plain = await runCli(['doctor'], {
      ...browserEnv(dir),
      SEED_MCP_ISSUER: `http://127.0.0.1:${dead}`,
      SEED_MCP_CLIENT_ID: 'x',
      SEED_MCP_UPSTREAM: `http://127.0.0.1:${dead}/mcp`,
    });
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/✖ identity provider: could not reach http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)\n {4}→ check that .* the network/);
    expect(plain.stdout).toContain(`✖ upstream: http://127.0.0.1:${dead}/mcp is unreachable (ECONNREFUSED)`);
    expect(plain.stdout).toMatch(/✔ loopback port: can listen on 127\.0\.0\.1:\d+ \(random\)/);
  });
});

describe('help', () => {
  it('shows every command, each with examples', async () => {
    const dir = newDir();
    const top = await runCli(['--help'], browserEnv(dir));
    expect(top.code).toBe(0);
    for (const cmd of ['login', 'logout', 'status', 'token', 'doctor']) {
      expect(top.stdout).toContain(`  ${cmd} `);
      const help = await runCli([cmd, '--help'], browserEnv(dir));
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Examples?:\n\s+\$ seed-mcp /);
    }
  });
});
