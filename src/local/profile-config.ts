import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SeedError } from '../shared/errors.js';

/** The MCP authorization client's settings a flag, the env and a profile may each give. */
export interface ClientFields {
  /** A client ID metadata document URL (`--client-metadata-url`). */
  clientMetadataUrl?: string;
  /** Enterprise-managed authorization (ID-JAG): a profile signed in to the company IdP. */
  idpProfile?: string;
  /** Enterprise-managed authorization: a file holding a workload's OIDC ID token. */
  idTokenFile?: string;
  idpIssuer?: string;
  idpClientId?: string;
  idpClientSecretFile?: string;
}

/** What `login` remembers about a profile (never a secret: the client secret stays in its file). */
export interface ProfileConfig extends ClientFields {
  issuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  /** PEM private key file for `private_key_jwt` (the path only, never the key). */
  clientKeyFile?: string;
  /** Extra authorization request parameters (`--auth-param`). */
  authParams?: Record<string, string>;
  scopes?: string;
  resource?: string;
  noResource?: boolean;
  redirectHost?: '127.0.0.1' | 'localhost';
  upstream?: string;
  assumePkce?: boolean;
  prompt?: string;
  /** The authorization server was discovered from the MCP server (and its client registered per server). */
  discovered?: boolean;
  /** A 2025-03-26 MCP server without metadata: its default `/authorize`, `/token`, `/register`. */
  defaultEndpoints?: boolean;
}

const FIELDS: Record<keyof ProfileConfig, 'string' | 'boolean' | 'strings'> = {
  issuer: 'string',
  clientId: 'string',
  clientSecretFile: 'string',
  clientKeyFile: 'string',
  authParams: 'strings',
  scopes: 'string',
  resource: 'string',
  noResource: 'boolean',
  redirectHost: 'string',
  upstream: 'string',
  assumePkce: 'boolean',
  prompt: 'string',
  discovered: 'boolean',
  defaultEndpoints: 'boolean',
  clientMetadataUrl: 'string',
  idpProfile: 'string',
  idTokenFile: 'string',
  idpIssuer: 'string',
  idpClientId: 'string',
  idpClientSecretFile: 'string',
};

function isStringRecord(value: unknown): value is Record<string, string> {
  return Boolean(value) && typeof value === 'object' && !Array.isArray(value) && Object.values(value as object).every((v) => typeof v === 'string');
}

interface ConfigFile {
  profiles: Record<string, ProfileConfig>;
  [key: string]: unknown;
}

/**
 * Checks the file's shape by hand rather than with zod: every command reads it, and `token` and
 * `serve` must start fast. Returns every problem found.
 */
function validate(json: unknown): { file?: ConfigFile; problems: string[] } {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { problems: ['the file must hold a JSON object'] };
  const file = json as ConfigFile;
  const profiles = file.profiles ?? {};
  if (!profiles || typeof profiles !== 'object' || Array.isArray(profiles)) return { problems: ['"profiles" must be an object'] };
  const problems: string[] = [];
  for (const [name, profile] of Object.entries(profiles)) {
    if (!profile || typeof profile !== 'object' || Array.isArray(profile)) {
      problems.push(`profiles.${name} must be an object`);
      continue;
    }
    for (const [key, value] of Object.entries(profile)) {
      const type = FIELDS[key as keyof ProfileConfig];
      if (!type) problems.push(`profiles.${name}.${key} is not a known setting`);
      else if (type === 'strings') {
        if (!isStringRecord(value)) problems.push(`profiles.${name}.${key} must be an object of strings`);
      } else if (typeof value !== type) problems.push(`profiles.${name}.${key} must be a ${type}`);
    }
    const p = profile as ProfileConfig;
    if (p.redirectHost !== undefined && p.redirectHost !== '127.0.0.1' && p.redirectHost !== 'localhost')
      problems.push(`profiles.${name}.redirectHost must be 127.0.0.1 or localhost`);
  }
  return { file: { ...file, profiles }, problems };
}

/** Path of `config.json` in the config dir. */
export function configFilePath(dir: string): string {
  return join(dir, 'config.json');
}

async function readConfigFile(dir: string): Promise<ConfigFile> {
  const path = configFilePath(dir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new SeedError('CONFIG_INVALID', `could not read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SeedError('CONFIG_INVALID', `could not read ${path}: it is not valid JSON`, {
      hint: `fix or delete ${path}, then run \`seed-mcp login\` again`,
    });
  }
  const { file, problems } = validate(json);
  if (!file || problems.length > 0) {
    throw new SeedError('CONFIG_INVALID', `could not read ${path}: ${problems.join('; ')}`, {
      hint: `fix or delete ${path}, then run \`seed-mcp login\` again`,
    });
  }
  return file;
}

/** Reads one profile's saved settings; an absent file or profile gives `{}`. */
export async function readProfileConfig(dir: string, profile: string): Promise<ProfileConfig> {
  return (await readConfigFile(dir)).profiles[profile] ?? {};
}

/** Replaces one profile's saved settings, keeping every other profile. Written atomically, 0600. */
export async function writeProfileConfig(dir: string, profile: string, config: ProfileConfig): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = await readConfigFile(dir);
  file.profiles[profile] = config;
  const path = configFilePath(dir);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
