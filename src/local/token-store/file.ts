import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SeedError } from '../../shared/errors.js';
import { PROFILE_RE } from '../paths.js';
import type { TokenStore } from './types.js';
import { parseStoredTokens } from './validate.js';

/** Options of {@link createFileStore}. */
export interface FileStoreOptions {
  /** The config dir (see `configDir` in `../paths.ts`); tokens go to `<dir>/tokens/<profile>.json`. */
  dir: string;
  /**
   * Says what the store fixed on its own, once (a token file others could read, made 0600 again);
   * the CLI writes it to stderr.
   */
  notice?: (message: string) => void;
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
      let handle: FileHandle | undefined;
      try {
        handle = await open(file, 'r');
        // Through the open handle: the file whose mode is checked is the one read.
        if (process.platform !== 'win32') {
          const { mode } = await handle.stat();
          if ((mode & 0o077) !== 0) {
            await handle.chmod(FILE_MODE);
            options.notice?.(
              `the token file ${file} was readable by others (mode 0${(mode & 0o777).toString(8)}); it is mode 0600 again. ` +
                'If others could log in to this machine, sign out and in again to replace the tokens.',
            );
          }
        }
        text = await handle.readFile('utf8');
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw new SeedError('TOKEN_STORE_FAILED', `could not read tokens for profile ${profile}: ${describeFsError(err)}`, {
          hint: `check that ${file} belongs to you and is readable (mode 0600)`,
          cause: err,
        });
      } finally {
        await handle?.close().catch(() => undefined);
      }
      return parseStoredTokens(text, profile, `the file ${file}`);
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

export { parseStoredTokens } from './validate.js';

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
