/**
 * HTTP requests written byte for byte on a socket, for the attack tests: fetch would merge or
 * refuse headers, set `Host` itself and trim what an attacker sends as it is.
 */
import { connect } from 'node:net';

/** A raw answer: its status, its head in lower case, and its body (de-chunked). */
export interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/**
 * Writes `lines` (request line and headers), a `content-length`, `connection: close` and `body`
 * to 127.0.0.1:`port`, and reads the answer until the server closes. A server that answers and
 * closes before reading everything (a 431 for headers over its limit) still gives its answer;
 * a server that closes without one rejects.
 */
export function rawRequest(port: number, lines: readonly string[], body = ''): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let failure: Error | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    // A reset after the answer (the server closed with our bytes unread) is not a failure.
    socket.on('error', (err) => (failure = err));
    socket.on('close', () => {
      const cut = text.indexOf('\r\n\r\n');
      if (!/^HTTP\/1\.1 \d{3}/.test(text) || cut < 0) return reject(failure ?? new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 80))}`));
      const head = text.slice(0, cut);
      const rest = text.slice(cut + 4);
      resolve({ status: Number(head.split(' ')[1]), head: head.toLowerCase(), body: /transfer-encoding: chunked/i.test(head) ? dechunk(rest) : rest });
    });
    socket.end(`${[...lines, `content-length: ${Buffer.byteLength(body)}`, 'connection: close'].join('\r\n')}\r\n\r\n${body}`);
  });
}

/** The body of a chunked answer. */
function dechunk(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    const size = parseInt(text.slice(at, eol), 16);
    if (!size) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** The one header `name` of a raw answer's head (lower case), or undefined. */
export function headerOf(answer: RawAnswer, name: string): string | undefined {
  const line = answer.head.split('\r\n').find((l) => l.startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/** A JSON-RPC `tools/call` body. */
export const toolCall = (name: string, args: unknown = {}): string => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } });

/** The request line and headers of a POST to the MCP endpoint, as an MCP client sends it. */
export const mcpRequestLines = (host: string): string[] => [
  'POST /mcp HTTP/1.1',
  `host: ${host}`,
  'content-type: application/json',
  'accept: application/json, text/event-stream',
  'mcp-protocol-version: 2025-06-18',
];
