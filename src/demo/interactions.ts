import type { IncomingMessage, ServerResponse } from 'node:http';
import { constantTimeEqual } from '../shared/crypto.js';
import { HTML_PAGE_HEADERS } from '../shared/html.js';
import { BodyTooLargeError, readRequestBody } from '../shared/http/read-body.js';
import type { Logger } from '../shared/logger.js';
import { consentPage, errorPage, loginPage } from './pages.js';

/** The one account of the demo IdP; its credentials are printed by `seed-mcp demo` on purpose. */
export interface DemoUser {
  login: string;
  password: string;
  name: string;
  email: string;
}

/** What an interaction looks like to this module (oidc-provider's `interactionDetails`). */
interface InteractionDetails {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

interface Grant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

/** The slice of an oidc-provider instance that the interaction routes use. */
export interface InteractionProvider {
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  Grant: { new (init: { accountId: string; clientId: string }): Grant; find(id: string): Promise<Grant | undefined> };
  Client: { find(id: string): Promise<{ clientId: string; clientName?: string } | undefined> };
}

const PATH_RE = /^\/interaction\/([A-Za-z0-9_-]{1,128})(\/abort)?$/;
const MAX_FORM_BYTES = 16 * 1024;

// The shared page headers: no scripts on these pages, and no framing (clickjacking a sign-in page
// is the classic attack). No form-action either: browsers apply it to the redirects that follow a
// submit, and this flow ends on the CLI's loopback port.
function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, HTML_PAGE_HEADERS).end(html);
}

/** The posted form; undefined when it is over {@link MAX_FORM_BYTES}. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  try {
    return new URLSearchParams((await readRequestBody(req, MAX_FORM_BYTES)).toString('utf8'));
  } catch (err) {
    if (err instanceof BodyTooLargeError) return undefined;
    throw err;
  }
}

/**
 * The sign-in and consent pages of the demo IdP, in place of oidc-provider's devInteractions
 * (whose pages accept any password and say nothing about being a demo). Handles
 * `GET /interaction/:uid`, `POST /interaction/:uid` and `GET /interaction/:uid/abort`; returns
 * false for every other path, which oidc-provider then answers.
 */
export function createInteractionRoutes(provider: InteractionProvider, options: { user: DemoUser; logger: Logger }) {
  const { user, logger } = options;

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = PATH_RE.exec(path);
    if (!match) return false;
    const base = `/interaction/${match[1]}`;
    let details: InteractionDetails;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      // No interaction cookie, or an expired one: oidc-provider's SessionNotFound.
      send(res, 400, errorPage({ error: 'invalid_request', error_description: 'this sign-in request is unknown or has expired' }));
      return true;
    }
    if (details.uid !== match[1]) {
      send(res, 400, errorPage({ error: 'invalid_request', error_description: 'this sign-in page belongs to another request' }));
      return true;
    }
    const clientId = String(details.params.client_id ?? '');
    const client = await provider.Client.find(clientId);
    const clientName = client?.clientName ?? clientId;
    const abortUrl = `${base}/abort`;

    if (match[2]) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
      logger.info('sign-in cancelled on the demo IdP', { event: 'demo_login_cancelled' });
      return true;
    }

    if (req.method === 'GET') {
      if (details.prompt.name === 'login') send(res, 200, loginPage({ action: base, abortUrl, clientName, user }));
      else if (details.prompt.name === 'consent') send(res, 200, consentPage({ action: base, abortUrl, clientName, userName: user.name, ...consentScope(details) }));
      else send(res, 501, errorPage({ error: 'unsupported', error_description: `the demo IdP has no page for "${details.prompt.name}"` }));
      return true;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return true;
    }

    const form = await readForm(req);
    if (!form) {
      send(res, 413, errorPage({ error: 'invalid_request', error_description: 'the form is too large' }));
      return true;
    }
    const prompt = form.get('prompt');
    if (prompt !== details.prompt.name) {
      // A stale tab (the page of an earlier step, posted again): show the current step.
      res.writeHead(303, { location: base, 'content-length': '0' }).end();
      return true;
    }

    if (prompt === 'login') {
      const login = form.get('login') ?? '';
      const password = form.get('password') ?? '';
      // Compared in constant time, although the demo password is public: habits matter.
      if (!constantTimeEqual(login, user.login) || !constantTimeEqual(password, user.password)) {
        logger.warn('wrong user name or password on the demo IdP', { event: 'demo_login_failed' });
        send(
          res,
          403,
          loginPage({
            action: base,
            abortUrl,
            clientName,
            user,
            login,
            error: `Wrong user name or password. The demo user is "${user.login}" with the password "${user.password}".`,
          }),
        );
        return true;
      }
      await provider.interactionFinished(req, res, { login: { accountId: user.login } }, { mergeWithLastSubmission: false });
      return true;
    }

    // Consent: grant what the client asked for, as devInteractions does; the page listed it.
    const accountId = details.session?.accountId ?? user.login;
    const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
    await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return true;
  };
}

/** The scopes and resources the consent page lists: what is asked for, not yet granted first. */
function consentScope(details: InteractionDetails): { scopes: string[]; resources: string[] } {
  const asked = String(details.params.scope ?? '')
    .split(' ')
    .filter(Boolean);
  const missing = details.prompt.details.missingResourceScopes ?? {};
  const resourceScopes = Object.values(missing).flat();
  const resources = Object.keys(missing);
  const requested = details.params.resource;
  if (resources.length === 0 && typeof requested === 'string') resources.push(requested);
  return { scopes: [...new Set([...asked, ...resourceScopes])], resources };
}
