/**
 * GET a JSON document from an identity provider, bounded in time and size: the IdP's metadata
 * and JWKS are small, and a resource server must not hang on, or buffer, whatever comes back.
 */
import { BodyTooLargeError, readResponseText } from '../../shared/http/read-body.js';

/** Default for {@link FetchJsonOptions.timeoutMs}. */
export const FETCH_TIMEOUT_MS = 5_000;
/** Default for {@link FetchJsonOptions.maxBytes}: real JWKS are a few KiB (Entra ID's about 10). */
export const FETCH_MAX_BYTES = 512 * 1024;

export interface FetchJsonOptions {
  fetch: typeof fetch;
  timeoutMs?: number;
  maxBytes?: number;
  /** Aborts the request early (the validator's close()). */
  signal?: AbortSignal;
}

/** A non-2xx answer; `status` lets discovery fall back from one well-known path to the other. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`${url} answered HTTP ${status}`);
  }
}

/** Fetches `url` and parses its body as a JSON object; throws on anything else. */
export async function fetchJson(url: string, options: FetchJsonOptions): Promise<Record<string, unknown>> {
  const timeoutMs = options.timeoutMs ?? FETCH_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? FETCH_MAX_BYTES;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    let res: Response;
    try {
      res = await options.fetch(url, { headers: { accept: 'application/json' }, signal });
    } catch (err) {
      // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is its cause.
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
      throw new Error(`could not reach ${url}: ${cause ?? (err instanceof Error ? err.message : String(err))}`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new HttpStatusError(url, res.status);
    }
    let text: string;
    try {
      text = await readResponseText(res, maxBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw new Error(`${url} answered more than ${maxBytes} bytes`, { cause: err });
      throw err;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`${url} did not answer JSON`);
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error(`${url} did not answer a JSON object`);
    return body as Record<string, unknown>;
  } catch (err) {
    if (timeout.aborted) throw new Error(`${url} did not answer within ${timeoutMs} ms`, { cause: err });
    if (options.signal?.aborted) throw new Error(`request to ${url} aborted: the validator is closed`, { cause: err });
    throw err;
  }
}
