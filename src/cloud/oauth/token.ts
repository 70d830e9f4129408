/**
 * `POST /oauth/token`: authenticates the client and hands the request to the function of its grant
 * type (grants/), timing each exchange for `oauth_token_exchanges_total` and its histogram.
 */
import { CloudError } from '../errors.js';
import { sendOAuthJson } from './answers.js';
import { authenticateClient } from './client-auth.js';
import type { OAuthClient } from './clients.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import type { GrantDeps, TokenResponse } from './grants/tokens.js';
import type { EndpointDeps } from './options.js';
import { param, readForm } from './params.js';
import { answerUnavailable, type EndpointHandler } from './unavailable.js';

/** What the token endpoint needs: its grants' dependencies, the clients and the metrics. */
export type TokenDeps = GrantDeps & Pick<EndpointDeps, 'clients' | 'metrics'>;

/** A grant type's function: the token response for an authenticated client, or a CloudError. */
type Grant = (params: URLSearchParams, client: OAuthClient, deps: GrantDeps) => Promise<TokenResponse>;

/** The grant types the proxy offers (its metadata's `grant_types_supported`). */
const GRANTS = { authorization_code: authorizationCodeGrant, refresh_token: refreshTokenGrant } satisfies Record<string, Grant>;

type GrantType = keyof typeof GRANTS;

const isGrantType = (value: string | undefined): value is GrantType => value !== undefined && Object.hasOwn(GRANTS, value);

/** The token endpoint's handler. */
export function createTokenEndpoint(deps: TokenDeps): EndpointHandler {
  const { clients, metrics } = deps;
  return answerUnavailable(deps.logger, async (req, res) => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    let grantType: string | undefined;
    try {
      const params = await readForm(req);
      grantType = param(params, 'grant_type');
      const client = await authenticateClient(clients, req.headers.authorization, params);
      if (!isGrantType(grantType)) throw new CloudError('OAUTH_UNSUPPORTED_GRANT_TYPE', 'grant_type must be authorization_code or refresh_token');
      const answer = await GRANTS[grantType](params, client, deps);
      metrics?.oauthTokenExchange(grantType, 'success', seconds());
      sendOAuthJson(res, 200, answer);
    } catch (err) {
      metrics?.oauthTokenExchange(grantType ?? 'none', 'failure', seconds());
      throw err;
    }
  });
}
