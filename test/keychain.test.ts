/**
 * The keychain store against a real Secret Service (gnome-keyring on a private D-Bus session bus).
 * `npm test` runs vitest inside scripts/with-keyring.sh, which provides one; without it these tests
 * fail on purpose, since a keychain test that skips itself proves nothing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHUNK_HEADER_PREFIX, CHUNK_LIMIT, digestOf, parseChunkHeader } from '../src/local/token-store/chunk.js';
import { createKeychainStore, probeKeychain } from '../src/local/token-store/keychain.js';
import type { StoredTokens, TokenStore } from '../src/local/token-store/types.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RUN = `test-${process.pid}-${Date.now()}`;
const PROFILE = RUN;
/** Marks every secret value of this run, so any output can be searched for it. */
const SECRET = `s3cr3t-${randomBytes(16).toString('hex')}`;

const HOW_TO_RUN =
  'the keychain tests need a real Secret Service: run them with `npm test` (it wraps vitest in ' +
  'scripts/with-keyring.sh, which starts gnome-keyring on a private D-Bus session) and install ' +
  'the packages it needs: apt-get install gnome-keyring libsecret-tools dbus';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command and collects its output. Never prints it: `secret-tool` output holds secrets. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Accounts of `profile` (the main entry and its `#n` chunks) as `secret-tool` sees them under
 * service `seed-mcp`. keyring-rs stores Secret Service items with the attributes `service` and
 * `username` (the account); `secret-tool search` prints attributes on stderr, secrets on stdout.
 */
async function accountsOf(profile: string): Promise<string[]> {
  const found = await run('secret-tool', ['search', '--all', 'service', 'seed-mcp']);
  expect(found.code, 'secret-tool search failed').toBe(0);
  return [...found.stderr.matchAll(/^attribute\.username = (.*)$/gm)]
    .map((m) => m[1]!)
    .filter((account) => account === profile || account.startsWith(`${profile}#`))
    .sort(byChunkOrder);
}

/** The secret of one entry, read from outside through `secret-tool`; `undefined` when absent. */
async function lookup(account: string): Promise<string | undefined> {
  const found = await run('secret-tool', ['lookup', 'service', 'seed-mcp', 'username', account]);
  return found.code === 0 ? found.stdout : undefined;
}

function byChunkOrder(a: string, b: string): number {
  const n = (s: string) => Number(s.split('#')[1] ?? 0);
  return n(a) - n(b);
}

function expectedAccounts(profile: string, chunks: number): string[] {
  return [profile, ...Array.from({ length: chunks }, (_, i) => `${profile}#${i + 1}`)];
}

function makeTokens(accessTokenSize: number): StoredTokens {
  return {
    version: 1,
    issuer: 'https://idp.example.test',
    clientId: 'seed-mcp-test',
    accessToken: `${SECRET}.${randomBytes(accessTokenSize).toString('base64url')}`.slice(0, accessTokenSize),
    tokenType: 'Bearer',
    expiresAt: 2_000_000_000,
    refreshToken: `rt-${SECRET}`,
    scope: 'openid offline_access',
    subject: 'alice',
    name: 'Alice 😀',
    obtainedAt: 1_900_000_000,
  };
}

/** Compares token sets without letting a failure print them: names the fields that differ. */
function expectSameTokens(got: StoredTokens | undefined, want: StoredTokens): void {
  expect(got, 'no tokens read back').toBeDefined();
  const keys = new Set([...Object.keys(want), ...Object.keys(got ?? {})]);
  const differing = [...keys].filter((k) => JSON.stringify((got as unknown as Record<string, unknown>)[k]) !== JSON.stringify((want as unknown as Record<string, unknown>)[k]));
  expect(differing, 'fields that differ (values not shown: they hold secrets)').toEqual([]);
}

let store: TokenStore;
/** Why no Secret Service can be used; every test then fails with it (none is skipped). */
let unavailable: string | undefined;

beforeAll(async () => {
  unavailable = await whyNoSecretService();
  store = createKeychainStore({ timeoutMs: 5000 });
});

beforeEach(() => {
  if (unavailable) throw new Error(unavailable);
});

async function whyNoSecretService(): Promise<string | undefined> {
  const bus = process.env.DBUS_SESSION_BUS_ADDRESS;
  if (!bus) return `DBUS_SESSION_BUS_ADDRESS is not set, so no Secret Service can answer; ${HOW_TO_RUN}`;
  const probe = await probeKeychain({ timeoutMs: 5000 });
  if (!probe.ok) return `no Secret Service answers on ${bus} (${probe.reason}); ${HOW_TO_RUN}`;
  const tool = await run('secret-tool', ['search', 'service', 'seed-mcp']).catch((err: Error) => err);
  if (tool instanceof Error) return `secret-tool is missing (${tool.message}); ${HOW_TO_RUN}`;
  return undefined;
}

afterAll(async () => {
  // Best effort: leave nothing of this run in the keyring, whatever failed above.
  for (const account of await accountsOf(RUN).catch(() => [])) {
    await run('secret-tool', ['clear', 'service', 'seed-mcp', 'username', account]).catch(() => undefined);
  }
});

describe('keychain store on a real Secret Service', () => {
  it('keeps a small token set in one entry under service seed-mcp, account = profile', async () => {
    const tokens = makeTokens(300);
    await store.set(PROFILE, tokens);
    expect(await accountsOf(PROFILE)).toEqual([PROFILE]);
    const outside = await lookup(PROFILE);
    expect(outside?.startsWith('{')).toBe(true);
    expectSameTokens(JSON.parse(outside!) as StoredTokens, tokens);
    expectSameTokens(await store.get(PROFILE), tokens);
    expect(store.describe(PROFILE)).toBe(`OS keychain (service seed-mcp, account ${PROFILE})`);
  });

  it('splits an 8 KB token set across chunk entries that reassemble from outside', async () => {
    const tokens = makeTokens(8000);
    const json = JSON.stringify(tokens);
    const count = Math.ceil(json.length / CHUNK_LIMIT);
    await store.set(PROFILE, tokens);

    expect(await accountsOf(PROFILE)).toEqual(expectedAccounts(PROFILE, count));
    const main = (await lookup(PROFILE))!;
    expect(main.startsWith(CHUNK_HEADER_PREFIX)).toBe(true);
    expect(main).not.toContain(SECRET);
    const header = parseChunkHeader(main);
    expect(header?.count).toBe(count);
    const chunks: string[] = [];
    for (let i = 1; i <= count; i++) chunks.push((await lookup(`${PROFILE}#${i}`)) ?? '');
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(CHUNK_LIMIT);
    expect(chunks.join('') === json, 'the chunks read by secret-tool do not join to the stored JSON').toBe(true);
    expect(digestOf(chunks.join(''))).toBe(header?.digest);

    expectSameTokens(await store.get(PROFILE), tokens);
  });

  it('removes stale chunk entries when a smaller token set is written', async () => {
    await store.set(PROFILE, makeTokens(8000));
    expect((await accountsOf(PROFILE)).length).toBeGreaterThan(1);
    const small = makeTokens(200);
    await store.set(PROFILE, small);
    expect(await accountsOf(PROFILE)).toEqual([PROFILE]);
    expectSameTokens(await store.get(PROFILE), small);
  });

  it('delete removes the main entry and every chunk entry', async () => {
    await store.set(PROFILE, makeTokens(8000));
    expect((await accountsOf(PROFILE)).length).toBeGreaterThan(1);
    expect(await store.delete(PROFILE)).toBe(true);
    expect(await accountsOf(PROFILE)).toEqual([]);
    expect(await store.get(PROFILE)).toBeUndefined();
    expect(await store.delete(PROFILE)).toBe(false);
  });
});

/**
 * A separate node process, so that the environment (a dead D-Bus address) is in place before the
 * native module loads, and so that everything the store could print can be searched for the secret.
 * The child is bundled from TypeScript with esbuild; `@napi-rs/keyring` stays external and resolves
 * through a `node_modules` link next to the bundle.
 */
describe('token store selection in a separate process', () => {
  let dir: string;
  let child: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seed-mcp-keychain-test-'));
    await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const bundle = await build({
      stdin: { contents: CHILD_SOURCE, resolveDir: REPO, sourcefile: 'keychain-child.ts', loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['@napi-rs/keyring'],
      write: false,
      logLevel: 'silent',
    });
    child = join(dir, 'keychain-child.mjs');
    await writeFile(child, bundle.outputFiles[0]!.text);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function runChild(profile: string, env: NodeJS.ProcessEnv): Promise<{ result: ChildResult; stderr: string }> {
    const configDir = join(dir, `config-${profile}`);
    const ran = await run(process.execPath, [child, JSON.stringify({ profile, configDir })], { ...env, SEED_TEST_SECRET: SECRET });
    const output = `${ran.stdout}\n${ran.stderr}`;
    // Checked before anything else, so that a failure below never shows a leaked secret.
    expect(output.includes(SECRET), 'the secret appeared in the output of the process using the store').toBe(false);
    expect(ran.code, `the child failed: ${ran.stderr}`).toBe(0);
    return { result: JSON.parse(ran.stdout) as ChildResult, stderr: ran.stderr };
  }

  it('auto selects the real keychain and never prints the secret', async () => {
    const profile = `${RUN}-child`;
    const { result, stderr } = await runChild(profile, process.env);
    expect(result).toEqual({
      kind: 'keychain',
      describe: `OS keychain (service seed-mcp, account ${profile})`,
      warnings: [],
      chunked: true,
      same: true,
      deleted: true,
      gone: true,
    });
    expect(stderr).not.toContain('warning');
    expect(await accountsOf(profile)).toEqual([]);
  });

  it('auto falls back to the file store when no Secret Service answers, and says so once', async () => {
    const profile = `${RUN}-nobus`;
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'no-such-bus')}` };
    const { result, stderr } = await runChild(profile, env);
    const configDir = join(dir, `config-${profile}`);
    expect(result).toMatchObject({
      kind: 'file',
      describe: `file ${join(configDir, 'tokens', `${profile}.json`)} (mode 0600)`,
      chunked: false,
      same: true,
      deleted: true,
      gone: true,
    });
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/^OS keychain not available \(.*no-such-bus.*\); storing tokens in /);
    expect(stderr.match(/OS keychain not available/g)).toHaveLength(1);
    expect(await accountsOf(profile)).toEqual([]);
  });
});

interface ChildResult {
  kind: string;
  describe: string;
  warnings: string[];
  chunked: boolean;
  same: boolean;
  deleted: boolean;
  gone: boolean;
}

/**
 * What the child process runs: opens the store as the CLI would (`auto`), writes an 8 KB token set
 * marked with the secret, reads it back, deletes it, and prints only a summary.
 */
const CHILD_SOURCE = `
import { randomBytes } from 'node:crypto';
import { openTokenStore } from './src/local/token-store/select.ts';
import { CHUNK_HEADER_PREFIX } from './src/local/token-store/chunk.ts';
import { KEYCHAIN_SERVICE } from './src/local/token-store/keychain.ts';

const { profile, configDir } = JSON.parse(process.argv[2]);
const secret = process.env.SEED_TEST_SECRET;
const warnings: string[] = [];
const store = await openTokenStore({
  kind: 'auto',
  configDir,
  timeoutMs: 5000,
  warn: (message) => {
    warnings.push(message);
    process.stderr.write('warning: ' + message + '\\n');
  },
});
const tokens = {
  version: 1 as const,
  issuer: 'https://idp.example.test',
  clientId: 'seed-mcp-test',
  accessToken: (secret + '.' + randomBytes(8000).toString('base64url')).slice(0, 8000),
  tokenType: 'Bearer',
  refreshToken: 'rt-' + secret,
  scope: 'openid offline_access',
  obtainedAt: 1_900_000_000,
};
await store.set(profile, tokens);
let chunked = false;
if (store.kind === 'keychain') {
  const { AsyncEntry } = await import('@napi-rs/keyring');
  const main = await new AsyncEntry(KEYCHAIN_SERVICE, profile, { linux: { store: 'secret-service' } }).getPassword();
  chunked = typeof main === 'string' && main.startsWith(CHUNK_HEADER_PREFIX);
}
const same = JSON.stringify(await store.get(profile)) === JSON.stringify(tokens);
const deleted = await store.delete(profile);
const gone = (await store.get(profile)) === undefined;
console.log(JSON.stringify({ kind: store.kind, describe: store.describe(profile), warnings, chunked, same, deleted, gone }));
`;
