import { createPrivateKey, type KeyObject } from 'node:crypto';
import * as client from 'openid-client';
import { SeedError } from '../../shared/errors.js';

/** How seed-mcp authenticates at the token, revocation and device endpoints. */
export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** A private key for `private_key_jwt` (RFC 7523): the JWS alg follows from the key. */
export interface ClientKey {
  key: KeyObject;
  alg: 'ES256' | 'RS256';
  /** The PEM file it came from (saved in the profile; the key itself never is). */
  file: string;
}

/**
 * Reads a PEM private key (PKCS#8, SEC1 or PKCS#1) for `private_key_jwt`: EC P-256 → ES256, RSA →
 * RS256. Returns a problem (for the settings report) rather than throwing; the message never
 * quotes the file's content.
 */
export function readClientKey(file: string, pem: string): ClientKey | string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return `client key file ${file} holds no PEM private key (expected an EC P-256 or RSA key, unencrypted)`;
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, alg: 'ES256', file };
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= 2048 ? { key, alg: 'RS256', file } : `client key file ${file} holds a ${bits}-bit RSA key; use 2048 bits or more`;
  }
  const detail = type === 'ec' ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve ?? 'an unknown curve'}` : `a ${type ?? 'unknown'} key`;
  return `client key file ${file} holds ${detail}; use an EC P-256 key (ES256) or an RSA key (RS256)`;
}

/** The key as a non-extractable WebCrypto signing key, as openid-client takes it. */
async function toCryptoKey(clientKey: ClientKey): Promise<CryptoKey> {
  const der = clientKey.key.export({ format: 'der', type: 'pkcs8' });
  const algorithm = clientKey.alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return crypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
}

export interface ClientCredentialInput {
  clientSecret?: string;
  clientKey?: ClientKey;
  /** The method a saved registration names, if any. */
  registeredMethod?: string;
}

/**
 * The token endpoint authentication method, from what the user gave and what the server lists in
 * `token_endpoint_auth_methods_supported`: a key file → `private_key_jwt` (refused when the server
 * lists methods without it); a secret → `client_secret_basic`, unless a saved registration says
 * `client_secret_post` or the server lists `client_secret_post` and not `client_secret_basic`;
 * nothing → `none` (a public client, PKCE).
 */
export function chooseAuthMethod(input: ClientCredentialInput, supported: readonly string[] | undefined, issuer: string): TokenEndpointAuthMethod {
  const listed = supported && supported.length > 0 ? supported : undefined;
  if (input.clientKey) {
    if (listed && !listed.includes('private_key_jwt')) {
      throw new SeedError('CONFIG_INVALID', `could not use the client key file: ${issuer} does not accept private_key_jwt (it lists ${listed.join(', ')})`, {
        hint: 'drop --client-key-file (SEED_MCP_CLIENT_KEY_FILE) and use --client-secret-file, or ask the server operator to enable private_key_jwt',
      });
    }
    return 'private_key_jwt';
  }
  if (input.clientSecret) {
    if (input.registeredMethod === 'client_secret_post' || input.registeredMethod === 'client_secret_basic') return input.registeredMethod;
    // client_secret_post unless the server accepts only basic: what seed-mcp (through
    // openid-client's default) always sent, so that existing IdP clients keep working.
    if (listed && listed.includes('client_secret_basic') && !listed.includes('client_secret_post')) return 'client_secret_basic';
    return 'client_secret_post';
  }
  return 'none';
}

/** openid-client's client authentication for {@link chooseAuthMethod}'s answer. */
export async function clientAuthFor(method: TokenEndpointAuthMethod, input: ClientCredentialInput): Promise<client.ClientAuth> {
  switch (method) {
    case 'private_key_jwt':
      return client.PrivateKeyJwt(await toCryptoKey(input.clientKey!));
    case 'client_secret_basic':
      return clientSecretBasic(input.clientSecret!);
    case 'client_secret_post':
      return client.ClientSecretPost(input.clientSecret!);
    default:
      return client.None();
  }
}

/** application/x-www-form-urlencoded as the WHATWG URL standard serializes it: `A-Z a-z 0-9 * - . _` stay as they are. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): the id and secret form-encoded, then Base64. Not
 * openid-client's own, which also percent-encodes `-`, `.`, `_` and `*`: servers that compare the
 * decoded header with the registered id without form-decoding it (common, and the MCP conformance
 * suite's) then refuse ids such as `my-client`.
 */
export function clientSecretBasic(secret: string): client.ClientAuth {
  return (_as, c, _body, headers) => {
    headers.set('authorization', `Basic ${Buffer.from(`${formEncode(c.client_id)}:${formEncode(secret)}`).toString('base64')}`);
  };
}
