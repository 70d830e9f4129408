import { join } from 'node:path';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { acquireLock } from './lock.js';
import type { LocalSettings } from './settings.js';
import type { StoredTokens, TokenStore } from './token-store/types.js';
import { secondsLeft, toStoredTokens } from './tokens.js';

/** Refresh this long before expiry at most (the contract's proactive margin). */
export const REFRESH_MARGIN_SEC = 60;
/** Of a token's lifetime, the part left at which it is refreshed, when that is under the margin. */
export const REFRESH_FRACTION = 0.25;

/**
 * How many seconds before expiry `tokens` are refreshed: a quarter of their lifetime, capped at
 * {@link REFRESH_MARGIN_SEC}. A token that lives 20 s is refreshed with 5 s left, not on every call
 * (a 60 s margin would be its whole life), so it is refreshed at most once per three quarters of
 * its life however many callers and processes ask.
 */
export function refreshMarginOf(tokens: StoredTokens): number {
  if (tokens.expiresAt === undefined) return REFRESH_MARGIN_SEC;
  const lifetime = tokens.expiresAt - tokens.obtainedAt;
  // A set without a plausible issue time (clock moved, hand-edited): the plain margin.
  if (!(lifetime > 0)) return REFRESH_MARGIN_SEC;
  return Math.min(REFRESH_MARGIN_SEC, lifetime * REFRESH_FRACTION);
}

/** Whether `tokens` are within their refresh margin (or past expiry) at `nowSec`. */
export function dueForRefresh(tokens: StoredTokens, nowSec: number): boolean {
  return secondsLeft(tokens, nowSec) <= refreshMarginOf(tokens);
}

export type RefreshKind = 'proactive' | 'reactive';

export interface TokenSourceDeps {
  store: TokenStore;
  logger: Logger;
  now?: () => number;
  lockTimeoutMs?: number;
  /** Told about every refresh attempt, for metrics. */
  onRefresh?: (event: { type: RefreshKind; result: 'success' | 'failure'; seconds: number }) => void;
}

export interface TokenSource {
  /**
   * A token set whose access token is valid for at least the margin: refreshed first when needed.
   * With `rejected` (an access token the resource server answered 401 to), refreshes unless the
   * store already holds a newer one.
   */
  get(options?: { rejected?: string }): Promise<StoredTokens>;
  /** Forget the set held in memory: the next `get` reads the store (after a sign-in). */
  invalidate(): void;
}

/**
 * The profile's tokens, refreshed proactively before expiry and reactively after a 401. Concurrent
 * callers in this process share one refresh; other processes of the same profile wait on a lock
 * file in the config dir and then find the refreshed set in the store.
 */
export function createTokenSource(settings: LocalSettings, deps: TokenSourceDeps): TokenSource {
  const nowSec = () => Math.floor((deps.now?.() ?? Date.now()) / 1000);
  const profile = settings.profile;
  const login = `seed-mcp login --profile ${profile}`;
  let inflight: Promise<StoredTokens> | undefined;
  // The last set read or refreshed. A bridge asks for the token on every upstream request: the
  // store (a keychain D-Bus call, a file read) is consulted again only when this one needs
  // refreshing, and then under the lock, so a refresh by another process is seen before any
  // refresh token of ours is spent.
  let cached: StoredTokens | undefined;

  const needsRefresh = (tokens: StoredTokens, rejected?: string) => (rejected !== undefined && tokens.accessToken === rejected) || dueForRefresh(tokens, nowSec());

  async function read(): Promise<StoredTokens> {
    const tokens = await deps.store.get(profile);
    if (!tokens) {
      cached = undefined;
      throw new SeedError('NOT_SIGNED_IN', `could not get a token: profile "${profile}" is not signed in`, { hint: `run \`${login}\`` });
    }
    return (cached = tokens);
  }

  async function refreshLocked(rejected: string | undefined): Promise<StoredTokens> {
    const release = await acquireLock(join(settings.configDir, 'locks', `${profile}.lock`), { timeoutMs: deps.lockTimeoutMs ?? 30_000 });
    try {
      // Another process may have refreshed while we waited for the lock.
      const current = await read();
      if (!needsRefresh(current, rejected)) return current;
      if (!current.refreshToken) {
        throw new SeedError('NOT_SIGNED_IN', `could not refresh the token of profile "${profile}": it expired and there is no refresh token`, {
          hint: `run \`${login}\` (ask for the offline_access scope to stay signed in)`,
        });
      }
      const started = performance.now();
      const type: RefreshKind = rejected !== undefined ? 'reactive' : 'proactive';
      // Loaded here, not at start-up: most calls find a valid token and never refresh.
      const [client, { configForStoredClient }, { mapOAuthError }] = await Promise.all([import('openid-client'), import('./oidc/stored-client.js'), import('./oidc/map-error.js')]);
      try {
        const config = await configForStoredClient(settings, current.issuer, current.clientId);
        const res = await client.refreshTokenGrant(config, current.refreshToken, current.resource ? { resource: current.resource } : undefined);
        const next = toStoredTokens(res, {
          issuer: current.issuer,
          clientId: current.clientId,
          requestedScope: current.scope,
          resource: current.resource,
          previous: current,
          nowSec: nowSec(),
        });
        await deps.store.set(profile, next);
        cached = next;
        deps.onRefresh?.({ type, result: 'success', seconds: (performance.now() - started) / 1000 });
        deps.logger.debug('token refreshed', { profile, type });
        return next;
      } catch (err) {
        deps.onRefresh?.({ type, result: 'failure', seconds: (performance.now() - started) / 1000 });
        const mapped = mapOAuthError(err, { doing: `refresh the token of profile "${profile}"`, issuer: current.issuer, clientId: current.clientId, profile });
        if (mapped.code === 'INVALID_GRANT') {
          // The refresh token is dead: keeping it would fail the same way on every call.
          await deps.store.delete(profile);
          cached = undefined;
          throw new SeedError('INVALID_GRANT', `${mapped.message}; the stored tokens of profile "${profile}" were cleared`, {
            hint: `sign in again: \`${login}\``,
            cause: err,
          });
        }
        throw mapped;
      }
    } finally {
      await release();
    }
  }

  return {
    async get(options = {}) {
      if (cached && !needsRefresh(cached, options.rejected)) return cached;
      const tokens = await read();
      if (!needsRefresh(tokens, options.rejected)) return tokens;
      inflight ??= refreshLocked(options.rejected).finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/**
 * A token source for tokens that are minted, not refreshed (client credentials, an ID-JAG): the
 * set is kept in memory and minted again before expiry or after a 401 to it (`rejected`);
 * concurrent callers share one mint. `mint` says whether it was ahead of expiry or after a 401.
 */
export function mintedTokenSource(mint: (type: RefreshKind) => Promise<StoredTokens>, nowSec: () => number): TokenSource {
  let cached: StoredTokens | undefined;
  let inflight: Promise<StoredTokens> | undefined;
  return {
    async get(options = {}) {
      if (cached && !dueForRefresh(cached, nowSec()) && cached.accessToken !== options.rejected) return cached;
      inflight ??= mint(options.rejected ? 'reactive' : 'proactive')
        .then((tokens) => (cached = tokens))
        .finally(() => {
          inflight = undefined;
        });
      return inflight;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
