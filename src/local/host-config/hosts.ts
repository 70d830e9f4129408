import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HostEntry } from './entry.js';

export type Env = Record<string, string | undefined>;

/** One MCP host: where its config file is, its format, and where and how a stdio entry goes in it. */
export interface HostSpec {
  /** The `seed-mcp config <id>` subcommand. */
  id: string;
  /** Display name. */
  name: string;
  format: 'json' | 'toml';
  /** The key (JSON) or table (TOML) that holds the servers by name. */
  serversKey: string;
  /** The default config file on this platform. */
  defaultPath(env: Env, platform?: NodeJS.Platform): string;
  /** The host's shape of a stdio entry. */
  shape(entry: HostEntry): Record<string, unknown>;
  /** What to do after --install for the host to pick it up. */
  restart: string;
}

const plain = (e: HostEntry) => ({ command: e.command, args: e.args, env: e.env });
const typed = (e: HostEntry) => ({ type: 'stdio', command: e.command, args: e.args, env: e.env });

/** `%APPDATA%`, `~/Library/Application Support` or `$XDG_CONFIG_HOME` (`~/.config`). */
function appConfigDir(env: Env, platform: NodeJS.Platform): string {
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support');
  if (platform === 'win32') return env.APPDATA ?? join(homedir(), 'AppData', 'Roaming');
  return env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
}

export const HOSTS: readonly HostSpec[] = [
  {
    id: 'claude',
    name: 'Claude Desktop',
    format: 'json',
    serversKey: 'mcpServers',
    defaultPath: (env, platform = process.platform) => join(appConfigDir(env, platform), 'Claude', 'claude_desktop_config.json'),
    shape: plain,
    restart: 'Restart Claude Desktop to use it.',
  },
  {
    id: 'claude-code',
    name: 'Claude Code',
    format: 'json',
    serversKey: 'mcpServers',
    defaultPath: () => join(homedir(), '.claude.json'),
    shape: typed,
    restart: 'Start a new Claude Code session to use it.',
  },
  {
    id: 'cursor',
    name: 'Cursor',
    format: 'json',
    serversKey: 'mcpServers',
    defaultPath: () => join(homedir(), '.cursor', 'mcp.json'),
    shape: plain,
    restart: 'Restart Cursor to use it.',
  },
  {
    id: 'vscode',
    name: 'VS Code',
    format: 'json',
    serversKey: 'servers',
    defaultPath: (env, platform = process.platform) => join(appConfigDir(env, platform), 'Code', 'User', 'mcp.json'),
    shape: typed,
    restart: 'Reload VS Code (or start the server from its MCP view) to use it.',
  },
  {
    id: 'windsurf',
    name: 'Windsurf',
    format: 'json',
    serversKey: 'mcpServers',
    defaultPath: () => join(homedir(), '.codeium', 'windsurf', 'mcp_config.json'),
    shape: plain,
    restart: 'Refresh the MCP servers in Windsurf to use it.',
  },
  {
    id: 'codex',
    name: 'Codex',
    format: 'toml',
    serversKey: 'mcp_servers',
    defaultPath: (env) => join(env.CODEX_HOME ?? join(homedir(), '.codex'), 'config.toml'),
    shape: plain,
    restart: 'Start a new Codex session to use it.',
  },
];

export function hostById(id: string): HostSpec | undefined {
  return HOSTS.find((h) => h.id === id);
}
