import { constants } from 'node:fs';
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { SeedError } from '../../shared/errors.js';
import type { HostEntry } from './entry.js';
import type { HostSpec } from './hosts.js';

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => Boolean(v) && typeof v === 'object' && !Array.isArray(v);

function parseDoc(format: HostSpec['format'], text: string): Doc {
  return format === 'toml' ? (parseToml(text) as Doc) : (JSON.parse(text) as Doc);
}

function formatDoc(format: HostSpec['format'], doc: Doc): string {
  return format === 'toml' ? stringifyToml(doc) + '\n' : JSON.stringify(doc, null, 2) + '\n';
}

/** The entry as the host's file holds it, alone: what `seed-mcp config <host>` prints. */
export function printEntry(host: HostSpec, name: string, entry: HostEntry): string {
  return formatDoc(host.format, { [host.serversKey]: { [name]: host.shape(entry) } });
}

export interface InstallResult {
  path: string;
  name: string;
  /** Copy of the previous file, when there was one. */
  backup?: string;
  replaced: boolean;
}

/**
 * Merges the entry into the host's config under `<serversKey>.<name>`, leaving every other key and
 * server as it was. The previous file is copied to `<file>.bak-<time>` first; a file that does not
 * parse is left untouched and reported. TOML is parsed and written again: its comments are lost
 * (the backup keeps them).
 */
export async function installEntry(host: HostSpec, path: string, name: string, entry: HostEntry, now = new Date()): Promise<InstallResult> {
  const kind = host.format.toUpperCase();
  const again = `then run \`seed-mcp config ${host.id} --install\` again`;
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SeedError('CONFIG_INVALID', `could not read ${path}: ${(err as Error).message}`, { hint: 'check the file permissions' });
    }
  }
  let doc: Doc = {};
  if (text !== undefined && text.trim()) {
    let parsed: unknown;
    try {
      parsed = parseDoc(host.format, text);
    } catch {
      throw new SeedError('CONFIG_INVALID', `could not update ${path}: it is not valid ${kind}, so it was left untouched`, {
        hint: `fix the file (or move it away), ${again}; \`seed-mcp config ${host.id}\` prints the entry to paste`,
      });
    }
    if (!isObject(parsed)) {
      throw new SeedError('CONFIG_INVALID', `could not update ${path}: it does not hold a ${kind} object`, { hint: `fix the file, ${again}` });
    }
    doc = parsed;
  }
  const servers = doc[host.serversKey] ?? {};
  if (!isObject(servers)) {
    throw new SeedError('CONFIG_INVALID', `could not update ${path}: "${host.serversKey}" is not ${host.format === 'toml' ? 'a table' : 'an object'}`, {
      hint: `fix the file, ${again}`,
    });
  }
  const replaced = name in servers;
  doc[host.serversKey] = { ...servers, [name]: host.shape(entry) };
  const out = formatDoc(host.format, doc);

  await mkdir(dirname(path), { recursive: true });
  let backup: string | undefined;
  let mode = 0o600;
  if (text !== undefined) {
    backup = await backUp(path, now);
    mode = (await stat(path)).mode & 0o777;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, out, { mode });
  await rename(tmp, path);
  return { path, name, backup, replaced };
}

/** Copies the file to `<file>.bak-<time>`, never over an earlier backup of the same second. */
async function backUp(path: string, now: Date): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  for (let i = 0; ; i++) {
    const backup = `${path}.bak-${stamp}${i ? `-${i}` : ''}`;
    try {
      await copyFile(path, backup, constants.COPYFILE_EXCL);
      return backup;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 99) throw err;
    }
  }
}
