import { readFile } from 'node:fs/promises';
import type * as client from 'openid-client';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { redact } from '../shared/redact.js';
import { decodeJwtClaims } from './jwt-claims.js';
import type { ClientKey } from './oidc/client-auth.js';
import type { LocalSettings } from './settings.js';
import { mintedTokenSource, type RefreshKind, type TokenSource, type TokenSourceDeps } from './token-source.js';
import type { StoredTokens, TokenStore } from './token-store/types.js';

export interface EnterpriseSourceDeps extends Pick<TokenSourceDeps, 'now' | 'onRefresh'> {
  store: TokenStore;
  logger: Logger;
}

/** An ID token this close to its `exp` is not sent: the IdP would refuse it on the way. */
const ID_TOKEN_MARGIN_SEC = 30;

/** The ID token to exchange, and the IdP client that exchanges it. */
interface Subject {
  idToken: string;
  claims: Record<string, unknown>;
  idpIssuer: string;
  idpClientId: string;
  idpClientSecret?: string;
  idpClientKey?: ClientKey;
  /** For messages: `profile "corp"` or `the file /run/id-token`. */
  origin: string;
  /** What to do when the IdP refuses it. */
  retryHint: string;
}

/** The MCP authorization server and resource the access token is for. */
interface Target {
  issuer: string;
  resource?: string;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const trimSlash = (s: string) => (s.endsWith('/') ? s.slice(0, -1) : s);

/**
 * The OAuth `error` of a token endpoint answer, if it was one: openid-client's `ResponseBodyError`,
 * or its `WWWAuthenticateChallengeError` for a 401 with `WWW-Authenticate` (RFC 6749 §5.2: how a
 * server answers `invalid_client` to a client that used Basic authentication).
 */
async function oauthErrorOf(err: unknown): Promise<{ error: string; description?: string; status?: number } | undefined> {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { error?: unknown; error_description?: unknown; status?: unknown; code?: unknown; cause?: unknown; response?: unknown };
  const status = typeof e.status === 'number' ? e.status : undefined;
  const clean = (d: unknown) => (typeof d === 'string' && d ? redact(d) : undefined);
  if (typeof e.error === 'string') return { error: e.error, description: clean(e.error_description), status };
  if (e.code !== 'OAUTH_WWW_AUTHENTICATE_CHALLENGE') return undefined;
  const params = Array.isArray(e.cause) ? (e.cause as Array<{ parameters?: Record<string, unknown> }>).find((c) => typeof c.parameters?.error === 'string')?.parameters : undefined;
  let body: { error?: unknown; error_description?: unknown } = {};
  try {
    if (e.response instanceof Response) body = (await e.response.clone().json()) as typeof body;
  } catch {
    // No JSON body: the challenge says enough.
  }
  const error = str(params?.error) ?? str(body.error) ?? (status === 401 ? 'invalid_client' : undefined);
  return error ? { error, description: clean(params?.error_description) ?? clean(body.error_description), status } : undefined;
}

/** Claims of an ID token, decoded without verification: the IdP verifies it at the exchange; this is for `exp` and display. */
function idTokenClaims(token: string | undefined): Record<string, unknown> | undefined {
  return token ? decodeJwtClaims(token) : undefined;
}

function idTokenUsable(claims: Record<string, unknown> | undefined, nowSec: number): boolean {
  if (!claims) return false;
  return typeof claims.exp !== 'number' || claims.exp - nowSec > ID_TOKEN_MARGIN_SEC;
}

/**
 * Enterprise-managed authorization (MCP ext-auth SEP-990, cross-app access): no browser. An OIDC
 * ID token from the company IdP (a signed-in profile's, or a workload's file) is exchanged at the
 * IdP for an ID-JAG (RFC 8693), which the MCP authorization server redeems for an access token
 * (RFC 7523 JWT-bearer grant). The access token is kept in memory and minted again before expiry or
 * after a 401, one mint at a time, like the client credentials source.
 */
export function createEnterpriseSource(settings: LocalSettings, deps: EnterpriseSourceDeps): TokenSource {
  const enterprise = settings.enterprise;
  const { clientId, profile } = settings;
  if (!enterprise || (!enterprise.idpProfile && !enterprise.idTokenFile)) {
    throw new SeedError('CONFIG_INVALID', 'could not use enterprise-managed authorization: no ID token source is set', {
      hint: 'pass --idp-profile NAME (a profile signed in to your company IdP) or --id-token-file PATH with --idp-issuer and --idp-client-id',
    });
  }
  const problems = [
    !clientId && "--client-id (env SEED_MCP_CLIENT_ID): seed-mcp's client at the MCP server's authorization server",
    !settings.issuer && !settings.upstream && '--upstream (or --issuer): the MCP server, to find its authorization server',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) {
    throw new SeedError('CONFIG_INVALID', `could not use enterprise-managed authorization: missing ${problems.join('; ')}`, {
      hint: 'pass --client-id and --client-secret-file (or --client-key-file) of the client registered for seed-mcp at the MCP authorization server; ask its operator for them',
    });
  }
  const nowSec = () => Math.floor((deps.now?.() ?? Date.now()) / 1000);
  const scope = settings.scopeSource === 'explicit' ? settings.scopes : undefined;
  let target: Target | undefined;
  // openid-client configurations, kept while they work (a failure discovers again).
  const configs = new Map<string, Promise<client.Configuration>>();

  async function configFor(key: string, make: () => Promise<client.Configuration>): Promise<client.Configuration> {
    let pending = configs.get(key);
    if (!pending) configs.set(key, (pending = make()));
    try {
      return await pending;
    } catch (err) {
      configs.delete(key);
      throw err;
    }
  }

  async function resolveTarget(): Promise<Target> {
    if (target) return target;
    if (settings.issuer && !settings.discovered) {
      // MCP authorization: the resource is the MCP server's URL unless configured otherwise.
      return (target = { issuer: settings.issuer, resource: settings.resource ?? (settings.noResource ? undefined : settings.upstream) });
    }
    const { discoverFromResource } = await import('./oidc/discover-resource.js');
    const found = await discoverFromResource(settings.upstream!);
    return (target = {
      issuer: found.authorizationServers[0]!,
      resource: settings.resource ?? (settings.noResource ? undefined : found.resource),
    });
  }

  /** A workload's ID token: the file is read at every exchange (the platform rotates it). */
  async function fromFile(file: string): Promise<Subject> {
    let text: string;
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new SeedError('AUTH_FAILED', `could not read the ID token file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
        hint: 'check --id-token-file (SEED_MCP_ID_TOKEN_FILE): the file your platform writes the workload identity token to must exist and be readable',
      });
    }
    const claims = idTokenClaims(text);
    if (!claims) {
      throw new SeedError('AUTH_FAILED', `could not use the ID token file ${file}: it ${text ? 'holds no JWT' : 'is empty'}`, {
        hint: 'the file must hold one OIDC ID token (a JWT) from the IdP named by --idp-issuer; check what writes it',
      });
    }
    if (!idTokenUsable(claims, nowSec())) {
      throw new SeedError('AUTH_FAILED', `could not use the ID token in ${file}: it expired at ${new Date((claims.exp as number) * 1000).toISOString()}`, {
        hint: 'the workload identity token must be kept fresh: check the job or sidecar that rewrites the file (and the system clock)',
      });
    }
    const idpIssuer = enterprise!.idpIssuer!;
    const iss = str(claims.iss);
    if (iss && trimSlash(iss) !== trimSlash(idpIssuer)) {
      throw new SeedError('CONFIG_INVALID', `could not use the ID token in ${file}: it was issued by ${iss}, not by --idp-issuer ${idpIssuer}`, {
        hint: `pass --idp-issuer ${iss} (and seed-mcp's client id there), or point --id-token-file at a token from ${idpIssuer}`,
      });
    }
    return {
      idToken: text,
      claims,
      idpIssuer,
      idpClientId: enterprise!.idpClientId!,
      idpClientSecret: enterprise!.idpClientSecret,
      origin: `the ID token file ${file}`,
      retryHint: `check that ${file} holds a current ID token from ${idpIssuer} issued to client "${enterprise!.idpClientId}"`,
    };
  }

  /** A signed-in profile's ID token, refreshed first when it expired. */
  async function fromProfile(name: string): Promise<Subject> {
    const login = `seed-mcp login --profile ${name}`;
    const notSignedIn = (why: string) =>
      // The command is in the message too: serve's "not signed in" answer names its own profile.
      new SeedError('NOT_SIGNED_IN', `could not get an ID token from profile "${name}": ${why}; run \`${login}\` to sign in to your company IdP`, {
        hint: `run \`${login}\` (signed in to your company IdP with the openid scope), then retry`,
      });
    const [{ readProfileConfig }, { resolveLocalSettings }] = await Promise.all([import('./profile-config.js'), import('./settings.js')]);
    const saved = await readProfileConfig(settings.configDir, name);
    // The IdP profile's own settings (its client secret or key), not this server's environment.
    const idpSettings = resolveLocalSettings({ profile: name }, { SEED_MCP_CONFIG_DIR: settings.configDir, SEED_MCP_TOKEN_STORE: settings.tokenStore }, saved);
    let tokens = await deps.store.get(name);
    if (!tokens) throw notSignedIn('it is not signed in');
    if (!idTokenUsable(idTokenClaims(tokens.idToken), nowSec())) {
      const { createTokenSource } = await import('./token-source.js');
      try {
        // `rejected` forces a refresh even while the access token itself is still valid.
        tokens = await createTokenSource(idpSettings, { store: deps.store, logger: deps.logger, now: deps.now }).get({ rejected: tokens.accessToken });
      } catch (err) {
        if (err instanceof SeedError && (err.code === 'NOT_SIGNED_IN' || err.code === 'INVALID_GRANT'))
          throw notSignedIn(`${tokens.idToken ? 'its ID token expired' : 'it holds no ID token'} and could not be refreshed (${err.message})`);
        throw err;
      }
    }
    const claims = idTokenClaims(tokens.idToken);
    if (!tokens.idToken || !claims || !idTokenUsable(claims, nowSec())) {
      throw notSignedIn(
        tokens.idToken ? 'its ID token expired and the identity provider sent no new one on refresh' : 'it holds no ID token (it was not signed in with the openid scope)',
      );
    }
    const idpIssuer = enterprise!.idpIssuer ?? tokens.issuer ?? saved.issuer;
    const idpClientId = enterprise!.idpClientId ?? tokens.clientId ?? saved.clientId;
    // The profile's own secret or key goes with the profile's own client only.
    const ownClient = idpClientId === tokens.clientId || idpClientId === idpSettings.clientId;
    return {
      idToken: tokens.idToken,
      claims,
      idpIssuer,
      idpClientId,
      idpClientSecret: enterprise!.idpClientSecret ?? (ownClient ? idpSettings.clientSecret : undefined),
      idpClientKey: enterprise!.idpClientSecret ? undefined : ownClient ? idpSettings.clientKey : undefined,
      origin: `profile "${name}"`,
      retryHint: `sign in to your company IdP again (\`${login}\`) and retry`,
    };
  }

  /** The exchange refused by the IdP: what it said, and what to do. */
  async function exchangeError(err: unknown, subject: Subject, t: Target, mapped: SeedError): Promise<SeedError> {
    const oauth = await oauthErrorOf(err);
    if (!oauth) return mapped;
    const said = `${oauth.error}${oauth.description ? `: ${oauth.description}` : ''}`;
    const doing = `get an identity assertion (ID-JAG) for ${t.issuer} from ${subject.idpIssuer}`;
    if (oauth.error === 'invalid_client' || oauth.error === 'unauthorized_client') {
      return new SeedError('INVALID_CLIENT', `could not ${doing}: the identity provider rejected client "${subject.idpClientId}" (${said})`, {
        hint: `check --idp-client-id and --idp-client-secret-file against the app registered at your IdP, and ask your IdP admin to allow it the token exchange grant for ID-JAGs`,
        cause: err,
      });
    }
    if (oauth.error === 'invalid_grant') {
      return new SeedError('ACCESS_DENIED', `could not ${doing}: the identity provider refused the ID token of ${subject.origin} (${said})`, {
        hint: subject.retryHint,
        cause: err,
      });
    }
    if (oauth.error === 'invalid_target' || oauth.error === 'invalid_scope') {
      return new SeedError(
        'ACCESS_DENIED',
        `could not ${doing}: the identity provider refused the ${oauth.error === 'invalid_scope' ? 'scopes' : 'MCP authorization server or resource'} (${said})`,
        {
          hint: `ask your IdP admin to allow cross-app access from client "${subject.idpClientId}" to ${t.issuer}${t.resource ? ` (resource ${t.resource})` : ''}${oauth.error === 'invalid_scope' ? ', or pass --scope with scopes it grants' : ''}`,
          cause: err,
        },
      );
    }
    return new SeedError('ACCESS_DENIED', `could not ${doing}: the identity provider answered ${said}${oauth.status ? ` (HTTP ${oauth.status})` : ''}`, {
      hint: `ask your IdP admin whether ${subject.idpClientId} may get identity assertions for ${t.issuer}; ${subject.retryHint}`,
      cause: err,
    });
  }

  /** The ID-JAG refused by the MCP authorization server. */
  async function redeemError(err: unknown, subject: Subject, t: Target, mapped: SeedError): Promise<SeedError> {
    const oauth = await oauthErrorOf(err);
    if (!oauth) return mapped;
    const said = `${oauth.error}${oauth.description ? `: ${oauth.description}` : ''}`;
    const doing = `get an access token from the MCP authorization server ${t.issuer}`;
    if (oauth.error === 'invalid_client' || oauth.error === 'unauthorized_client') {
      return new SeedError('INVALID_CLIENT', `could not ${doing}: it rejected client "${clientId}" (${said})`, {
        hint: 'check --client-id and --client-secret-file (or --client-key-file): they must be those of the client registered for seed-mcp at the MCP authorization server, allowed the JWT-bearer grant',
        cause: err,
      });
    }
    return new SeedError('ACCESS_DENIED', `could not ${doing}: it refused the identity assertion from ${subject.idpIssuer} (${said})`, {
      hint: `ask the MCP server's operator to trust ${subject.idpIssuer} for enterprise-managed authorization of client "${clientId}"; ${subject.retryHint}`,
      cause: err,
    });
  }

  async function mint(type: RefreshKind): Promise<StoredTokens> {
    const started = performance.now();
    const [{ discoverIssuer }, { mapOAuthError }, { requestIdJag, redeemIdJag }, { toStoredTokens }] = await Promise.all([
      import('./oidc/issuer.js'),
      import('./oidc/map-error.js'),
      import('./oidc/id-jag.js'),
      import('./tokens.js'),
    ]);
    try {
      const t = await resolveTarget();
      const subject = enterprise!.idTokenFile ? await fromFile(enterprise!.idTokenFile) : await fromProfile(enterprise!.idpProfile!);
      const idpProfileName = enterprise!.idpProfile ?? profile;

      let idJag: string;
      try {
        const idpConfig = await configFor(`idp ${subject.idpIssuer} ${subject.idpClientId}`, () =>
          discoverIssuer({
            issuer: subject.idpIssuer,
            clientId: subject.idpClientId,
            clientSecret: subject.idpClientSecret,
            clientKey: subject.idpClientKey,
            profile: idpProfileName,
            assumePkce: true,
          }),
        );
        idJag = await requestIdJag(idpConfig, { idToken: subject.idToken, audience: t.issuer, resource: t.resource, scope });
      } catch (err) {
        configs.delete(`idp ${subject.idpIssuer} ${subject.idpClientId}`);
        const mapped = mapOAuthError(err, {
          doing: `get an identity assertion (ID-JAG) for ${t.issuer} from ${subject.idpIssuer}`,
          issuer: subject.idpIssuer,
          clientId: subject.idpClientId,
          profile: idpProfileName,
        });
        throw await exchangeError(err, subject, t, mapped);
      }

      let res: Awaited<ReturnType<typeof redeemIdJag>>;
      try {
        const mcpConfig = await configFor(`mcp ${t.issuer}`, () =>
          discoverIssuer({
            issuer: t.issuer,
            clientId: clientId!,
            clientSecret: settings.clientSecret,
            clientKey: settings.clientKey,
            profile,
            assumePkce: true,
            defaultEndpoints: settings.defaultEndpoints,
          }),
        );
        res = await redeemIdJag(mcpConfig, { assertion: idJag, resource: t.resource, scope });
      } catch (err) {
        configs.delete(`mcp ${t.issuer}`);
        const mapped = mapOAuthError(err, { doing: `get an access token from the MCP authorization server ${t.issuer}`, issuer: t.issuer, clientId, profile });
        throw await redeemError(err, subject, t, mapped);
      }

      const tokens = toStoredTokens(res, { issuer: t.issuer, clientId: clientId!, requestedScope: scope ?? '', resource: t.resource, nowSec: nowSec() });
      // Who it is: the ID token's subject (signed by the IdP and accepted by both servers; decoded for display only).
      const { sub, email, name } = subject.claims;
      const minted: StoredTokens = {
        ...tokens,
        subject: str(sub) ?? str(email) ?? tokens.subject,
        email: str(email) ?? tokens.email,
        name: str(name) ?? tokens.name,
        identitySource: 'id_token',
      };
      deps.onRefresh?.({ type, result: 'success', seconds: (performance.now() - started) / 1000 });
      deps.logger.debug('enterprise-managed token obtained (ID-JAG)', { profile, type, idp: subject.idpIssuer, authorizationServer: t.issuer });
      return minted;
    } catch (err) {
      deps.onRefresh?.({ type, result: 'failure', seconds: (performance.now() - started) / 1000 });
      if (err instanceof SeedError) throw err;
      throw mapOAuthError(err, { doing: 'get a token through enterprise-managed authorization (ID-JAG)', clientId, profile });
    }
  }

  return mintedTokenSource(mint, nowSec);
}
