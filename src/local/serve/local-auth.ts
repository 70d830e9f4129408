import { decodeJwtClaims } from '../jwt-claims.js';
import { isSeedError, type SeedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { ToolError, type Caller } from '../../shared/tools/types.js';
import type { TokenSource } from '../token-source.js';
import type { StoredTokens } from '../token-store/types.js';
import type { LoginStarter } from './login-on-demand.js';

/** How many step-up sign-ins for the same scopes before seed-mcp stops trying. */
export const MAX_STEP_UPS = 2;

/** The signed-in identity `serve` acts as, as tools and the bridge need it. */
export interface LocalAuth {
  /** The caller's identity; a `ToolError` saying what to do when there is none. */
  caller(options?: { signIn?: boolean }): Promise<Caller>;
  /** A valid access token (refreshed first when needed); a `ToolError` when there is none. */
  accessToken(): Promise<string>;
  /** After a 401 to `rejected`: refresh once (other callers share it). */
  refreshAfter401(rejected: string): Promise<void>;
  /** After a 403 `insufficient_scope`: start a sign-in for the union of scopes; always throws. */
  stepUp(requiredScope: string | undefined): Promise<never>;
}

export interface LocalAuthOptions {
  profile: string;
  tokens: TokenSource;
  /** `never` answers with the command to run instead of opening a browser (`--login never`). */
  loginMode: 'browser' | 'never';
  /** Absent for client credentials: a service account has no browser sign-in. */
  starter?: LoginStarter;
  logger: Logger;
  issuer?: string;
}

export function callerFromTokens(tokens: StoredTokens): Caller {
  // An opaque access token has no claims: the ID token's identity is all there is.
  const claims = decodeJwtClaims(tokens.accessToken) ?? {};
  const groups = claims.groups ?? claims.roles;
  return {
    subject: tokens.subject ?? (typeof claims.sub === 'string' ? claims.sub : 'unknown'),
    issuer: tokens.issuer,
    email: tokens.email,
    name: tokens.name,
    scopes: tokens.scope.split(' ').filter(Boolean),
    expiresAt: tokens.expiresAt,
    clientId: tokens.clientId,
    ...(Array.isArray(groups) ? { groups: groups.filter((g): g is string => typeof g === 'string') } : {}),
  };
}

/** Local auth over a token source, with sign-in on demand and step-up. */
export function createLocalAuth(options: LocalAuthOptions): LocalAuth {
  const { profile, tokens, logger } = options;
  const login = `seed-mcp login --profile ${profile}`;
  const stepUps = new Map<string, number>();
  let lastScopes = '';

  async function noToken(err: SeedError, scopes?: string, signIn = true): Promise<never> {
    if (!signIn) {
      throw new ToolError(
        `not signed in (profile ${profile}); the next tool call that needs your identity ${options.loginMode === 'never' || !options.starter ? `fails until you run \`${login}\`` : 'opens a browser sign-in'}`,
      );
    }
    if (options.loginMode === 'never' || !options.starter) {
      const command = scopes ? `${login} --scope "${scopes}"` : login;
      throw new ToolError(
        `seed-mcp ${scopes ? 'needs a new sign-in' : 'is not signed in'} (profile ${profile}): ${err.message}. Run \`${command}\` in a terminal, then retry this request.`,
      );
    }
    const started = await options.starter.start(scopes);
    switch (started) {
      case 'started':
        throw new ToolError(
          `Sign-in required: a browser window opened to sign in${options.issuer ? ` at ${options.issuer}` : ''} (profile ${profile}). Finish signing in there, then retry this request.`,
        );
      case 'recent':
        throw new ToolError(
          `Sign-in in progress: finish signing in in the browser window seed-mcp opened (profile ${profile}), or run \`${login}\` in a terminal, then retry this request.`,
        );
      default:
        throw new ToolError(
          `seed-mcp does not know your identity provider (profile ${profile}): run \`seed-mcp login --issuer URL --client-id ID --profile ${profile}\` once, or set SEED_MCP_ISSUER and SEED_MCP_CLIENT_ID in this server's env, then retry.`,
        );
    }
  }

  async function current(rejected?: string, signIn = true): Promise<StoredTokens> {
    try {
      const t = await tokens.get(rejected ? { rejected } : undefined);
      lastScopes = t.scope;
      return t;
    } catch (err) {
      if (isSeedError(err) && (err.code === 'NOT_SIGNED_IN' || err.code === 'INVALID_GRANT')) return noToken(err, undefined, signIn);
      if (isSeedError(err)) throw new ToolError(`${err.message}${err.hint ? ` → ${err.hint}` : ''}`);
      throw err;
    }
  }

  return {
    async caller(o = {}) {
      return callerFromTokens(await current(undefined, o.signIn !== false));
    },
    async accessToken() {
      return (await current()).accessToken;
    },
    async refreshAfter401(rejected) {
      await current(rejected);
    },
    async stepUp(requiredScope) {
      const union = [...new Set([...lastScopes.split(' '), ...(requiredScope ?? '').split(' ')].filter(Boolean))].sort().join(' ');
      const tries = (stepUps.get(union) ?? 0) + 1;
      stepUps.set(union, tries);
      if (tries > MAX_STEP_UPS) {
        throw new ToolError(
          `The server still refuses this request after ${MAX_STEP_UPS} sign-ins with the scopes "${union}" (insufficient_scope). Ask its operator to grant you access.`,
        );
      }
      logger.info(`the upstream asks for scopes "${requiredScope ?? ''}"; signing in again for "${union}"`);
      // A sign-in elsewhere (another serve process, a terminal) may already have them.
      tokens.invalidate();
      return noToken({ message: `the server needs the scopes "${requiredScope ?? ''}"` } as SeedError, union);
    },
  };
}
