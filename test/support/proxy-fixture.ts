/**
 * The OAuth proxy's side of the attack tests: `seed-mcp cloud` with OAUTH_PROXY_ENABLED in front of
 * the test IdP (the proxy's own confidential client there), and what an MCP client (or an
 * attacker) sends it: registrations, authorization links with PKCE, token and revocation requests.
 * Plain HTTP: each test sees exactly what it sends and what comes back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { loadCloudConfig } from '../../src/cloud/config.js';
import { startCloud, type RunningCloud } from '../../src/cloud/start.js';
import { createLogger } from '../../src/shared/logger.js';
import type { IdpClientMetadata, TestIdp } from './idp.js';

/** The proxy's client id at the test IdP. */
export const PROXY_CLIENT_ID = 'seed-proxy';

/**
 * The proxy's client at the IdP: a web (confidential) client, so that oidc-provider remembers
 * consent (a native one always asks again): the IdP a confused deputy needs.
 */
export function proxyIdpClient(secret: string, redirectUris: readonly string[]): IdpClientMetadata {
  return {
    client_id: PROXY_CLIENT_ID,
    client_secret: secret,
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [...redirectUris],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
}

export interface ProxyCloudOptions {
  idp: TestIdp;
  /** Where it listens on 127.0.0.1. */
  port: number;
  /** BASE_URL; default `http://127.0.0.1:<port>` (another replica's, for a replica). */
  base?: string;
  scopes: readonly string[];
  /** The proxy's client secret at the IdP. */
  clientSecret: string;
  /** More (or other) environment variables. */
  env?: Record<string, string>;
  /** Receives the JSON log lines. */
  logLines: string[];
}

/** `seed-mcp cloud` with the OAuth proxy, in-process; the resource is `<base>/mcp`. */
export function startProxyCloud(options: ProxyCloudOptions): Promise<RunningCloud> {
  const base = options.base ?? `http://127.0.0.1:${options.port}`;
  const config = {
    ...loadCloudConfig({
      OIDC_ISSUER: options.idp.issuer,
      RESOURCE_IDENTIFIER: `${base}/mcp`,
      SCOPES_SUPPORTED: options.scopes.join(','),
      BASE_URL: base,
      OAUTH_PROXY_ENABLED: 'true',
      OAUTH_CLIENT_ID: PROXY_CLIENT_ID,
      OAUTH_CLIENT_SECRET: options.clientSecret,
      DCR_RATE_LIMIT_MAX: '1000',
      ...options.env,
    }),
    port: options.port,
    host: '127.0.0.1',
  };
  const logger = createLogger({ format: 'json', write: (l) => options.logLines.push(l) });
  return startCloud(config, { logger, version: 'test', collectDefaultMetrics: false });
}

// ---------------------------------------------------------------------------------------------
// PKCE

/** The S256 challenge of `verifier` (RFC 7636 §4.2). */
export const S256 = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

/** A fresh verifier: 43 characters of base64url. */
export const newVerifier = (): string => randomBytes(32).toString('base64url');

// ---------------------------------------------------------------------------------------------
// Registration

/** POST /oauth/register with `metadata` as JSON; the answer as it comes. */
export function registerRequest(on: string, metadata: unknown): Promise<Response> {
  return fetch(`${on}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
}

/** A registered client: its id, and its secret when confidential. */
export interface RegisteredClient {
  clientId: string;
  secret?: string;
}

/** Registers a client (201 expected): public unless `authMethod` says otherwise. */
export async function registerClient(
  on: string,
  redirectUris: readonly string[],
  options: { name?: string; authMethod?: 'none' | 'client_secret_basic' | 'client_secret_post' } = {},
): Promise<RegisteredClient> {
  const res = await registerRequest(on, {
    redirect_uris: redirectUris,
    ...(options.name ? { client_name: options.name } : {}),
    token_endpoint_auth_method: options.authMethod ?? 'none',
    grant_types: ['authorization_code', 'refresh_token'],
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { client_id: string; client_secret?: string };
  return { clientId: body.client_id, ...(body.client_secret ? { secret: body.client_secret } : {}) };
}

/** Registers a public client for one redirect URI; its id. */
export async function register(on: string, redirectUri: string, name: string): Promise<string> {
  return (await registerClient(on, [redirectUri], { name })).clientId;
}

// ---------------------------------------------------------------------------------------------
// Authorization

/** An authorization link as a client builds it, with the verifier and state behind it. */
export interface Authorization {
  url: string;
  verifier: string;
  state: string;
}

/**
 * The authorization link of `clientId` for `redirectUri`: response_type code, S256 of a fresh
 * verifier (or `verifier`), a random state (or `state`), `scope` when given; `params` last (an
 * empty value drops a parameter).
 */
export function authorization(
  on: string,
  clientId: string,
  redirectUri: string,
  options: { scope?: string; state?: string; verifier?: string; params?: Record<string, string> } = {},
): Authorization {
  const verifier = options.verifier ?? newVerifier();
  const state = options.state ?? randomBytes(8).toString('hex');
  const url = new URL(`${on}/oauth/authorize`);
  const all: Record<string, string> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: S256(verifier),
    code_challenge_method: 'S256',
    state,
    ...(options.scope ? { scope: options.scope } : {}),
    ...options.params,
  };
  for (const [k, v] of Object.entries(all)) if (v !== '') url.searchParams.set(k, v);
  return { url: url.href, verifier, state };
}

/** The `code` of a callback URL, or null. */
export const codeOf = (callbackUrl: string): string | null => (callbackUrl ? new URL(callbackUrl).searchParams.get('code') : null);

// ---------------------------------------------------------------------------------------------
// Token and revocation endpoints

/** `Authorization: Basic` of a client id and secret, each form-urlencoded (RFC 6749 §2.3.1). */
export const basicAuth = (id: string, secret: string): string => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** POSTs `params` as a form to `path` of `on` (with `headers`); the status and the JSON body. */
export async function postForm(
  on: string,
  path: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${on}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}
