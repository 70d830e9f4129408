import { SeedError } from '../../shared/errors.js';
import { allowDefaultEndpoints, isLoopbackUrl } from './issuer.js';
import { unreachableReason } from './map-error.js';

/** What RFC 9728 protected-resource metadata told us about a server. */
export interface ResourceDiscovery {
  /** The `resource` identifier to send as RFC 8707 `resource`. */
  resource: string;
  authorizationServers: string[];
  scopesSupported?: string[];
  /** The `scope` of the server's 401 challenge (what it asks for first), if it gave one. */
  challengeScope?: string;
  /** Where the metadata came from; absent when the server has none (MCP 2025-03-26 fallback). */
  metadataUrl?: string;
  /**
   * True when the server publishes no protected-resource metadata: its origin is then taken as
   * the authorization server, with the 2025-03-26 default endpoints if it has no metadata either.
   */
  legacy?: boolean;
}

/**
 * Whether protected-resource metadata names the URL given: same origin, and the URL's path is the
 * resource's path or below it, on a segment boundary (one trailing slash aside; the query and
 * fragment are not compared). A resource at the origin covers an MCP endpoint at `/mcp`, as
 * servers that publish only root metadata have it; another origin never matches.
 */
export function sameResource(given: URL, advertised: string): boolean {
  let url: URL;
  try {
    url = new URL(advertised);
  } catch {
    return false;
  }
  const path = (u: URL) => (u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname);
  if (url.origin !== given.origin) return false;
  const base = path(url);
  const requested = path(given);
  return requested === base || requested.startsWith(`${base}/`);
}

/** One auth-param of a `WWW-Authenticate: Bearer …` header (RFC 6750 §3), unquoted. */
export function parseChallengeParam(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  const match = new RegExp(`(?:^|[\\s,])${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^\\s,]+))`, 'i').exec(header);
  if (!match) return undefined;
  return (match[1] ?? match[2])?.replace(/\\(.)/g, '$1');
}

/** Pulls `resource_metadata` out of a `WWW-Authenticate: Bearer …` header (RFC 9728 §5.1). */
export function parseResourceMetadataParam(header: string | null): string | undefined {
  return parseChallengeParam(header, 'resource_metadata');
}

/** The well-known URLs in the order the MCP authorization spec gives: path-suffixed, then root. */
export function wellKnownCandidates(resourceUrl: URL): string[] {
  const path = resourceUrl.pathname.replace(/\/$/, '');
  const root = `${resourceUrl.origin}/.well-known/oauth-protected-resource`;
  return path ? [`${root}${path}`, root] : [root];
}

export interface DiscoverResourceOptions {
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Finds the authorization server of an MCP server the way an MCP client does: an unauthenticated
 * request, its 401 `WWW-Authenticate` → `resource_metadata`, else the well-known URLs
 * (path-suffixed, then root); then reads the protected-resource metadata. The metadata's
 * `resource` must be the URL given (same origin and path, one trailing slash aside). When every
 * metadata URL answers 404 (a 2025-03-26 server), the server's origin is the authorization server.
 */
export async function discoverFromResource(resourceUrlText: string, options: DiscoverResourceOptions = {}): Promise<ResourceDiscovery> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  let resourceUrl: URL;
  try {
    resourceUrl = new URL(resourceUrlText);
  } catch {
    throw new SeedError('USAGE', `could not discover sign-in for "${resourceUrlText}": it is not a URL`, {
      hint: 'pass the MCP server URL, e.g. `seed-mcp login https://mcp.example.com/mcp`, or --issuer',
    });
  }
  if (resourceUrl.protocol !== 'https:' && !(resourceUrl.protocol === 'http:' && isLoopbackUrl(resourceUrl))) {
    throw new SeedError('USAGE', `could not discover sign-in for ${resourceUrlText}: the URL must be https (plain http only on loopback)`, {
      hint: 'pass the https URL of the MCP server',
    });
  }
  const unreachable = (url: string, err: unknown) =>
    new SeedError(
      'IDP_UNREACHABLE',
      // The server's own URL is not named twice.
      `could not discover sign-in for ${resourceUrlText}: ${url === resourceUrl.href ? 'it' : url} is unreachable: ${unreachableReason(err) ?? (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}`,
      {
        hint: 'check the URL, that the MCP server is running, and the network (VPN, HTTPS_PROXY); or pass --issuer to skip discovery',
        cause: err,
      },
    );

  const candidates: string[] = [];
  let challengeScope: string | undefined;
  try {
    const probe = await doFetch(resourceUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await probe.body?.cancel();
    const challenge = probe.status === 401 || probe.status === 403 ? probe.headers.get('www-authenticate') : null;
    challengeScope = parseChallengeParam(challenge, 'scope')?.trim() || undefined;
    const fromHeader = parseResourceMetadataParam(probe.headers.get('www-authenticate'));
    if (fromHeader) candidates.push(new URL(fromHeader, resourceUrl).href);
  } catch (err) {
    throw unreachable(resourceUrl.href, err);
  }
  for (const url of wellKnownCandidates(resourceUrl)) if (!candidates.includes(url)) candidates.push(url);

  let allNotFound = true;
  for (const metadataUrl of candidates) {
    let res: Response;
    try {
      res = await doFetch(metadataUrl, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    } catch (err) {
      throw unreachable(metadataUrl, err);
    }
    if (res.status !== 200) {
      if (res.status !== 404) allNotFound = false;
      await res.body?.cancel();
      continue;
    }
    allNotFound = false;
    let body: { resource?: unknown; authorization_servers?: unknown; scopes_supported?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      continue;
    }
    const servers = Array.isArray(body.authorization_servers) ? body.authorization_servers.filter((s): s is string => typeof s === 'string') : [];
    if (typeof body.resource !== 'string' || servers.length === 0) {
      throw new SeedError('DISCOVERY_FAILED', `could not discover sign-in for ${resourceUrlText}: ${metadataUrl} lacks "resource" or "authorization_servers"`, {
        hint: 'ask the server operator to publish RFC 9728 metadata, or pass --issuer and --resource',
      });
    }
    if (!sameResource(resourceUrl, body.resource)) {
      throw new SeedError(
        'DISCOVERY_FAILED',
        `could not discover sign-in for ${resourceUrlText}: its protected-resource metadata (${metadataUrl}) names the resource ${body.resource}, not ${resourceUrl.href}`,
        {
          hint: `check the URL: pass the MCP server URL the metadata names (\`seed-mcp login ${body.resource}\`); if the server is set up this way on purpose, pass --issuer and --resource`,
        },
      );
    }
    return {
      resource: body.resource,
      authorizationServers: servers,
      scopesSupported: Array.isArray(body.scopes_supported) ? body.scopes_supported.filter((s): s is string => typeof s === 'string') : undefined,
      ...(challengeScope ? { challengeScope } : {}),
      metadataUrl,
    };
  }
  if (allNotFound) {
    // MCP 2025-03-26: no protected-resource metadata; the server's origin is its authorization
    // server, with the default endpoints when that has no metadata either.
    allowDefaultEndpoints(resourceUrl.origin);
    const resource = new URL(resourceUrl.href);
    resource.hash = '';
    return { resource: resource.href, authorizationServers: [resourceUrl.origin], legacy: true, ...(challengeScope ? { challengeScope } : {}) };
  }
  throw new SeedError('DISCOVERY_FAILED', `could not discover sign-in for ${resourceUrlText}: no protected-resource metadata found (tried ${candidates.join(', ')})`, {
    hint: 'pass --issuer (and --client-id) to sign in without discovery',
  });
}
