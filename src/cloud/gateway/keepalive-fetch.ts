/**
 * The gateway's HTTP client toward its children: the part of `fetch`'s contract the MCP client
 * SDK's transport uses (through the child's credential wrapper, child.ts), on node:http(s)
 * keep-alive agents. Node 20's `fetch` (undici's WHATWG implementation) measured about 230 µs of
 * CPU per forwarded request against about 50 µs for node:http (BENCHMARKS.md, issue #13): most of
 * what the gateway spent on a child's `tools/call`.
 *
 * What it does as `fetch` does: string bodies (the SDK's JSON-RPC), headers as given (plus fetch's
 * defaults for `accept` and `content-type`), the abort signal, network failures rejected as
 * `TypeError('fetch failed')` with the system error as `cause`, compressed answers decoded, an
 * event stream streamed, `redirect: 'manual'` (what the SDK asks for: it follows redirects itself)
 * answered with the redirect. Anything else — another body type, `redirect: 'error'`, a `Request`
 * object, another scheme — goes to `fetch` itself, and so does a redirect under `'follow'` (the
 * request sent again by `fetch`, which follows it). Its `request` and `response` serve the
 * gateway's direct `tools/call` (child.ts): the raw node:http exchange, and the `Response` `fetch`
 * would have made of it when the SDK is to read the answer after all.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** Idle sockets are closed before the usual 5 s keep-alive timeout of a Node server. */
const IDLE_MS = 4_000;
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const REDIRECT = new Set([301, 302, 303, 307, 308]);

export type KeepAliveFetch = typeof fetch & {
  close(): void;
  /**
   * The gateway's direct `tools/call` (child.ts): one request on the keep-alive agents, answered
   * with node:http's message (nothing read yet), without a `Request` or `Response`. Network
   * failures reject as `fetch` would (`TypeError('fetch failed')`, the abort reason on abort).
   */
  request(url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<IncomingMessage>;
  /** A message from {@link KeepAliveFetch.request} as the `Response` `fetch` would have given (redirects not followed). */
  response(res: IncomingMessage, method: string, signal?: AbortSignal): Promise<Response>;
};

export function createKeepAliveFetch(fallback: typeof fetch = fetch): KeepAliveFetch {
  const http = new HttpAgent({ keepAlive: true, timeout: IDLE_MS });
  const https = new HttpsAgent({ keepAlive: true, timeout: IDLE_MS });

  function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal | undefined, retry: boolean): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req: ClientRequest = (secure ? httpsRequest : httpRequest)(url, { method, headers, agent: secure ? https : http });
      const onAbort = () => req.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('response', (res) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(res);
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) return reject(signal.reason);
        // A kept-alive socket the child closed as it was reused: nothing reached it, send again once.
        if (retry && req.reusedSocket && err.code === 'ECONNRESET') return resolve(send(url, method, headers, body, signal, false));
        reject(new TypeError('fetch failed', { cause: err }));
      });
      req.end(body);
    });
  }

  const keepAliveFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const body = init?.body;
    if ((typeof input !== 'string' && !(input instanceof URL)) || (body !== undefined && body !== null && typeof body !== 'string') || init?.redirect === 'error') {
      return fallback(input, init);
    }
    const url = typeof input === 'string' ? new URL(input) : input;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fallback(input, init);
    const signal = init?.signal ?? undefined;
    signal?.throwIfAborted();
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    const given = init?.headers;
    if (given instanceof Headers) given.forEach((value, name) => (headers[name] = value));
    else if (given) new Headers(given).forEach((value, name) => (headers[name] = value));
    headers.accept ??= '*/*';
    if (typeof body === 'string') {
      headers['content-type'] ??= 'text/plain;charset=UTF-8';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const res = await send(url, method, headers, typeof body === 'string' ? body : undefined, signal, true);
    const status = res.statusCode ?? 0;
    if (init?.redirect !== 'manual' && REDIRECT.has(status) && res.headers.location) {
      res.resume();
      return fallback(input, init);
    }
    return response(res, method, signal);
  };

  async function response(res: IncomingMessage, method: string, signal: AbortSignal | undefined): Promise<Response> {
    const status = res.statusCode ?? 0;
    const responseHeaders = new Headers();
    const raw = res.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
    const init2 = { status, statusText: res.statusMessage ?? '', headers: responseHeaders };
    if (NULL_BODY.has(status) || method === 'HEAD') {
      res.resume();
      return new Response(null, init2);
    }
    let stream: Readable = res;
    const encoding = String(res.headers['content-encoding'] ?? '').toLowerCase();
    if (encoding === 'gzip' || encoding === 'x-gzip') stream = res.pipe(createGunzip());
    else if (encoding === 'deflate') stream = res.pipe(createInflate());
    else if (encoding === 'br') stream = res.pipe(createBrotliDecompress());
    if (stream !== res) res.once('error', (err) => stream.destroy(err));
    const onAbort = () => stream.destroy(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal?.removeEventListener('abort', onAbort));
    // An event stream is handed on as it arrives; anything else is read whole first (the SDK reads it whole).
    if (/^text\/event-stream\b/i.test(String(res.headers['content-type'] ?? ''))) {
      return new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, init2);
    }
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new TypeError('fetch failed', { cause: err });
    }
    const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    return new Response(whole as unknown as ConstructorParameters<typeof Response>[0], init2);
  }
  return Object.assign(keepAliveFetch as typeof fetch, {
    request: (url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal) =>
      signal?.aborted ? Promise.reject(signal.reason) : send(url, method, headers, body, signal, true),
    response,
    close() {
      http.destroy();
      https.destroy();
    },
  });
}
