import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SeedError } from '../../shared/errors.js';
import { PROFILE_RE } from '../paths.js';
import type { StoredTokens, TokenStore } from './types.js';

/** Options of {@link createFileStore}. */
export interface FileStoreOptions {
  /** The config dir (see `configDir` in `../paths.ts`); tokens go to `<dir>/tokens/<profile>.json`. */
  dir: string;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** The folder that holds one `<profile>.json` per profile. */
export function tokensDir(dir: string): string {
  return join(dir, 'tokens');
}

/**
 * A token store in plain files, readable by the owner only: the fallback where no OS keychain
 * answers (headless Linux, containers, CI). Files are mode 0600 in a 0700 folder, and every write
 * replaces the file atomically, so a crash never leaves half a token set behind.
 *
 * @example
 * const store = createFileStore({ dir: configDir(process.env) });
 * store.describe('work'); // 'file /home/me/.config/seed-mcp/tokens/work.json (mode 0600)'
 */
export function createFileStore(options: FileStoreOptions): TokenStore {
  const folder = tokensDir(options.dir);
  const pathOf = (profile: string): string => join(folder, `${checkProfile(profile)}.json`);

  return {
    kind: 'file',
    describe: (profile) => `file ${pathOf(profile)} (mode 0600)`,

    async get(profile) {
      const file = pathOf(profile);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw new SeedError('TOKEN_STORE_FAILED', `could not read tokens for profile ${profile}: ${describeFsError(err)}`, {
          hint: `check that ${file} belongs to you and is readable (mode 0600)`,
          cause: err,
        });
      }
      return parseStoredTokens(text, profile, 'the file');
    },

    async set(profile, tokens) {
      const file = pathOf(profile);
      try {
        await ensurePrivateDir(folder);
        await writeAtomically(folder, file, `${JSON.stringify(tokens)}\n`);
      } catch (err) {
        throw new SeedError('TOKEN_STORE_FAILED', `could not write tokens for profile ${profile}: ${describeFsError(err)}`, {
          hint: `check that ${folder} belongs to you and is writable (mode 0700), or set SEED_MCP_TOKEN_STORE=memory`,
          cause: err,
        });
      }
    },

    async delete(profile) {
      const file = pathOf(profile);
      try {
        await unlink(file);
        return true;
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return false;
        throw new SeedError('TOKEN_STORE_FAILED', `could not delete tokens for profile ${profile}: ${describeFsError(err)}`, {
          hint: `remove ${file} by hand`,
          cause: err,
        });
      }
    },
  };
}

/**
 * Parses a stored token set. A file or entry that is not JSON is an error, not "signed out": hiding
 * it would make the next login write over something a person may want to look at.
 *
 * @param source what held the text, for the message: `the file`, `the keychain entry`.
 */
export function parseStoredTokens(text: string, profile: string, source: string): StoredTokens {
  const hint = `run \`seed-mcp logout --profile ${profile}\` then log in again`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which holds tokens: leave it out.
    throw new SeedError('TOKEN_STORE_FAILED', `could not read tokens for profile ${profile}: ${source} is not valid JSON`, { hint });
  }
  if (typeof value !== 'object' || value === null || (value as { version?: unknown }).version !== 1) {
    throw new SeedError('TOKEN_STORE_FAILED', `could not read tokens for profile ${profile}: ${source} does not hold a seed-mcp token set (version 1)`, {
      hint: `${hint}; a newer seed-mcp may have written it`,
    });
  }
  return value as StoredTokens;
}

/**
 * Profile names become file and keychain account names: a name such as `../x` must never reach
 * a path. The CLI checks them first; this is the last line.
 */
export function checkProfile(profile: string): string {
  if (!PROFILE_RE.test(profile)) {
    throw new SeedError('USAGE', `could not use profile "${profile}": use letters, digits, '.', '_' or '-' (64 at most)`, {
      hint: 'pass --profile with a simple name such as `work`',
    });
  }
  return profile;
}

async function ensurePrivateDir(folder: string): Promise<void> {
  // `mode` applies to every folder mkdir creates (the config dir too), minus the umask.
  await mkdir(folder, { recursive: true, mode: DIR_MODE });
  // Windows ignores POSIX modes; the user profile's ACLs protect the folder there.
  if (process.platform === 'win32') return;
  // A folder made earlier by hand, or under a loose umask, would let others list the profiles.
  const { mode } = await stat(folder);
  if ((mode & 0o777) !== DIR_MODE) await chmod(folder, DIR_MODE);
}

/**
 * Writes through a temporary file in the same folder (so `rename` stays on one filesystem and is
 * atomic) created with 0600 from the start: the tokens are never readable by others, not even for
 * the moment between create and chmod.
 */
async function writeAtomically(folder: string, file: string, text: string): Promise<void> {
  const tmp = join(folder, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(tmp, 'wx', FILE_MODE);
    // The umask can only take bits away, but a 0277 umask would leave 0400: set exactly 0600.
    await handle.chmod(FILE_MODE);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describeFsError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
