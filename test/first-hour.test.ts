/**
 * A newcomer's first hour (issue 15), the built CLI run as subprocesses: the demo run twice on
 * other ports with one config dir (its profile moved and said so, its data kept apart, `status`
 * and `token` refusing the older demo's tokens with exit 2), an explicit server URL beating a
 * saved issuer, every hint line asserted as printed and the command it names run, and one JSON
 * shape for `login --json` and `status --json`.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resolveLocalSettings } from '../src/local/settings.js';
import { runCli, SCRIPTED_BROWSER, startCli, tempDirs, type CliResult } from './support/cli.js';
import { freePort } from './support/ports.js';

const newDir = tempDirs('seed-mcp-first-hour-');
const configDir = newDir();
const SCOPES = 'openid profile email offline_access checklist.list checklist.read process.read process.search';

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: configDir,
    SEED_MCP_TOKEN_STORE: 'file',
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    SCRIPTED_BROWSER_LOGIN: 'demo',
    SCRIPTED_BROWSER_PASSWORD: 'demo',
    ...extra,
  };
}

const cli = (args: string[], extra?: Record<string, string>): Promise<CliResult> => runCli(args, env(extra));

/** The lines of an output, for exact assertions. */
const lines = (s: string) => s.trimEnd().split('\n');

interface Demo {
  child: ChildProcess;
  mcpUrl: string;
  issuer: string;
  dataDir: string;
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
}

const running: Demo[] = [];
afterAll(async () => {
  for (const d of running) {
    if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
    await d.done;
  }
});

/** `seed-mcp demo` on two free ports, with the default data folder; resolves once it is up. */
async function startDemo(extraArgs: string[] = []): Promise<Demo> {
  const mcpPort = await freePort();
  let idpPort = await freePort();
  while (idpPort === mcpPort) idpPort = await freePort();
  const started = startCli(['demo', '--port', String(mcpPort), '--idp-port', String(idpPort), ...extraArgs], env());
  let stdout = '';
  started.child.stdout!.on('data', (d: Buffer) => (stdout += d));
  let stderr = '';
  started.child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const deadline = Date.now() + 30_000;
  while (!stdout.includes('Ctrl-C stops it')) {
    if (started.child.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not start:\n${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const demo: Demo = {
    child: started.child,
    mcpUrl: `http://127.0.0.1:${mcpPort}/mcp`,
    issuer: `http://127.0.0.1:${idpPort}`,
    dataDir: /^\[DEMO\] demo data: (\S+) /m.exec(stdout)![1]!,
    stdout: () => stdout,
    stderr: () => stderr,
    done: started.done,
  };
  running.push(demo);
  return demo;
}

/** One schema for `login --json` and `status --json` (README "JSON output"). */
const SignInReport = z
  .object({
    profile: z.string(),
    signedIn: z.boolean(),
    issuer: z.string().url(),
    previousIssuer: z.string().url().optional(),
    server: z.string().url().optional(),
    clientId: z.string(),
    clientSource: z.enum(['given', 'metadata-document', 'registered', 'registration-reused']),
    subject: z.string().optional(),
    email: z.string().optional(),
    name: z.string().optional(),
    identitySource: z.enum(['id_token', 'access_token', 'unknown']),
    scopes: z.array(z.string()),
    resource: z.string().url().optional(),
    expiresAt: z.string().datetime().optional(),
    accessTokenValid: z.boolean(),
    canRefresh: z.boolean(),
    store: z.object({ kind: z.enum(['keychain', 'file', 'memory']), location: z.string() }).strict(),
  })
  .strict();

let first: Demo;
let second: Demo;

describe('the demo, twice, on other ports', () => {
  it('right after the demo, status and token name `login --profile demo`, and that command signs in with no URL', async () => {
    first = await startDemo();
    const status = await cli(['status', '--profile', 'demo']);
    expect(status.code).toBe(1);
    expect(lines(status.stdout)).toEqual([
      `Not signed in (profile demo, server ${first.mcpUrl}). Tokens would be stored in file ${join(configDir, 'tokens', 'demo.json')} (mode 0600).`,
      '  → run `seed-mcp login --profile demo`',
    ]);
    const token = await cli(['token', '--profile', 'demo']);
    expect(token.code).toBe(1);
    expect(lines(token.stderr)).toEqual(['✖ could not get a token: profile "demo" is not signed in', '  → run `seed-mcp login --profile demo`']);

    // doctor finds the IdP where login will: at the server the profile names (it said "no issuer configured").
    const doctor = await cli(['doctor', '--profile', 'demo']);
    expect(doctor.stdout).toMatch(new RegExp(`✔ identity provider: ${first.issuer} discovered in \\d+ ms \\(PKCE S256[^)]*\\), named by ${first.mcpUrl}\n`));

    const login = await cli(['login', '--profile', 'demo']);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Signed in to ${first.issuer} as Demo User <demo@example.com> (profile demo)`);
    expect((await cli(['status', '--profile', 'demo'])).code).toBe(0);
    // The first request of discovery is the MCP client's ordinary 401 challenge: no warning for it.
    expect(first.stderr()).not.toMatch(/warn: cloud_auth_failed/);
  }, 60_000);

  it('a second demo moves the profile and says so, keeps its data apart, and the first one’s tokens are refused (exit 2) with the fix', async () => {
    second = await startDemo();
    expect(second.stdout()).toContain(
      `[DEMO] profile "demo" changed: it named server ${first.mcpUrl}, issuer ${first.issuer}, now this demo's; tokens from before do not count here (status exits 2 on them): sign in with \`seed-mcp login --profile demo\`\n`,
    );
    expect(first.dataDir).toBe(join(configDir, 'demo', `${new URL(first.issuer).port}-${new URL(first.mcpUrl).port}`));
    expect(second.dataDir).toBe(join(configDir, 'demo', `${new URL(second.issuer).port}-${new URL(second.mcpUrl).port}`));
    expect(existsSync(join(first.dataDir, 'idp-keys.json')) && existsSync(join(second.dataDir, 'idp-keys.json'))).toBe(true);

    const fix = `  → sign in again for what the profile names now: \`seed-mcp login --profile demo ${second.mcpUrl}\``;
    const refused = `✖ could not use the tokens of profile "demo": they are for ${first.mcpUrl} (issuer ${first.issuer}), but the profile's server is ${second.mcpUrl}`;
    const status = await cli(['status', '--profile', 'demo']);
    expect(status.code).toBe(2);
    expect(status.stdout).toBe('');
    expect(lines(status.stderr)).toEqual([refused, fix]);
    const json = await cli(['status', '--profile', 'demo', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'PROFILE_MISMATCH' });
    // doctor checks the IdP of the server the profile names now, not the issuer saved by the first sign-in.
    expect((await cli(['doctor', '--profile', 'demo'])).stdout).toContain(`✔ identity provider: ${second.issuer} discovered in `);
    const token = await cli(['token', '--profile', 'demo']);
    expect(token.code).toBe(2);
    expect(token.stdout).toBe('');
    expect(lines(token.stderr)).toEqual([refused, fix]);

    // The command the hint names works, and then status agrees with the profile.
    const login = await cli(['login', '--profile', 'demo', second.mcpUrl]);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Signed in to ${second.issuer}`);
    const after = await cli(['status', '--profile', 'demo', '--json']);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ issuer: second.issuer, resource: second.mcpUrl, server: second.mcpUrl });
  }, 60_000);

  it('refuses a third demo on a data folder another running demo uses (exit 2), with what to do', async () => {
    const r = await cli(['demo', '--port', String(await freePort()), '--data-dir', second.dataDir, '--profile', 'demo-third']);
    expect(r.code).toBe(2);
    const pid = second.child.pid;
    expect(lines(r.stderr)).toEqual([
      `✖ could not use the demo data folder ${second.dataDir}: the demo with the MCP server ${second.mcpUrl} (pid ${pid}) is using it`,
      `  → stop that demo (Ctrl-C in its terminal) first, or give this one its own folder: --data-dir ${join(second.dataDir, '..', 'another')}`,
    ]);
  });

  it('an explicit server URL beats an older issuer saved in the profile, and the change is said', async () => {
    const dir = newDir();
    const dead = `http://127.0.0.1:${await freePort()}`;
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ profiles: { demo: { issuer: dead, clientId: 'seed-mcp-demo', scopes: SCOPES, resource: `${dead}/mcp`, upstream: `${dead}/mcp` } } }),
    );
    const r = await cli(['login', '--profile', 'demo', second.mcpUrl], { SEED_MCP_CONFIG_DIR: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stderr)).toContain(`issuer for profile demo changed: ${dead} → ${second.issuer}`);
    expect(r.stdout).toContain(`Signed in to ${second.issuer}`);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).profiles.demo;
    expect(saved).toMatchObject({ issuer: second.issuer, resource: second.mcpUrl, upstream: second.mcpUrl, discovered: true });
    const status = await cli(['status', '--profile', 'demo'], { SEED_MCP_CONFIG_DIR: dir });
    expect(status.code, status.stderr).toBe(0);
  }, 30_000);

  it('`serve --upstream` with another server than the profile saved discovers that server’s issuer and resource', () => {
    const saved = { issuer: 'http://127.0.0.1:9', clientId: 'seed-mcp-demo', resource: 'http://127.0.0.1:10/mcp', upstream: 'http://127.0.0.1:10/mcp' };
    const moved = resolveLocalSettings({ profile: 'demo', upstream: 'http://127.0.0.1:20/mcp' }, { SEED_MCP_CONFIG_DIR: configDir }, saved);
    expect(moved).toMatchObject({ discovered: true, issuer: saved.issuer, issuerSource: 'profile', upstream: 'http://127.0.0.1:20/mcp' });
    expect(moved.resource).toBeUndefined();
    // The same server, or an issuer given by flag: as before.
    expect(resolveLocalSettings({ profile: 'demo', upstream: saved.upstream }, { SEED_MCP_CONFIG_DIR: configDir }, saved)).toMatchObject({
      discovered: false,
      resource: saved.resource,
    });
    const flagged = resolveLocalSettings({ profile: 'demo', issuer: 'http://127.0.0.1:30', upstream: 'http://127.0.0.1:20/mcp' }, { SEED_MCP_CONFIG_DIR: configDir }, saved);
    expect(flagged).toMatchObject({ discovered: false, issuer: 'http://127.0.0.1:30', issuerSource: 'flag' });
  });

  it('`login --json` and `status --json` print one shape', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ profiles: { old: { issuer: first.issuer, clientId: 'seed-mcp-demo', scopes: SCOPES, upstream: first.mcpUrl } } }));
    const login = await cli(['login', '--profile', 'old', '--json', second.mcpUrl], { SEED_MCP_CONFIG_DIR: dir });
    expect(login.code, login.stderr).toBe(0);
    const status = await cli(['status', '--profile', 'old', '--json'], { SEED_MCP_CONFIG_DIR: dir });
    expect(status.code, status.stderr).toBe(0);
    const fromLogin = SignInReport.parse(JSON.parse(login.stdout));
    const fromStatus = SignInReport.parse(JSON.parse(status.stdout));
    expect(fromLogin.previousIssuer).toBe(first.issuer);
    const { previousIssuer: _, ...sameFacts } = fromLogin;
    expect(fromStatus).toEqual(sameFacts);
    expect(fromStatus).toMatchObject({ profile: 'old', issuer: second.issuer, server: second.mcpUrl, resource: second.mcpUrl, clientSource: 'given', subject: 'demo' });
  }, 30_000);
});

describe('hints that lead somewhere', () => {
  it('--timeout abc: exit 2 with what is accepted', async () => {
    const r = await cli(['login', '--profile', 'demo', '--timeout', 'abc']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      '✖ could not use --timeout abc: it must be a positive number of seconds',
      '  → pass the seconds to wait for the sign-in, e.g. --timeout 600 (default 300)',
    ]);
  });

  it('an issuer nothing answers at: could not reach it, and why, and what to check', async () => {
    const blocked = await cli(['login', '--issuer', 'http://127.0.0.1:1', '--client-id', 'x'], { SEED_MCP_CONFIG_DIR: newDir() });
    expect(blocked.code).toBe(3);
    expect(lines(blocked.stderr)).toEqual([
      "✖ could not reach http://127.0.0.1:1: fetch never connects to that port: it is on the Fetch standard's list of blocked ports",
      '  → check that http://127.0.0.1:1 is the identity provider you meant and that it is running, then the network, VPN or proxy (HTTPS_PROXY)',
    ]);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const refused = await cli(['login', '--issuer', closed, '--client-id', 'x', '--profile', 'work'], { SEED_MCP_CONFIG_DIR: newDir() });
    expect(refused.code).toBe(3);
    expect(lines(refused.stderr)).toEqual([
      `✖ could not reach ${closed}: connection refused (ECONNREFUSED)`,
      `  → check that ${closed} is the identity provider you meant and that it is running, then the network, VPN or proxy (HTTPS_PROXY)`,
    ]);
  });

  it('a server URL nothing answers at is named once, with the reason', async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const r = await cli(['login', '--profile', 'nowhere', url], { SEED_MCP_CONFIG_DIR: newDir() });
    expect(r.code).toBe(3);
    expect(lines(r.stderr)).toEqual([
      `✖ could not discover sign-in for ${url}: it is unreachable: connection refused (ECONNREFUSED)`,
      '  → check the URL, that the MCP server is running, and the network (VPN, HTTPS_PROXY); or pass --issuer to skip discovery',
    ]);
  });

  it('--no-browser timing out says how to retry and wait longer, not to use --no-browser', async () => {
    const r = await cli(['login', '--profile', 'demo', '--no-browser', '--timeout', '1', second.mcpUrl]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr).slice(-2)).toEqual([
      '✖ could not sign in: no answer from the browser within 1 s',
      `  → run \`seed-mcp login --no-browser --timeout 600 --profile demo ${second.mcpUrl}\` and open the printed URL within the time, in a browser that can reach 127.0.0.1 here (over SSH: add --port N and \`ssh -L N:127.0.0.1:N\`), or use --device`,
    ]);
  }, 30_000);

  it('a device-flow --timeout says the wait timed out and how to extend it, not that the code expired', async () => {
    const r = await cli(['login', '--device', '--profile', 'demo', '--timeout', '1', second.mcpUrl], { BROWSER: 'false' });
    expect(r.code).toBe(1);
    const shown = /open (\S+) and enter the code \S+\n.*\nWaiting for approval \(code valid (\d+) min/.exec(r.stderr);
    expect(shown, r.stderr).not.toBeNull();
    expect(lines(r.stderr).slice(-2)).toEqual([
      '✖ could not sign in: gave up waiting for the device code to be approved after 1 s (--timeout)',
      `  → run \`seed-mcp login --device --timeout 600 --profile demo ${second.mcpUrl}\` to wait longer (the code itself is valid ${shown![2]} min), and enter the code at ${shown![1]}`,
    ]);
  }, 30_000);

  it('a local configuration error points to the file and to doctor, not to the cloud-only `config check`', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ profiles: { x: { issuer: 'nope' } } }));
    const r = await cli(['status', '--profile', 'x'], { SEED_MCP_CONFIG_DIR: dir });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      '✖ could not use the configuration:',
      '  - issuer must be a URL, got: nope (from profile "x" in config.json)',
      `  → fix the flags, SEED_MCP_* variables or saved settings named above (profile "x" is in ${join(dir, 'config.json')}); then \`seed-mcp doctor --profile x\` checks the whole setup`,
    ]);
  });
});
