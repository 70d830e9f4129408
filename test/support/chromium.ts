/**
 * Debian's headless Chromium for the tests that need a real browser, driven with playwright-core.
 *
 * Chromium is a requirement of those suites, never a reason to skip them: without /usr/bin/chromium
 * they fail and say how to install it (`.ci/run` does). No browser is ever downloaded.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches /usr/bin/chromium headless, or throws saying how to install it. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: this test needs Debian's Chromium. Install it with ` +
        '`apt-get install -y --no-install-recommends chromium` (.ci/run does it). Never download a browser for it.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
}

/**
 * A context that reaches 127.0.0.1 only: the IdP's pages @import a web font, which an offline
 * machine would wait on; nothing else may leave the box either. `external` lists the origins
 * turned away.
 */
export async function loopbackContext(browser: Browser, options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; external: string[] }> {
  const context = await browser.newContext(options);
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    external.push(url.origin);
    return route.abort();
  });
  return { context, external };
}

/** Clicks `button` and waits until the browser has left `from` and loaded the next page. */
export async function clickAndWait(page: Page, button: string, from: string): Promise<void> {
  await Promise.all([page.waitForURL((u) => u.href !== from, { waitUntil: 'load', timeout: 10_000 }), page.locator(button).first().click()]);
}

/** What kind of IdP page the browser shows, judged by its forms (the login page shows only without an IdP session). */
export async function idpPageKind(page: Page, callback: URL): Promise<'callback' | 'login' | 'consent' | 'other'> {
  const url = new URL(page.url());
  if (url.origin === callback.origin && url.pathname === callback.pathname) return 'callback';
  if ((await page.locator(IDP_LOGIN_FORM).count()) > 0) return 'login';
  if ((await page.locator(IDP_CONSENT_FORM).count()) > 0) return 'consent';
  return 'other';
}

export const IDP_LOGIN_FORM = 'form:has(input[name="prompt"][value="login"])';
export const IDP_CONSENT_FORM = 'form:has(input[name="prompt"][value="consent"])';

/**
 * Plays the person at the IdP's devInteractions pages from where `page` is: types `login` and any
 * password on the login page, accepts the consent page, until the browser reaches `callback`.
 * Returns the kinds of page seen, `callback` last.
 */
export async function signInAtIdp(page: Page, callback: URL, login: string): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const kind = await idpPageKind(page, callback);
    seen.push(kind);
    if (kind === 'callback') return seen;
    const from = page.url();
    if (kind === 'login') {
      await page.locator(`${IDP_LOGIN_FORM} input[name="login"]`).fill(login);
      await page.locator(`${IDP_LOGIN_FORM} input[name="password"]`).fill('any password at all');
      await clickAndWait(page, `${IDP_LOGIN_FORM} button[type="submit"]`, from);
    } else if (kind === 'consent') {
      await clickAndWait(page, `${IDP_CONSENT_FORM} button[type="submit"]`, from);
    } else {
      const text = (
        await page
          .locator('body')
          .innerText()
          .catch(() => '')
      ).slice(0, 500);
      throw new Error(`unexpected page "${await page.title()}" at ${new URL(from).pathname}: ${text}`);
    }
  }
  throw new Error(`never reached ${callback.origin}${callback.pathname}; pages seen: ${seen.join(', ')}`);
}
