/**
 * `seed-mcp doctor`'s keychain line (issue #15, point 3): an OS keychain that does not answer is a
 * warning (⚠, with what to do) when tokens can fall back to the 0600 file, a failure (✖) when
 * SEED_MCP_TOKEN_STORE=keychain asks for it; ✔ only when it answers. The CLI runs as a subprocess;
 * "no keychain" is a session bus address where nothing listens, "a keychain" the gnome-keyring of
 * scripts/with-keyring.sh.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDirs } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp();
});
afterAll(async () => {
  await idp?.close();
});

const newDir = tempDirs();

/** A healthy IdP, so that the keychain line decides the outcome. */
const env = (dir: string, extra: Record<string, string> = {}): Record<string, string> => ({
  SEED_MCP_CONFIG_DIR: dir,
  SEED_MCP_ISSUER: idp.issuer,
  SEED_MCP_CLIENT_ID: idp.clientId,
  ...extra,
});
const NO_BUS = { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/seed-mcp-test-bus' };
const LINUX_FIX =
  'run an unlocked Secret Service on the session D-Bus (gnome-keyring or KeePassXC: install one, e.g. `sudo apt-get install gnome-keyring`, and log in to a desktop session, which unlocks it); or keep tokens in the 0600 file on purpose: set SEED_MCP_TOKEN_STORE=file';

describe('doctor: the keychain line', () => {
  it('warns (⚠, exit 0) with what to do when no keychain answers and tokens fall back to the file', async () => {
    const dir = newDir();
    const r = await runCli(['doctor'], env(dir, NO_BUS));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^⚠ keychain: OS keychain unavailable \\(.+\\); tokens go to a 0600 file in ${join(dir, 'tokens').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} instead$`),
    );
    expect(lines[1]).toBe(`    → ${LINUX_FIX} (this silences the warning)`);
    expect(r.stdout).not.toMatch(/✔ keychain/);

    const json = await runCli(['doctor', '--json'], env(dir, NO_BUS));
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(true);
    expect(report.checks[0]).toMatchObject({ name: 'keychain', ok: true, warning: true, ran: true, fix: `${LINUX_FIX} (this silences the warning)` });
  });

  it('fails (✖, exit 1) when SEED_MCP_TOKEN_STORE=keychain and no keychain answers', async () => {
    const r = await runCli(['doctor'], env(newDir(), { ...NO_BUS, SEED_MCP_TOKEN_STORE: 'keychain' }));
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^✖ keychain: OS keychain unavailable \(.+\)$/);
    expect(lines[1]).toBe(`    → ${LINUX_FIX}`);
  });

  it('passes (✔) when the keychain answers', async () => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
      throw new Error(
        'no D-Bus session: run the tests with `npm test` or scripts/with-keyring.sh (gnome-keyring under dbus-run-session); install gnome-keyring libsecret-tools dbus',
      );
    }
    const r = await runCli(['doctor'], env(newDir()));
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('✔ keychain: OS keychain answers');
  });
});
