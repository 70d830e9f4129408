/**
 * One real sign-in in a real browser: Debian's headless Chromium, driven with playwright-core,
 * signs in at the test IdP's own login and consent pages and lands on the CLI's loopback callback
 * page, while `seed-mcp login --no-browser` waits for it as a subprocess.
 *
 * Chromium is a requirement of this suite, never a reason to skip it: without /usr/bin/chromium
 * the test fails and says how to install it (`.ci/run` does). No browser is ever downloaded.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium, loopbackContext, signInAtIdp } from './support/chromium.js';
import { startCli, tempDir, type RunningCli } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';

let idp: TestIdp | undefined;
let browser: Browser | undefined;
let cli: RunningCli | undefined;
const cleanups: Array<() => void> = [];

beforeAll(async () => {
  idp = await startIdp();
});

afterAll(async () => {
  await browser?.close();
  if (cli && cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGTERM');
  await idp?.close();
  for (const c of cleanups) c();
});

it('signs in with headless Chromium at the IdP and ends on the loopback "Signed in" page', async () => {
  // Fails, never skips, without /usr/bin/chromium: before the CLI starts, so nothing waits on it.
  browser = await launchChromium();
  const { dir, cleanup } = tempDir('seed-mcp-chromium-');
  cleanups.push(cleanup);
  const issuer = idp!.issuer;

  cli = startCli(['login', '--issuer', issuer, '--client-id', 'seed-cli', '--no-browser', '--profile', 'chromium'], {
    SEED_MCP_CONFIG_DIR: dir,
    SEED_MCP_TOKEN_STORE: 'file',
  });
  const printed = await cli.waitForStderr(/Open this URL in a browser to sign in:\n {2}(\S+)\n/, 15_000);
  const authorizationUrl = new URL(printed[1]!);
  expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${issuer}/auth`);
  const callback = new URL(authorizationUrl.searchParams.get('redirect_uri')!);
  expect(callback.href).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);

  // Only the IdP and the CLI's loopback listener.
  const { context, external } = await loopbackContext(browser);
  const page = await context.newPage();

  await page.goto(authorizationUrl.href, { waitUntil: 'load' });
  const seen = await signInAtIdp(page, callback, 'alice');
  // A fresh context has no IdP session: the login form must have shown, then consent
  // (offline_access makes the CLI ask for prompt=consent).
  expect(seen).toEqual(['login', 'consent', 'callback']);

  const finalUrl = new URL(page.url());
  expect(page.url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
  expect(finalUrl.port).toBe(callback.port);
  expect(finalUrl.searchParams.get('state')).toBe(authorizationUrl.searchParams.get('state'));
  expect(finalUrl.searchParams.has('code')).toBe(true);
  expect(await page.title()).toBe('seed-mcp: Signed in');
  expect(await page.locator('h1').innerText()).toBe('Signed in');
  await expect.poll(() => page.locator('body').innerText()).toContain('You can close this tab');

  const shots = tempDir('seed-mcp-chromium-shot-');
  cleanups.push(shots.cleanup);
  const shot = join(shots.dir, 'signed-in.png');
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(100);
  expect(readFileSync(shot).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

  const result = await cli.done;
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`^Signed in to ${issuer.replace(/[.]/g, '\\.')} as Alice Example <alice@example\\.test> \\(profile chromium\\), token valid until `));
  expect(existsSync(join(dir, 'tokens', 'chromium.json'))).toBe(true);
  expect(idp!.counts.authorizationCode).toBe(1);
  expect(idp!.serverErrors).toEqual([]);
  // Only the web font the IdP's stylesheet imports was turned away.
  expect(external.every((o) => o === 'https://fonts.googleapis.com')).toBe(true);
});
