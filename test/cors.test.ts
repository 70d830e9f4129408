/** CORS: preflight against a real node:http server, exact-origin echo, Vary, origin normalisation. */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCors } from '../src/cloud/cors.js';
import { checkOrigin } from '../src/cloud/http/mcp/route.js';
import { createRouter } from '../src/cloud/http/router.js';
import { SeedError } from '../src/shared/errors.js';

const cors = createCors({ allowedOrigins: ['https://seed.example.com', 'https://Example.com:443', 'http://localhost:6274'] });

let server: Server;
let port = 0;

beforeAll(async () => {
  // The wiring of the cloud's MCP route: preflight, Origin check, headers, then the handler; the
  // router answers a refusal.
  const router = createRouter(
    [
      {
        path: '/mcp',
        handle(req, res) {
          if (cors.preflight(req, res)) return;
          checkOrigin(cors, req, res);
          res.setHeader('mcp-session-id', 's-1');
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        },
      },
    ],
    { resourceMetadataUrl: 'http://127.0.0.1/.well-known/oauth-protected-resource/mcp' },
  );
  server = createServer((req, res) => void router.dispatch(req, res, '/mcp'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP request (fetch would not let a test choose Origin freely). */
function send(method: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/mcp', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const preflightHeaders = (origin: string) => ({
  origin,
  'access-control-request-method': 'POST',
  'access-control-request-headers': 'authorization, content-type, mcp-protocol-version',
});

describe('preflight', () => {
  it('answers an allowed origin with 204 and the exact origin, never *', async () => {
    const a = await send('OPTIONS', preflightHeaders('https://seed.example.com'));
    expect(a.status).toBe(204);
    expect(a.body).toBe('');
    expect(a.headers['access-control-allow-origin']).toBe('https://seed.example.com');
    expect(a.headers['access-control-allow-methods']).toBe('GET, POST, DELETE, OPTIONS');
    expect(a.headers['access-control-allow-headers']).toBe('authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id');
    expect(a.headers['access-control-max-age']).toBe('600');
    expect(a.headers.vary).toBe('Origin');
  });

  it('refuses a disallowed origin with 403 JSON and no CORS grant', async () => {
    const a = await send('OPTIONS', preflightHeaders('https://evil.example.net'));
    expect(a.status).toBe(403);
    expect(a.headers['content-type']).toBe('application/json');
    expect(a.headers['access-control-allow-origin']).toBeUndefined();
    expect(a.headers.vary).toBe('Origin');
    expect(JSON.parse(a.body)).toMatchObject({ error: 'forbidden_origin', message: expect.stringMatching(/^Action: .*CORS_EXTRA_ORIGINS/) });
  });

  it('answers an OPTIONS without Origin (not a browser) with 204 and no CORS grant', async () => {
    const a = await send('OPTIONS', {});
    expect(a.status).toBe(204);
    expect(a.headers.allow).toBe('GET, POST, DELETE, OPTIONS');
    expect(a.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('echoes the origin as the browser sent it when it matches after normalisation', async () => {
    // Configured as https://Example.com:443.
    const a = await send('OPTIONS', preflightHeaders('https://example.com'));
    expect(a.status).toBe(204);
    expect(a.headers['access-control-allow-origin']).toBe('https://example.com');
  });

  it('leaves other methods to the caller', async () => {
    const a = await send('POST', { origin: 'https://seed.example.com' });
    expect(a.status).toBe(200);
  });
});

describe('apply', () => {
  it('grants an allowed origin on a normal response and exposes the MCP headers', async () => {
    const a = await send('POST', { origin: 'http://localhost:6274' });
    expect(a.status).toBe(200);
    expect(a.headers['access-control-allow-origin']).toBe('http://localhost:6274');
    expect(a.headers['access-control-expose-headers']).toBe('mcp-session-id, www-authenticate, mcp-protocol-version');
    expect(a.headers.vary).toBe('Origin');
  });

  it('adds only Vary to a request without Origin', async () => {
    const a = await send('GET', {});
    expect(a.status).toBe(200);
    expect(a.headers['access-control-allow-origin']).toBeUndefined();
    expect(a.headers['access-control-expose-headers']).toBeUndefined();
    expect(a.headers.vary).toBe('Origin');
  });

  it('keeps an existing Vary and does not repeat Origin', async () => {
    const res = fakeResponse({ vary: 'Accept-Encoding' });
    cors.apply(fakeRequest('https://seed.example.com'), res.res);
    cors.apply(fakeRequest('https://seed.example.com'), res.res);
    expect(res.headers.vary).toBe('Accept-Encoding, Origin');
  });
});

describe('isAllowed', () => {
  it('allows a missing Origin: non-browser MCP clients send none', () => {
    expect(cors.isAllowed(undefined)).toBe(true);
  });

  it('compares origins after normalisation', () => {
    expect(cors.isAllowed('https://example.com')).toBe(true);
    expect(cors.isAllowed('HTTPS://EXAMPLE.COM')).toBe(true);
    expect(cors.isAllowed('https://example.com:443')).toBe(true);
    expect(cors.isAllowed('https://seed.example.com:443')).toBe(true);
    expect(createCors({ allowedOrigins: ['http://example.com'] }).isAllowed('http://Example.com:80')).toBe(true);
  });

  it('refuses look-alikes: another scheme, port or host, paths, null, several origins', () => {
    for (const origin of [
      'http://example.com',
      'https://example.com:8443',
      'https://example.com.evil.net',
      'https://evilexample.com',
      'https://example.com/path',
      'https://user@example.com',
      'null',
      '',
      'https://example.com, https://seed.example.com',
    ]) {
      expect(cors.isAllowed(origin), origin).toBe(false);
    }
  });

  it('refuses to be configured with something that is not an origin', () => {
    expect(() => createCors({ allowedOrigins: ['example.com'] })).toThrow(SeedError);
    expect(() => createCors({ allowedOrigins: ['https://example.com/app'] })).toThrow(/could not configure CORS/);
  });
});

// Hand-written stand-ins for apply's unit check: only the calls it makes.
function fakeRequest(origin: string | undefined) {
  return { method: 'POST', headers: origin === undefined ? {} : { origin } } as unknown as Parameters<typeof cors.apply>[0];
}
function fakeResponse(initial: Record<string, string>) {
  const headers: Record<string, string> = { ...initial };
  const res = {
    headersSent: false,
    getHeader: (name: string) => headers[name.toLowerCase()],
    setHeader: (name: string, value: string) => void (headers[name.toLowerCase()] = value),
  } as unknown as Parameters<typeof cors.apply>[1];
  return { res, headers };
}
