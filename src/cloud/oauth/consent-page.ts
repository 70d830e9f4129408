/**
 * The pages of consent: the question (which client, where it sends you back, what it may do, on
 * which server), and the list of a user's approvals with a way to revoke each. Served with
 * CONSENT_PAGE_HEADERS: no scripts, no framing (clickjacking), no referrer to other sites.
 */
import { escapeHtml, HTML_PAGE_HEADERS, htmlPage } from '../../shared/html.js';
import type { Approval } from './consent.js';
import { OAUTH_PATHS } from './paths.js';

/**
 * The headers of the consent pages: those of every page, but `Referrer-Policy: same-origin`. Under
 * `no-referrer` a browser sends `Origin: null` with the page's own form, and the answer could not
 * be told from a cross-site one; `same-origin` keeps the referrer from every other site.
 */
export const CONSENT_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...HTML_PAGE_HEADERS, 'referrer-policy': 'same-origin' });

const STYLE =
  '.client{font-weight:600}.host{font-family:ui-monospace,monospace;background:#f6f8fa;padding:0 .3rem;border-radius:4px}ul{padding-left:1.2rem}' +
  'button{font:inherit;padding:.45rem 1rem;margin-right:.6rem;border-radius:6px;border:1px solid #d0d7de;background:#f6f8fa;cursor:pointer}' +
  'button[value=approve]{background:#1f883d;border-color:#1f883d;color:#fff}.warn{color:#9a6700}.note{color:#59636e;font-size:.9rem}';

export interface ConsentPageInput {
  /** The transaction the answer belongs to. */
  transaction: string;
  clientName?: string;
  clientId: string;
  /** The redirect URI the code would be sent to. */
  redirectUri: string;
  scopes: readonly string[];
  /** The MCP server the tokens are for. */
  resource: string;
}

/** The question. The client's own name is shown as the client said it, marked as unverified. */
export function consentPage(i: ConsentPageInput): string {
  const host = new URL(i.redirectUri).host;
  const name = i.clientName
    ? `<span class="client">${escapeHtml(i.clientName)}</span> <span class="note">(its own name, not verified)</span>`
    : '<span class="client">An unnamed MCP client</span>';
  const scopes = i.scopes.length ? i.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('') : '<li>no particular scope</li>';
  return htmlPage({
    title: 'seed-mcp: allow access?',
    style: STYLE,
    body: `<h1>Allow this MCP client to act as you?</h1>
<p>${name} asks to use your sign-in with the MCP server <span class="host">${escapeHtml(i.resource)}</span>.</p>
<p>After you sign in, you will be sent back to <span class="host">${escapeHtml(host)}</span>${new URL(i.redirectUri).protocol === 'http:' ? ' (on this computer)' : ''}.</p>
<p>It asks for:</p><ul>${scopes}</ul>
<p class="warn">Only continue if you started this from an MCP client you use. If you did not, deny: someone may be trying to get access to your account.</p>
<form id="seed-mcp-consent" method="post" action="${OAUTH_PATHS.consent}">
<input type="hidden" name="transaction" value="${escapeHtml(i.transaction)}">
<button type="submit" name="decision" value="approve">Allow</button><button type="submit" name="decision" value="deny">Deny</button>
</form>
<p class="note">Client id: <code>${escapeHtml(i.clientId)}</code>. You can revoke this later at <a href="${OAUTH_PATHS.consents}">${OAUTH_PATHS.consents}</a>.</p>`,
  });
}

/** The approvals of the signed-in user, each with a revoke button. */
export function consentsPage(label: string, approvals: readonly Approval[], csrf: string, notice?: string): string {
  const rows = approvals
    .map(
      (
        a,
      ) => `<li><span class="client">${escapeHtml(a.clientName ?? 'An unnamed MCP client')}</span>, back to <span class="host">${escapeHtml(a.redirectHost)}</span>, scopes <code>${escapeHtml(a.scope)}</code>, since ${escapeHtml(new Date(a.approvedAt).toISOString().slice(0, 10))}
<form method="post" action="${OAUTH_PATHS.consents}"><input type="hidden" name="csrf" value="${escapeHtml(csrf)}"><input type="hidden" name="client_id" value="${escapeHtml(a.clientId)}"><button type="submit" name="decision" value="revoke">Revoke</button></form></li>`,
    )
    .join('');
  return htmlPage({
    title: 'seed-mcp: your approvals',
    style: STYLE,
    body: `<h1>MCP clients you allowed</h1>${notice ? `<p>${escapeHtml(notice)}</p>` : ''}
<p>Signed in as ${escapeHtml(label)}.</p>
${approvals.length ? `<ul>${rows}</ul>` : '<p>None: every MCP client will ask again.</p>'}
<p class="note">Revoking stops a client from skipping this question; tokens it already holds stay valid until they expire or are revoked.</p>`,
  });
}
