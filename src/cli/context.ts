import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '../shared/logger.js';
import { readProfileConfig } from '../local/profile-config.js';
import { profileNameForUrl, resolveLocalSettings, resolveProfile, type LocalFlags, type LocalSettings } from '../local/settings.js';
import { configDir } from '../local/paths.js';
import type { TokenStore } from '../local/token-store/types.js';

/** What a command may touch of the process: the entry point builds it, tests can too. */
export interface CliContext {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdinIsTTY: boolean;
  logger: Logger;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

export function createContext(signal: AbortSignal): CliContext {
  const env = process.env;
  return {
    env,
    stdout: process.stdout,
    stderr: process.stderr,
    stdinIsTTY: Boolean(process.stdin.isTTY),
    logger: createLogger({ level: (env.LOG_LEVEL as 'debug' | 'info' | 'warn' | 'error' | undefined) ?? 'info', format: env.LOG_FORMAT === 'json' ? 'json' : 'pretty' }),
    signal,
  };
}

/** `--profile`, a global option, as one command sees it. */
export function profileOf(cmd: { optsWithGlobals(): Record<string, unknown> }): string | undefined {
  const profile = cmd.optsWithGlobals().profile;
  return typeof profile === 'string' ? profile : undefined;
}

/**
 * Settings of the selected profile: flags over env over the saved profile. With an MCP server URL
 * (`serve --upstream`, `login URL`) and no profile given, the profile is named after the server's
 * host, unless an issuer is given or the `default` profile is already set up for it (or for any
 * server: signed in with `--issuer` before profiles were named after servers).
 */
export async function loadSettings(ctx: CliContext, flags: LocalFlags, serverUrl?: string): Promise<LocalSettings> {
  const dir = configDir(ctx.env);
  const url = serverUrl ?? flags.upstream ?? ctx.env.SEED_MCP_UPSTREAM;
  // Zero configuration only: an issuer given by flag or env keeps the `default` profile, as before.
  const issuerGiven = flags.issuer !== undefined || Boolean(ctx.env.SEED_MCP_ISSUER);
  if (flags.profile === undefined && ctx.env.SEED_MCP_PROFILE === undefined && url && !issuerGiven) {
    const named = profileNameForUrl(url);
    const byHost = named ? await readProfileConfig(dir, named) : {};
    const fallback = await readProfileConfig(dir, 'default');
    const defaultServes = fallback.issuer !== undefined && (fallback.upstream === undefined || fallback.upstream === url) && Object.keys(byHost).length === 0;
    if (named && !defaultServes) return resolveLocalSettings({ ...flags, profile: named }, ctx.env, byHost);
  }
  const profile = resolveProfile(flags, ctx.env);
  const saved = await readProfileConfig(dir, profile);
  return resolveLocalSettings(flags, ctx.env, saved);
}

/**
 * Opens the profile's token store. The `auto` fallback notice goes to stderr once per machine
 * (a marker in the config dir), not on every `token` call; `status` names the store every time.
 */
export async function loadStore(ctx: CliContext, settings: LocalSettings): Promise<TokenStore> {
  const { openTokenStore } = await import('../local/token-store/select.js');
  const marker = join(settings.configDir, '.keychain-fallback-noted');
  return openTokenStore({
    kind: settings.tokenStore,
    configDir: settings.configDir,
    notice: (message) => ctx.logger.warn(message),
    warn: (message) => {
      if (existsSync(marker)) return;
      ctx.logger.warn(message);
      try {
        mkdirSync(settings.configDir, { recursive: true, mode: 0o700 });
        writeFileSync(marker, `${new Date().toISOString()} ${message}\n`, { mode: 0o600 });
      } catch {
        // Saying it again next time is the only cost.
      }
    },
  });
}

/** True when the person sees an interactive terminal and asked for no machine output. */
export function interactive(ctx: CliContext, json: boolean | undefined): boolean {
  return !json && Boolean(ctx.stdout.isTTY) && Boolean(ctx.stderr.isTTY);
}

export function writeJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** `2026-11-23 19:17 (in 59 min)` in local time. */
export function formatExpiry(epochSec: number | undefined, nowMs = Date.now()): string {
  if (epochSec === undefined) return 'no expiry given';
  const d = new Date(epochSec * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const when = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const mins = Math.round((epochSec * 1000 - nowMs) / 60_000);
  const rel = mins >= 0 ? (mins >= 120 ? `in ${Math.round(mins / 60)} h` : `in ${mins} min`) : `${-mins} min ago`;
  return `${when} (${rel})`;
}

/** `Alice Example <alice@example.test>` or the subject. */
export function who(p: { name?: string; email?: string; subject?: string }): string {
  if (p.name && p.email) return `${p.name} <${p.email}>`;
  return p.email ?? p.name ?? p.subject ?? 'unknown user';
}
