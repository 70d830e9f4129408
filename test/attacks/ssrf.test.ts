/**
 * SSRF through client ID metadata documents: an MCP client names an https `client_id` and the
 * OAuth proxy fetches it. The proxy must not reach its own network for the client (loopback,
 * private, link-local, metadata addresses, in every IPv6 spelling), must resolve the host once and
 * connect to the address it checked (DNS rebinding), unless FETCH_ALLOWED_HOSTS names the host;
 * and every failure must read the same to the client (no port scanner), with the reason in the
 * server log. Real sockets throughout: https document servers with an openssl certificate, a
 * closed port, a server that never answers. Also: http(s) only in the URLs a client describes
 * itself with.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter } from '../../src/cloud/http/router.js';
import { ClientMetadataError, createClientRegistry, UNUSABLE_METADATA_DOCUMENT, type ClientRegistryOptions } from '../../src/cloud/oauth/clients.js';
import type { IdpClient } from '../../src/cloud/oauth/idp.js';
import { createOAuthProxy } from '../../src/cloud/oauth/proxy.js';
import { FetchRefusedError, hostAllowed, refusedAddressReason, resolveTarget, type ResolveHost } from '../../src/cloud/oauth/safe-fetch.js';
import { createMemoryStore } from '../../src/cloud/store/memory-store.js';
import type { SharedStore } from '../../src/cloud/store/types.js';
import { createLogger } from '../../src/shared/logger.js';
import { freePort } from '../support/ports.js';
import { selfSigned } from '../support/self-signed.js';

const S256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const listen = <S extends HttpServer | HttpsServer | TcpServer>(server: S, host = '127.0.0.1') =>
  new Promise<number>((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
const closeServer = (server: HttpServer | HttpsServer | TcpServer | undefined) => new Promise<void>((r) => (server ? server.close(() => r()) : r()));

describe('the address check', () => {
  it('refuses every non-public IPv4 class, naming it', () => {
    const refused: [string, RegExp][] = [
      ['127.0.0.1', /loopback/],
      ['127.255.255.254', /loopback/],
      ['10.0.0.1', /private/],
      ['172.16.0.1', /private/],
      ['172.31.255.255', /private/],
      ['192.168.1.1', /private/],
      ['169.254.1.1', /link-local/],
      ['169.254.169.254', /cloud metadata/],
      ['100.100.100.200', /cloud metadata/],
      ['100.64.0.1', /carrier-grade NAT/],
      ['100.127.255.255', /carrier-grade NAT/],
      ['0.0.0.0', /this network/],
      ['0.1.2.3', /this network/],
      ['224.0.0.1', /multicast/],
      ['239.255.255.250', /multicast/],
      ['240.0.0.1', /reserved/],
      ['255.255.255.255', /broadcast/],
      ['192.0.0.170', /IETF protocol assignments/],
      ['192.0.2.1', /documentation/],
      ['198.18.0.1', /benchmarking/],
    ];
    for (const [address, why] of refused) expect(refusedAddressReason(address), address).toMatch(why);
  });

  it('refuses the IPv6 classes and every IPv6 form of a refused IPv4 address', () => {
    const refused: [string, RegExp][] = [
      ['::', /unspecified/],
      ['::1', /^loopback$/],
      ['fe80::1', /link-local/],
      ['fe80::1%eth0', /link-local/],
      ['febf:ffff::1', /link-local/],
      ['fc00::1', /unique-local/],
      ['fd12:3456::1', /unique-local/],
      ['fd00:ec2::254', /cloud metadata/],
      ['ff02::1', /multicast/],
      ['2001:db8::1', /documentation/],
      // IPv4-mapped, in both spellings, and other mapped classes
      ['::ffff:127.0.0.1', /loopback, embedded in IPv6/],
      ['::ffff:7f00:1', /loopback, embedded in IPv6/],
      ['0:0:0:0:0:ffff:7f00:1', /loopback, embedded in IPv6/],
      ['::ffff:169.254.169.254', /cloud metadata, embedded/],
      ['::ffff:a9fe:a9fe', /cloud metadata, embedded/],
      ['::ffff:10.1.2.3', /private \(RFC 1918\), embedded/],
      ['::ffff:0.0.0.0', /this network" \(0\.0\.0\.0\/8\), embedded/],
      // IPv4-compatible (deprecated as a whole) and IPv4-translated
      ['::127.0.0.1', /IPv4-compatible/],
      ['::7f00:1', /IPv4-compatible/],
      ['::8.8.8.8', /IPv4-compatible/],
      ['::ffff:0:127.0.0.1', /loopback, embedded/],
      // NAT64 (well-known prefix) embedding a refused address, and the local-use prefix
      ['64:ff9b::7f00:1', /loopback, embedded/],
      ['64:ff9b::127.0.0.1', /loopback, embedded/],
      ['64:ff9b::a9fe:a9fe', /cloud metadata, embedded/],
      ['64:ff9b::c0a8:101', /private \(RFC 1918\), embedded/],
      ['64:ff9b:1::8.8.8.8', /local-use NAT64/],
      // 6to4 and Teredo carrying a refused address
      ['2002:7f00:1::1', /loopback, embedded/],
      ['2002:a00:1::', /private \(RFC 1918\), embedded/],
      ['2001:0:4136:e378:8000:63bf:80ff:fffe', /loopback, embedded/], // client 127.0.0.1, obfuscated
    ];
    for (const [address, why] of refused) expect(refusedAddressReason(address), address).toMatch(why);
  });

  it('lets public unicast addresses through, including their mapped and NAT64 forms', () => {
    for (const address of [
      '8.8.8.8',
      '93.184.215.14',
      '1.1.1.1',
      '172.15.255.255',
      '172.32.0.1',
      '100.63.255.255',
      '100.128.0.1',
      '169.253.255.255',
      '223.255.255.255',
      '2606:4700:4700::1111',
      '2a00:1450:4001:80b::200e',
      '::ffff:8.8.8.8',
      '::ffff:808:808',
      '64:ff9b::808:808',
      '2002:808:808::1',
    ]) {
      expect(refusedAddressReason(address), address).toBeUndefined();
    }
    expect(refusedAddressReason('example.com')).toBe('not an IP address');
  });

  it('matches FETCH_ALLOWED_HOSTS entries by host (any port) or host:port (that port, 443 by default)', () => {
    const u = (s: string) => new URL(s);
    expect(hostAllowed(u('https://docs.internal/c.json'), ['docs.internal'])).toBe(true);
    expect(hostAllowed(u('https://docs.internal:8443/c.json'), ['docs.internal'])).toBe(true);
    expect(hostAllowed(u('https://docs.internal:8443/c.json'), ['docs.internal:8443'])).toBe(true);
    expect(hostAllowed(u('https://docs.internal/c.json'), ['docs.internal:443'])).toBe(true);
    expect(hostAllowed(u('https://docs.internal:8444/c.json'), ['docs.internal:8443'])).toBe(false);
    expect(hostAllowed(u('https://other.internal/c.json'), ['docs.internal'])).toBe(false);
    expect(hostAllowed(u('https://docs.internal.evil.example/c.json'), ['docs.internal'])).toBe(false);
    expect(hostAllowed(u('https://[::1]:9/c.json'), ['[::1]'])).toBe(true);
    expect(hostAllowed(u('https://127.0.0.1/c.json'), [])).toBe(false);
  });

  it('refuses a host when any of its addresses is refused, and one that does not resolve', async () => {
    const resolve: ResolveHost = async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ];
    const mixed = resolveTarget(new URL('https://mixed.example/c.json'), { allowedHosts: [], resolve });
    await expect(mixed).rejects.toBeInstanceOf(FetchRefusedError);
    await expect(mixed).rejects.toThrow('mixed.example resolves to 10.0.0.5: private (RFC 1918), refused unless FETCH_ALLOWED_HOSTS names the host');
    expect(await resolveTarget(new URL('https://mixed.example/c.json'), { allowedHosts: ['mixed.example'], resolve })).toEqual({ address: '93.184.215.14', family: 4 });
    const none = resolveTarget(new URL('https://none.example/c.json'), { allowedHosts: [], resolve: async () => [] });
    await expect(none).rejects.toThrow('none.example resolves to no address');
    const failing = resolveTarget(new URL('https://gone.example/c.json'), {
      allowedHosts: [],
      resolve: async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND gone.example'), { code: 'ENOTFOUND' });
      },
    });
    await expect(failing).rejects.toThrow('gone.example does not resolve (ENOTFOUND)');
    // A literal address is checked without DNS.
    let asked = 0;
    const counting: ResolveHost = async () => {
      asked++;
      return [{ address: '93.184.215.14', family: 4 }];
    };
    await expect(resolveTarget(new URL('https://[::ffff:7f00:1]/c.json'), { allowedHosts: [], resolve: counting })).rejects.toThrow(/loopback, embedded in IPv6/);
    await expect(resolveTarget(new URL('https://0x7f.1/c.json'), { allowedHosts: [], resolve: counting })).rejects.toThrow(/127\.0\.0\.1: loopback/);
    expect(asked).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Real sockets.

const CIMD_NAME = 'cimd.test';
const { key, cert } = selfSigned([CIMD_NAME]);
/** Every request the document server saw, as `host path`. */
const hits: string[] = [];
let docs: HttpsServer;
let docsPort: number;
/** A TCP server that accepts connections and never says a word (the TLS handshake never ends). */
let silent: TcpServer;
const silentSockets = new Set<Socket>();
let silentPort: number;
let closedPort: number;

beforeAll(async () => {
  docs = createHttpsServer({ key, cert }, (req, res) => {
    hits.push(`${req.headers.host} ${req.url}`);
    const self = `https://${req.headers.host}${req.url}`;
    const json = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    switch (req.url) {
      case '/client.json':
        return json({ client_id: self, client_name: 'docs', redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' });
      case '/js-uri.json':
        return json({ client_id: self, redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none', client_uri: 'javascript:alert(1)' });
      case '/redirect.json':
        return void res.writeHead(302, { location: '/client.json' }).end();
      case '/not-json.json':
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>admin</h1>');
      default:
        return void res.writeHead(404).end('not here');
    }
  });
  docsPort = await listen(docs);
  silent = createTcpServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  silentPort = await listen(silent);
  closedPort = await freePort();
});

afterAll(async () => {
  for (const s of silentSockets) s.destroy();
  await closeServer(silent);
  docs?.closeAllConnections();
  await closeServer(docs);
});

interface Harness {
  store: SharedStore;
  find(clientId: string): Promise<unknown>;
  lines: string[];
}

function registry(options: Partial<ClientRegistryOptions> = {}): Harness {
  const store = createMemoryStore();
  const lines: string[] = [];
  const clients = createClientRegistry({
    store,
    ttlSec: 3600,
    documentCa: cert,
    documentTimeoutMs: 1500,
    logger: createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l) }),
    ...options,
  });
  return { store, find: (id) => clients.find(id), lines };
}

/** The error `find` rejects with; fails the test when it resolves. */
async function refusal(h: Harness, clientId: string): Promise<ClientMetadataError> {
  const err = await h.find(clientId).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, clientId).toBeInstanceOf(ClientMetadataError);
  return err as ClientMetadataError;
}

describe('fetching a metadata document from a local https server', () => {
  it('refuses the reachable server on loopback unless FETCH_ALLOWED_HOSTS names it, and fetches it when it does', async () => {
    const url = `https://127.0.0.1:${docsPort}/client.json`;
    const before = hits.length;
    const plain = registry();
    const refused = await refusal(plain, url);
    expect([refused.code, refused.status, refused.description]).toEqual(['OAUTH_INVALID_CLIENT_METADATA', 400, UNUSABLE_METADATA_DOCUMENT]);
    expect(plain.lines.join('\n')).toContain('"reason":"127.0.0.1: loopback, refused unless FETCH_ALLOWED_HOSTS names the host"');
    // Another port of the same host is not this one.
    const otherPort = await refusal(registry({ fetchAllowedHosts: [`127.0.0.1:${closedPort}`] }), url);
    expect(otherPort.description).toBe(UNUSABLE_METADATA_DOCUMENT);
    expect(hits.length).toBe(before); // nothing reached the server

    for (const allowed of [['127.0.0.1'], [`127.0.0.1:${docsPort}`]]) {
      const client = await registry({ fetchAllowedHosts: allowed }).find(url);
      expect(client, allowed[0]).toMatchObject({ client_id: url, client_name: 'docs', source: 'metadata-document' });
    }
    expect(hits.slice(before)).toEqual([`127.0.0.1:${docsPort} /client.json`, `127.0.0.1:${docsPort} /client.json`]);
  });

  it('refuses localhost, a literal 127.0.0.1 and [::ffff:127.0.0.1] without connecting', async () => {
    const before = hits.length;
    const h = registry();
    for (const url of [
      `https://localhost:${docsPort}/client.json`,
      `https://127.0.0.1:${docsPort}/client.json`,
      `https://[::ffff:127.0.0.1]:${docsPort}/client.json`,
      `https://[::1]:${docsPort}/client.json`,
      `https://2130706433:${docsPort}/client.json`, // 127.0.0.1 as one number
    ]) {
      expect((await refusal(h, url)).description, url).toBe(UNUSABLE_METADATA_DOCUMENT);
    }
    expect(hits.length).toBe(before);
    const log = h.lines.join('\n');
    expect(log).toMatch(/localhost resolves to (127\.0\.0\.1|::1): loopback/);
    expect(log).toContain('"reason":"::ffff:7f00:1: loopback, embedded in IPv6, refused');
    expect(log).toContain('"reason":"::1: loopback, refused');
    expect(log).toContain('"reason":"127.0.0.1: loopback, refused');
    expect(h.lines).toHaveLength(5);
    for (const line of h.lines) expect(JSON.parse(line)).toMatchObject({ level: 'warn', event: 'oauth_client_metadata_refused' });
  });

  it('resolves the host name once and connects to that address, with the certificate checked against the name', async () => {
    const asked: string[] = [];
    // First answer 127.0.0.1 (allowed for this host), then something else: a second lookup
    // would go elsewhere; the system resolver cannot resolve cimd.test at all.
    const resolveHost: ResolveHost = async (host) => {
      asked.push(host);
      return [{ address: asked.length === 1 ? '127.0.0.1' : '192.0.2.1', family: 4 }];
    };
    const url = `https://${CIMD_NAME}:${docsPort}/client.json`;
    const h = registry({ fetchAllowedHosts: [CIMD_NAME], resolveHost });
    expect(await h.find(url)).toMatchObject({ client_id: url, client_name: 'docs' });
    expect(asked).toEqual([CIMD_NAME]);
    expect(hits.at(-1)).toBe(`${CIMD_NAME}:${docsPort} /client.json`);

    // The same server under a name its certificate lacks: TLS refuses it, although pinned.
    const wrongName = registry({ fetchAllowedHosts: ['other.test'], resolveHost: async () => [{ address: '127.0.0.1', family: 4 }] });
    expect((await refusal(wrongName, `https://other.test:${docsPort}/client.json`)).description).toBe(UNUSABLE_METADATA_DOCUMENT);
    expect(wrongName.lines.join('\n')).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('does not follow DNS rebinding: a public first answer is the only address used', async () => {
    const asked: string[] = [];
    const resolveHost: ResolveHost = async (host) => {
      asked.push(host);
      return [{ address: asked.length === 1 ? '93.184.215.14' : '127.0.0.1', family: 4 }];
    };
    const before = hits.length;
    const h = registry({ resolveHost, documentTimeoutMs: 1000 });
    const err = await refusal(h, `https://rebind.test:${docsPort}/client.json`);
    expect(err.description).toBe(UNUSABLE_METADATA_DOCUMENT);
    expect(asked).toEqual(['rebind.test']);
    expect(hits.length).toBe(before); // never reached 127.0.0.1
  });
});

// ---------------------------------------------------------------------------------------------
// Over HTTP: the proxy's authorize and token endpoints.

const fakeIdp: IdpClient = {
  authorizationUrl: async () => new URL('https://idp.example/authorize'),
  exchangeCode: async () => ({ access_token: 'a', token_type: 'Bearer' }),
  refresh: async () => ({ access_token: 'a', token_type: 'Bearer' }),
  revoke: async () => true,
  warm: async () => {},
  status: () => ({ status: 'ok' }),
  close: () => {},
};

describe('the OAuth proxy over HTTP', () => {
  let proxyServer: HttpServer;
  let baseUrl: string;
  let store: SharedStore;
  const lines: string[] = [];

  beforeAll(async () => {
    store = createMemoryStore();
    const logger = createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l) });
    const clients = createClientRegistry({
      store,
      ttlSec: 3600,
      // This document server, the closed port and the silent server are allowed: what they
      // answer (or not) is what is compared; localhost is not.
      fetchAllowedHosts: [`127.0.0.1:${docsPort}`, `127.0.0.1:${closedPort}`, `127.0.0.1:${silentPort}`],
      logger,
      documentCa: cert,
      documentTimeoutMs: 1000,
    });
    const proxy = createOAuthProxy({
      baseUrl: 'https://mcp.example',
      acceptedResources: ['https://mcp.example/mcp'],
      scopesSupported: ['checklist.read'],
      dcr: { ttlSec: 3600, rateLimitMax: 100 },
      trustProxy: false,
      store,
      clients,
      idp: fakeIdp,
      // Loopback redirect URIs skip the consent page: a good document goes straight to the IdP.
      consent: { ttlSec: 3600, skipLoopback: true, skipClients: [] },
      logger,
    });
    const router = createRouter(proxy.routes, { resourceMetadataUrl: 'https://mcp.example/.well-known/oauth-protected-resource/mcp' });
    proxyServer = createHttpServer((req, res) => {
      router.dispatch(req, res, new URL(req.url ?? '/', 'http://x').pathname).then(
        (found) => void (found || res.writeHead(404).end()),
        (err: Error) => void res.writeHead(500).end(err.message),
      );
    });
    baseUrl = `http://127.0.0.1:${await listen(proxyServer)}`;
  });

  afterAll(async () => {
    await closeServer(proxyServer);
    await store?.close();
  });

  const authorize = (clientId: string) =>
    fetch(
      `${baseUrl}/oauth/authorize?${new URLSearchParams({ client_id: clientId, redirect_uri: 'http://127.0.0.1/cb', response_type: 'code', code_challenge: S256('v'.repeat(43)), code_challenge_method: 'S256' })}`,
      { redirect: 'manual' },
    );
  const token = (clientId: string) =>
    fetch(`${baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'x',
        redirect_uri: 'http://127.0.0.1/cb',
        code_verifier: 'v'.repeat(43),
        client_id: clientId,
      }).toString(),
    });
  /** What a client can tell of an answer: status, the headers that vary, the body bytes. */
  const seen = async (res: Response) => ({
    status: res.status,
    type: res.headers.get('content-type'),
    challenge: res.headers.get('www-authenticate'),
    body: Buffer.from(await res.arrayBuffer()).toString('base64'),
  });

  it('answers a refused address, a closed port, a timeout, a 404 and every other failure byte for byte alike, the reason only in the log', async () => {
    const before = hits.length;
    const cases: [url: string, reason: RegExp][] = [
      [`https://localhost:${docsPort}/client.json`, /localhost resolves to (127\.0\.0\.1|::1): loopback/],
      [`https://[::ffff:127.0.0.1]:${docsPort}/client.json`, /loopback, embedded in IPv6/],
      [`https://127.0.0.1:${closedPort}/client.json`, /fetch failed: ECONNREFUSED/],
      [`https://127.0.0.1:${silentPort}/client.json`, /no answer within 1000 ms/],
      [`https://127.0.0.1:${docsPort}/missing.json`, /HTTP 404/],
      [`https://127.0.0.1:${docsPort}/redirect.json`, /unexpected redirect/],
      [`https://127.0.0.1:${docsPort}/not-json.json`, /the document is not JSON/],
      [`https://127.0.0.1:${docsPort}/js-uri.json`, /client_uri must be an absolute http or https URL/],
      [`https://nothing.invalid/client.json`, /nothing\.invalid does not resolve|no answer within/],
    ];
    const pages = [];
    const tokens = [];
    for (const [url] of cases) {
      pages.push(await seen(await authorize(url)));
      tokens.push(await seen(await token(url)));
    }
    expect(pages[0]!.status).toBe(400);
    expect(Buffer.from(pages[0]!.body, 'base64').toString()).toContain(`Action: ${UNUSABLE_METADATA_DOCUMENT}; ask the client&#39;s vendor`);
    for (const [i, [url]] of cases.entries()) expect(pages[i], url).toEqual(pages[0]);
    expect(tokens[0]).toMatchObject({ status: 401, challenge: 'Basic realm="seed-mcp"' });
    expect(JSON.parse(Buffer.from(tokens[0]!.body, 'base64').toString())).toEqual({
      error: 'invalid_client',
      error_description: UNUSABLE_METADATA_DOCUMENT,
      message: 'Action: register the client again, or send its credentials',
    });
    for (const [i, [url]] of cases.entries()) expect(tokens[i], url).toEqual(tokens[0]);

    // The server log says why, once per request, at warn.
    const refusals = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'oauth_client_metadata_refused');
    expect(refusals).toHaveLength(cases.length * 2);
    for (const [i, [url, reason]] of cases.entries()) {
      const { origin, pathname } = new URL(url);
      for (const line of refusals.slice(i * 2, i * 2 + 2)) {
        expect(line, url).toMatchObject({ level: 'warn', document: `${origin}${pathname}` });
        expect(line.reason, url).toMatch(reason);
      }
    }
    // The refused addresses were never connected to; the allowed server saw the rest, twice each.
    expect(hits.slice(before).filter((h) => h.includes('/client.json'))).toEqual([]);
    expect(hits.slice(before)).toHaveLength(4 * 2);
  });

  it('still signs a good document in: the allowed host is reached and the browser goes to the IdP', async () => {
    const res = await authorize(`https://127.0.0.1:${docsPort}/client.json`);
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get('location')!).origin).toBe('https://idp.example');
  });

  it('refuses javascript:, data: and other non-http(s) URIs in client metadata at registration', async () => {
    const register = (body: unknown) => fetch(`${baseUrl}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const [field, uri] of [
      ['client_uri', 'javascript:alert(1)'],
      ['logo_uri', 'data:image/svg+xml,<svg onload=alert(1)>'],
      ['tos_uri', 'file:///etc/passwd'],
      ['policy_uri', 'vbscript:msgbox(1)'],
      ['client_uri', 'https://user:pw@app.example/'],
      ['client_uri', '/relative'],
    ]) {
      const res = await register({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none', [field!]: uri });
      expect(res.status, uri).toBe(400);
      expect(await res.json(), uri).toEqual({
        error: 'invalid_client_metadata',
        error_description: `${field} must be an absolute http or https URL without credentials`,
        message: 'Action: fix the client metadata',
      });
    }
    const ok = await register({
      redirect_uris: ['https://app.example/cb'],
      token_endpoint_auth_method: 'none',
      client_uri: 'https://app.example/',
      logo_uri: 'https://app.example/logo.png',
      tos_uri: 'http://app.example/tos',
      policy_uri: 'https://app.example/privacy',
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({
      client_uri: 'https://app.example/',
      logo_uri: 'https://app.example/logo.png',
      tos_uri: 'http://app.example/tos',
      policy_uri: 'https://app.example/privacy',
    });
  });
});
