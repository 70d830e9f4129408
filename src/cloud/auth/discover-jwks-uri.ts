import { fetchJson, HttpStatusError, type FetchJsonOptions } from './fetch-json.js';

/**
 * Finds the `jwks_uri` of `issuer` from its metadata: OpenID Connect discovery
 * (`<issuer>/.well-known/openid-configuration`) first, then RFC 8414
 * (`<origin>/.well-known/oauth-authorization-server<path>`) when that answers an HTTP error.
 * A network failure does not fall back: the second request would fail the same way.
 *
 * The metadata must name exactly `issuer` (RFC 8414 §3.3), and an https issuer must publish an
 * https `jwks_uri`.
 *
 * @example
 * ```ts
 * const jwksUri = await discoverJwksUri('https://login.example.com', { fetch });
 * ```
 */
export async function discoverJwksUri(issuer: string, options: FetchJsonOptions): Promise<string> {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  const oidc = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const oauth = `${url.origin}/.well-known/oauth-authorization-server${path}`;
  let metadata: Record<string, unknown>;
  let from = oidc;
  try {
    metadata = await fetchJson(oidc, options);
  } catch (err) {
    if (!(err instanceof HttpStatusError)) throw err;
    from = oauth;
    metadata = await fetchJson(oauth, options);
  }
  if (metadata.issuer !== issuer) {
    const named = typeof metadata.issuer === 'string' ? metadata.issuer.slice(0, 200) : 'none';
    throw new Error(`${from} names issuer ${named}, not ${issuer}`);
  }
  const jwksUri = metadata.jwks_uri;
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) throw new Error(`${from} has no valid jwks_uri`);
  const protocol = new URL(jwksUri).protocol;
  if (protocol !== 'https:' && !(protocol === 'http:' && url.protocol === 'http:')) {
    throw new Error(`${from} publishes a jwks_uri that is not https`);
  }
  return jwksUri;
}
