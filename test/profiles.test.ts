/**
 * `seed-mcp profiles` and `profiles remove` (issue #15, point 4), the CLI run as a subprocess
 * against the real test IdP and a real MCP server: two profiles signed in by real logins (one found
 * from the MCP server's URL, its tokens in the OS keychain; one with --issuer, its tokens in the
 * 0600 file), listed as a table and as JSON, removed one by one (settings, keychain entry or file,
 * revoked at the IdP), an unknown name refused with exit 2 and the names there are. And `--profile`
 * in each command's help. Needs the keychain of scripts/with-keyring.sh (`npm test` starts it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SCRIPTED_BROWSER, tempDirs } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

let idp: TestIdp;
let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await startUpstream({ era: 'modern' });
  idp = await startIdp({ resources: [upstream.url], registration: true });
  upstream.trust(idp);
});
afterAll(async () => {
  await Promise.all([upstream?.close(), idp?.close()]);
});

const newDir = tempDirs();

/** `auto` token store: the keychain, which answers under scripts/with-keyring.sh. */
const autoEnv = (dir: string): Record<string, string> => ({ SEED_MCP_CONFIG_DIR: dir, BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}` });

/** What secret-tool finds in the keychain for the account (empty when nothing). */
function keychainEntry(account: string): string {
  try {
    return execFileSync('secret-tool', ['lookup', 'service', 'seed-mcp', 'username', account], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return ''; // secret-tool exits 1 when nothing matches
  }
}

const EXPIRY = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d \(in \d+ min\)`;

describe('seed-mcp profiles', () => {
  it('lists two signed-in profiles with server, issuer, expiry and store, removes them one by one, and refuses an unknown name', async () => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
      throw new Error(
        'no D-Bus session: run the tests with `npm test` or scripts/with-keyring.sh (gnome-keyring under dbus-run-session); install gnome-keyring libsecret-tools dbus',
      );
    }
    const dir = newDir();
    // Keychain entries are shared by every test of the run: names of this process only.
    const srv = `srv-${process.pid}`;
    const work = `work-${process.pid}`;
    const server = await runCli(['login', '--profile', srv, upstream.url], autoEnv(dir));
    expect(server.code, server.stderr).toBe(0);
    const file = await runCli(['login', '--profile', work, '--issuer', idp.issuer, '--client-id', idp.clientId], { ...autoEnv(dir), SEED_MCP_TOKEN_STORE: 'file' });
    expect(file.code, file.stderr).toBe(0);
    expect(keychainEntry(srv)).not.toBe('');
    expect(existsSync(join(dir, 'tokens', `${work}.json`))).toBe(true);

    // The table: one header, one row per profile, sorted by name.
    const table = await runCli(['profiles'], autoEnv(dir));
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^PROFILE +SERVER +ISSUER +SIGNED IN +TOKENS$/);
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(lines[1]).toMatch(new RegExp(`^${srv} +${esc(upstream.url)} +${esc(idp.issuer)} +yes, until ${EXPIRY}, then refreshed +keychain$`));
    expect(lines[2]).toMatch(new RegExp(`^${work} +- +${esc(idp.issuer)} +yes, until ${EXPIRY}, then refreshed +file$`));
    // Columns line up.
    expect(lines[1]!.indexOf(idp.issuer)).toBe(lines[0]!.indexOf('ISSUER'));
    expect(lines[2]!.indexOf('file')).toBe(lines[0]!.indexOf('TOKENS'));

    // JSON for machines, with where the tokens are and never a token.
    const json = await runCli(['profiles', '--json'], autoEnv(dir));
    expect(json.code, json.stderr).toBe(0);
    const { profiles } = JSON.parse(json.stdout);
    expect(profiles).toEqual([
      {
        name: srv,
        server: upstream.url,
        issuer: idp.issuer,
        signedIn: true,
        expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        canRefresh: true,
        store: { kind: 'keychain', location: `OS keychain (service seed-mcp, account ${srv})` },
      },
      {
        name: work,
        issuer: idp.issuer,
        signedIn: true,
        expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        canRefresh: true,
        store: { kind: 'file', location: `file ${join(dir, 'tokens', `${work}.json`)} (mode 0600)` },
      },
    ]);
    const stored = JSON.parse(readFileSync(join(dir, 'tokens', `${work}.json`), 'utf8'));
    for (const out of [table.stdout, json.stdout, table.stderr, json.stderr]) {
      for (const secret of [stored.accessToken, stored.refreshToken, stored.idToken]) expect(out).not.toContain(secret);
      expect(out).not.toMatch(/eyJ[\w-]+\.[\w-]+/);
    }

    // An unknown name: exit 2, and the names there are.
    const unknown = await runCli(['profiles', 'remove', 'nope'], autoEnv(dir));
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe(`✖ could not remove profile "nope": there is no such profile\n  → existing profiles: ${srv}, ${work} (\`seed-mcp profiles\` lists them)\n`);

    // A profile that now names another issuer than its tokens came from is not signed in (as `status` says).
    const configPath = join(dir, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    config.profiles[work].issuer = 'http://127.0.0.1:9/other-idp';
    writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
    const moved = await runCli(['profiles'], autoEnv(dir));
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout.split('\n')[2]).toMatch(new RegExp(`^${work} +- +http://127\\.0\\.0\\.1:9/other-idp +no \\(see below\\) +file$`));
    expect(moved.stderr).toMatch(new RegExp(`^note: profile ${work}: .*${esc(idp.issuer)}.*http://127\\.0\\.0\\.1:9/other-idp\n  → .*seed-mcp login --profile ${work}`, 'm'));
    const movedJson = JSON.parse((await runCli(['profiles', '--json'], autoEnv(dir))).stdout).profiles[1];
    expect(movedJson).toMatchObject({
      name: work,
      signedIn: false,
      problem: expect.stringContaining(idp.issuer),
      hint: expect.stringContaining(`seed-mcp login --profile ${work}`),
    });

    // Remove the keychain one: settings, keychain entry, revoked at the IdP.
    const revocations = idp.counts.revocations;
    const removed = await runCli(['profiles', 'remove', srv], autoEnv(dir));
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(
      [
        `Removed profile ${srv}.`,
        `  settings: deleted from ${join(dir, 'config.json')}`,
        `  tokens:   deleted from OS keychain (service seed-mcp, account ${srv}); the IdP revoked the session`,
        '',
      ].join('\n'),
    );
    expect(idp.counts.revocations).toBe(revocations + 1);
    expect(keychainEntry(srv)).toBe('');
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).profiles)).toEqual([work]);
    const after = JSON.parse((await runCli(['profiles', '--json'], autoEnv(dir))).stdout);
    expect(after.profiles.map((p: { name: string }) => p.name)).toEqual([work]);

    // The file one, from an `auto` run whose keychain answers: the token file goes too.
    const again = await runCli(['profiles', 'remove', work, '--json'], autoEnv(dir));
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({
      profile: work,
      settings: join(dir, 'config.json'),
      tokens: [{ kind: 'file', location: `file ${join(dir, 'tokens', `${work}.json`)} (mode 0600)` }],
      revoked: true,
    });
    expect(existsSync(join(dir, 'tokens', `${work}.json`))).toBe(false);
    const none = await runCli(['profiles'], autoEnv(dir));
    expect(none.stdout).toBe(
      `No profiles yet (config dir ${dir}).\n  → run \`seed-mcp login https://mcp.example.com/mcp\` (or \`seed-mcp login --issuer URL --client-id ID\`) to create one\n`,
    );
    const gone = await runCli(['profiles', 'remove', work], autoEnv(dir));
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('→ there are no profiles yet; `seed-mcp login` creates one');
  });
});

describe('--profile in every command’s help', () => {
  it.each(['login', 'status', 'token', 'serve', 'logout', 'doctor', 'profiles', 'profiles remove'])('%s --help lists --profile among the global options', async (command) => {
    const help = await runCli([...command.split(' '), '--help'], autoEnv(newDir()));
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/\nGlobal Options:\n(?: {2}.*\n)*? {2}--profile <name> +profile: several IdPs or accounts/);
  });
});
