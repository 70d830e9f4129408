/**
 * Reading a body with a size cap, one behaviour for every body seed-mcp reads (a request to the
 * cloud server or the OAuth proxy, a JWKS or client metadata document it fetches): a declared
 * length over the cap is refused before a byte is read, and the first chunk past the cap stops
 * the reading with {@link BodyTooLargeError}, keeping nothing more.
 */
import type { IncomingMessage } from 'node:http';

/** The body is larger than the cap (declared or read). */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`the body is larger than ${maxBytes} bytes`);
  }
}

/**
 * The body of an incoming request, at most `maxBytes`. Past the cap the rest of the request is
 * drained, not destroyed, so that the caller can still answer (413 with `Connection: close`)
 * instead of leaving the client a bare reset.
 */
export function readRequestBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(new BodyTooLargeError(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= maxBytes) {
        chunks.push(c);
        return;
      }
      req.off('data', onData).off('end', onEnd).off('error', onError);
      req.on('error', () => {});
      req.resume();
      reject(new BodyTooLargeError(maxBytes));
    };
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    const onError = (err: Error) => reject(err);
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/**
 * The body of a fetched response as text, at most `maxBytes`. Past the cap the response is
 * cancelled: nothing more is downloaded.
 */
export async function readResponseText(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError(maxBytes);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
