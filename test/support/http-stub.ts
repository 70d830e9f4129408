import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Stub {
  url: string;
  /** Every request's method and path, in order. */
  requests: Array<{ method: string; path: string }>;
  close(): Promise<void>;
}

/** A tiny HTTP server on 127.0.0.1:0 whose handler the test writes. */
export async function startStub(handler: (req: IncomingMessage, res: ServerResponse, url: string) => void | Promise<void>): Promise<Stub> {
  const requests: Stub['requests'] = [];
  let base = '';
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '' });
    void Promise.resolve(handler(req, res, base)).catch((err) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}
