import { fetchJson, HttpStatusError, type FetchJsonOptions } from './fetch-json.js';

/**
 * An endpoint URL named in `issuer`'s metadata (`jwks_uri`, `introspection_endpoint`…): OpenID
 * Connect discovery (`<issuer>/.well-known/openid-configuration`) first, then RFC 8414
 * (`<origin>/.well-known/oauth-authorization-server<path>`) when that answers an HTTP error. A
 * network failure does not fall back: the second request would fail the same way.
 *
 * The metadata must name exactly `issuer` (RFC 8414 §3.3), and an https issuer must publish an
 * https endpoint. `missing` is the message when the metadata has no usable value.
 */
export async function discoverIssuerEndpoint(issuer: string, field: string, options: FetchJsonOptions, missing = `has no valid ${field}`): Promise<string> {
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
  const value = metadata[field];
  if (typeof value !== 'string' || !URL.canParse(value)) throw new Error(`${from} ${missing}`);
  const protocol = new URL(value).protocol;
  if (protocol !== 'https:' && !(protocol === 'http:' && url.protocol === 'http:')) {
    throw new Error(`${from} publishes a ${field} that is not https`);
  }
  return value;
}

/**
 * Finds the `jwks_uri` of `issuer` from its metadata ({@link discoverIssuerEndpoint}).
 *
 * @example
 * ```ts
 * const jwksUri = await discoverJwksUri('https://login.example.com', { fetch });
 * ```
 */
export function discoverJwksUri(issuer: string, options: FetchJsonOptions): Promise<string> {
  return discoverIssuerEndpoint(issuer, 'jwks_uri', options);
}
