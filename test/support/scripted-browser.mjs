#!/usr/bin/env node
/**
 * A person at a browser, without a browser: follows the test IdP's redirects by hand with a small
 * cookie jar, reads each page, fills oidc-provider's devInteractions login and consent forms (or
 * cancels), and finally requests the CLI's loopback callback like a browser would.
 *
 * Plain JavaScript so that it runs with `node`, no build step. Two ways to use it:
 *
 * - in a test: `await followLogin(authorizationUrl, { login: 'alice' })`,
 *   `await approveDevice(verificationUriComplete)`;
 * - as the CLI's browser: `BROWSER="node test/support/scripted-browser.mjs"` (the URL is the last
 *   argument). Options come from `SCRIPTED_BROWSER_LOGIN`, `SCRIPTED_BROWSER_PASSWORD`,
 *   `SCRIPTED_BROWSER_ACTION` (`approve`, `deny`, or `ignore`: the person closes the tab) and
 *   `SCRIPTED_BROWSER_DELAY_MS` (wait before starting), `SCRIPTED_BROWSER_CONSENT` (the answer
 *   on seed-mcp's own consent page: `approve`, the default, or `deny`); one JSON line per launch
 *   is appended to the file `SCRIPTED_BROWSER_LOG` names (`consented: true` when it allowed on
 *   seed-mcp's consent page). It always exits 0 and never prints codes or tokens.
 */
import { appendFileSync, realpathSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * @typedef {'approve' | 'deny'} BrowserAction
 *
 * @typedef {object} FollowLoginOptions
 * @property {string} [login] Login id typed on the login page (any id is a user); default `alice`.
 * @property {string} [password] Password typed (devInteractions accepts any); default `x`.
 * @property {BrowserAction} [action] `approve` (default) signs in and consents; `deny` clicks the
 *   login or consent page's Cancel link, so the IdP redirects back with `error=access_denied`.
 * @property {(line: string) => void} [log] Receives one line per step (method and path only).
 * @property {CookieJar} [jar] Cookies to start from and keep (share one to keep an IdP session).
 * @property {number} [maxSteps] Give up after this many requests; default 25.
 * @property {'approve' | 'deny' | 'stop'} [consent] On seed-mcp's own consent page (the OAuth
 *   proxy's): Allow (default), Deny, or stop there as a person who does not answer; then the
 *   result has `consentPage` and no callback.
 *
 * @typedef {object} FollowLoginResult
 * @property {string} callbackUrl The loopback callback URL requested, with the IdP's parameters
 *   (`code`, `state`, or `error`).
 * @property {number} status Status of the callback server's answer.
 * @property {string} body Body of the callback server's answer.
 * @property {string} [consentPage] With `consent: 'stop'`: the consent page where the walk stopped.
 * @property {'approve' | 'deny'} [consented] How seed-mcp's own consent page was answered, when it
 *   was shown on the way (absent when it was not: the IdP alone, or an approval remembered).
 *
 * @typedef {object} ApproveDeviceOptions
 * @property {string} [login] Default `alice`.
 * @property {string} [password] Default `x`.
 * @property {BrowserAction} [action] `deny` clicks Abort on the confirmation page.
 * @property {string} [userCode] The user code, when the URL is `verification_uri` without it.
 * @property {(line: string) => void} [log]
 * @property {CookieJar} [jar]
 * @property {number} [maxSteps]
 *
 * @typedef {object} ApproveDeviceResult
 * @property {'approved' | 'denied'} outcome
 * @property {number} status Status of the last page.
 * @property {string} body The last page.
 */

const USER_AGENT = 'seed-mcp-scripted-browser/1';

/** Host-only cookies with paths and expiry: enough for oidc-provider's session cookies. */
export class CookieJar {
  /** @type {Map<string, { host: string, path: string, name: string, value: string, expires: number }>} */
  #cookies = new Map();

  /**
   * Stores the `Set-Cookie` headers of a response.
   * @param {URL} url
   * @param {Headers} headers
   */
  store(url, headers) {
    for (const line of headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = url.pathname.slice(0, url.pathname.lastIndexOf('/')) || '/';
      let expires = Infinity;
      for (const attribute of attributes) {
        const [key = '', val = ''] = attribute.split('=').map((part) => part.trim());
        const lower = key.toLowerCase();
        if (lower === 'path' && val.startsWith('/')) path = val;
        else if (lower === 'max-age') expires = Date.now() + Number(val) * 1000;
        else if (lower === 'expires' && expires === Infinity) expires = Date.parse(val);
      }
      const key = `${url.host} ${path} ${name}`;
      if (expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, { host: url.host, path, name, value, expires });
    }
  }

  /**
   * The `Cookie` header for a request, or undefined.
   * @param {URL} url
   * @returns {string | undefined}
   */
  header(url) {
    const now = Date.now();
    const matching = [...this.#cookies.values()].filter(
      (c) => c.host === url.host && c.expires > now && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
    );
    // Longer paths first, as browsers send them.
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading pages (oidc-provider's are small and regular; no HTML parser needed)

/** @param {string} text */
function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, entity) => {
    const lower = entity.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(Number(lower.slice(1)));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower] ?? _;
  });
}

/** @param {string} tag */
function attributesOf(tag) {
  /** @type {Record<string, string>} */
  const attributes = {};
  for (const m of tag.matchAll(/([a-zA-Z_:.-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    const name = m[1];
    if (!name) continue;
    attributes[name.toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attributes;
}

/**
 * @typedef {{ id?: string, action?: string, method: string, fields: Array<[string, string]> }} Form
 */

/** @param {string} html @returns {Form[]} */
function formsOf(html) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map((m) => {
    const attributes = attributesOf(m[1] ?? '');
    /** @type {Array<[string, string]>} */
    const fields = [];
    for (const input of (m[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributesOf(input[1] ?? '');
      if (a.name) fields.push([a.name, a.value ?? '']);
    }
    return { id: attributes.id, action: attributes.action, method: (attributes.method ?? 'get').toUpperCase(), fields };
  });
}

/** @param {string} html */
function titleOf(html) {
  const m = /<title>([\s\S]*?)<\/title>/i.exec(html);
  return m?.[1] ? decodeEntities(m[1].trim()) : '';
}

/** Visible text, for error messages (the IdP's pages hold no secrets). @param {string} html */
function textOf(html) {
  const body = /<body[^>]*>([\s\S]*)<\/body>/i.exec(html)?.[1] ?? html;
  return decodeEntities(
    body
      .replace(/<(script|style|details)\b[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  ).slice(0, 300);
}

/** The href of devInteractions' "[ Cancel ]" link (GET /interaction/:uid/abort). @param {string} html */
function cancelLinkOf(html) {
  for (const m of html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/gi)) {
    const href = attributesOf(m[1] ?? '').href;
    if (href && (/\/abort(\?|$)/.test(href) || /cancel/i.test(m[2] ?? ''))) return href;
  }
  return undefined;
}

/** @param {Form} form @param {string} name */
const fieldOf = (form, name) => form.fields.find(([n]) => n === name)?.[1];

// ---------------------------------------------------------------------------------------------
// The walk

/**
 * @typedef {{ method: string, url: URL, body?: URLSearchParams }} Step
 * @typedef {{ kind: 'callback', step: Step } | { kind: 'done', outcome: 'approved' | 'denied' | 'consent-page', status: number, body: string }} Outcome
 */

/** Only method and path: queries carry codes and states. @param {Step} step */
const describe = (step) => `${step.method} ${step.url.origin}${step.url.pathname}`;

/**
 * Follows the IdP's pages from `start` until the browser is sent to `isCallback`, or a device
 * flow ends on its success or "interrupted" page.
 *
 * @param {URL} start
 * @param {(url: URL) => boolean} isCallback
 * @param {Required<Pick<FollowLoginOptions, 'login' | 'password' | 'action' | 'maxSteps'>> & { jar: CookieJar, log: (line: string) => void, userCode?: string, consent?: 'approve' | 'deny' | 'stop', onConsent?: (answer: 'approve' | 'deny') => void }} options
 * @returns {Promise<Outcome>}
 */
async function walk(start, isCallback, options) {
  const { jar, log } = options;
  /** @type {Step} */
  let step = { method: 'GET', url: start };

  for (let i = 0; i < options.maxSteps; i++) {
    if (isCallback(step.url)) return { kind: 'callback', step };

    log(describe(step));
    /** @type {Record<string, string>} */
    const headers = { 'user-agent': USER_AGENT, accept: 'text/html,*/*' };
    const cookie = jar.header(step.url);
    if (cookie) headers.cookie = cookie;
    if (step.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(step.url, { method: step.method, headers, body: step.body, redirect: 'manual' });
    jar.store(step.url, res.headers);

    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      step = { method: 'GET', url: new URL(location, step.url) };
      continue;
    }

    const html = await res.text();
    const title = titleOf(html);
    if (res.status !== 200) {
      throw new Error(`IdP answered ${res.status} to ${describe(step)}: ${textOf(html)}`);
    }

    const forms = formsOf(html);
    const byPrompt = (/** @type {string} */ prompt) => forms.find((f) => fieldOf(f, 'prompt') === prompt);
    /** @param {Form} form @param {Array<[string, string]>} fields @returns {Step} */
    const submit = (form, fields) => ({
      method: form.method === 'GET' ? 'GET' : 'POST',
      url: new URL(form.action ?? step.url.href, step.url),
      body: new URLSearchParams(fields),
    });
    const cancel = () => {
      const href = cancelLinkOf(html);
      if (!href) throw new Error(`no Cancel link on "${title}" at ${describe(step)}`);
      return /** @type {Step} */ ({ method: 'GET', url: new URL(href, step.url) });
    };

    // Look at which page this is before filling anything: the login page only shows without an
    // IdP session, and the consent page only when something is left to consent to.
    const loginForm = byPrompt('login');
    const consentForm = byPrompt('consent');
    const confirmForm = forms.find((f) => f.id === 'op.deviceConfirmForm');
    const inputForm = forms.find((f) => f.id === 'op.deviceInputForm');
    const seedConsentForm = forms.find((f) => f.id === 'seed-mcp-consent');

    if (seedConsentForm) {
      // seed-mcp's own question, before the IdP: Allow and Deny are the form's two buttons.
      const consent = options.consent ?? 'approve';
      if (consent === 'stop') return { kind: 'done', outcome: 'consent-page', status: res.status, body: html };
      const answer = consent === 'deny' ? 'deny' : 'approve';
      options.onConsent?.(answer);
      step = submit(seedConsentForm, [...seedConsentForm.fields, ['decision', answer]]);
    } else if (loginForm) {
      if (options.action === 'deny') step = cancel();
      else {
        const fields = loginForm.fields.filter(([n]) => n !== 'login' && n !== 'password');
        step = submit(loginForm, [...fields, ['login', options.login], ['password', options.password]]);
      }
    } else if (consentForm) {
      step = options.action === 'deny' ? cancel() : submit(consentForm, consentForm.fields);
    } else if (confirmForm) {
      // The confirmation form holds xsrf, user_code and confirm=yes; Abort posts abort=yes.
      step = options.action === 'deny' ? submit(confirmForm, [...confirmForm.fields.filter(([n]) => n !== 'confirm'), ['abort', 'yes']]) : submit(confirmForm, confirmForm.fields);
    } else if (inputForm) {
      if (/interrupted/i.test(html)) return { kind: 'done', outcome: 'denied', status: res.status, body: html };
      if (/incorrect|error processing/i.test(html) || !options.userCode) {
        throw new Error(`device code page at ${describe(step)}: ${textOf(html)}`);
      }
      const fields = inputForm.fields.filter(([n]) => n !== 'user_code');
      step = submit(inputForm, [...fields, ['user_code', options.userCode]]);
    } else if (/sign-in success/i.test(title)) {
      return { kind: 'done', outcome: 'approved', status: res.status, body: html };
    } else if (forms.length === 1 && forms[0]?.fields.length && /<script\b/i.test(html)) {
      // An auto-submitting form (response_mode=form_post, or the device flow's own hop): a
      // browser would post it at once.
      const form = /** @type {Form} */ (forms[0]);
      step = submit(form, form.fields);
    } else {
      throw new Error(`unexpected page "${title}" at ${describe(step)}: ${textOf(html)}`);
    }
  }
  throw new Error(`gave up after ${options.maxSteps} requests`);
}

/**
 * Requests the callback like a browser. A `localhost` callback is tried on 127.0.0.1 too when the
 * first address refuses (the CLI listens on 127.0.0.1 only; `localhost` may resolve to ::1).
 *
 * @param {Step} step
 * @returns {Promise<Response>}
 */
async function requestCallback(step) {
  const init = {
    method: step.method,
    headers: {
      'user-agent': USER_AGENT,
      accept: 'text/html,*/*',
      ...(step.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    body: step.body,
    redirect: /** @type {const} */ ('manual'),
  };
  try {
    return await fetch(step.url, init);
  } catch (err) {
    if (step.url.hostname !== 'localhost') throw callbackError(err);
    const ipv4 = new URL(step.url);
    ipv4.hostname = '127.0.0.1';
    try {
      return await fetch(ipv4, init);
    } catch (err2) {
      throw callbackError(err2);
    }
  }
}

/** An error naming the failure, never the URL (it holds the code). @param {unknown} err */
function callbackError(err) {
  const cause = /** @type {{ cause?: { code?: string, message?: string }, message?: string }} */ (err);
  const reason = cause?.cause?.code ?? cause?.cause?.message ?? cause?.message ?? String(err);
  return Object.assign(new Error(`callback request failed: ${reason}`), { code: cause?.cause?.code });
}

/**
 * Plays the person signing in at `url` (an authorization URL) and returns the callback server's
 * answer. The callback is the authorization URL's `redirect_uri` (or, when it carries none, as
 * with PAR, the first redirect away from the IdP).
 *
 * @param {string} url
 * @param {FollowLoginOptions} [options]
 * @returns {Promise<FollowLoginResult>}
 */
export async function followLogin(url, options = {}) {
  const start = new URL(url);
  const redirectUri = start.searchParams.get('redirect_uri');
  const target = redirectUri ? new URL(redirectUri) : undefined;
  const isCallback = target ? (/** @type {URL} */ u) => u.origin === target.origin && u.pathname === target.pathname : (/** @type {URL} */ u) => u.origin !== start.origin;

  /** @type {'approve' | 'deny' | undefined} */
  let consented;
  const outcome = await walk(start, isCallback, {
    onConsent: (answer) => (consented = answer),
    login: options.login ?? 'alice',
    password: options.password ?? 'x',
    action: options.action ?? 'approve',
    maxSteps: options.maxSteps ?? 25,
    jar: options.jar ?? new CookieJar(),
    log: options.log ?? (() => {}),
    ...(options.consent ? { consent: options.consent } : {}),
  });
  if (outcome.kind === 'done' && outcome.outcome === 'consent-page') return { callbackUrl: '', status: outcome.status, body: '', consentPage: outcome.body };
  if (outcome.kind !== 'callback') throw new Error('the IdP never redirected to the callback');

  options.log?.(`${outcome.step.method} ${outcome.step.url.origin}${outcome.step.url.pathname} (callback)`);
  const res = await requestCallback(outcome.step);
  return { callbackUrl: outcome.step.url.href, status: res.status, body: await res.text(), ...(consented ? { consented } : {}) };
}

/**
 * Completes the device flow's pages at `verificationUri` (normally `verification_uri_complete`):
 * confirms the user code, signs in, consents. `deny` clicks Abort instead; the device's poll then
 * gets `access_denied`.
 *
 * @param {string} verificationUri
 * @param {ApproveDeviceOptions} [options]
 * @returns {Promise<ApproveDeviceResult>}
 */
export async function approveDevice(verificationUri, options = {}) {
  const start = new URL(verificationUri);
  const outcome = await walk(start, (u) => u.origin !== start.origin, {
    login: options.login ?? 'alice',
    password: options.password ?? 'x',
    action: options.action ?? 'approve',
    maxSteps: options.maxSteps ?? 25,
    jar: options.jar ?? new CookieJar(),
    log: options.log ?? (() => {}),
    userCode: options.userCode ?? start.searchParams.get('user_code') ?? undefined,
  });
  if (outcome.kind !== 'done') throw new Error('the device flow left the IdP unexpectedly');
  return { outcome: outcome.outcome, status: outcome.status, body: outcome.body };
}

// ---------------------------------------------------------------------------------------------
// As a program: what the CLI runs as its BROWSER

/** The callback URL with its values hidden except `error` (codes and states stay out of logs). @param {string} href */
function redactCallback(href) {
  const u = new URL(href);
  for (const key of [...u.searchParams.keys()]) {
    if (key !== 'error') u.searchParams.set(key, '[redacted]');
  }
  return u.href;
}

async function main() {
  const url = process.argv.at(-1) ?? '';
  const env = process.env;
  const action = env.SCRIPTED_BROWSER_ACTION || 'approve';
  const logFile = env.SCRIPTED_BROWSER_LOG;
  const started = Date.now();
  /** @type {Record<string, unknown>} */
  const entry = { time: new Date(started).toISOString(), pid: process.pid, url, action };
  try {
    if (!/^https?:\/\//.test(url)) throw new Error('usage: scripted-browser.mjs <url>');
    const delay = Number(env.SCRIPTED_BROWSER_DELAY_MS || 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (action !== 'ignore') {
      if (action !== 'approve' && action !== 'deny') throw new Error(`unknown SCRIPTED_BROWSER_ACTION ${action}`);
      const result = await followLogin(url, {
        login: env.SCRIPTED_BROWSER_LOGIN || 'alice',
        password: env.SCRIPTED_BROWSER_PASSWORD || 'x',
        action,
        consent: /** @type {'approve' | 'deny' | 'stop'} */ (env.SCRIPTED_BROWSER_CONSENT || 'approve'),
      });
      const callback = new URL(result.callbackUrl);
      entry.callbackUrl = redactCallback(result.callbackUrl);
      entry.callbackStatus = result.status;
      entry.callbackError = callback.searchParams.get('error') ?? undefined;
      entry.hasCode = callback.searchParams.has('code');
      // seed-mcp's own consent page (the OAuth proxy's): shown and answered on the way, or not.
      entry.consented = result.consented === 'approve';
      if (result.consented) entry.consentAnswer = result.consented;
    }
  } catch (err) {
    entry.error = /** @type {Error} */ (err).message;
    process.stderr.write(`scripted-browser: ${entry.error}\n`);
  }
  entry.ms = Date.now() - started;
  if (logFile) {
    try {
      appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
    } catch (err) {
      process.stderr.write(`scripted-browser: cannot write ${logFile}: ${/** @type {Error} */ (err).message}\n`);
    }
  }
}

const invokedAsProgram = (() => {
  try {
    return !!process.argv[1] && realpathSync(resolvePath(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedAsProgram) {
  // Exit 0 whatever happened: a browser's exit code means nothing to the CLI that launched it,
  // and the log records the outcome.
  main().finally(() => process.exit(0));
}
