/**
 * `POST /oauth/consent`: the consent page's answer. `GET/POST /oauth/consents`: the signed-in
 * user's approvals, and revoking one.
 *
 * Cross-site request forgery: the answer counts only from the browser the question was shown to
 * (the transaction keeps the hash of that browser's cookie) and, when the browser says where the
 * form came from (`Origin`), only from this server's own origin. A page on another site cannot
 * approve for the victim, and a transaction started by an attacker cannot be approved in the
 * victim's browser.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constantTimeEqual, sha256Base64url } from '../../shared/crypto.js';

import { sendRedirect } from '../http/respond.js';
import { STORE_KEYS } from '../store/keys.js';
import { redirectToClient, sendPage } from './answers.js';
import { idpAuthorizationUrl } from './authorize.js';
import { CONSENT_PAGE_HEADERS, consentsPage } from './consent-page.js';
import { approvalsOf, cookieNames, forget, readCookie, sessionOf } from './consent.js';
import type { EndpointDeps } from './options.js';
import { param, readForm } from './params.js';
import { TRANSACTION_TTL_MS, type Transaction } from './state.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

export type ConsentDeps = Pick<EndpointDeps, 'baseUrl' | 'idp' | 'idpResource' | 'store' | 'metrics' | 'logger' | 'secureCookies'>;

/** Whether a browser's `Origin` (when it sent one) is this server's. */
function sameOrigin(req: IncomingMessage, baseUrl: string): boolean {
  const origin = req.headers.origin;
  return origin === undefined || origin === new URL(baseUrl).origin;
}

/** The consent page's answer: on to the IdP, or back to the client with `access_denied`. */
export function createConsentEndpoint(deps: ConsentDeps): EndpointHandler {
  const { baseUrl, store, metrics, logger } = deps;
  const names = cookieNames(deps.secureCookies);
  const forbidden = (res: ServerResponse) => sendPage(res, 403, 'This answer does not belong to this browser', 'start the sign-in again from your MCP client, in this browser');

  return answerUnavailable(logger, async (req, res) => {
    if (!sameOrigin(req, baseUrl)) return forbidden(res);
    const form = await readForm(req);
    const id = param(form, 'transaction');
    const decision = param(form, 'decision');
    const tx = id ? await store.get<Transaction>(STORE_KEYS.transaction(id)) : undefined;
    if (!id || !tx || tx.consent !== 'pending') return sendPage(res, 400, 'This question expired or was already answered', 'start the sign-in again from your MCP client');
    const browser = readCookie(req, names.browser);
    if (!browser || !tx.browser || !constantTimeEqual(sha256Base64url(browser), tx.browser)) {
      logger.warn('oauth consent answered from another browser', { event: 'oauth_consent_forged', client_id: tx.clientId });
      return forbidden(res);
    }
    const to = { redirectUri: tx.redirectUri, state: tx.state, issuer: baseUrl };
    if (decision !== 'approve') {
      await store.delete(STORE_KEYS.transaction(id));
      metrics?.oauthAuthorization('failure');
      logger.info('oauth consent denied', { event: 'oauth_consent_denied', client_id: tx.clientId });
      return redirectToClient(res, to, { error: 'access_denied', error_description: 'the user denied the request' });
    }
    const approved: Transaction = { ...tx, consent: 'approved' };
    await store.set(STORE_KEYS.transaction(id), approved, TRANSACTION_TTL_MS);
    const target = await idpAuthorizationUrl(deps, id, approved);
    metrics?.oauthAuthorization('success');
    logger.info('oauth consent given', { event: 'oauth_consent_given', client_id: tx.clientId });
    sendRedirect(res, target.href);
  });
}

/** The user's approvals (GET), and revoking one (POST, with the page's form token). */
export function createConsentsEndpoint(deps: Pick<EndpointDeps, 'baseUrl' | 'store' | 'logger' | 'secureCookies'>): EndpointHandler {
  const { baseUrl, store, logger } = deps;
  const names = cookieNames(deps.secureCookies);
  return answerUnavailable(logger, async (req, res) => {
    const session = await sessionOf(store, req, names);
    if (!session) return sendPage(res, 401, 'No sign-in through this server in this browser', 'sign in from your MCP client first; this page lists the clients you allowed then');
    let notice: string | undefined;
    if (req.method === 'POST') {
      if (!sameOrigin(req, baseUrl)) return sendPage(res, 403, 'This request did not come from this page', 'use the Revoke buttons on this page');
      const form = await readForm(req);
      const csrf = param(form, 'csrf');
      const clientId = param(form, 'client_id');
      if (!csrf || !constantTimeEqual(csrf, session.csrf) || !clientId)
        return sendPage(res, 403, 'This request did not come from this page', 'use the Revoke buttons on this page');
      await forget(store, session.user, clientId);
      logger.info('oauth consent revoked', { event: 'oauth_consent_revoked', client_id: clientId });
      notice = 'Revoked: that client will ask again.';
    }
    res.writeHead(200, CONSENT_PAGE_HEADERS).end(consentsPage(session.label, await approvalsOf(store, session.user), session.csrf, notice));
  });
}
