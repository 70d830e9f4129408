import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeedError } from '../../shared/errors.js';
import { DEFAULT_SCOPES, type LocalSettings } from '../settings.js';

/** A stdio server entry: what a host runs, and the environment it runs it with. */
export interface HostEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The running `node` (as it was started: a version manager's or Homebrew's stable link stays a
 * link) and this install's `bin/seed-mcp.js`, both absolute.
 */
export interface Launcher {
  node: string;
  script: string;
}

/**
 * The install this code runs from: `bin/seed-mcp.js` at the package root, found from this file
 * whether it runs bundled (`dist/cli.cjs`, whose `import.meta.url` is the bundle's URL) or from
 * source (`src/local/host-config/`). The script's symlinks are resolved: the entry names the real
 * file, not a shim that only a PATH lookup finds.
 */
export function launcher(from: string = fileURLToPath(import.meta.url), node: string = process.execPath): Launcher {
  let dir = dirname(from);
  for (let i = 0; i < 6; i++) {
    const script = join(dir, 'bin', 'seed-mcp.js');
    try {
      if (existsSync(script) && (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'seed-mcp') {
        return { node, script: realpathSync(script) };
      }
    } catch {
      // Keep looking further up.
    }
    dir = dirname(dir);
  }
  throw new SeedError('CONFIG_INVALID', `could not find seed-mcp's bin/seed-mcp.js above ${from}`, {
    hint: 'run this command from an installed seed-mcp (npm install -g seed-mcp), not from a copied file',
  });
}

/** The server's name in a host's config: `seed-mcp`, or `seed-mcp-<profile>`. */
export function serverName(profile: string): string {
  return profile === 'default' ? 'seed-mcp' : `seed-mcp-${profile}`;
}

/**
 * The stdio entry that runs `seed-mcp serve` for this profile: the absolute `node` and this
 * install's entry script, so that a desktop app starts it without a shell's PATH and without
 * asking a registry what `seed-mcp` is. `env` carries the profile's issuer, client id and upstream;
 * never a secret: a confidential client is named by its secret file.
 */
export function serveEntry(settings: LocalSettings, run: Launcher = launcher()): { name: string; entry: HostEntry } {
  const env: Record<string, string> = {};
  if (settings.profile !== 'default') env.SEED_MCP_PROFILE = settings.profile;
  // A discovered authorization server is found again from the upstream: the entry pins nothing of it.
  const discovered = settings.discovered && settings.upstream !== undefined;
  if (settings.issuer && !discovered) env.SEED_MCP_ISSUER = settings.issuer;
  if (settings.clientId) env.SEED_MCP_CLIENT_ID = settings.clientId;
  if (settings.clientSecretFile) env.SEED_MCP_CLIENT_SECRET_FILE = settings.clientSecretFile;
  if (settings.clientKeyFile) env.SEED_MCP_CLIENT_KEY_FILE = settings.clientKeyFile;
  if (settings.clientMetadataUrl) env.SEED_MCP_CLIENT_METADATA_URL = settings.clientMetadataUrl;
  if (settings.scopeSource === 'explicit' && settings.scopes !== DEFAULT_SCOPES) env.SEED_MCP_SCOPES = settings.scopes;
  if (settings.resource && !discovered) env.SEED_MCP_RESOURCE = settings.resource;
  if (discovered) return { name: serverName(settings.profile), entry: { command: run.node, args: [run.script, 'serve', '--upstream', settings.upstream!], env } };
  if (settings.upstream) env.SEED_MCP_UPSTREAM = settings.upstream;
  return { name: serverName(settings.profile), entry: { command: run.node, args: [run.script, 'serve'], env } };
}

/** True when the script lives in npx's cache, which npm may clear: the entry would then break. */
export function isTransientInstall(script: string): boolean {
  return /[\\/]_npx[\\/]/.test(script);
}
