import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SeedError } from '../shared/errors.js';

export interface LockOptions {
  /** Give up after this long. */
  timeoutMs?: number;
  /** A lock older than this is taken over: its holder hung or the machine slept. */
  staleMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A cross-process lock on a file created with O_EXCL, so that two processes of one profile make
 * one refresh. Stale locks (dead holder, or older than `staleMs`) are taken over. Returns a release.
 */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const token = `${process.pid} ${Date.now()} ${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + timeoutMs;
  let wait = 10;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(token);
      await handle.close();
      return async () => {
        try {
          if ((await readFile(path, 'utf8')) === token) await unlink(path);
        } catch {
          // Already gone or taken over: nothing of ours to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SeedError('TOKEN_STORE_FAILED', `could not create lock ${path}: ${(err as Error).message}`, { hint: `check the permissions of ${dirname(path)}` });
      }
    }
    try {
      const [content, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      const pid = Number(content.split(' ')[0]);
      if ((pid && !alive(pid)) || Date.now() - info.mtimeMs > staleMs) await unlink(path).catch(() => {});
    } catch {
      // The holder released it between our calls: try again at once.
      continue;
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
