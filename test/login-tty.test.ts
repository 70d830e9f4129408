/**
 * The interactive login view (ink) as a person sees it: the CLI runs in a real pseudo-terminal
 * made by util-linux `script`, so process.stdout.isTTY and process.stderr.isTTY are true and the
 * CLI picks the ink view over its plain-text lines. The terminal's bytes are captured as written
 * (colors, cursor moves, spinner frames) and read back with the escapes stripped.
 *
 * `script` is a requirement of this suite, never a reason to skip it: without it the test fails
 * and says how to install it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, logLines, ROOT, SCRIPTED_BROWSER, tempDir } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { startInPty, stripAnsi } from './support/pty.js';

const SCRIPT = '/usr/bin/script';
/** An ordinary terminal: the URL (several hundred characters) must still come out unbroken. */
const COLUMNS = 80;
const ROWS = 40;

let idp: TestIdp | undefined;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  idp = await startIdp();
});

afterAll(async () => {
  await idp?.close();
  for (const c of cleanups) c();
});

interface PtyResult {
  code: number | null;
  /** Every byte the terminal received, escapes included (the pty turns \n into \r\n). */
  raw: string;
  /** `raw` without escape sequences and carriage returns. */
  text: string;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `seed-mcp ARGS` inside a fresh pseudo-terminal of COLUMNS×ROWS with exactly `env` (plus
 * PATH, HOME, TERM). CI and CONTINUOUS_INTEGRATION are left out on purpose: ink renders no
 * intermediate frames when it believes it runs in CI, and a person's terminal is not CI.
 */
function runInPty(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<PtyResult> {
  const command = `stty cols ${COLUMNS} rows ${ROWS} && exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`;
  const child = spawn(SCRIPT, ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', TERM: 'xterm-256color', SHELL: '/bin/sh', ...env },
    // stdin stays an open pipe: `script` forwards it to the pty, and an EOF there would reach the CLI.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let raw = '';
  let scriptErr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (raw += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (scriptErr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`seed-mcp ${args.join(' ')} did not finish in ${timeoutMs} ms; the terminal showed:\n${stripAnsi(raw)}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      child.stdin.end();
      if (scriptErr.trim()) raw += `\n[script stderr] ${scriptErr}`;
      resolve({ code, raw, text: stripAnsi(raw) });
    });
  });
}

describe('login in a real terminal', () => {
  it('has util-linux script to make the pseudo-terminal', () => {
    if (!existsSync(SCRIPT)) {
      throw new Error(
        `${SCRIPT} is missing: this test runs the CLI in a pseudo-terminal made by util-linux script. ` +
          'Install it with `apt-get install -y bsdutils` (Debian; util-linux on other distributions).',
      );
    }
  });

  it('shows the waiting view with the URL, then the green "✔ Signed in" line; status agrees', async () => {
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: apt-get install -y bsdutils`);
    const { dir, cleanup } = tempDir('seed-mcp-tty-');
    cleanups.push(cleanup);
    const issuer = idp!.issuer;
    const browserLog = join(dir, 'browser.log');
    const env = {
      SEED_MCP_CONFIG_DIR: dir,
      SEED_MCP_TOKEN_STORE: 'file',
      BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
      // The scripted browser waits this long before it signs in, so the waiting view stays up.
      SCRIPTED_BROWSER_DELAY_MS: '1500',
      SCRIPTED_BROWSER_LOG: browserLog,
    };

    const login = await runInPty(['login', '--issuer', issuer, '--client-id', 'seed-cli'], env);
    const shown = `the terminal showed:\n${login.text}`;
    expect(login.code, shown).toBe(0);

    // The URL the browser was given is the one on screen.
    const launches = await logLines(browserLog);
    expect(launches, shown).toHaveLength(1);
    expect(launches[0].error, shown).toBeUndefined();
    expect(launches[0].callbackStatus).toBe(200);
    const url: string = launches[0].url;
    expect(url.startsWith(`${issuer}/auth?`)).toBe(true);

    // The waiting view, drawn by ink (not the plain lines the CLI prints without a terminal).
    expect(login.text, shown).toContain('Opened the browser to sign in. If it did not open, visit:');
    expect(login.text, shown).toContain(url);
    expect(login.text, shown).toContain('Waiting for you to finish signing in (Ctrl-C to cancel)…');
    expect(login.text, shown).not.toContain('Waiting for the sign-in to finish');
    // It was on screen for a while: the spinner redrew it more than once.
    expect(login.text.split('Waiting for you to finish signing in').length - 1, shown).toBeGreaterThan(1);

    // Then the final line, in green, after the last waiting frame and with nothing after it.
    const summary = `✔ Signed in to ${issuer} as Alice Example <alice@example.test>, token valid until `;
    expect(login.text, shown).toContain(summary);
    expect(login.text.lastIndexOf('Waiting for you')).toBeLessThan(login.text.indexOf(summary));
    expect(login.raw).toMatch(new RegExp(`\\x1b\\[32m✔ Signed in to ${issuer.replace(/[.]/g, '\\.')} as Alice Example`));
    expect(login.text.slice(login.text.indexOf(summary)), shown).toMatch(/^✔ Signed in to .+ Tokens stored in file .+default\.json \(mode 0600\)\.\s*$/);
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(true);

    const status = await runInPty(['status'], env);
    expect(status.code, status.text).toBe(0);
    expect(status.text).toContain('Signed in as Alice Example <alice@example.test> (profile default)');
    expect(status.text).toContain(`  issuer:   ${issuer}`);
  });

  it('Ctrl-C while the waiting view is up cancels the sign-in cleanly: the CLI’s own message, nothing stored', async () => {
    const { dir, cleanup } = tempDir('seed-mcp-tty-');
    cleanups.push(cleanup);
    const env = {
      SEED_MCP_CONFIG_DIR: dir,
      SEED_MCP_TOKEN_STORE: 'file',
      BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
      // The person closes the tab: nothing ever reaches the loopback.
      SCRIPTED_BROWSER_ACTION: 'ignore',
    };
    const pty = startInPty(['login', '--issuer', idp!.issuer, '--client-id', 'seed-cli'], env);
    await pty.waitFor(/Waiting for you to finish signing in/);
    pty.type('\x03');
    const code = await pty.done;
    // Before the fix, ink's signal-exit re-raised SIGINT and the process died with 130 mid-view.
    expect(code, pty.text()).not.toBe(130);
    expect(code, pty.text()).toBe(1);
    expect(pty.text()).toMatch(/cancel/i);
    expect(existsSync(join(dir, 'tokens', 'default.json'))).toBe(false);
  });
});
