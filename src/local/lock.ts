import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SeedError } from '../shared/errors.js';
import { processAlive } from '../shared/process-alive.js';

export interface LockOptions {
  /** Give up after this long. */
  timeoutMs?: number;
  /**
   * A lock older than this is taken over even when its holder lives: it hung or the machine
   * slept. Longer than the longest refresh (openid-client's requests time out well before it).
   */
  staleMs?: number;
}

/** What a lock file holds: `<pid> <ms since the epoch> <random>`. */
const CONTENT_RE = /^(\d+) (\d+) [0-9a-z]+$/;

const code = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code;

/**
 * Creates `path` holding `content`, or answers false when it exists. The file appears with its
 * content in one step (written aside, then hard-linked into place, which fails when the path
 * exists), so a lock file is never seen empty while its holder lives: an empty or unreadable one
 * was left by a process that died, and is taken over at once.
 */
async function create(path: string, content: string): Promise<boolean> {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.new`;
  await writeFile(aside, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(aside, path);
    return true;
  } catch (err) {
    if (code(err) === 'EEXIST') return false;
    // A file system without hard links: exclusive create, then write (a reader may then see the
    // file empty for a moment, and take it over: two refreshes at worst, as before locks).
    if (['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV'].includes(code(err) ?? '')) {
      try {
        await writeFile(path, content, { mode: 0o600, flag: 'wx' });
        return true;
      } catch (e) {
        if (code(e) === 'EEXIST') return false;
        throw e;
      }
    }
    throw err;
  } finally {
    await unlink(aside).catch(() => {});
  }
}

/** Why the lock file at `path` has no live owner, with the inode judged; undefined while it has one. */
async function staleness(path: string, staleMs: number): Promise<{ reason: string; ino: bigint } | 'gone' | undefined> {
  let ino: bigint;
  let content: string;
  try {
    // Inode and content from one open file, so that the verdict is about the file it names.
    const handle = await open(path, 'r');
    try {
      ino = (await handle.stat({ bigint: true })).ino;
      content = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (code(err) === 'ENOENT') return 'gone';
    try {
      ino = (await lstat(path, { bigint: true })).ino;
    } catch {
      return 'gone';
    }
    return { reason: `unreadable (${code(err) ?? 'error'})`, ino };
  }
  const m = CONTENT_RE.exec(content);
  if (!m) return { reason: content === '' ? 'empty' : 'not a seed-mcp lock', ino };
  const pid = Number(m[1]);
  if (!processAlive(pid)) return { reason: `its process ${pid} is gone`, ino };
  if (Date.now() - Number(m[2]) > staleMs) return { reason: `older than ${staleMs} ms`, ino };
  return undefined;
}

/**
 * Removes the lock file at `path` if it is still the one judged stale (inode `ino`). It is moved
 * aside first (atomic): should another process have taken over and locked in the meantime, the
 * file moved is theirs, and it is linked back in place at once instead of removed.
 */
async function removeStale(path: string, ino: bigint): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return; // gone already: someone else took it over
  }
  try {
    const moved = await lstat(aside, { bigint: true });
    if (moved.ino !== ino) await link(aside, path).catch(() => {});
  } finally {
    await unlink(aside).catch(() => {});
  }
}

/**
 * A cross-process lock on a file, so that two processes of one profile make one refresh. A lock
 * file with no live owner (empty, unreadable, a dead pid, or older than `staleMs`) is taken over
 * at once, safely when several processes find it together. Returns a release.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const token = `${process.pid} ${Date.now()} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + timeoutMs;
  let wait = 10;
  let takeovers = 0;
  for (;;) {
    try {
      if (await create(path, token)) {
        return async () => {
          try {
            if ((await readFile(path, 'utf8')) === token) await unlink(path);
          } catch {
            // Already gone or taken over: nothing of ours to release.
          }
        };
      }
    } catch (err) {
      throw new SeedError('TOKEN_STORE_FAILED', `could not create lock ${path}: ${(err as Error).message}`, { hint: `check the permissions of ${dirname(path)}` });
    }
    const stale = await staleness(path, staleMs);
    if (stale === 'gone') continue; // released between our calls: try again at once
    if (stale) {
      await removeStale(path, stale.ino);
      // At once, a few times: more means it cannot be removed (a read-only folder), and waiting
      // for the deadline says so.
      if (++takeovers <= 5) continue;
    }
    if (Date.now() > deadline) {
      throw new SeedError('LOCK_TIMEOUT', `could not lock ${path}: another seed-mcp process holds it`, {
        hint: `wait for the other process, or delete ${path} if none runs`,
      });
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 200);
  }
}
