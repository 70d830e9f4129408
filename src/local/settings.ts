import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SeedError } from '../shared/errors.js';
import { readClientKey, type ClientKey } from './oidc/client-auth.js';
import { configDir, PROFILE_RE } from './paths.js';
import { configFilePath, type ClientFields, type ProfileConfig } from './profile-config.js';

export const DEFAULT_SCOPES = 'openid profile email offline_access';

/** Flags as the CLI parsed them; every one optional. */
export interface LocalFlags extends ClientFields {
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
  /** Where `issuer` came from: a server URL given on the command line beats only a saved one. */
  issuerSource?: 'flag' | 'env' | 'profile';
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
  /** Where `resource` came from: a saved one belongs to the saved server. */
  resourceSource?: 'flag' | 'env' | 'profile';
  noResource: boolean;
  redirectHost: '127.0.0.1' | 'localhost';
  port: number;
  tokenStore: 'auto' | 'keychain' | 'file' | 'memory';
  browserCommand?: string;
  upstream?: string;
  assumePkce: boolean;
  /** `prompt` sent to the IdP; undefined = `consent` when asking for offline_access. */
  prompt?: string;
  /**
   * Where `scopes` came from: `explicit` (flag, env or profile) or `default`. With `default` and
   * an MCP server to discover from, sign-in asks for what the MCP spec says instead (the
   * challenge's scope, else the resource's `scopes_supported`, else none).
   */
  scopeSource: 'explicit' | 'default';
  /**
   * True when the authorization server was found from the MCP server (not given): its client is
   * then registered per authorization server (client ID metadata document or dynamic registration).
   */
  discovered: boolean;
  /** The MCP server is a 2025-03-26 one without metadata: its default endpoints are used. */
  defaultEndpoints: boolean;
  /** A client ID metadata document URL the user published (used when the server supports it). */
  clientMetadataUrl?: string;
  /** Enterprise-managed authorization (ID-JAG, SEP-990): where the ID token comes from. */
  enterprise?: EnterpriseSettings;
}

/** Enterprise-managed authorization: an ID token exchanged at the IdP for an ID-JAG (RFC 8693). */
export interface EnterpriseSettings {
  /** A saved profile signed in to the company IdP (its ID token, issuer and client). */
  idpProfile?: string;
  /** A file holding a workload's OIDC ID token (read again at each exchange). */
  idTokenFile?: string;
  /** The IdP's issuer, when it is not a saved profile's. */
  idpIssuer?: string;
  /** seed-mcp's client at the IdP, when it is not a saved profile's. */
  idpClientId?: string;
  /** Its secret (never printed) and the file it came from. */
  idpClientSecret?: string;
  idpClientSecretFile?: string;
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

/**
 * The profile a command uses for an MCP server URL when none is given: one named after the
 * server's host (and port), e.g. `mcp.example.com` or `localhost-8080`.
 */
export function profileNameForUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const name = parsed.host
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return PROFILE_RE.test(name) ? name : undefined;
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

function checkUrl(problems: string[], name: string, value: string | undefined, from?: string): void {
  if (value === undefined) return;
  const origin = from ? ` (from ${from})` : '';
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push(`${name} must be an http(s) URL, got: ${value}${origin}`);
  } catch {
    problems.push(`${name} must be a URL, got: ${value}${origin}`);
  }
}

/** Names where a setting came from, for a problem line: the flag, the variable or the saved profile. */
function sourceOf(flag: string, flagValue: unknown, envName: string, envValue: string | undefined, profile: string): string {
  if (flagValue !== undefined) return flag;
  if (envValue !== undefined) return envName;
  return `profile "${profile}" in config.json`;
}

/**
 * Merges flags, environment and the saved profile into {@link LocalSettings}. Every problem is
 * reported at once in one `CONFIG_INVALID` error.
 */
export function resolveLocalSettings(flags: LocalFlags, env: Env, saved: ProfileConfig): LocalSettings {
  const problems: string[] = [];
  const profile = resolveProfile(flags, env);
  const issuer = flags.issuer ?? env.SEED_MCP_ISSUER ?? saved.issuer;
  const issuerSource = flags.issuer !== undefined ? 'flag' : env.SEED_MCP_ISSUER !== undefined ? 'env' : saved.issuer !== undefined ? 'profile' : undefined;
  checkUrl(problems, 'issuer', issuer, sourceOf('--issuer', flags.issuer, 'SEED_MCP_ISSUER', env.SEED_MCP_ISSUER, profile));
  const upstreamGiven = flags.upstream ?? env.SEED_MCP_UPSTREAM;
  const upstream = upstreamGiven ?? saved.upstream;
  // `serve --upstream B` on a profile saved for server A: B's own metadata names its IdP and
  // resource, not what A's sign-in saved (only --issuer or SEED_MCP_ISSUER win over it).
  const upstreamMoved = upstreamGiven !== undefined && saved.upstream !== undefined && upstreamGiven !== saved.upstream;
  checkUrl(problems, 'upstream', upstream, sourceOf('--upstream', flags.upstream, 'SEED_MCP_UPSTREAM', env.SEED_MCP_UPSTREAM, profile));

  const noResource = flags.resource === false || (flags.resource === undefined && saved.noResource === true && !env.SEED_MCP_RESOURCE);
  const resource = noResource ? undefined : ((flags.resource || undefined) ?? env.SEED_MCP_RESOURCE ?? (upstreamMoved ? undefined : saved.resource));
  checkUrl(problems, 'resource', resource, sourceOf('--resource', flags.resource || undefined, 'SEED_MCP_RESOURCE', env.SEED_MCP_RESOURCE, profile));

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

  const scopeGiven = flags.scope ?? env.SEED_MCP_SCOPES ?? saved.scopes;
  const scopes = (scopeGiven ?? DEFAULT_SCOPES)
    .split(/[\s,]+/)
    .filter(Boolean)
    .join(' ');
  if (!scopes) problems.push('scope must name at least one scope');

  const clientMetadataUrl = flags.clientMetadataUrl ?? env.SEED_MCP_CLIENT_METADATA_URL ?? saved.clientMetadataUrl;
  checkUrl(problems, 'client metadata URL', clientMetadataUrl);
  if (clientMetadataUrl && !problems.some((p) => p.startsWith('client metadata URL'))) {
    const u = new URL(clientMetadataUrl);
    // draft-ietf-oauth-client-id-metadata-document: an https URL with a path.
    if (u.protocol !== 'https:' || u.pathname === '/' || u.hash) problems.push(`client metadata URL must be an https URL with a path and no fragment, got: ${clientMetadataUrl}`);
  }
  const enterprise = resolveEnterprise(flags, env, saved, problems);

  if (problems.length > 0) {
    throw new SeedError('CONFIG_INVALID', `could not use the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      hint: `fix the flags, SEED_MCP_* variables or saved settings named above (profile "${profile}" is in ${configFilePath(configDir(env))}); then \`seed-mcp doctor --profile ${profile}\` checks the whole setup`,
    });
  }
  return {
    profile,
    configDir: configDir(env),
    issuer,
    issuerSource,
    clientId: flags.clientId ?? env.SEED_MCP_CLIENT_ID ?? saved.clientId,
    clientSecret,
    clientSecretFile,
    clientKey,
    clientKeyFile,
    authParams,
    scopes,
    resource,
    resourceSource: resource === undefined ? undefined : flags.resource ? 'flag' : env.SEED_MCP_RESOURCE ? 'env' : 'profile',
    noResource,
    redirectHost: redirectHost as LocalSettings['redirectHost'],
    port,
    tokenStore: tokenStore as LocalSettings['tokenStore'],
    browserCommand: flags.browserCommand ?? env.BROWSER,
    upstream,
    assumePkce: flags.assumePkce ?? saved.assumePkce ?? false,
    prompt: flags.prompt ?? saved.prompt,
    scopeSource: scopeGiven === undefined ? 'default' : 'explicit',
    discovered: !flags.issuer && !env.SEED_MCP_ISSUER && (saved.discovered === true || !saved.issuer || upstreamMoved),
    defaultEndpoints: saved.defaultEndpoints === true,
    clientMetadataUrl,
    enterprise,
  };
}

function resolveEnterprise(flags: LocalFlags, env: Env, saved: ProfileConfig, problems: string[]): EnterpriseSettings | undefined {
  const idpProfile = flags.idpProfile ?? env.SEED_MCP_IDP_PROFILE ?? saved.idpProfile;
  const idTokenFileGiven = flags.idTokenFile ?? env.SEED_MCP_ID_TOKEN_FILE ?? saved.idTokenFile;
  const idpIssuer = flags.idpIssuer ?? env.SEED_MCP_IDP_ISSUER ?? saved.idpIssuer;
  const idpClientId = flags.idpClientId ?? env.SEED_MCP_IDP_CLIENT_ID ?? saved.idpClientId;
  const secretFileGiven = flags.idpClientSecretFile ?? env.SEED_MCP_IDP_CLIENT_SECRET_FILE ?? saved.idpClientSecretFile;
  if (!idpProfile && !idTokenFileGiven) {
    if (idpIssuer || idpClientId || secretFileGiven) problems.push('--idp-issuer, --idp-client-id and --idp-client-secret-file need --idp-profile or --id-token-file');
    return undefined;
  }
  if (idpProfile && idTokenFileGiven) problems.push('use --idp-profile or --id-token-file, not both');
  if (idpProfile && !PROFILE_RE.test(idpProfile)) problems.push(`--idp-profile must be a profile name, got: ${idpProfile}`);
  checkUrl(problems, 'IdP issuer', idpIssuer);
  if (idTokenFileGiven && (!idpIssuer || !idpClientId))
    problems.push("--id-token-file needs --idp-issuer and --idp-client-id (the IdP that issued the token and seed-mcp's client there)");
  let idpClientSecret: string | undefined;
  const idpClientSecretFile = secretFileGiven ? resolve(secretFileGiven) : undefined;
  if (idpClientSecretFile) {
    try {
      idpClientSecret = readFileSync(idpClientSecretFile, 'utf8').trim();
      if (!idpClientSecret) problems.push(`IdP client secret file ${idpClientSecretFile} is empty`);
    } catch (err) {
      problems.push(`IdP client secret file ${idpClientSecretFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return {
    idpProfile,
    idTokenFile: idTokenFileGiven ? resolve(idTokenFileGiven) : undefined,
    idpIssuer,
    idpClientId,
    idpClientSecret,
    idpClientSecretFile,
  };
}
