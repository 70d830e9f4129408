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
  /**
   * After a 403 `insufficient_scope`: resolves when tokens with the asked scopes are now held (a
   * sign-in elsewhere stored them), so the request may be sent again once; otherwise starts a
   * sign-in for the union of scopes (see `stepUpScopes`) and throws a `ToolError` saying what to do.
   */
  stepUp(requiredScope: string | undefined): Promise<void>;
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
  /** The scopes the profile asks for at sign-in (`settings.scopes`): kept in every step-up. */
  requestedScopes?: string;
  /**
   * How long a request waits for a browser sign-in it started before answering "finish signing
   * in, then retry" (default {@link SIGN_IN_WAIT_MS}; 0 answers at once).
   */
  signInWaitMs?: number;
}

/** Below the 60 s request timeout of the MCP SDK clients desktop apps use. */
export const SIGN_IN_WAIT_MS = 50_000;

/** Space-separated scope lists merged in order of first appearance, without duplicates. */
export function scopeUnion(...lists: Array<string | undefined>): string {
  const out: string[] = [];
  for (const list of lists) for (const s of (list ?? '').split(/\s+/)) if (s && !out.includes(s)) out.push(s);
  return out.join(' ');
}

/**
 * The scopes a step-up asks for: those asked at the last sign-in (so `openid` and `offline_access`
 * stay even when the token response's `scope` left them out), those held, and those the
 * challenge asks for — in that order.
 */
export function stepUpScopes(asked: string | undefined, held: string | undefined, challenge: string | undefined): string {
  return scopeUnion(asked, held, challenge);
}

const covers = (granted: string, required: string | undefined) => {
  const have = new Set(granted.split(' '));
  return (required ?? '').split(/\s+/).every((s) => !s || have.has(s));
};

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
  // Browser sign-ins started per union of scopes.
  const stepUps = new Map<string, number>();
  let lastScopes = '';
  let lastAccessToken: string | undefined;
  // What the last sign-in asked for: the profile's scopes, then each step-up's union.
  let asked = options.requestedScopes ?? '';

  const command = (scopes?: string) => (scopes ? `${login} --scope "${scopes}"` : login);

  const waitMs = options.signInWaitMs ?? SIGN_IN_WAIT_MS;

  /**
   * Starts a browser sign-in (for `scopes` instead of the profile's when given) and waits for it a
   * while: resolves once it stored tokens. Otherwise throws what to do: that a browser opened only
   * when one did; else the exact command to run.
   */
  async function signIn(err: Pick<SeedError, 'message'> & { hint?: string }, scopes?: string): Promise<void> {
    const why = scopes ? 'needs a new sign-in' : 'is not signed in';
    if (!options.starter) {
      // No browser sign-in here (a service account, an ID-JAG profile): the error's own next step.
      throw new ToolError(
        `seed-mcp ${why} (profile ${profile}): ${err.message}. ${err.hint ? `To fix: ${err.hint}` : `Run \`${command(scopes)}\` in a terminal`}, then retry this request.`,
      );
    }
    if (options.loginMode === 'never') {
      throw new ToolError(`seed-mcp ${why} (profile ${profile}): ${err.message}. Run \`${command(scopes)}\` in a terminal, then retry this request.`);
    }
    const started = await options.starter.start(scopes);
    if (started === 'started' && scopes) {
      stepUps.set(scopes, (stepUps.get(scopes) ?? 0) + 1);
      asked = scopes;
    }
    if ((started === 'started' || started === 'recent') && (await options.starter.settled(waitMs))) {
      tokens.invalidate();
      return;
    }
    switch (started) {
      case 'started':
        throw new ToolError(
          `Sign-in required: a browser window opened to sign in${options.issuer ? ` at ${options.issuer}` : ''} (profile ${profile})${scopes ? ` with the scopes "${scopes}"` : ''}. Finish signing in there, then retry this request.`,
        );
      case 'recent':
        throw new ToolError(
          `Sign-in in progress: finish signing in in the browser window seed-mcp opened (profile ${profile}), or run \`${command(scopes)}\` in a terminal, then retry this request.`,
        );
      case 'failed': {
        const why = options.starter.lastFailure;
        throw new ToolError(`seed-mcp could not sign in (profile ${profile}): ${why?.message ?? err.message}.${why?.hint ? ` To fix: ${why.hint}.` : ''} Then retry this request.`);
      }
      case 'no-browser':
        throw new ToolError(
          `seed-mcp ${why} (profile ${profile}): ${err.message}, and no browser could be opened to sign in. Run \`${command(scopes)}\` in a terminal, then retry this request.`,
        );
      default:
        throw new ToolError(
          `seed-mcp does not know where to sign in (profile ${profile}): give it the MCP server URL (\`seed-mcp serve --upstream URL\`), or run \`seed-mcp login --issuer URL --client-id ID --profile ${profile}\` once (or set SEED_MCP_ISSUER and SEED_MCP_CLIENT_ID in this server's env), then retry.`,
        );
    }
  }

  async function noToken(err: SeedError, allowSignIn: boolean): Promise<void> {
    if (!allowSignIn) {
      throw new ToolError(
        `not signed in (profile ${profile}); the next tool call that needs your identity ${options.loginMode === 'never' || !options.starter ? `fails until you run \`${login}\`` : 'opens a browser sign-in'}`,
      );
    }
    return signIn(err);
  }

  async function current(rejected?: string, allowSignIn = true): Promise<StoredTokens> {
    try {
      const t = await tokens.get(rejected ? { rejected } : undefined);
      lastScopes = t.scope;
      lastAccessToken = t.accessToken;
      return t;
    } catch (err) {
      if (isSeedError(err) && (err.code === 'NOT_SIGNED_IN' || err.code === 'INVALID_GRANT')) {
        await noToken(err, allowSignIn);
        // Signed in meanwhile: the new tokens are in the store.
        return current(undefined, false);
      }
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
      const rejected = lastAccessToken;
      // A sign-in elsewhere (another serve process, a terminal) may already have stored them.
      tokens.invalidate();
      let held: StoredTokens | undefined;
      try {
        held = await tokens.get();
        lastScopes = held.scope;
        lastAccessToken = held.accessToken;
      } catch {
        // Not signed in any more: the sign-in below replaces the tokens.
      }
      if (held && held.accessToken !== rejected && covers(held.scope, requiredScope)) return;
      const union = stepUpScopes(asked, lastScopes, requiredScope);
      if ((stepUps.get(union) ?? 0) >= MAX_STEP_UPS) {
        throw new ToolError(
          `The server still refuses this request (insufficient_scope) after ${MAX_STEP_UPS} sign-ins with the scopes "${union}": your account is probably not allowed those scopes. Ask the server's operator or your identity provider's admin to grant them, then run \`${command(union)}\` in a terminal and retry.`,
        );
      }
      logger.info(`the upstream asks for scopes "${requiredScope ?? ''}"; signing in again for "${union}"`);
      return signIn({ message: `the server needs the scopes "${requiredScope ?? ''}"` }, union);
    },
  };
}
