import { readFile, unlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { redact } from '../../shared/redact.js';
import type { Browser } from '../browser.js';
import { acquireLock } from '../lock.js';
import type { LocalSettings } from '../settings.js';
import type { TokenStore } from '../token-store/types.js';

/** How long after one automatic sign-in no other may start for the profile, in any process. */
export const LOGIN_COOLDOWN_MS = 3 * 60_000;

/**
 * `started`: a browser opened here for a new sign-in. `recent`: a browser sign-in started less than
 * the cooldown ago, here or in another process, is still pending. `no-browser`: none could be
 * opened (no display, the launch failed, or the sign-in failed before it). `not-configured`: no IdP.
 */
export type LoginStart = 'started' | 'recent' | 'no-browser' | 'not-configured' | 'failed';

export interface LoginStarterOptions {
  settings: LocalSettings;
  store: TokenStore;
  logger: Logger;
  browser: () => Browser;
  cooldownMs?: number;
  timeoutMs?: number;
  now?: () => number;
  /** Aborts a running sign-in (the client went away). */
  signal?: AbortSignal;
  /** Told when a sign-in stored new tokens. */
  onSignedIn?: () => void;
  /** Whether a browser can open here at all; default: a browser command, or not a Linux without a display. */
  canOpenBrowser?: () => boolean;
}

/** A Linux session with neither X11 nor Wayland (SSH, a container) has no browser to open. */
export function defaultCanOpenBrowser(settings: Pick<LocalSettings, 'browserCommand'>, env: NodeJS.ProcessEnv = process.env): boolean {
  if (settings.browserCommand) return true;
  if (process.platform !== 'linux') return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY || env.WSL_DISTRO_NAME);
}

export interface LoginStarter {
  /**
   * Starts one browser sign-in in the background (with `scopes` instead of the profile's when a
   * server asked for more) unless one started for this profile less than the cooldown ago, here
   * or in another `serve` process. Never waits for the person: resolves `started` once the
   * browser launched, `no-browser` (and ends the sign-in) when it could not.
   */
  start(scopes?: string): Promise<LoginStart>;
  /**
   * Waits up to `timeoutMs` for the sign-in this process started: true once it stored tokens,
   * false when it failed, timed out or none runs here.
   */
  settled(timeoutMs: number): Promise<boolean>;
  /** Why the last sign-in failed before a browser opened (`failed`), with what to do. */
  lastFailure?: { message: string; hint?: string };
}

/**
 * Sign-in on demand for `serve`. Claude Desktop may start several `serve` processes, and a
 * laptop waking up fires many tool calls at once: a marker file written under a lock makes
 * that one browser tab, not a storm of them.
 */
export function createLoginStarter(options: LoginStarterOptions): LoginStarter {
  const { settings, logger } = options;
  const cooldownMs = options.cooldownMs ?? LOGIN_COOLDOWN_MS;
  const now = options.now ?? Date.now;
  const marker = join(settings.configDir, 'locks', `${settings.profile}.login-started`);
  let running: Promise<void> | undefined;
  let failure: { message: string; hint?: string } | undefined;
  let succeeded: Promise<boolean> | undefined;
  let deciding: Promise<LoginStart> | undefined;

  async function claim(): Promise<boolean> {
    await mkdir(join(settings.configDir, 'locks'), { recursive: true, mode: 0o700 });
    const release = await acquireLock(join(settings.configDir, 'locks', `${settings.profile}.login.lock`), { timeoutMs: 5_000 });
    try {
      const last = Number((await readFile(marker, 'utf8').catch(() => '0')).trim());
      if (now() - last < cooldownMs) return false;
      await writeFile(marker, String(now()), { mode: 0o600 });
      return true;
    } finally {
      await release();
    }
  }

  return {
    get lastFailure() {
      return failure;
    },
    async start(scopes) {
      succeeded = running ? succeeded : undefined;
      // Configured: an authorization server with a client (or one seed-mcp registers itself), or an MCP server to discover it from.
      const configured = (settings.issuer && (settings.clientId || settings.discovered)) || (settings.discovered && settings.upstream);
      if (!configured) return 'not-configured';
      if (running) return 'recent';
      if (deciding) {
        // Another call of this process is deciding: it alone may say "started".
        const decided = await deciding;
        return decided === 'started' ? 'recent' : decided;
      }
      deciding = launch(scopes).finally(() => {
        deciding = undefined;
      });
      return deciding;
    },
    async settled(timeoutMs) {
      if (timeoutMs <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        timer.unref?.();
      });
      // The sign-in runs here: its outcome. Else another process runs it: its tokens, once stored.
      const outcome = succeeded ?? storedSince(Number((await readFile(marker, 'utf8').catch(() => '0')).trim()), timeout);
      try {
        return await Promise.race([outcome, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };

  /** Resolves true once the store holds tokens obtained after `sinceMs` (polled), false when `stop` settles first. */
  async function storedSince(sinceMs: number, stop: Promise<boolean>): Promise<boolean> {
    if (!sinceMs) return false;
    let stopped = false;
    void stop.then(() => (stopped = true));
    while (!stopped) {
      const tokens = await options.store.get(settings.profile).catch(() => undefined);
      if (tokens && tokens.obtainedAt * 1000 >= sinceMs - 1000) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  async function launch(scopes: string | undefined): Promise<LoginStart> {
    if (!(options.canOpenBrowser ?? (() => defaultCanOpenBrowser(settings)))()) {
      logger.warn(`sign-in required for profile ${settings.profile}, but no browser can open here (no display)`);
      return 'no-browser';
    }
    if (!(await claim())) return 'recent';
    failure = undefined;
    const { login } = await import('../login.js');
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let settle: (opened: boolean) => void = () => {};
    const opened = new Promise<boolean>((resolve) => (settle = resolve));
    let succeed: (ok: boolean) => void = () => {};
    succeeded = new Promise<boolean>((resolve) => (succeed = resolve));
    const run: Promise<void> = login(
      {
        settings: scopes ? { ...settings, scopes, scopeSource: 'explicit' } : settings,
        openBrowser: true,
        device: false,
        timeoutMs: options.timeoutMs ?? 5 * 60_000,
      },
      {
        store: options.store,
        browser: options.browser(),
        logger,
        signal: abort.signal,
        onProgress: (e) => {
          if (e.type !== 'authorize') return;
          if (e.browserOpened) logger.info(`sign-in required for profile ${settings.profile}: opened the browser; if it did not open, visit ${e.url}`);
          settle(e.browserOpened === true);
        },
      },
    )
      .then(async (r) => {
        settle(true);
        if (r.previousIssuer) logger.warn(`issuer for profile ${r.profile} changed: ${r.previousIssuer} → ${r.issuer} (the upstream names it)`);
        logger.info(`signed in to ${r.issuer} as ${r.email ?? r.subject ?? 'unknown'} (profile ${r.profile})`);
        options.onSignedIn?.();
        succeed(true);
        // Signed in: a later sign-out should be able to start a new sign-in at once.
        await unlink(marker).catch(() => {});
      })
      .catch(async (err: Error) => {
        settle(false);
        succeed(false);
        const hint = (err as { hint?: unknown }).hint;
        if (!abort.signal.aborted) {
          failure = { message: redact(err.message), ...(typeof hint === 'string' ? { hint: redact(hint) } : {}) };
          logger.warn(`the browser sign-in did not finish: ${failure.message}${failure.hint ? ` → ${failure.hint}` : ''}`);
        }
        // No sign-in is pending any more: nobody may be told that one is.
        await unlink(marker).catch(() => {});
      })
      .finally(() => {
        options.signal?.removeEventListener('abort', onAbort);
        if (running === run) running = undefined;
      });
    running = run;
    if (await opened) return 'started';
    // No browser: end the sign-in (its loopback port) and answer with the command to run instead.
    // A sign-in that failed before any browser could open (discovery, registration) says why.
    const failedEarly = failure !== undefined;
    abort.abort();
    await run;
    return failedEarly ? 'failed' : 'no-browser';
  }
}
