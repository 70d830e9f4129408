import { isSeedError, SeedError } from '../../shared/errors.js';
import { redact } from '../../shared/redact.js';
import { joinChunks, parseChunkHeader, splitValue } from './chunk.js';
import { checkProfile } from './file.js';
import { CorruptTokensError, parseStoredTokens } from './validate.js';
import type { TokenStore } from './types.js';

/** Service name of every seed-mcp keychain entry; the account is the profile. */
export const KEYCHAIN_SERVICE = 'seed-mcp';

/** How long one store operation may wait on the keychain before it counts as unavailable. */
export const DEFAULT_KEYCHAIN_TIMEOUT_MS = 3000;

/**
 * One keychain entry, as `@napi-rs/keyring`'s `AsyncEntry` offers it. The signal asks the native
 * call to stop; the caller does not rely on it being honoured.
 */
export interface KeychainEntry {
  /** Resolves `null` when there is no such entry. */
  getPassword(signal?: AbortSignal): Promise<string | null>;
  setPassword(password: string, signal?: AbortSignal): Promise<void>;
  /** Resolves `false` when there was no such entry. */
  deletePassword(signal?: AbortSignal): Promise<boolean>;
}

/** Makes the entry for `service` and `account`. A test seam: tests pass fakes that fail or hang. */
export type KeychainEntryFactory = (service: string, account: string) => KeychainEntry;

/** Options of {@link createKeychainStore} and {@link probeKeychain}. */
export interface KeychainOptions {
  /** Upper bound for one store operation, all of its keychain calls included. Default 3000. */
  timeoutMs?: number;
  /** Default: `@napi-rs/keyring`'s `AsyncEntry`, pinned to Secret Service on Linux. */
  entryFactory?: KeychainEntryFactory;
}

/** Answer of {@link probeKeychain}. */
export type KeychainProbe = { ok: true } | { ok: false; reason: string };

/**
 * A token store in the OS keychain (macOS Keychain, Windows Credential Manager, Secret Service on
 * Linux): service `seed-mcp`, account = profile. Values too long for one Windows entry are split
 * across `<profile>#1…#N` (see `./chunk.ts`). Every operation is cut off after `timeoutMs`, since a
 * D-Bus or KWallet call can hang for good; a failure or timeout rejects with `TOKEN_STORE_FAILED`.
 *
 * @example
 * const store = createKeychainStore({ timeoutMs: 3000 });
 * await store.set('work', tokens);
 */
export function createKeychainStore(options: KeychainOptions = {}): TokenStore {
  const timeoutMs = checkTimeout(options.timeoutMs);
  const factory = options.entryFactory ?? nativeEntryFactory;
  const entry = (account: string): KeychainEntry => factory(KEYCHAIN_SERVICE, account);

  /** Reads the main entry's header: how many chunk entries the current value uses. */
  const chunkCount = async (profile: string, signal: AbortSignal): Promise<number> => {
    const main = await entry(profile).getPassword(signal);
    return main === null ? 0 : (parseChunkHeader(main)?.count ?? 0);
  };

  /**
   * Deletes chunk entries from `from` on: at least up to `known` (what the header said), then on
   * while entries keep turning up, which also sweeps chunks left by a write that died half-way.
   */
  const deleteChunks = async (profile: string, from: number, known: number, signal: AbortSignal): Promise<void> => {
    // The cap only guards against a keychain that claims every delete succeeded.
    for (let i = from; i <= Math.max(known, from) + 1000; i++) {
      signal.throwIfAborted();
      const deleted = await entry(chunkAccount(profile, i)).deletePassword(signal);
      if (!deleted && i > known) return;
    }
  };

  return {
    kind: 'keychain',
    describe: (profile) => `OS keychain (service ${KEYCHAIN_SERVICE}, account ${checkProfile(profile)})`,

    get: (profile) =>
      withKeychain(timeoutMs, async (signal) => {
        checkProfile(profile);
        const main = await entry(profile).getPassword(signal);
        if (main === null) return undefined;
        const header = parseChunkHeader(main);
        if (header === undefined) return parseStoredTokens(main, profile, 'the keychain entry');
        const chunks: (string | null)[] = [];
        for (let i = 1; i <= header.count; i++) {
          signal.throwIfAborted();
          chunks.push(await entry(chunkAccount(profile, i)).getPassword(signal));
        }
        const joined = joinChunks(header, chunks);
        if (!joined.ok) {
          throw new CorruptTokensError(
            `could not read tokens for profile ${profile}: ${joined.reason} in the OS keychain`,
            `run \`seed-mcp logout --profile ${profile}\` then \`seed-mcp login --profile ${profile}\``,
          );
        }
        return parseStoredTokens(joined.value, profile, 'the keychain entry');
      }),

    set: (profile, tokens) =>
      withKeychain(timeoutMs, async (signal) => {
        checkProfile(profile);
        const { main, chunks } = splitValue(JSON.stringify(tokens));
        const previous = await chunkCount(profile, signal);
        // Chunks first, header last: until the header is written a reader still sees the old
        // header, whose digest then fails against the new chunks instead of mixing two logins.
        for (const [i, chunk] of chunks.entries()) {
          signal.throwIfAborted();
          await entry(chunkAccount(profile, i + 1)).setPassword(chunk, signal);
        }
        signal.throwIfAborted();
        await entry(profile).setPassword(main, signal);
        await deleteChunks(profile, chunks.length + 1, previous, signal);
      }),

    delete: (profile) =>
      withKeychain(timeoutMs, async (signal) => {
        checkProfile(profile);
        const count = await chunkCount(profile, signal);
        // Main entry first: should we stop half-way, what is left are chunks nobody points to,
        // which the next write sweeps, rather than a header whose chunks are gone.
        const deleted = await entry(profile).deletePassword(signal);
        await deleteChunks(profile, 1, count, signal);
        return deleted;
      }),
  };
}

/**
 * Checks that the OS keychain answers, with one harmless read (an entry that never exists) cut
 * off after `timeoutMs`. Never rejects. Used by `doctor` and by `auto` token store selection.
 *
 * @example
 * const probe = await probeKeychain({ timeoutMs: 3000 });
 * if (!probe.ok) console.error(`no keychain: ${probe.reason}`);
 */
export async function probeKeychain(options: KeychainOptions = {}): Promise<KeychainProbe> {
  const timeoutMs = checkTimeout(options.timeoutMs);
  const factory = options.entryFactory ?? nativeEntryFactory;
  try {
    // '#' never appears in a profile name and chunk numbers start at 1: no real entry is read.
    await raceDeadline(timeoutMs, (signal) => factory(KEYCHAIN_SERVICE, PROBE_ACCOUNT).getPassword(signal));
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: reasonOf(err, timeoutMs) };
  }
}

const PROBE_ACCOUNT = 'seed-mcp-probe#0';

function chunkAccount(profile: string, index: number): string {
  return `${profile}#${index}`;
}

/**
 * The real keychain. The native module is imported on first use, so commands that never touch
 * tokens (`serve`) never load it, and a platform without a prebuilt binary fails here, inside the
 * timeout and the error mapping, rather than at start-up.
 */
const nativeEntryFactory: KeychainEntryFactory = (service, account) => {
  let opened: Promise<import('@napi-rs/keyring').AsyncEntry> | undefined;
  const open = () =>
    (opened ??= import('@napi-rs/keyring').then(
      // Pinned on Linux: the default falls back to kernel keyutils, which is per boot session
      // (tokens gone at logout) and fails with AccessDenied in many containers.
      ({ AsyncEntry }) => new AsyncEntry(service, account, { linux: { store: 'secret-service' } }),
    ));
  return {
    getPassword: async (signal) => (await open()).getPassword(signal),
    setPassword: async (password, signal) => (await open()).setPassword(password, signal),
    deletePassword: async (signal) => (await open()).deletePassword(signal),
  };
};

class KeychainTimeout extends Error {}

/**
 * Runs `work` against a deadline. The signal is aborted at the deadline, and the deadline is also
 * raced, because a native call stuck in D-Bus may never look at the signal.
 */
async function raceDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new KeychainTimeout(`no answer within ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** {@link raceDeadline}, with anything but our own errors reported as an unreachable keychain. */
async function withKeychain<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await raceDeadline(timeoutMs, work);
  } catch (err) {
    if (isSeedError(err)) throw err;
    throw new SeedError('TOKEN_STORE_FAILED', `could not reach the OS keychain: ${reasonOf(err, timeoutMs)}`, {
      hint: 'make sure a keyring daemon is running and unlocked (`seed-mcp doctor` checks it), or set SEED_MCP_TOKEN_STORE=file to keep tokens in a 0600 file',
      cause: err,
    });
  }
}

function reasonOf(err: unknown, timeoutMs: number): string {
  if (err instanceof KeychainTimeout) return err.message;
  if (err instanceof Error && err.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const message = err instanceof Error ? err.message : String(err);
  // Native messages name D-Bus paths and errors, not secrets; redact anyway, it costs nothing.
  return redact(message.trim()) || 'unknown error';
}

function checkTimeout(timeoutMs: number | undefined): number {
  const value = timeoutMs ?? DEFAULT_KEYCHAIN_TIMEOUT_MS;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`keychain timeout must be a positive number of ms, got ${value}`);
  return value;
}
