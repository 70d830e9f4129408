import { chmod, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isSeedError, SeedError } from '../shared/errors.js';
import type { LogoutResult } from './logout.js';
import { PROFILE_RE } from './paths.js';
import { configFilePath, readProfileConfig } from './profile-config.js';
import { resolveLocalSettings } from './settings.js';
import { tokensMismatch } from './status.js';
import { tokensDir } from './token-store/file.js';
import type { StoredTokens, TokenStore, TokenStoreKind } from './token-store/types.js';
import { CorruptTokensError } from './token-store/validate.js';
import { secondsLeft } from './tokens.js';

/** One profile as `seed-mcp profiles` lists it. Never holds a token. */
export interface ProfileSummary {
  name: string;
  /** The MCP server (upstream URL) the profile signs in for, when it has one. */
  server?: string;
  /** The saved issuer, else the one the stored tokens came from. */
  issuer?: string;
  /** A usable access token now, or a refresh token to get one (as `status` says). */
  signedIn: boolean;
  /** ISO time the access token expires. */
  expiresAt?: string;
  /** A refresh token is held: the access token is renewed by itself. */
  canRefresh?: boolean;
  /** Where the tokens are; absent when none are stored. */
  store?: { kind: TokenStoreKind; location: string };
  /**
   * Why the profile is not usable as it stands: tokens that cannot be read (a corrupt set, an
   * unreachable keychain) or that belong to another issuer or server than the profile names now.
   */
  problem?: string;
  /** What to do about `problem`. */
  hint?: string;
}

/** What {@link listProfiles} and {@link removeProfile} read and write. */
export interface ProfilesDeps {
  /** The config dir: `config.json` and `tokens/` live there. */
  configDir: string;
  /**
   * The token stores to look in, first match wins: the selected store, then the file store,
   * where tokens go when the keychain did not answer at sign-in.
   */
  stores: TokenStore[];
  /** The environment, applied to each profile's settings as `status --profile NAME` applies it. */
  env?: Record<string, string | undefined>;
  now?: () => number;
}

/** The tokens of one profile and the store that holds them. */
type Found = { store: TokenStore; tokens?: StoredTokens; problem?: SeedError };

/** Names saved in `config.json`, checked as every command checks the file (a broken file is `CONFIG_INVALID`). */
async function savedNames(configDir: string): Promise<string[]> {
  // Validates the whole file, with its hint, before the names are read from it.
  await readProfileConfig(configDir, 'default');
  try {
    const file = JSON.parse(await readFile(configFilePath(configDir), 'utf8')) as { profiles?: Record<string, unknown> };
    return Object.keys(file.profiles ?? {});
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Profiles with a token file but maybe no saved settings (signed in with flags or env only). */
async function tokenFileNames(configDir: string): Promise<string[]> {
  try {
    return (await readdir(tokensDir(configDir))).flatMap((f) => (f.endsWith('.json') && PROFILE_RE.test(f.slice(0, -5)) ? [f.slice(0, -5)] : []));
  } catch {
    return [];
  }
}

/** Every profile name seed-mcp knows in the config dir, sorted. */
export async function profileNames(configDir: string): Promise<string[]> {
  const [saved, files] = await Promise.all([savedNames(configDir), tokenFileNames(configDir)]);
  return [...new Set([...saved, ...files])].sort();
}

/** The first store holding tokens for `name`; unreadable sets count as held, with the reason. */
async function findTokens(name: string, stores: TokenStore[]): Promise<{ found?: Found; problems: Error[] }> {
  const problems: Error[] = [];
  for (const store of stores) {
    try {
      const tokens = await store.get(name);
      if (tokens) return { found: { store, tokens }, problems };
    } catch (err) {
      if (err instanceof CorruptTokensError) return { found: { store, problem: err }, problems };
      problems.push(err as Error);
    }
  }
  return { problems };
}

/**
 * Every profile with its server, issuer, whether it is signed in (until when) and where its tokens
 * are. Reads the config dir and the token stores only: no network.
 *
 * @example
 * const profiles = await listProfiles({ configDir, stores: [keychain, fileStore] });
 */
export async function listProfiles(deps: ProfilesDeps): Promise<ProfileSummary[]> {
  const nowSec = Math.floor((deps.now?.() ?? Date.now()) / 1000);
  const out: ProfileSummary[] = [];
  for (const name of await profileNames(deps.configDir)) {
    const saved = await readProfileConfig(deps.configDir, name);
    const { found, problems } = await findTokens(name, deps.stores);
    const tokens = found?.tokens;
    let problem: Error | undefined = found?.problem ?? problems[0];
    let signedIn = false;
    if (tokens) {
      // The check `status` makes: tokens of another issuer or server are no sign-in for this profile.
      try {
        problem = tokensMismatch(resolveLocalSettings({ profile: name }, deps.env ?? {}, saved), tokens);
      } catch (err) {
        problem = err as Error;
      }
      signedIn = !problem && (secondsLeft(tokens, nowSec) > 0 || Boolean(tokens.refreshToken));
    }
    const summary: ProfileSummary = { name, server: saved.upstream, issuer: saved.issuer ?? tokens?.issuer, signedIn };
    if (tokens?.expiresAt !== undefined) summary.expiresAt = new Date(tokens.expiresAt * 1000).toISOString();
    if (tokens) summary.canRefresh = Boolean(tokens.refreshToken);
    if (found) summary.store = { kind: found.store.kind, location: found.store.describe(name) };
    if (problem) {
      summary.problem = problem.message;
      if (isSeedError(problem) && problem.hint) summary.hint = problem.hint;
    }
    out.push(summary);
  }
  return out;
}

/** What {@link removeProfile} removed. */
export interface RemovedProfile {
  profile: string;
  /** The `config.json` the settings were removed from; absent when none were saved. */
  settings?: string;
  /** Every store tokens were deleted from. */
  tokens: Array<{ kind: TokenStoreKind; location: string }>;
  /** Whether the IdP confirmed revocation (RFC 7009); absent when no tokens were held. */
  revoked?: boolean;
  revokeNote?: string;
}

/**
 * Removes a profile: signs it out (revoking at the IdP where it can, through `logout`), deletes
 * its tokens from every store, and removes its settings from `config.json`. An unknown name is a
 * `USAGE` error whose hint lists the profiles there are.
 *
 * @param signOut runs `logout` for the profile against the store holding its tokens.
 */
export async function removeProfile(name: string, deps: ProfilesDeps & { signOut: (store: TokenStore) => Promise<LogoutResult> }): Promise<RemovedProfile> {
  if (!PROFILE_RE.test(name)) throw unknownProfile(name, await profileNames(deps.configDir));
  const saved = (await savedNames(deps.configDir)).includes(name);
  const held: TokenStore[] = [];
  for (const store of deps.stores) {
    try {
      if (await store.get(name)) held.push(store);
    } catch (err) {
      if (err instanceof CorruptTokensError) held.push(store);
    }
  }
  if (!saved && held.length === 0) throw unknownProfile(name, await profileNames(deps.configDir));

  const result: RemovedProfile = { profile: name, tokens: [] };
  for (const [i, store] of held.entries()) {
    if (i === 0) {
      try {
        const out = await deps.signOut(store);
        result.revoked = out.revoked;
        result.revokeNote = out.revokeNote;
      } catch (err) {
        // Settings that no longer load (a secret file gone): remove the tokens without revoking.
        await store.delete(name);
        result.revoked = false;
        result.revokeNote = `could not revoke the tokens: ${(err as Error).message}; they were deleted locally`;
      }
    } else {
      await store.delete(name);
    }
    result.tokens.push({ kind: store.kind, location: store.describe(name) });
  }
  if (saved) result.settings = await deleteSaved(deps.configDir, name);
  return result;
}

function unknownProfile(name: string, names: string[]): SeedError {
  return new SeedError('USAGE', `could not remove profile "${name}": there is no such profile`, {
    hint:
      names.length > 0
        ? `existing profiles: ${names.join(', ')} (\`seed-mcp profiles\` lists them)`
        : 'there are no profiles yet; `seed-mcp login` creates one (`seed-mcp login --profile NAME https://mcp.example.com/mcp`)',
  });
}

/**
 * Removes one profile from `config.json`, keeping every other key, written as `writeProfileConfig`
 * writes it (0600, replaced atomically). Returns the file's path.
 */
async function deleteSaved(configDir: string, name: string): Promise<string> {
  const path = configFilePath(configDir);
  const file = JSON.parse(await readFile(path, 'utf8')) as { profiles: Record<string, unknown> };
  delete file.profiles[name];
  const tmp = join(configDir, `config.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return path;
}
