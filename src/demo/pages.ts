/**
 * The demo IdP's HTML pages. Every one carries the same banner and title suffix: a person who
 * lands on one must never mistake it for a real sign-in page. The form field names (`prompt`,
 * `login`, `password`) and the device-flow form ids are oidc-provider's, so the project's scripted
 * browser and people's password managers both find their way.
 */
import { escapeHtml, htmlPage } from '../shared/html.js';

/** The name every page and log line of the demo carries. */
export const DEMO_NAME = 'seed-mcp DEMO identity provider — not for production';

// After htmlPage's base style: the body spans the window (for the banner), <main> is the column.
const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:none;margin:0;padding:0;background:#f4f4f5;color:#18181b}
.banner{background:#facc15;color:#422006;font-weight:700;text-align:center;padding:.6em 1em;letter-spacing:.02em}
main{max-width:28em;margin:2em auto;background:#fff;padding:1.5em 2em;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.3em;margin-top:0}label{display:block;margin:.8em 0 .2em;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5em;font-size:1em}
button{margin-top:1em;padding:.6em 1.2em;font-size:1em;background:#2563eb;color:#fff;border:0;border-radius:4px;cursor:pointer}
button.secondary{background:#e4e4e7;color:#18181b}
.error{background:#fee2e2;color:#991b1b;padding:.6em;border-radius:4px}
.note{color:#52525b;font-size:.9em}code{background:#f4f4f5;padding:0 .2em}
ul{padding-left:1.2em}a{color:#2563eb}`;

/** A whole page: the banner, a heading, and `body` (HTML the caller has escaped). */
export function page(heading: string, body: string): string {
  return htmlPage({
    title: `${heading} — ${DEMO_NAME}`,
    body: `<div class="banner">${escapeHtml(DEMO_NAME)}</div><main><h1>${escapeHtml(heading)}</h1>${body}</main>`,
    style: STYLE,
  });
}

export interface LoginPageInput {
  action: string;
  abortUrl: string;
  clientName: string;
  /** The demo user's published credentials, shown on the page. */
  user: { login: string; password: string };
  /** Set after a wrong user name or password. */
  error?: string;
  /** What was typed before, kept after an error. */
  login?: string;
}

export function loginPage(i: LoginPageInput): string {
  return page(
    'Sign in',
    `${i.error ? `<p class="error" role="alert">${escapeHtml(i.error)}</p>` : ''}
<p><strong>${escapeHtml(i.clientName)}</strong> asks you to sign in.</p>
<form method="post" action="${escapeHtml(i.action)}">
<input type="hidden" name="prompt" value="login">
<label for="login">User name</label><input type="text" id="login" name="login" value="${escapeHtml(i.login ?? '')}" autocomplete="username" autofocus required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="note">This is a demo: the only user is <code>${escapeHtml(i.user.login)}</code> with the password <code>${escapeHtml(i.user.password)}</code>. Your company's identity provider would ask for your own account here.</p>
<p><a href="${escapeHtml(i.abortUrl)}">Cancel</a></p>`,
  );
}

export interface ConsentPageInput {
  action: string;
  abortUrl: string;
  clientName: string;
  userName: string;
  scopes: string[];
  resources: string[];
}

const SCOPE_TEXT: Record<string, string> = {
  openid: 'know who you are',
  profile: 'read your name',
  email: 'read your email address',
  offline_access: 'stay signed in (a refresh token)',
  'checklist.list': 'list the checklists',
  'checklist.read': 'read a checklist',
  'process.read': 'list and read the processes',
  'process.search': 'search the processes',
};

export function consentPage(i: ConsentPageInput): string {
  const items = i.scopes.map((s) => `<li><code>${escapeHtml(s)}</code>${SCOPE_TEXT[s] ? ` — ${escapeHtml(SCOPE_TEXT[s])}` : ''}</li>`).join('');
  const resources = i.resources.map((r) => `<li><code>${escapeHtml(r)}</code></li>`).join('');
  return page(
    'Allow access',
    `<p>Signed in as <strong>${escapeHtml(i.userName)}</strong>. <strong>${escapeHtml(i.clientName)}</strong> asks to:</p>
<ul>${items || '<li>confirm this sign-in</li>'}</ul>
${resources ? `<p>for the MCP server:</p><ul>${resources}</ul>` : ''}
<form method="post" action="${escapeHtml(i.action)}">
<input type="hidden" name="prompt" value="consent">
<button type="submit" autofocus>Allow</button>
</form>
<p><a href="${escapeHtml(i.abortUrl)}">Cancel</a></p>`,
  );
}

/** oidc-provider's error answers (its `out`: `error`, `error_description`, maybe `state`). */
export function errorPage(out: Record<string, unknown>): string {
  const error = typeof out.error === 'string' ? out.error : 'error';
  const description = typeof out.error_description === 'string' ? out.error_description : '';
  return page(
    'Something went wrong',
    `<p class="error"><code>${escapeHtml(error)}</code>${description ? `: ${escapeHtml(description)}` : ''}</p>
<p class="note">Start again from the command line, e.g. <code>seed-mcp login --profile demo</code>.</p>`,
  );
}

export function homePage(issuer: string, mcpUrl: string): string {
  return page(
    'This is a demo',
    `<p>This identity provider was started by <code>seed-mcp demo</code> for a walkthrough on this machine. It knows one user and one client, and it listens on 127.0.0.1 only.</p>
<ul><li>issuer: <code>${escapeHtml(issuer)}</code></li><li>discovery: <a href="${escapeHtml(issuer)}/.well-known/openid-configuration">/.well-known/openid-configuration</a></li><li>MCP server: <code>${escapeHtml(mcpUrl)}</code></li></ul>
<p class="note">Use your company's identity provider for anything real.</p>`,
  );
}

export function deviceInputPage(form: string, message: string, isError: boolean): string {
  return page(
    'Device sign-in',
    `<p class="${isError ? 'error' : 'note'}">${escapeHtml(message)}</p>${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  return page(
    'Confirm the device',
    `<p><strong>${escapeHtml(clientName)}</strong> shows the code <code>${escapeHtml(userCode)}</code>. Continue only if your terminal shows the same code.</p>${form}
<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button class="secondary" type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`,
  );
}

export function deviceSuccessPage(): string {
  return page('Sign-in success', '<p>Your device is signed in. You can close this page and go back to the terminal.</p>');
}

export function logoutPage(form: string): string {
  return page(
    'Sign out?',
    `${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button>`,
  );
}

export function loggedOutPage(): string {
  return page('Signed out', '<p>You are signed out of the demo identity provider.</p>');
}
