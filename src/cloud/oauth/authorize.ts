/**
 * `GET /oauth/authorize`: the MCP client sends the user here with its PKCE challenge. The proxy
 * remembers the request in a transaction; unless the user already approved the client (or the
 * operator lets it skip the question), it asks first on its consent page, before any redirect.
 * Then it sends the browser on to the IdP with its OWN client id, PKCE and callback; the callback
 * finishes the transaction.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { sha256Base64url } from '../../shared/crypto.js';
import { errorSpec, isCloudError, CloudError } from '../errors.js';
import { sendRedirect } from '../http/respond.js';
import { isStoreUnavailable } from '../store/types.js';
import { STORE_KEYS } from '../store/keys.js';
import { redirectToClient, sendPage } from './answers.js';
import { ClientMetadataError, redirectUriMatches, type OAuthClient } from './clients.js';
import { CONSENT_PAGE_HEADERS, consentPage } from './consent-page.js';
import { consentSkipped, cookie, cookieNames, isApproved, newCookieValue, readCookie, sessionOf } from './consent.js';
import { IdpError } from './idp.js';
import type { EndpointDeps } from './options.js';
import { param } from './params.js';
import { PKCE, randomToken, TRANSACTION_TTL_MS, type Transaction } from './state.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

/** What the authorization endpoint needs. */
export type AuthorizeDeps = Pick<
  EndpointDeps,
  'baseUrl' | 'acceptedResources' | 'defaultScope' | 'idpResource' | 'store' | 'clients' | 'idp' | 'metrics' | 'logger' | 'consent' | 'resource' | 'secureCookies'
>;

/** The authorization endpoint's handler. */
export function createAuthorizeEndpoint(deps: AuthorizeDeps): EndpointHandler {
  const { baseUrl, store, clients, metrics, logger } = deps;
  const names = cookieNames(deps.secureCookies);

  const refuse = (res: ServerResponse, title: string, action: string) => {
    metrics?.oauthAuthorization('failure');
    sendPage(res, 400, title, action);
  };

  /**
   * The client and the redirect URI of the request, once both are known good; until then errors
   * stay on a page (undefined is returned once it is sent): sending them to an unchecked URI would
   * make this server an open redirector.
   */
  async function checkClient(q: URLSearchParams, res: ServerResponse): Promise<{ client: OAuthClient; redirectUri: string } | undefined> {
    let clientId: string | undefined;
    let redirectUri: string | undefined;
    try {
      clientId = param(q, 'client_id');
      redirectUri = param(q, 'redirect_uri');
    } catch (err) {
      refuse(res, 'Invalid sign-in request', `${(err as Error).message}; start the sign-in again from your MCP client`);
      return undefined;
    }
    let client: OAuthClient | undefined;
    try {
      client = clientId ? await clients.find(clientId) : undefined;
    } catch (err) {
      if (!(err instanceof ClientMetadataError)) throw err;
      refuse(res, 'Unknown MCP client', `${err.message}; ask the client's vendor to fix its metadata document`);
      return undefined;
    }
    if (!client) {
      refuse(res, 'Unknown MCP client', 'the client is not registered here (or its registration expired); remove and re-add this server in your MCP client');
      return undefined;
    }
    if (!redirectUri || !redirectUriMatches(client.redirect_uris, redirectUri)) {
      refuse(res, 'Redirect URI not registered', 'the MCP client asked to return to an address it did not register; re-register the client');
      return undefined;
    }
    return { client, redirectUri };
  }

  /** Checks the rest of the request; the transaction it describes (consent not decided yet). */
  function prepare(q: URLSearchParams, client: OAuthClient, redirectUri: string, state: string | undefined): Transaction {
    if (param(q, 'response_type') !== 'code') throw new CloudError('OAUTH_UNSUPPORTED_RESPONSE_TYPE', 'only response_type=code is supported');
    const challenge = param(q, 'code_challenge');
    if (!challenge || !PKCE.test(challenge)) throw new CloudError('OAUTH_INVALID_REQUEST', 'PKCE is required: send code_challenge (S256)');
    if (param(q, 'code_challenge_method') !== 'S256') throw new CloudError('OAUTH_INVALID_REQUEST', 'code_challenge_method must be S256');
    const resource = param(q, 'resource');
    if (resource !== undefined && !deps.acceptedResources.includes(resource)) throw new CloudError('OAUTH_INVALID_TARGET', 'the resource is not this server');
    const scope = param(q, 'scope') ?? client.scope ?? deps.defaultScope;
    // A refresh token needs consent at most IdPs; ask for it unless the client chose a prompt.
    const prompt = param(q, 'prompt') ?? (scope.split(' ').includes('offline_access') ? 'consent' : undefined);
    return {
      clientId: client.client_id,
      ...(client.client_name ? { clientName: client.client_name } : {}),
      redirectUri,
      codeChallenge: challenge,
      ...(state !== undefined ? { state } : {}),
      scope,
      ...(resource ? { resource } : {}),
      verifier: randomToken(48),
      ...(prompt ? { prompt } : {}),
      consent: 'pending',
    };
  }

  /**
   * Decides whether the user must answer the consent page first: not when the operator lets the
   * client skip it, nor when this browser's session names a user who approved the client for these
   * scopes and this redirect host (the IdP must then sign in that same user).
   */
  async function decideConsent(req: IncomingMessage, tx: Transaction, client: OAuthClient): Promise<Transaction> {
    if (consentSkipped(deps.consent, client, tx.redirectUri)) return { ...tx, consent: 'skipped' };
    const session = await sessionOf(store, req, names);
    if (session && (await isApproved(store, session.user, client.client_id, tx.scope, tx.redirectUri))) return { ...tx, consent: 'remembered', expectedUser: session.user };
    return tx;
  }

  /** The error that goes back to the client for `err`, or undefined when `err` is not one to send there. */
  function refusal(err: unknown): [error: string, description: string] | undefined {
    if (isCloudError(err)) return [errorSpec(err.code).error ?? err.code, err.description];
    if (isStoreUnavailable(err)) return ['temporarily_unavailable', 'the sign-in state store is unavailable; retry in a moment'];
    if (err instanceof IdpError) {
      logger.error(err.message, { event: 'oauth_idp_unavailable' });
      return ['temporarily_unavailable', 'the identity provider cannot be reached; retry in a moment'];
    }
    return undefined;
  }

  return answerUnavailable(logger, async (req, res) => {
    const q = new URL(req.url ?? '/', baseUrl).searchParams;
    const checked = await checkClient(q, res);
    if (!checked) return;
    const { client, redirectUri } = checked;
    const state = q.get('state') ?? undefined;
    const id = randomToken();
    let tx: Transaction;
    try {
      tx = await decideConsent(req, prepare(q, client, redirectUri, state), client);
      if (tx.consent === 'pending') {
        // Bound to this browser: the answer must come from the browser that saw the question.
        const browser = readCookie(req, names.browser) ?? newCookieValue();
        tx = { ...tx, browser: sha256Base64url(browser) };
        await store.set(STORE_KEYS.transaction(id), tx, TRANSACTION_TTL_MS);
        logger.info('oauth consent asked', { event: 'oauth_consent_asked', client_id: client.client_id });
        res.setHeader('set-cookie', cookie(names.browser, browser, { secure: deps.secureCookies, maxAgeSec: TRANSACTION_TTL_MS / 1000 }));
        res.writeHead(200, CONSENT_PAGE_HEADERS).end(
          consentPage({
            transaction: id,
            clientId: client.client_id,
            ...(client.client_name ? { clientName: client.client_name } : {}),
            redirectUri,
            scopes: tx.scope.split(' ').filter(Boolean),
            resource: deps.resource,
          }),
        );
        return;
      }
      await store.set(STORE_KEYS.transaction(id), tx, TRANSACTION_TTL_MS);
      const target = await idpAuthorizationUrl(deps, id, tx);
      metrics?.oauthAuthorization('success');
      logger.info('oauth authorization started', { event: 'oauth_authorize', client_id: client.client_id, consent: tx.consent });
      sendRedirect(res, target.href);
    } catch (err) {
      const back = refusal(err);
      if (!back) throw err;
      metrics?.oauthAuthorization('failure');
      return redirectToClient(res, { redirectUri, state, issuer: baseUrl }, { error: back[0], error_description: back[1] });
    }
  });
}

/** The IdP's authorization URL for transaction `id`: the proxy's own client, PKCE and callback. */
export function idpAuthorizationUrl(deps: Pick<EndpointDeps, 'idp' | 'idpResource'>, id: string, tx: Transaction): Promise<URL> {
  return deps.idp.authorizationUrl({
    state: id,
    codeChallenge: sha256Base64url(tx.verifier),
    // `openid`, so that the IdP says who signed in (an ID token): approvals are remembered per user.
    scope: tx.scope.split(' ').includes('openid') ? tx.scope : `openid ${tx.scope}`.trim(),
    ...(deps.idpResource ? { resource: deps.idpResource } : {}),
    ...(tx.prompt ? { prompt: tx.prompt } : {}),
  });
}
