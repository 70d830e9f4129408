/**
 * One demo per data folder. Two demos on other ports writing the same IdP state and upstreams
 * file would mix their sessions and children; the second one is refused with what to do instead.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SeedError } from '../shared/errors.js';
import { processAlive } from '../shared/process-alive.js';

const LOCK_FILE = 'demo.lock';

interface Holder {
  pid: number;
  issuer: string;
  mcpUrl: string;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const h = JSON.parse(await readFile(path, 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' ? { pid: h.pid, issuer: String(h.issuer ?? '?'), mcpUrl: String(h.mcpUrl ?? '?') } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data folder for this demo (a `demo.lock` file naming its pid and servers); a lock
 * left by a demo that is gone is taken over. Resolves with the function that releases it.
 */
export async function lockDemoData(dataDir: string, me: { issuer: string; mcpUrl: string }): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, LOCK_FILE);
  const body = JSON.stringify({ pid: process.pid, ...me }) + '\n';
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, body, { flag: 'wx', mode: 0o600 });
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const holder = await readHolder(path);
    if (holder && holder.pid !== process.pid && processAlive(holder.pid)) {
      throw new SeedError('USAGE', `could not use the demo data folder ${dataDir}: the demo with the MCP server ${holder.mcpUrl} (pid ${holder.pid}) is using it`, {
        hint: `stop that demo (Ctrl-C in its terminal) first, or give this one its own folder: --data-dir ${join(dataDir, '..', 'another')}`,
      });
    }
    await rm(path, { force: true });
  }
}
