import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SeedError } from '../shared/errors.js';
import { DEFAULT_SCOPES, type LocalSettings } from './settings.js';

export interface ClaudeEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Where Claude Desktop keeps its config on this platform. */
export function claudeConfigPath(env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json');
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Claude', 'claude_desktop_config.json');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'Claude', 'claude_desktop_config.json');
}

/**
 * The stdio entry that runs `seed-mcp serve` for this profile: `npx -y seed-mcp serve` with the
 * profile's issuer, client id and upstream in `env`. Never a secret: a confidential client is
 * named by its secret file.
 */
export function claudeEntry(settings: LocalSettings): { name: string; entry: ClaudeEntry } {
  const env: Record<string, string> = {};
  if (settings.profile !== 'default') env.SEED_MCP_PROFILE = settings.profile;
  if (settings.issuer) env.SEED_MCP_ISSUER = settings.issuer;
  if (settings.clientId) env.SEED_MCP_CLIENT_ID = settings.clientId;
  if (settings.clientSecretFile) env.SEED_MCP_CLIENT_SECRET_FILE = settings.clientSecretFile;
  if (settings.scopes !== DEFAULT_SCOPES) env.SEED_MCP_SCOPES = settings.scopes;
  if (settings.resource) env.SEED_MCP_RESOURCE = settings.resource;
  if (settings.upstream) env.SEED_MCP_UPSTREAM = settings.upstream;
  return {
    name: settings.profile === 'default' ? 'seed-mcp' : `seed-mcp-${settings.profile}`,
    entry: { command: 'npx', args: ['-y', 'seed-mcp', 'serve'], env },
  };
}

export interface InstallResult {
  path: string;
  name: string;
  /** Copy of the previous file, when there was one. */
  backup?: string;
  replaced: boolean;
}

/**
 * Merges the entry into Claude Desktop's config under `mcpServers[name]`, leaving every other key
 * and server as it was. The previous file is copied to `<file>.bak-<time>` first; a file that is
 * not valid JSON is left untouched and reported.
 */
export async function installClaudeEntry(path: string, name: string, entry: ClaudeEntry, now = new Date()): Promise<InstallResult> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SeedError('CONFIG_INVALID', `could not read ${path}: ${(err as Error).message}`, { hint: 'check the file permissions' });
    }
  }
  let config: Record<string, unknown> = {};
  if (text !== undefined && text.trim()) {
    try {
      config = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new SeedError('CONFIG_INVALID', `could not update ${path}: it is not valid JSON, so it was left untouched`, {
        hint: 'fix the file (or move it away), then run `seed-mcp config claude --install` again; `seed-mcp config claude` prints the entry to paste',
      });
    }
    if (!config || typeof config !== 'object' || Array.isArray(config)) {
      throw new SeedError('CONFIG_INVALID', `could not update ${path}: it does not hold a JSON object`, { hint: 'fix the file, then run the command again' });
    }
  }
  const servers = (config.mcpServers ?? {}) as Record<string, unknown>;
  if (typeof servers !== 'object' || Array.isArray(servers)) {
    throw new SeedError('CONFIG_INVALID', `could not update ${path}: "mcpServers" is not an object`, { hint: 'fix the file, then run the command again' });
  }
  const replaced = name in servers;
  config.mcpServers = { ...servers, [name]: entry };

  await mkdir(dirname(path), { recursive: true });
  let backup: string | undefined;
  let mode = 0o600;
  if (text !== undefined) {
    const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    backup = `${path}.bak-${stamp}`;
    await copyFile(path, backup);
    mode = (await stat(path)).mode & 0o777;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(config, null, 2) + '\n', { mode });
  await rename(tmp, path);
  return { path, name, backup, replaced };
}
