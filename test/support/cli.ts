import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/seed-mcp.js');
export const SCRIPTED_BROWSER = join(ROOT, 'test/support/scripted-browser.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** Resolves when stderr has printed something matching `re`. */
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  done: Promise<CliResult>;
}

/** Starts `seed-mcp ARGS` as a subprocess with exactly `env` (plus PATH/HOME) and no TTY. */
export function startCli(args: string[], env: Record<string, string>): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...passThrough(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
    for (const w of waiters) w();
  });
  const done = new Promise<CliResult>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return {
    child,
    done,
    waitForStderr(re, timeoutMs = 20_000) {
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`stderr never matched ${re}; got:\n${stderr}`)), timeoutMs);
        const check = () => {
          const m = re.exec(stderr);
          if (m) {
            clearTimeout(timer);
            res(m);
          }
        };
        waiters.push(check);
        check();
      });
    },
  };
}

/** Runs `seed-mcp ARGS` to completion. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return startCli(args, env).done;
}

/** The keychain session bus must reach the child for keychain tests. */
function passThrough(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR', 'GNOME_KEYRING_CONTROL', 'NODE_EXTRA_CA_CERTS']) {
    const v = process.env[k];
    if (v) out[k] = v;
  }
  return out;
}

/** A fresh config dir, removed by the returned cleanup. */
export function tempDir(prefix = 'seed-mcp-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The JSON lines a detached browser stand-in logged, once at least `count` complete lines are
 * there: it writes after the CLI's callback answered it, so the CLI may exit first.
 */
export async function logLines(path: string, count = 1, timeoutMs = 5_000): Promise<any[]> {
  const { existsSync, readFileSync } = await import('node:fs');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const lines = text.split('\n').slice(0, -1); // only lines ended by a newline are complete
    if (lines.length >= count) return lines.map((l) => JSON.parse(l));
    if (Date.now() > deadline) throw new Error(`${path} has ${lines.length} complete lines, expected ${count}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/**
 * `newDir()`: a fresh temp dir per call, every one removed after the file's tests. Call it at the
 * top level of a test file: `const newDir = tempDirs();`.
 */
export function tempDirs(prefix?: string): () => string {
  const made: Array<() => void> = [];
  afterAll(() => made.forEach((cleanup) => cleanup()));
  return () => {
    const t = tempDir(prefix);
    made.push(t.cleanup);
    return t.dir;
  };
}

/**
 * Makes a profile's stored access token (file store) expire in 10 s, obtained an hour before: a
 * token at the end of a long life, not one that lives 10 s (those are refreshed with a quarter of
 * their life left).
 */
export function expireSoon(dir: string, profile = 'default'): void {
  const path = join(dir, 'tokens', `${profile}.json`);
  const t = JSON.parse(readFileSync(path, 'utf8'));
  t.expiresAt = Math.floor(Date.now() / 1000) + 10;
  t.obtainedAt = t.expiresAt - 3600;
  writeFileSync(path, JSON.stringify(t), { mode: 0o600 });
}
