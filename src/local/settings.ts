import { readFileSync } from 'node:fs';
import { SeedError } from '../shared/errors.js';
import { configDir, PROFILE_RE } from './paths.js';
import type { ProfileConfig } from './profile-config.js';

export const DEFAULT_SCOPES = 'openid profile email offline_access';

/** Flags as the CLI parsed them; every one optional. */
export interface LocalFlags {
  profile?: string;
  issuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  scope?: string;
  /** A URL, or `false` for `--no-resource`. */
  resource?: string | false;
  redirectHost?: string;
  port?: string | number;
  browserCommand?: string;
  upstream?: string;
  assumePkce?: boolean;
  prompt?: string;
}

/** The effective local-mode settings: flags win over env, env over the profile's config file. */
export interface LocalSettings {
  profile: string;
  configDir: string;
  issuer?: string;
  clientId?: string;
  /** Secret value (never printed); set for confidential clients only. */
  clientSecret?: string;
  clientSecretFile?: string;
  scopes: string;
  resource?: string;
  noResource: boolean;
  redirectHost: '127.0.0.1' | 'localhost';
  port: number;
  tokenStore: 'auto' | 'keychain' | 'file' | 'memory';
  browserCommand?: string;
  upstream?: string;
  assumePkce: boolean;
  /** `prompt` sent to the IdP; undefined = `consent` when asking for offline_access. */
  prompt?: string;
}

type Env = Record<string, string | undefined>;

/** Reads the profile name alone (it decides which config section applies). */
export function resolveProfile(flags: LocalFlags, env: Env): string {
  const profile = flags.profile ?? env.SEED_MCP_PROFILE ?? 'default';
  if (!PROFILE_RE.test(profile)) {
    throw new SeedError('USAGE', `could not use profile "${profile}": use letters, digits, '.', '_' or '-' (64 at most)`, {
      hint: 'pass --profile with a simple name such as `work`',
    });
  }
  return profile;
}

function checkUrl(problems: string[], name: string, value: string | undefined): void {
  if (value === undefined) return;
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${name} must be an http(s) URL, got: ${value}`);
  } catch {
    problems.push(`${name} must be a URL, got: ${value}`);
  }
}

/**
 * Merges flags, environment and the saved profile into {@link LocalSettings}. Every problem is
 * reported at once in one `CONFIG_INVALID` error.
 */
export function resolveLocalSettings(flags: LocalFlags, env: Env, saved: ProfileConfig): LocalSettings {
  const problems: string[] = [];
  const profile = resolveProfile(flags, env);
  const issuer = flags.issuer ?? env.SEED_MCP_ISSUER ?? saved.issuer;
  checkUrl(problems, 'issuer', issuer);
  const upstream = flags.upstream ?? env.SEED_MCP_UPSTREAM ?? saved.upstream;
  checkUrl(problems, 'upstream', upstream);

  const noResource = flags.resource === false || (flags.resource === undefined && saved.noResource === true && !env.SEED_MCP_RESOURCE);
  const resource = noResource ? undefined : ((flags.resource || undefined) ?? env.SEED_MCP_RESOURCE ?? saved.resource);
  checkUrl(problems, 'resource', resource);

  const redirectHost = flags.redirectHost ?? saved.redirectHost ?? '127.0.0.1';
  if (redirectHost !== '127.0.0.1' && redirectHost !== 'localhost') {
    problems.push(`--redirect-host must be 127.0.0.1 or localhost, got: ${redirectHost}`);
  }
  const port = flags.port === undefined ? 0 : Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`--port must be between 0 and 65535, got: ${flags.port}`);

  const tokenStore = env.SEED_MCP_TOKEN_STORE ?? 'auto';
  if (!['auto', 'keychain', 'file', 'memory'].includes(tokenStore)) {
    problems.push(`SEED_MCP_TOKEN_STORE must be keychain, file or memory, got: ${tokenStore}`);
  }

  let clientSecret: string | undefined;
  const clientSecretFile = flags.clientSecretFile ?? env.SEED_MCP_CLIENT_SECRET_FILE ?? saved.clientSecretFile;
  if (clientSecretFile) {
    try {
      clientSecret = readFileSync(clientSecretFile, 'utf8').trim();
      if (!clientSecret) problems.push(`client secret file ${clientSecretFile} is empty`);
    } catch (err) {
      problems.push(`client secret file ${clientSecretFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  } else if (env.SEED_MCP_CLIENT_SECRET) {
    clientSecret = env.SEED_MCP_CLIENT_SECRET;
  }

  const scopes = (flags.scope ?? env.SEED_MCP_SCOPES ?? saved.scopes ?? DEFAULT_SCOPES)
    .split(/[\s,]+/)
    .filter(Boolean)
    .join(' ');
  if (!scopes) problems.push('scope must name at least one scope');

  if (problems.length > 0) {
    throw new SeedError('CONFIG_INVALID', `could not use the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      hint: 'fix the flags or SEED_MCP_* variables above; `seed-mcp config check` shows the effective configuration',
    });
  }
  return {
    profile,
    configDir: configDir(env),
    issuer,
    clientId: flags.clientId ?? env.SEED_MCP_CLIENT_ID ?? saved.clientId,
    clientSecret,
    clientSecretFile,
    scopes,
    resource,
    noResource,
    redirectHost: redirectHost as LocalSettings['redirectHost'],
    port,
    tokenStore: tokenStore as LocalSettings['tokenStore'],
    browserCommand: flags.browserCommand ?? env.BROWSER,
    upstream,
    assumePkce: flags.assumePkce ?? saved.assumePkce ?? false,
    prompt: flags.prompt ?? saved.prompt,
  };
}
