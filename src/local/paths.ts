import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The config dir: `SEED_MCP_CONFIG_DIR`, else `$XDG_CONFIG_HOME/seed-mcp`, else
 * `%APPDATA%\seed-mcp` on Windows, else `~/.config/seed-mcp` (as `gh` does on every Unix).
 * `env` is passed in: only the entry point reads `process.env`.
 */
export function configDir(env: Record<string, string | undefined>): string {
  if (env.SEED_MCP_CONFIG_DIR) return env.SEED_MCP_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'seed-mcp');
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'seed-mcp');
  return join(homedir(), '.config', 'seed-mcp');
}

/** Profile names become file and keychain account names: keep them simple. */
export const PROFILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
