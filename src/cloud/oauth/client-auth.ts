/**
 * Authenticating the client of a token or revocation request as it registered: a public client
 * by its `client_id` alone (PKCE protects its codes), a confidential one by its secret.
 */
import { CloudError } from '../errors.js';
import { ClientMetadataError, secretMatches, type ClientRegistry, type OAuthClient } from './clients.js';
import { presentedCredentials } from './params.js';

/**
 * The client of the request; `OAUTH_INVALID_CLIENT` (401 with a Basic challenge) when it names no
 * client, an unknown one, or the wrong secret.
 *
 * @param authorization - the request's `Authorization` header, if any
 */
export async function authenticateClient(clients: ClientRegistry, authorization: string | undefined, params: URLSearchParams): Promise<OAuthClient> {
  const { id, secret, basic } = presentedCredentials(authorization, params);
  if (!id) throw new CloudError('OAUTH_INVALID_CLIENT', 'the request names no client (client_id)');
  let client: OAuthClient | undefined;
  try {
    client = await clients.find(id);
  } catch (err) {
    // A metadata document that cannot be used leaves the request without a client: invalid_client
    // here, whatever was wrong with the document.
    if (err instanceof ClientMetadataError) throw new CloudError('OAUTH_INVALID_CLIENT', err.description, { cause: err });
    throw err;
  }
  if (!client) throw new CloudError('OAUTH_INVALID_CLIENT', 'the client is not registered here (or its registration expired): register again');
  if (client.token_endpoint_auth_method !== 'none' && !secretMatches(client, secret)) {
    throw new CloudError('OAUTH_INVALID_CLIENT', basic ? 'the client credentials are wrong' : 'the client secret is missing or wrong');
  }
  return client;
}
