import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SeedError } from '../shared/errors.js';
import { acquireLock } from './lock.js';

/**
 * seed-mcp's client at one authorization server, obtained by dynamic client registration
 * (RFC 7591). Kept per authorization server (its issuer) and reused by every profile and process
 * that signs in there, with the loopback redirect URI it was registered with. Holds the client
 * secret when the server issued one: the file is 0600 in the 0700 config dir, as the file token
 * store is.
 */
export interface Registration {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** RFC 7591 §2: absent means `client_secret_basic` when a secret was issued. */
  tokenEndpointAuthMethod: string;
  redirectUris: string[];
  /** Seconds since the epoch; 0 or absent = never expires. */
  clientSecretExpiresAt?: number;
  registeredAt: number;
}

interface RegistrationFile {
  version: 1;
  servers: Record<string, Registration>;
}

const trimSlash = (s: string) => (s.endsWith('/') ? s.slice(0, -1) : s);

export function registrationsPath(configDir: string): string {
  return join(configDir, 'registrations.json');
}

async function readAll(configDir: string): Promise<RegistrationFile> {
  let text: string;
  try {
    text = await readFile(registrationsPath(configDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} };
    throw new SeedError('CONFIG_INVALID', `could not read ${registrationsPath(configDir)}: ${(err as Error).message}`);
  }
  try {
    const json = JSON.parse(text) as RegistrationFile;
    if (json && typeof json === 'object' && json.servers && typeof json.servers === 'object') return { version: 1, servers: json.servers };
  } catch {
    // fall through
  }
  // A damaged file only costs a new registration: say so, keep nothing of it.
  return { version: 1, servers: {} };
}

/** The saved registration at an authorization server, unless its secret has expired. */
export async function findRegistration(configDir: string, issuer: string, nowSec = Math.floor(Date.now() / 1000)): Promise<Registration | undefined> {
  const found = (await readAll(configDir)).servers[trimSlash(issuer)];
  if (!found || typeof found.clientId !== 'string') return undefined;
  if (found.clientSecretExpiresAt && found.clientSecretExpiresAt <= nowSec) return undefined;
  return found;
}

/** The credentials a refresh or revocation needs for a client id that seed-mcp registered itself. */
export async function registeredCredentials(configDir: string, issuer: string, clientId: string): Promise<{ clientSecret?: string; registeredAuthMethod?: string } | undefined> {
  const found = await findRegistration(configDir, issuer).catch(() => undefined);
  if (!found || found.clientId !== clientId) return undefined;
  return { clientSecret: found.clientSecret, registeredAuthMethod: found.tokenEndpointAuthMethod };
}

/** Saves (replaces) the registration at one authorization server, atomically, 0600, under a lock. */
export async function saveRegistration(configDir: string, registration: Registration): Promise<void> {
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  const release = await acquireLock(join(configDir, 'locks', 'registrations.lock'), { timeoutMs: 10_000 });
  try {
    const file = await readAll(configDir);
    file.servers[trimSlash(registration.issuer)] = registration;
    const path = registrationsPath(configDir);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } finally {
    await release();
  }
}

/** Forgets the registration at an authorization server (it refused the client id). */
export async function forgetRegistration(configDir: string, issuer: string, clientId: string): Promise<void> {
  const release = await acquireLock(join(configDir, 'locks', 'registrations.lock'), { timeoutMs: 10_000 });
  try {
    const file = await readAll(configDir);
    const key = trimSlash(issuer);
    if (file.servers[key]?.clientId !== clientId) return;
    delete file.servers[key];
    const path = registrationsPath(configDir);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, path);
  } finally {
    await release();
  }
}

export interface RegisterInput {
  issuer: string;
  registrationEndpoint: string;
  redirectUri: string;
  /** The scopes the client will ask for, if any (some servers register a client's scope). */
  scope?: string;
  /** Whether the server lists `refresh_token` among its grants (or says nothing). */
  refreshTokens: boolean;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Registers seed-mcp as a native public client (RFC 7591, RFC 8252): authorization code with
 * PKCE and refresh tokens, one loopback redirect URI, no client authentication asked for. The
 * server may still issue a secret and name a method: both are kept and used.
 */
export async function registerClient(input: RegisterInput, nowSec = Math.floor(Date.now() / 1000)): Promise<Registration> {
  const doFetch = input.fetch ?? fetch;
  const body = {
    client_name: 'seed-mcp',
    redirect_uris: [input.redirectUri],
    grant_types: input.refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    ...(input.scope ? { scope: input.scope } : {}),
  };
  let res: Response;
  try {
    res = await doFetch(input.registrationEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(input.timeoutMs ?? 15_000),
      redirect: 'error',
    });
  } catch (err) {
    throw new SeedError('IDP_UNREACHABLE', `could not register seed-mcp at ${input.issuer}: ${input.registrationEndpoint} is unreachable`, {
      hint: 'check the network (VPN, HTTPS_PROXY) and retry; or pass --client-id with a client registered for seed-mcp there',
      cause: err,
    });
  }
  const text = (await res.text()).slice(0, 65_536);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // reported below
  }
  if (res.status !== 201 && res.status !== 200) {
    const error = typeof json.error === 'string' ? json.error : `HTTP ${res.status}`;
    const description = typeof json.error_description === 'string' ? `: ${json.error_description.slice(0, 300)}` : '';
    throw new SeedError('AUTH_FAILED', `could not register seed-mcp at ${input.issuer}: the registration endpoint answered ${error}${description}`, {
      hint: `ask the server's operator for a client id for seed-mcp (redirect URI http://127.0.0.1/callback, any port) and pass it with --client-id; or publish a client ID metadata document and pass --client-metadata-url`,
    });
  }
  if (typeof json.client_id !== 'string' || !json.client_id) {
    throw new SeedError('AUTH_FAILED', `could not register seed-mcp at ${input.issuer}: the registration answer has no client_id`, {
      hint: 'pass --client-id with a client registered for seed-mcp at that server',
    });
  }
  const secret = typeof json.client_secret === 'string' && json.client_secret ? json.client_secret : undefined;
  const method = typeof json.token_endpoint_auth_method === 'string' ? json.token_endpoint_auth_method : secret ? 'client_secret_basic' : 'none';
  const redirectUris = Array.isArray(json.redirect_uris) ? json.redirect_uris.filter((u): u is string => typeof u === 'string') : [input.redirectUri];
  return {
    issuer: trimSlash(input.issuer),
    clientId: json.client_id,
    ...(secret ? { clientSecret: secret } : {}),
    tokenEndpointAuthMethod: method,
    redirectUris: redirectUris.length > 0 ? redirectUris : [input.redirectUri],
    ...(typeof json.client_secret_expires_at === 'number' && json.client_secret_expires_at > 0 ? { clientSecretExpiresAt: json.client_secret_expires_at } : {}),
    registeredAt: nowSec,
  };
}
