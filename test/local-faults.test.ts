/**
 * Issue #14, local mode: reliability under faults and time, through the CLI as a subprocess
 * against the real test IdP and the real file store. A token file that is empty, partial or
 * readable by others; a token that lives shorter than the 60 s refresh margin; a lock file left
 * by a process that died.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli, SCRIPTED_BROWSER, tempDirs } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';

let idp: TestIdp;
/** Access tokens live 20 s: shorter than the 60 s refresh margin. */
let shortIdp: TestIdp;

beforeAll(async () => {
  [idp, shortIdp] = await Promise.all([startIdp(), startIdp({ accessTokenTtl: 20 })]);
});
afterAll(async () => {
  await Promise.all([idp?.close(), shortIdp?.close()]);
});

const newDir = tempDirs();

function env(dir: string): Record<string, string> {
  return { SEED_MCP_CONFIG_DIR: dir, SEED_MCP_TOKEN_STORE: 'file', BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}` };
}

const tokenFile = (dir: string) => join(dir, 'tokens', 'default.json');
const lockFile = (dir: string) => join(dir, 'locks', 'default.lock');

async function signedIn(server: TestIdp): Promise<string> {
  const dir = newDir();
  const r = await runCli(['login', '--issuer', server.issuer, '--client-id', server.clientId], env(dir));
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

/** Makes the stored access token `left` seconds from expiry, out of a lifetime of `lifetime`. */
function expireIn(dir: string, left: number, lifetime = 3600): void {
  const t = JSON.parse(readFileSync(tokenFile(dir), 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  t.expiresAt = now + left;
  t.obtainedAt = t.expiresAt - lifetime;
  writeFileSync(tokenFile(dir), JSON.stringify(t), { mode: 0o600 });
}

/** Runs `seed-mcp token` and says how long it took. */
async function timedToken(dir: string): Promise<CliResult & { ms: number }> {
  const started = performance.now();
  const r = await runCli(['token'], env(dir));
  return { ...r, ms: performance.now() - started };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((res) => child.on('exit', res));
  return child.pid!;
}

describe('a stored token set is checked whole', () => {
  for (const [what, content] of [
    ['empty object', '{}'],
    ['partial set', '{"version":1}'],
    ['set without an access token', JSON.stringify({ version: 1, issuer: 'https://idp.test', clientId: 'c', tokenType: 'bearer', scope: 'openid', obtainedAt: 1 })],
  ] as const) {
    it(`${what}: token fails naming the file and a hint that works; logout succeeds on it`, async () => {
      const dir = newDir();
      mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 });
      writeFileSync(tokenFile(dir), content, { mode: 0o600 });
      const t = await runCli(['token'], env(dir));
      expect(t.code).toBe(1);
      expect(t.stdout).toBe('');
      expect(t.stderr).not.toContain('undefined');
      expect(t.stderr).toContain(tokenFile(dir));
      expect(t.stderr).toMatch(/does not hold a seed-mcp token set|holds an incomplete token set/);
      expect(t.stderr).toContain('seed-mcp logout --profile default');
      // The hint leads somewhere: logout works on the corrupt set and removes it.
      const out = await runCli(['logout'], env(dir));
      expect(out.code, out.stderr).toBe(0);
      expect(existsSync(tokenFile(dir))).toBe(false);
      const after = await runCli(['token'], env(dir));
      expect(after.code).toBe(1);
      expect(after.stderr).toContain('is not signed in');
    });
  }

  it('a token file readable by others is made 0600 again, and said once on stderr', async () => {
    const dir = await signedIn(idp);
    chmodSync(tokenFile(dir), 0o644);
    const first = await runCli(['token'], env(dir));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^\S+\n$/);
    expect(statSync(tokenFile(dir)).mode & 0o777).toBe(0o600);
    expect(first.stderr).toContain(`${tokenFile(dir)} was readable by others (mode 0644)`);
    expect(first.stderr.match(/readable by others/g)).toHaveLength(1);
    const second = await runCli(['token'], env(dir));
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
  });
});

describe('refresh of short-lived tokens', () => {
  it('20 concurrent token processes make 1 refresh of a 20 s token; calls within its life make none', async () => {
    const dir = await signedIn(shortIdp);
    expireIn(dir, 3, 20); // 3 s left of 20: under a quarter, a refresh is due
    const before = shortIdp.counts.refresh;
    const runs = await Promise.all(Array.from({ length: 20 }, () => runCli(['token'], env(dir))));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(shortIdp.counts.refresh - before).toBe(1);
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1);
    // The refreshed token has 20 s to live: the next calls find it valid.
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['token'], env(dir));
      expect(r.code, r.stderr).toBe(0);
    }
    expect(shortIdp.counts.refresh - before).toBe(1);
    expect(shortIdp.counts.failedRefresh).toBe(0);
  });
});

describe('a lock file with no live owner is taken over at once', () => {
  // Far under the 30 s lock timeout: a behaviour bound, not a speed figure.
  const AT_ONCE_MS = 5_000;
  const cases: Array<[string, (path: string) => Promise<void> | void]> = [
    ['empty (a process killed while taking it)', (path) => writeFileSync(path, '')],
    ['unreadable', (path) => (writeFileSync(path, '\u0000\u0007 not a lock'), chmodSync(path, 0o000))],
    ['held by a dead pid', async (path) => writeFileSync(path, `${await deadPid()} ${Date.now()} abc123`)],
  ];
  for (const [what, make] of cases) {
    it(`${what}: the next token proceeds at once`, async () => {
      const dir = await signedIn(idp);
      expireIn(dir, 10);
      mkdirSync(join(dir, 'locks'), { recursive: true, mode: 0o700 });
      await make(lockFile(dir));
      const before = idp.counts.refresh;
      const r = await timedToken(dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.ms).toBeLessThan(AT_ONCE_MS);
      expect(idp.counts.refresh - before).toBe(1);
      expect(existsSync(lockFile(dir))).toBe(false); // released
    });
  }

  it('processes racing on a stale lock still make exactly one refresh', async () => {
    const dir = await signedIn(idp);
    expireIn(dir, 10);
    mkdirSync(join(dir, 'locks'), { recursive: true, mode: 0o700 });
    writeFileSync(lockFile(dir), '');
    const before = idp.counts.refresh;
    const runs = await Promise.all(Array.from({ length: 4 }, () => timedToken(dir)));
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.ms).toBeLessThan(AT_ONCE_MS);
    }
    expect(idp.counts.refresh - before).toBe(1);
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1);
    expect(idp.counts.failedRefresh).toBe(0);
  });
});
