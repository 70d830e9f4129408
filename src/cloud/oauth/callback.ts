/**
 * `GET /oauth/authorize/callback`: the IdP sends the browser back here. The proxy exchanges the
 * IdP's code, seals the IdP's tokens under a new one-time code bound to the client, its redirect
 * URI and its PKCE challenge, and redirects back to the client with that code.
 */
import { STORE_KEYS } from '../store/keys.js';
import { redirectToClient, sendPage } from './answers.js';
import { cookie, cookieNames, remember, startSession, userKey } from './consent.js';
import type { IdpTokens } from './idp.js';
import type { EndpointDeps } from './options.js';
import { OAUTH_PATHS } from './paths.js';
import { codeKey, seal } from './seal.js';
import { CODE_TTL_MS, randomToken, type CodeGrant, type Transaction } from './state.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

/** What the callback endpoint needs. */
export type CallbackDeps = Pick<EndpointDeps, 'baseUrl' | 'idpResource' | 'store' | 'idp' | 'logger' | 'consent' | 'secureCookies'>;

/** An IdP `error` passed on as it is only when it is a plain token (RFC 6749 §4.1.2.1's character set). */
const SAFE_ERROR = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/** The callback endpoint's handler. */
export function createCallbackEndpoint(deps: CallbackDeps): EndpointHandler {
  const { baseUrl, store, idp, logger } = deps;
  const names = cookieNames(deps.secureCookies);
  const callbackUrl = `${baseUrl}${OAUTH_PATHS.callback}`;

  return answerUnavailable(logger, async (req, res) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const state = url.searchParams.get('state');
    // Taken, not read: a callback replayed (or raced on another replica) finds nothing.
    const tx = state ? await store.take<Transaction>(STORE_KEYS.transaction(state)) : undefined;
    if (!state || !tx) return sendPage(res, 400, 'Sign-in expired or already completed', 'start the sign-in again from your MCP client');
    const to = { redirectUri: tx.redirectUri, state: tx.state, issuer: baseUrl };
    const idpError = url.searchParams.get('error');
    if (idpError) {
      const safe = SAFE_ERROR.test(idpError) ? idpError : 'access_denied';
      logger.warn('the identity provider refused the sign-in', { event: 'oauth_idp_error', error: safe, client_id: tx.clientId });
      return redirectToClient(res, to, { error: safe, error_description: 'the identity provider refused the sign-in' });
    }
    let tokens: IdpTokens;
    try {
      // The IdP redirected to BASE_URL; the replica that answers may listen elsewhere.
      tokens = await idp.exchangeCode(new URL(`${callbackUrl}${url.search}`), {
        state,
        codeVerifier: tx.verifier,
        ...(deps.idpResource ? { resource: deps.idpResource } : {}),
      });
    } catch (err) {
      logger.error(err instanceof Error ? err.message : String(err), { event: 'oauth_code_exchange_failed', client_id: tx.clientId });
      return redirectToClient(res, to, { error: 'server_error', error_description: 'the identity provider did not accept the sign-in; try again' });
    }
    // Who signed in decides whose approval this is: a remembered approval counts only for the
    // user it was given by; an approval given on the page is remembered for this user.
    const user = tokens.user;
    switch (tx.consent) {
      case 'pending':
        // The IdP was never sent this transaction before an answer: a forged callback.
        return sendPage(res, 400, 'Sign-in not approved', 'start the sign-in again from your MCP client');
      case 'remembered':
        if (!user || userKey(user) !== tx.expectedUser) {
          logger.warn('oauth sign-in by another user than the one who approved the client', { event: 'oauth_consent_user_changed', client_id: tx.clientId });
          res.setHeader('set-cookie', cookie(names.session, '', { secure: deps.secureCookies, maxAgeSec: 0 }));
          return sendPage(res, 403, 'You signed in as someone else', 'start the sign-in again from your MCP client: you will be asked whether to allow it');
        }
        break;
      case 'approved':
        if (user) {
          await remember(store, deps.consent, userKey(user), {
            clientId: tx.clientId,
            ...(tx.clientName ? { clientName: tx.clientName } : {}),
            redirectHost: new URL(tx.redirectUri).host,
            scope: tx.scope,
            approvedAt: Date.now(),
          });
          res.setHeader('set-cookie', cookie(names.session, await startSession(store, deps.consent, user), { secure: deps.secureCookies, maxAgeSec: deps.consent.ttlSec }));
        }
        break;
      case 'skipped':
        break;
    }
    const code = randomToken();
    const grant: CodeGrant = {
      clientId: tx.clientId,
      redirectUri: tx.redirectUri,
      codeChallenge: tx.codeChallenge,
      ...(tx.resource ? { resource: tx.resource } : {}),
      scope: tx.scope,
      tokens,
    };
    await store.set(codeKey(code), seal(code, grant), CODE_TTL_MS);
    redirectToClient(res, to, { code });
  });
}
