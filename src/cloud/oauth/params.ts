/**
 * Reading the requests of the token, registration and revocation endpoints: the body (capped), the
 * parameters of a form or query (RFC 6749 §3.1), and the client credentials (RFC 6749 §2.3.1).
 */
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, readRequestBody } from '../../shared/http/read-body.js';
import { CloudError } from '../errors.js';

/** The largest body read: token requests and client metadata are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The request's media type, lower case, without parameters (`; charset=…`). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The body as UTF-8 text; past {@link MAX_BODY_BYTES} (declared or read) `OAUTH_BODY_TOO_LARGE`. */
export async function readBodyText(req: IncomingMessage): Promise<string> {
  try {
    return (await readRequestBody(req, MAX_BODY_BYTES)).toString('utf8');
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new CloudError('OAUTH_BODY_TOO_LARGE', err.message, { cause: err });
    throw err;
  }
}

/** The parameters of a form-encoded body, the only encoding RFC 6749 §3.2 allows at the token endpoint. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  if (mediaType(req) !== 'application/x-www-form-urlencoded') throw new CloudError('OAUTH_INVALID_REQUEST', 'the body must be application/x-www-form-urlencoded');
  return new URLSearchParams(await readBodyText(req));
}

/** The one value of `name`, undefined when absent or empty; a parameter given twice is an error (RFC 6749 §3.1). */
export function param(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  if (all.length > 1) throw new CloudError('OAUTH_INVALID_REQUEST', `the ${name} parameter is repeated`);
  return all[0] === '' ? undefined : all[0];
}

/** The one value of `name`; absent or empty is an error. */
export function required(params: URLSearchParams, name: string): string {
  const value = param(params, name);
  if (value === undefined) throw new CloudError('OAUTH_INVALID_REQUEST', `the ${name} parameter is missing`);
  return value;
}

/** The client credentials a request presents; `basic` says where they came from (the error text differs). */
export interface PresentedCredentials {
  id?: string;
  secret?: string;
  basic: boolean;
}

/** RFC 6749 §2.3.1: both halves of Basic credentials are form-urlencoded (`+` is a space). */
const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));

/**
 * `client_id` and secret from the `Authorization: Basic` header when there is one, else from the
 * body (`client_secret_post`, or a public client's bare `client_id`).
 *
 * @example
 * ```ts
 * presentedCredentials(req.headers.authorization, params); // { id: 'mcp_…', secret: '…', basic: true }
 * ```
 */
export function presentedCredentials(authorization: string | undefined, params: URLSearchParams): PresentedCredentials {
  if (authorization && /^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new CloudError('OAUTH_INVALID_CLIENT', 'the Basic credentials are malformed');
    try {
      return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)), basic: true };
    } catch {
      throw new CloudError('OAUTH_INVALID_CLIENT', 'the Basic credentials are malformed');
    }
  }
  return { id: param(params, 'client_id'), secret: param(params, 'client_secret'), basic: false };
}
