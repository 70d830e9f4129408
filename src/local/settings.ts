import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SeedError } from '../shared/errors.js';
import { readClientKey, type ClientKey } from './oidc/client-auth.js';
import { configDir, PROFILE_RE } from './paths.js';
import type { ProfileConfig } from './profile-config.js';

export const DEFAULT_SCOPES = 'openid profile email offline_access';

/** Flags as the CLI parsed them; every one optional. */
export interface LocalFlags {
  profile?: string;
  issuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  clientKeyFile?: string;
  /** `--auth-param key=value`, repeatable. */
  authParam?: string[];
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
  /** Private key for `private_key_jwt` (never printed); its file's absolute path is saved. */
  clientKey?: ClientKey;
  clientKeyFile?: string;
  /** Extra authorization request parameters (`--auth-param`), e.g. Auth0's `audience`. */
  authParams: Record<string, string>;
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

/** Authorization request parameters that have their own flag: `--auth-param` may not set them. */
const RESERVED_AUTH_PARAMS: Record<string, string> = {
  client_id: '--client-id',
  redirect_uri: '--redirect-host / --port',
  state: 'none: seed-mcp makes a fresh one per sign-in',
  nonce: 'none: seed-mcp makes a fresh one per sign-in',
  code_challenge: 'none: seed-mcp always uses PKCE S256',
  response_type: 'none: seed-mcp always uses the authorization code flow',
  scope: '--scope',
  resource: '--resource / --no-resource',
  prompt: '--prompt',
};

function reservedFlag(key: string): string | undefined {
  return RESERVED_AUTH_PARAMS[key] ?? (key.startsWith('code_challenge') ? RESERVED_AUTH_PARAMS.code_challenge : undefined);
}

/**
 * Extra authorization request parameters: the `--auth-param key=value` flags if any, else
 * `SEED_MCP_AUTH_PARAMS` (URL query form, `k=v&k2=v2`, percent-encoded where needed), else the
 * profile's saved ones. A malformed pair or a parameter seed-mcp sets itself is a usage error.
 */
export function resolveAuthParams(flagPairs: string[] | undefined, envValue: string | undefined, saved: Record<string, string> | undefined): Record<string, string> {
  let entries: Array<[string, string, string]>;
  let source: string;
  if (flagPairs && flagPairs.length > 0) {
    source = '--auth-param';
    entries = flagPairs.map((pair) => {
      const i = pair.indexOf('=');
      return [i > 0 ? pair.slice(0, i).trim() : '', i > 0 ? pair.slice(i + 1) : '', pair];
    });
  } else if (envValue !== undefined && envValue.trim() !== '') {
    source = 'SEED_MCP_AUTH_PARAMS';
    entries = envValue
      .split('&')
      .filter(Boolean)
      .map((pair) => {
        const [key, value] = [...new URLSearchParams(pair)][0] ?? ['', ''];
        return [pair.includes('=') ? key.trim() : '', value, pair];
      });
  } else {
    return { ...saved };
  }
  const params: Record<string, string> = {};
  for (const [key, value, raw] of entries) {
    if (!key || /\s/.test(key)) {
      throw new SeedError('USAGE', `could not use ${source} "${raw}": expected key=value`, {
        hint: 'for example --auth-param audience=https://api.example.com (env: SEED_MCP_AUTH_PARAMS="audience=https://api.example.com&organization=org_1")',
      });
    }
    const flag = reservedFlag(key);
    if (flag) {
      throw new SeedError('USAGE', `could not use ${source} ${key}: seed-mcp sets "${key}" itself`, {
        hint: flag.startsWith('none') ? `remove it (${flag.slice(6)})` : `use ${flag} instead`,
      });
    }
    params[key] = value;
  }
  return params;
}

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

  let clientKey: ClientKey | undefined;
  const keyFileGiven = flags.clientKeyFile ?? env.SEED_MCP_CLIENT_KEY_FILE ?? saved.clientKeyFile;
  const clientKeyFile = keyFileGiven ? resolve(keyFileGiven) : undefined;
  if (clientKeyFile) {
    let pem: string | undefined;
    try {
      pem = readFileSync(clientKeyFile, 'utf8');
    } catch (err) {
      problems.push(`client key file ${clientKeyFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (pem !== undefined) {
      const read = readClientKey(clientKeyFile, pem);
      if (typeof read === 'string') problems.push(read);
      else clientKey = read;
    }
  }
  const authParams = resolveAuthParams(flags.authParam, env.SEED_MCP_AUTH_PARAMS, saved.authParams);

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
    clientKey,
    clientKeyFile,
    authParams,
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
