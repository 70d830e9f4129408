/**
 * What both grants share: their dependencies, the tokens the proxy issues, the grant record behind
 * a refresh token, and the check of a requested resource.
 *
 * The proxy issues its own tokens: an access token signed by its key (RFC 9068: `iss` = this
 * server, `aud` = this resource, `client_id`, `jti`, short-lived) and a refresh token that is an
 * opaque handle. The IdP's tokens never leave the server: its refresh token is kept in the grant
 * record, sealed under the handle (only the client holding the handle can open it, and Redis sees
 * neither), and used only to check the user's session at the IdP on each refresh and to end it.
 */
import { sha256Base64url } from '../../../shared/crypto.js';
import { tokenIdOf } from '../../auth/verified-token.js';
import { CloudError } from '../../errors.js';
import { STORE_KEYS } from '../../store/keys.js';
import type { IdpUser } from '../idp.js';
import type { EndpointDeps } from '../options.js';
import { seal, unseal } from '../seal.js';
import { randomToken } from '../state.js';
import { signAccessToken } from '../signing-keys.js';

/** What a grant function needs. */
export type GrantDeps = Pick<
  EndpointDeps,
  'baseUrl' | 'store' | 'idp' | 'logger' | 'acceptedResources' | 'idpResource' | 'dcr' | 'signing' | 'tokenTtl' | 'validator' | 'revocations'
>;

/** A successful token response (RFC 6749 §5.1) of the proxy: its own tokens only. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/** What a grant of the proxy stands for, sealed under its current refresh token. */
export interface GrantRecord {
  grantId: string;
  clientId: string;
  user: IdpUser;
  scope: string;
  resource: string;
  /** The IdP's refresh token: to check the user's session at the IdP, and to end it. */
  idpRefreshToken?: string;
}

/** Where a grant's current tokens are, to end it without its refresh token (a replayed code, a revocation). */
interface GrantIndex {
  /** sha256 of the current refresh token. */
  refreshHash?: string;
  /** The current access token's `jti` and `exp`. */
  jti: string;
  exp: number;
}

/** The store key of a refresh token of the proxy. */
export const refreshTokenKey = (refreshToken: string): string => STORE_KEYS.proxyRefresh(sha256Base64url(refreshToken));

/**
 * Issues an access token (and, when the record keeps an IdP refresh token, a refresh token) for the
 * grant `record`, and remembers where they are.
 */
export async function issueTokens(deps: GrantDeps, record: GrantRecord): Promise<TokenResponse> {
  const now = Math.floor(Date.now() / 1000);
  const jti = randomToken(16);
  const accessToken = await signAccessToken(
    deps.signing,
    {
      iss: deps.baseUrl,
      aud: record.resource,
      sub: record.user.subject,
      client_id: record.clientId,
      scope: record.scope,
      jti,
      ttlSec: deps.tokenTtl.accessSec,
      ...(record.user.email ? { email: record.user.email } : {}),
      ...(record.user.name ? { name: record.user.name } : {}),
      ...(record.user.groups ? { groups: record.user.groups } : {}),
    },
    now,
  );
  const refreshTtlMs = deps.tokenTtl.refreshSec * 1000;
  let refreshToken: string | undefined;
  if (record.idpRefreshToken) {
    refreshToken = randomToken(32);
    await deps.store.set(refreshTokenKey(refreshToken), seal(refreshToken, record, 'refresh'), refreshTtlMs);
  }
  const index: GrantIndex = { ...(refreshToken ? { refreshHash: sha256Base64url(refreshToken) } : {}), jti, exp: now + deps.tokenTtl.accessSec };
  await deps.store.set(STORE_KEYS.proxyGrant(record.grantId), index, Math.max(refreshTtlMs, deps.tokenTtl.accessSec * 1000));
  return { access_token: accessToken, token_type: 'Bearer', expires_in: deps.tokenTtl.accessSec, ...(refreshToken ? { refresh_token: refreshToken } : {}), scope: record.scope };
}

/** A new grant id. */
export const newGrantId = (): string => randomToken(16);

/** The grant record behind `refreshToken`, taken (a refresh token is used once); undefined when unknown. */
export async function takeGrant(deps: Pick<GrantDeps, 'store'>, refreshToken: string): Promise<GrantRecord | undefined> {
  const sealed = await deps.store.take<string>(refreshTokenKey(refreshToken));
  return sealed ? unseal<GrantRecord>(refreshToken, sealed, 'refresh') : undefined;
}

/** The grant record behind `refreshToken`, read only (to check whose it is); undefined when unknown. */
export async function readGrant(deps: Pick<GrantDeps, 'store'>, refreshToken: string): Promise<GrantRecord | undefined> {
  const sealed = await deps.store.get<string>(refreshTokenKey(refreshToken));
  return sealed ? unseal<GrantRecord>(refreshToken, sealed, 'refresh') : undefined;
}

/** Puts a taken grant back under the same refresh token (the refresh failed for a reason not the client's). */
export async function putBackGrant(deps: Pick<GrantDeps, 'store' | 'tokenTtl'>, refreshToken: string, record: GrantRecord): Promise<void> {
  await deps.store.set(refreshTokenKey(refreshToken), seal(refreshToken, record, 'refresh'), deps.tokenTtl.refreshSec * 1000);
}

/**
 * Ends grant `grantId`: its refresh token is forgotten and its current access token goes on the
 * revocation list until it expires. What the IdP holds ends with `endAtIdp` when the caller has
 * the IdP's refresh token.
 */
export async function endGrant(deps: Pick<GrantDeps, 'store' | 'baseUrl' | 'revocations'>, grantId: string): Promise<void> {
  const index = await deps.store.take<GrantIndex>(STORE_KEYS.proxyGrant(grantId));
  if (!index) return;
  if (index.refreshHash) await deps.store.delete(STORE_KEYS.proxyRefresh(index.refreshHash));
  await deps.revocations?.revoke(tokenIdOf(deps.baseUrl, index.jti, ''), index.exp);
}

/**
 * The scopes the proxy's token carries: those asked for that the IdP granted too (its token
 * response's `scope`; when it sends none, RFC 6749 §5.1 says it granted what was asked). The IdP's
 * own authorization (who may have which scope) stays in force.
 */
export function grantedScope(asked: string | undefined, granted: string | undefined): string {
  const askedList = (asked ?? '').split(' ').filter(Boolean);
  if (granted === undefined) return askedList.join(' ');
  const grantedSet = new Set(granted.split(' '));
  return (asked === undefined ? [...grantedSet].filter(Boolean) : askedList.filter((s) => grantedSet.has(s))).join(' ');
}

/** `OAUTH_INVALID_TARGET` unless `resource` is absent or this server's (RFC 8707 §2). */
export function checkResource(resource: string | undefined, acceptedResources: readonly string[]): void {
  if (resource !== undefined && !acceptedResources.includes(resource)) {
    throw new CloudError('OAUTH_INVALID_TARGET', 'the resource is not this server (RFC 8707)');
  }
}
