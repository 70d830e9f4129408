import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSeedError, type SeedError } from '../src/shared/errors.js';
import { CHUNK_HEADER_PREFIX, CHUNK_LIMIT, joinChunks, parseChunkHeader, splitValue } from '../src/local/token-store/chunk.js';
import { createFileStore } from '../src/local/token-store/file.js';
import { createKeychainStore, probeKeychain, type KeychainEntry, type KeychainEntryFactory } from '../src/local/token-store/keychain.js';
import { createMemoryStore } from '../src/local/token-store/memory.js';
import { openTokenStore, type TokenStoreChoice } from '../src/local/token-store/select.js';
import type { StoredTokens, TokenStore } from '../src/local/token-store/types.js';

/** A token set whose access token is `size` characters of random base64url. */
function makeTokens(size = 40): StoredTokens {
  return {
    version: 1,
    issuer: 'https://idp.example.test',
    clientId: 'seed-mcp-test',
    accessToken: randomBytes(Math.ceil(size * 0.75) + 3)
      .toString('base64url')
      .slice(0, size),
    tokenType: 'Bearer',
    expiresAt: 2_000_000_000,
    refreshToken: `rt-${randomBytes(16).toString('hex')}`,
    scope: 'openid profile email offline_access',
    subject: 'alice',
    email: 'alice@example.test',
    name: 'Alice Émilie 😀',
    obtainedAt: 1_900_000_000,
  };
}

/** Settles `promise` and returns the `SeedError` it rejected with (fails the test otherwise). */
async function seedErrorOf(promise: Promise<unknown>): Promise<SeedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isSeedError(err)) throw new Error(`expected a SeedError, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

/** A keychain in a Map, keyed by account: stands in for the OS keychain where the logic is tested. */
function fakeKeychain() {
  const entries = new Map<string, string>();
  let calls = 0;
  const factory: KeychainEntryFactory = (service, account) => {
    expect(service).toBe('seed-mcp');
    return {
      getPassword: async () => {
        calls++;
        return entries.get(account) ?? null;
      },
      setPassword: async (password) => {
        calls++;
        entries.set(account, password);
      },
      deletePassword: async () => {
        calls++;
        return entries.delete(account);
      },
    };
  };
  return { entries, factory, calls: () => calls };
}

/** A keychain whose every call hangs for good and ignores the abort signal, as a stuck D-Bus call can. */
const hangingKeychain: KeychainEntryFactory = (): KeychainEntry => ({
  getPassword: () => new Promise(() => {}),
  setPassword: () => new Promise(() => {}),
  deletePassword: () => new Promise(() => {}),
});

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'seed-mcp-token-store-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const stores: [string, () => TokenStore][] = [
  ['memory', () => createMemoryStore()],
  ['file', () => createFileStore({ dir: join(tmp, 'config') })],
  ['keychain (in-memory fake)', () => createKeychainStore({ entryFactory: fakeKeychain().factory })],
];

describe.each(stores)('%s store', (_name, makeStore) => {
  it('returns undefined for a profile it never saw', async () => {
    expect(await makeStore().get('nobody')).toBeUndefined();
  });

  it('refuses an empty or partial set when reading it, naming what is missing, and deletes it (issue #14)', async () => {
    const store = makeStore();
    const { accessToken: _, ...partial } = makeTokens();
    await store.set('work', partial as StoredTokens);
    const err = await seedErrorOf(store.get('work'));
    expect(err.code).toBe('TOKEN_STORE_FAILED');
    expect(err.message).toMatch(/^could not read tokens for profile work: .+ holds an incomplete token set \(accessToken missing\)$/);
    expect(err.hint).toBe('run `seed-mcp logout --profile work` then `seed-mcp login --profile work`');
    await store.set('work', { version: 1 } as unknown as StoredTokens);
    expect((await seedErrorOf(store.get('work'))).message).toContain('issuer, clientId, accessToken, tokenType, scope, obtainedAt missing');
    await store.set('work', { ...makeTokens(), expiresAt: 'soon' } as unknown as StoredTokens);
    expect((await seedErrorOf(store.get('work'))).message).toContain('(expiresAt not valid)');
    expect(await store.delete('work')).toBe(true);
    expect(await store.get('work')).toBeUndefined();
  });

  it('round-trips a token set', async () => {
    const store = makeStore();
    const tokens = makeTokens();
    await store.set('work', tokens);
    expect(await store.get('work')).toEqual(tokens);
  });

  it('round-trips a large token set', async () => {
    const store = makeStore();
    const tokens = { ...makeTokens(8000), idToken: randomBytes(1500).toString('base64url') };
    await store.set('work', tokens);
    expect(await store.get('work')).toEqual(tokens);
  });

  it('replaces the tokens on a second set', async () => {
    const store = makeStore();
    await store.set('work', makeTokens(5000));
    const second = makeTokens();
    await store.set('work', second);
    expect(await store.get('work')).toEqual(second);
  });

  it('delete resolves true, then false', async () => {
    const store = makeStore();
    await store.set('work', makeTokens());
    expect(await store.delete('work')).toBe(true);
    expect(await store.get('work')).toBeUndefined();
    expect(await store.delete('work')).toBe(false);
  });

  it('keeps profiles apart', async () => {
    const store = makeStore();
    const work = makeTokens();
    const home = makeTokens();
    await store.set('work', work);
    await store.set('home', home);
    expect(await store.get('work')).toEqual(work);
    expect(await store.get('home')).toEqual(home);
    await store.delete('work');
    expect(await store.get('work')).toBeUndefined();
    expect(await store.get('home')).toEqual(home);
  });

  it('is not changed by editing the object passed in or returned', async () => {
    const store = makeStore();
    const tokens = makeTokens();
    await store.set('work', tokens);
    tokens.accessToken = 'edited';
    const got = await store.get('work');
    expect(got?.accessToken).not.toBe('edited');
    got!.scope = 'edited';
    expect((await store.get('work'))?.scope).not.toBe('edited');
  });
});

describe('file store', () => {
  it('writes the file 0600 in a 0700 folder, and says where', async () => {
    const dir = join(tmp, 'config');
    const store = createFileStore({ dir });
    await store.set('work', makeTokens());
    const file = join(dir, 'tokens', 'work.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'tokens'))).mode & 0o777).toBe(0o700);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(store.describe('work')).toBe(`file ${file} (mode 0600)`);
  });

  it('tightens a folder and a file that were looser', async () => {
    const dir = join(tmp, 'config');
    const folder = join(dir, 'tokens');
    const file = join(folder, 'work.json');
    await mkdir(folder, { recursive: true });
    await chmod(folder, 0o755);
    await writeFile(file, JSON.stringify(makeTokens()));
    await chmod(file, 0o644);
    const previousUmask = process.umask(0o000);
    try {
      await createFileStore({ dir }).set('work', makeTokens());
    } finally {
      process.umask(previousUmask);
    }
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('leaves no temporary file behind', async () => {
    const dir = join(tmp, 'config');
    const store = createFileStore({ dir });
    await store.set('work', makeTokens());
    await store.set('work', makeTokens(3000));
    expect(await readdir(join(dir, 'tokens'))).toEqual(['work.json']);
  });

  it('reports a corrupt file clearly instead of treating it as signed out', async () => {
    const dir = join(tmp, 'config');
    await mkdir(join(dir, 'tokens'), { recursive: true });
    await writeFile(join(dir, 'tokens', 'work.json'), '{"version":1,"accessToken":"abc');
    const err = await seedErrorOf(createFileStore({ dir }).get('work'));
    expect(err.code).toBe('TOKEN_STORE_FAILED');
    expect(err.message).toBe(`could not read tokens for profile work: the file ${join(dir, 'tokens', 'work.json')} is not valid JSON`);
    expect(err.hint).toBe('run `seed-mcp logout --profile work` then `seed-mcp login --profile work`');
  });

  it('refuses a profile name that would leave the folder', async () => {
    const dir = join(tmp, 'config');
    const err = await seedErrorOf(createFileStore({ dir }).set('../escape', makeTokens()));
    expect(err.code).toBe('USAGE');
    expect(await readdir(tmp)).toEqual([]);
  });
});

describe('chunk', () => {
  it('round-trips a 10 KB value through chunks that fit one Windows entry', () => {
    const value = JSON.stringify({ accessToken: randomBytes(7600).toString('base64url') }).padEnd(10_240, ' ');
    expect(value).toHaveLength(10_240);
    const { main, chunks } = splitValue(value);
    expect(chunks).toHaveLength(Math.ceil(10_240 / CHUNK_LIMIT));
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(CHUNK_LIMIT);
    expect(main.startsWith(CHUNK_HEADER_PREFIX)).toBe(true);
    expect(main.length).toBeLessThan(64);
    const header = parseChunkHeader(main);
    expect(header?.count).toBe(chunks.length);
    expect(joinChunks(header!, chunks)).toEqual({ ok: true, value });
  });

  it('keeps a value of exactly the limit whole, and splits one character more', () => {
    const atLimit = 'x'.repeat(CHUNK_LIMIT);
    expect(splitValue(atLimit)).toEqual({ main: atLimit, chunks: [] });
    expect(parseChunkHeader(atLimit)).toBeUndefined();

    const over = 'y'.repeat(CHUNK_LIMIT + 1);
    const { main, chunks } = splitValue(over);
    expect(chunks.map((c) => c.length)).toEqual([CHUNK_LIMIT, 1]);
    expect(joinChunks(parseChunkHeader(main)!, chunks)).toEqual({ ok: true, value: over });
  });

  it('never cuts a surrogate pair in two', () => {
    const value = `${'a'.repeat(CHUNK_LIMIT - 1)}😀${'b'.repeat(CHUNK_LIMIT)}`;
    const { main, chunks } = splitValue(value);
    expect(chunks[0]).toHaveLength(CHUNK_LIMIT - 1);
    for (const chunk of chunks) expect(chunk).toBe(Buffer.from(chunk, 'utf8').toString('utf8'));
    expect(joinChunks(parseChunkHeader(main)!, chunks)).toEqual({ ok: true, value });
  });

  it('refuses chunks that do not match the header', () => {
    const { main, chunks } = splitValue('z'.repeat(3000));
    const header = parseChunkHeader(main)!;
    expect(joinChunks(header, [chunks[0], chunks[1], 'tampered'])).toMatchObject({ ok: false, reason: expect.stringContaining('checksum') });
    expect(joinChunks(header, [chunks[0], null, chunks[2]])).toEqual({ ok: false, reason: 'chunk 2 of 3 is missing' });
    expect(joinChunks(header, chunks.slice(0, 2))).toMatchObject({ ok: false });
  });

  it('reads JSON and malformed headers as whole values', () => {
    expect(parseChunkHeader('{"version":1}')).toBeUndefined();
    expect(parseChunkHeader(`${CHUNK_HEADER_PREFIX}x:0123456789abcdef`)).toBeUndefined();
    expect(parseChunkHeader(`${CHUNK_HEADER_PREFIX}0:0123456789abcdef`)).toBeUndefined();
    expect(parseChunkHeader(`${CHUNK_HEADER_PREFIX}3:0123456789abcdef`)).toEqual({ count: 3, digest: '0123456789abcdef' });
  });
});

describe('keychain store (fake keychain)', () => {
  it('splits a large token set across numbered entries, each within the Windows limit', async () => {
    const keychain = fakeKeychain();
    const store = createKeychainStore({ entryFactory: keychain.factory });
    const tokens = makeTokens(8000);
    await store.set('work', tokens);
    const accounts = [...keychain.entries.keys()].sort();
    const count = Math.ceil(JSON.stringify(tokens).length / CHUNK_LIMIT);
    expect(accounts).toEqual(['work', ...Array.from({ length: count }, (_, i) => `work#${i + 1}`)].sort());
    expect(keychain.entries.get('work')?.startsWith(CHUNK_HEADER_PREFIX)).toBe(true);
    for (const value of keychain.entries.values()) expect(value.length).toBeLessThanOrEqual(CHUNK_LIMIT);
    expect(await store.get('work')).toEqual(tokens);
    expect(store.describe('work')).toBe('OS keychain (service seed-mcp, account work)');
  });

  it('removes stale chunks when a shorter value is written, and all chunks on delete', async () => {
    const keychain = fakeKeychain();
    const store = createKeychainStore({ entryFactory: keychain.factory });
    await store.set('work', makeTokens(8000));
    await store.set('work', makeTokens(2000));
    expect([...keychain.entries.keys()].sort()).toEqual(['work', 'work#1', 'work#2']);
    const small = makeTokens();
    await store.set('work', small);
    expect([...keychain.entries.keys()]).toEqual(['work']);
    expect(await store.get('work')).toEqual(small);

    await store.set('work', makeTokens(8000));
    // A chunk left over by a write that died half-way is swept too.
    keychain.entries.set(`work#${keychain.entries.size}`, 'orphan');
    expect(await store.delete('work')).toBe(true);
    expect(keychain.entries.size).toBe(0);
  });

  it('refuses chunks that do not match their header, without quoting them', async () => {
    const keychain = fakeKeychain();
    const store = createKeychainStore({ entryFactory: keychain.factory });
    const tokens = makeTokens(8000);
    await store.set('work', tokens);
    keychain.entries.set('work#2', keychain.entries.get('work#3')!);
    const err = await seedErrorOf(store.get('work'));
    expect(err.code).toBe('TOKEN_STORE_FAILED');
    expect(err.message).toContain('could not read tokens for profile work: the stored chunks do not match their checksum');
    expect(err.hint).toContain('seed-mcp logout --profile work');
    expect(`${err.message} ${err.hint}`).not.toContain(tokens.accessToken.slice(0, 40));
  });

  it('reports a failing keychain as TOKEN_STORE_FAILED with the reason', async () => {
    const failing: KeychainEntryFactory = () => {
      const fail = async (): Promise<never> => {
        throw Object.assign(new Error('Platform failure: DBus error: Failed to connect to socket /nowhere'), { code: 'GenericFailure' });
      };
      return { getPassword: fail, setPassword: fail, deletePassword: fail };
    };
    const err = await seedErrorOf(createKeychainStore({ entryFactory: failing }).set('work', makeTokens()));
    expect(err.code).toBe('TOKEN_STORE_FAILED');
    expect(err.message).toBe('could not reach the OS keychain: Platform failure: DBus error: Failed to connect to socket /nowhere');
    expect(err.hint).toContain('SEED_MCP_TOKEN_STORE=file');
    expect(await probeKeychain({ entryFactory: failing })).toEqual({
      ok: false,
      reason: 'Platform failure: DBus error: Failed to connect to socket /nowhere',
    });
  });

  it('cuts off a keychain call that hangs and ignores the abort signal', async () => {
    const store = createKeychainStore({ timeoutMs: 200, entryFactory: hangingKeychain });
    for (const call of [() => store.get('work'), () => store.set('work', makeTokens()), () => store.delete('work')]) {
      const started = performance.now();
      const err = await seedErrorOf(call());
      const elapsed = performance.now() - started;
      expect(err.code).toBe('TOKEN_STORE_FAILED');
      expect(err.message).toBe('could not reach the OS keychain: no answer within 200 ms');
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(1000);
    }
    const started = performance.now();
    expect(await probeKeychain({ timeoutMs: 200, entryFactory: hangingKeychain })).toEqual({ ok: false, reason: 'no answer within 200 ms' });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('openTokenStore', () => {
  it('auto falls back to the file store when the keychain hangs, and warns exactly once', async () => {
    const configDir = join(tmp, 'config');
    const warnings: string[] = [];
    const started = performance.now();
    const store = await openTokenStore({ kind: 'auto', configDir, timeoutMs: 200, entryFactory: hangingKeychain, warn: (m) => warnings.push(m) });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(store.kind).toBe('file');
    expect(warnings).toEqual([
      `OS keychain not available (no answer within 200 ms); storing tokens in ${join(configDir, 'tokens')} (mode 0600). ` +
        'Set SEED_MCP_TOKEN_STORE=file to silence this or fix the keychain (see `seed-mcp doctor`).',
    ]);
    const tokens = makeTokens();
    await store.set('work', tokens);
    expect(await store.get('work')).toEqual(tokens);
    expect(warnings).toHaveLength(1);
  });

  it('auto picks the keychain when it answers, silently', async () => {
    const warnings: string[] = [];
    const store = await openTokenStore({ kind: 'auto', configDir: tmp, entryFactory: fakeKeychain().factory, warn: (m) => warnings.push(m) });
    expect(store.kind).toBe('keychain');
    expect(warnings).toEqual([]);
  });

  it('rejects a forced keychain that does not answer', async () => {
    const warnings: string[] = [];
    const err = await seedErrorOf(openTokenStore({ kind: 'keychain', configDir: tmp, timeoutMs: 100, entryFactory: hangingKeychain, warn: (m) => warnings.push(m) }));
    expect(err.code).toBe('TOKEN_STORE_FAILED');
    expect(err.message).toBe('could not reach the OS keychain: no answer within 100 ms');
    expect(err.hint).toContain('SEED_MCP_TOKEN_STORE=file');
    expect(warnings).toEqual([]);
  });

  it('opens file and memory stores without touching the keychain', async () => {
    const keychain = fakeKeychain();
    const warn = (m: string) => expect.fail(`unexpected warning: ${m}`);
    expect((await openTokenStore({ kind: 'file', configDir: tmp, entryFactory: keychain.factory, warn })).kind).toBe('file');
    expect((await openTokenStore({ kind: 'memory', configDir: tmp, entryFactory: keychain.factory, warn })).kind).toBe('memory');
    expect(keychain.calls()).toBe(0);
  });

  it('names the valid values for an unknown kind', async () => {
    const err = await seedErrorOf(openTokenStore({ kind: 'vault' as TokenStoreChoice, configDir: tmp, warn: () => {} }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('could not use token store "vault": it must be one of auto, keychain, file, memory');
    expect(err.hint).toContain('SEED_MCP_TOKEN_STORE');
  });
});
