/**
 * Discovery from an MCP server URL and of the authorization server, in every form the MCP
 * authorization spec allows, against real HTTP stubs on 127.0.0.1: the URL order (the paths each
 * stub was asked for), the RFC 8414 §3.3 issuer check with its trailing-slash spellings, the
 * 2025-03-26 fallback to the server's origin and default endpoints, and the resource check.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverFromResource } from '../src/local/oidc/discover-resource.js';
import { discoverIssuer } from '../src/local/oidc/issuer.js';
import { SeedError } from '../src/shared/errors.js';
import { json, startStub, type Stub } from './support/http-stub.js';

const stubs: Stub[] = [];
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.close()));
});

async function stub(routes: (path: string, base: string, res: ServerResponse) => boolean): Promise<Stub> {
  const s = await startStub((req, res, base) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (!routes(path, base, res)) json(res, 404, { error: 'not_found' });
  });
  stubs.push(s);
  return s;
}

const asMetadata = (issuer: string, origin: string) => ({
  issuer,
  authorization_endpoint: `${origin}/auth`,
  token_endpoint: `${origin}/token`,
  code_challenge_methods_supported: ['S256'],
});

const paths = (s: Stub) => s.requests.map((r) => r.path);

async function rejection(p: Promise<unknown>): Promise<SeedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SeedError);
  return err as SeedError;
}

const discover = (issuer: string) => discoverIssuer({ issuer, clientId: 'c', profile: 'default' });

describe('protected-resource metadata (RFC 9728)', () => {
  it('tries the 401 resource_metadata, then the path-suffixed, then the root well-known URL', async () => {
    const mcp = await stub((path, base, res) => {
      if (path === '/mcp') {
        json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': `Bearer realm="x", resource_metadata="${base}/meta/prm"` });
        return true;
      }
      if (path === '/.well-known/oauth-protected-resource') {
        json(res, 200, { resource: `${base}/mcp`, authorization_servers: ['https://as.example/tenant1'] });
        return true;
      }
      return false;
    });
    const found = await discoverFromResource(`${mcp.url}/mcp`);
    expect(found).toMatchObject({
      resource: `${mcp.url}/mcp`,
      authorizationServers: ['https://as.example/tenant1'],
      metadataUrl: `${mcp.url}/.well-known/oauth-protected-resource`,
    });
    expect(paths(mcp)).toEqual(['/mcp', '/meta/prm', '/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']);
  });

  it('stops at the first metadata found', async () => {
    const mcp = await stub((path, base, res) => {
      if (path === '/.well-known/oauth-protected-resource/mcp') {
        json(res, 200, { resource: `${base}/mcp`, authorization_servers: ['https://as.example'] });
        return true;
      }
      return false;
    });
    await discoverFromResource(`${mcp.url}/mcp`);
    expect(paths(mcp)).toEqual(['/mcp', '/.well-known/oauth-protected-resource/mcp']);
  });

  it('accepts a resource spelled with one trailing slash more or less', async () => {
    const mcp = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-protected-resource/mcp') return false;
      json(res, 200, { resource: `${base}/mcp/`, authorization_servers: ['https://as.example'] });
      return true;
    });
    expect((await discoverFromResource(`${mcp.url}/mcp`)).resource).toBe(`${mcp.url}/mcp/`);
  });

  it('refuses metadata naming another resource path, saying both and what to do', async () => {
    const mcp = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-protected-resource/mcp') return false;
      json(res, 200, { resource: `${base}/other`, authorization_servers: ['https://as.example'] });
      return true;
    });
    const err = await rejection(discoverFromResource(`${mcp.url}/mcp`));
    expect(err.code).toBe('DISCOVERY_FAILED');
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain(`names the resource ${mcp.url}/other, not ${mcp.url}/mcp`);
    expect(err.hint).toContain(`seed-mcp login ${mcp.url}/other`);
    expect(err.hint).toContain('--issuer and --resource');
  });

  it('refuses metadata naming a resource on another origin', async () => {
    const mcp = await stub((path, _base, res) => {
      if (path !== '/.well-known/oauth-protected-resource/mcp') return false;
      json(res, 200, { resource: 'https://elsewhere.example/mcp', authorization_servers: ['https://as.example'] });
      return true;
    });
    const err = await rejection(discoverFromResource(`${mcp.url}/mcp`));
    expect(err.code).toBe('DISCOVERY_FAILED');
    expect(err.message).toContain('names the resource https://elsewhere.example/mcp');
  });
});

describe('authorization-server metadata', () => {
  it('an issuer with a path: RFC 8414 insertion, OIDC insertion, OIDC appending, in that order', async () => {
    const as = await stub(() => false);
    const err = await rejection(discover(`${as.url}/tenant1`));
    expect(err.code).toBe('DISCOVERY_FAILED');
    expect(paths(as)).toEqual(['/.well-known/oauth-authorization-server/tenant1', '/.well-known/openid-configuration/tenant1', '/tenant1/.well-known/openid-configuration']);
  });

  it('an issuer with a path found by OIDC path appending', async () => {
    const as = await stub((path, base, res) => {
      if (path !== '/tenant1/.well-known/openid-configuration') return false;
      json(res, 200, asMetadata(`${base}/tenant1`, base));
      return true;
    });
    const config = await discover(`${as.url}/tenant1`);
    expect(config.serverMetadata().authorization_endpoint).toBe(`${as.url}/auth`);
    expect(paths(as)).toHaveLength(3);
  });

  it('an issuer with a path found by RFC 8414 path insertion asks nothing more', async () => {
    const as = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-authorization-server/tenant1') return false;
      json(res, 200, asMetadata(`${base}/tenant1`, base));
      return true;
    });
    await discover(`${as.url}/tenant1`);
    expect(paths(as)).toEqual(['/.well-known/oauth-authorization-server/tenant1']);
  });

  it('an issuer without a path: RFC 8414, then OpenID Connect', async () => {
    const as = await stub((path, base, res) => {
      if (path !== '/.well-known/openid-configuration') return false;
      json(res, 200, asMetadata(base, base));
      return true;
    });
    await discover(as.url);
    expect(paths(as)).toEqual(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']);
  });

  it('accepts the trailing-slash spelling of the issuer and keeps the metadata’s own', async () => {
    const as = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-authorization-server') return false;
      json(res, 200, asMetadata(`${base}/`, base));
      return true;
    });
    expect((await discover(as.url)).serverMetadata().issuer).toBe(`${as.url}/`);
    expect((await discover(`${as.url}/`)).serverMetadata().issuer).toBe(`${as.url}/`);
  });

  it('accepts an issuer given with a trailing slash its metadata spells without', async () => {
    const as = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-authorization-server/tenant1') return false;
      json(res, 200, asMetadata(`${base}/tenant1`, base));
      return true;
    });
    expect((await discover(`${as.url}/tenant1/`)).serverMetadata().issuer).toBe(`${as.url}/tenant1`);
  });

  it('refuses metadata naming another issuer', async () => {
    const as = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-authorization-server/tenant1') return false;
      json(res, 200, asMetadata(`${base}/tenant2`, base));
      return true;
    });
    const err = await rejection(discover(`${as.url}/tenant1`));
    expect(err.code).toBe('ISSUER_MISMATCH');
    expect(err.exitCode).toBe(1);
    expect(err.message).toContain(`could not use issuer ${as.url}/tenant1: its metadata names another issuer (${as.url}/tenant2)`);
    expect(paths(as)).toEqual(['/.well-known/oauth-authorization-server/tenant1']);
  });

  it('without metadata and without the 2025-03-26 fallback, refuses and lists what was tried', async () => {
    const as = await stub(() => false);
    const err = await rejection(discover(as.url));
    expect(err.code).toBe('DISCOVERY_FAILED');
    expect(err.message).toContain(`${as.url}/.well-known/oauth-authorization-server, ${as.url}/.well-known/openid-configuration`);
  });
});

describe('MCP 2025-03-26 back-compat', () => {
  it('no protected-resource metadata and no authorization-server metadata: the default endpoints', async () => {
    const mcp = await stub((path, _base, res) => {
      if (path !== '/mcp') return false;
      json(res, 401, { error: 'unauthorized' });
      return true;
    });
    const found = await discoverFromResource(`${mcp.url}/mcp`);
    expect(found).toMatchObject({ authorizationServers: [mcp.url], resource: `${mcp.url}/mcp`, legacy: true });
    const config = await discover(found.authorizationServers[0]!);
    expect(config.serverMetadata()).toMatchObject({
      issuer: mcp.url,
      authorization_endpoint: `${mcp.url}/authorize`,
      token_endpoint: `${mcp.url}/token`,
      registration_endpoint: `${mcp.url}/register`,
    });
    expect(paths(mcp)).toEqual([
      '/mcp',
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
    ]);
  });

  it('no protected-resource metadata: authorization-server metadata at the server’s origin', async () => {
    const mcp = await stub((path, base, res) => {
      if (path !== '/.well-known/oauth-authorization-server') return false;
      json(res, 200, asMetadata(base, base));
      return true;
    });
    const found = await discoverFromResource(`${mcp.url}/mcp`);
    const config = await discover(found.authorizationServers[0]!);
    expect(config.serverMetadata().authorization_endpoint).toBe(`${mcp.url}/auth`);
    expect(paths(mcp).slice(3)).toEqual(['/.well-known/oauth-authorization-server']);
  });

  it('protected-resource metadata answering an error other than 404 is not taken for a 2025-03-26 server', async () => {
    const mcp = await stub((path, _base, res) => {
      if (!path.startsWith('/.well-known/oauth-protected-resource')) return false;
      json(res, 500, { error: 'boom' });
      return true;
    });
    const err = await rejection(discoverFromResource(`${mcp.url}/mcp`));
    expect(err.code).toBe('DISCOVERY_FAILED');
    expect(err.message).toContain('no protected-resource metadata found');
  });
});
