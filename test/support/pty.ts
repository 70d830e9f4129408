/**
 * `seed-mcp` in a real pseudo-terminal made by util-linux `script` (as test/login-tty.test.ts does),
 * kept open so that a test can type into it — Ctrl-C included, which the terminal turns into a
 * real SIGINT for the CLI.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BIN, ROOT } from './cli.js';

export const SCRIPT = '/usr/bin/script';

const ESCAPES = new RegExp(
  [
    '\\x1b\\[[0-?]*[ -/]*[@-~]', // CSI: colors, cursor moves, erase, ?25l, ?2026h
    '\\x1b\\][^\\x07\\x1b]*(?:\\x07|\\x1b\\\\)', // OSC: titles, hyperlinks
    '\\x1b[PX^_][^\\x1b]*\\x1b\\\\', // DCS, SOS, PM, APC
    '\\x1b[@-Z\\\\-_]', // other two-byte escapes
  ].join('|'),
  'g',
);

/** The terminal's bytes without escape sequences and carriage returns. */
export function stripAnsi(s: string): string {
  return s.replace(ESCAPES, '').replace(/\r/g, '');
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface PtySession {
  child: ChildProcessWithoutNullStreams;
  /** Every byte the terminal received so far, escapes included. */
  raw(): string;
  /** {@link raw} without escapes. */
  text(): string;
  /** Resolves once the screen text matches `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Types into the terminal (`\x03` is Ctrl-C). */
  type(keys: string): void;
  /** The exit code `script --return` passes on from the CLI. */
  done: Promise<number | null>;
}

/**
 * Starts `seed-mcp ARGS` in a COLUMNS×ROWS pseudo-terminal with exactly `env` (plus PATH, HOME,
 * TERM). CI is left out on purpose: ink draws differently when it believes it runs in CI.
 */
export function startInPty(args: string[], env: Record<string, string>, size = { columns: 80, rows: 40 }): PtySession {
  if (!existsSync(SCRIPT)) {
    throw new Error(`${SCRIPT} is missing: this test runs the CLI in a pseudo-terminal made by util-linux script. Install it with \`apt-get install -y bsdutils\`.`);
  }
  const command = `stty cols ${size.columns} rows ${size.rows} && exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  const child = spawn(SCRIPT, ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', TERM: 'xterm-256color', SHELL: '/bin/sh', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let raw = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    raw += d;
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (raw += `\n[script stderr] ${d}`));
  const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    raw: () => raw,
    text: () => stripAnsi(raw),
    waitFor(re, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the terminal never showed ${re}; it showed:\n${stripAnsi(raw)}`));
        }, timeoutMs);
        function check() {
          const m = re.exec(stripAnsi(raw));
          if (!m) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(m);
        }
        waiters.add(check);
        check();
      });
    },
    type: (keys) => child.stdin.write(keys),
    done,
  };
}
