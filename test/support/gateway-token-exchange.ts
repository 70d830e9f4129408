/**
 * RFC 8693 token exchange at the test IdP, for the gateway's `token_exchange` credentials.
 * oidc-provider has no token exchange grant of its own: this registers one on the running provider
 * (`provider.registerGrantType`), so the request still goes through its real token endpoint, client
 * authentication included. The grant checks the subject token against the IdP's own JWKS and
 * answers a fresh JWT (signed by a key of this helper) for the requested audience, with `act`
 * naming the exchanging client.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { TestIdp } from './idp.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export interface TokenExchangeOptions {
  /** Audiences a token may be exchanged for; others get `invalid_target`. */
  audiences: string[];
  /** `expires_in` of exchanged tokens; default 3600. */
  ttlSec?: number;
}

/** One successful exchange, as the grant saw it. */
export interface ExchangeRecord {
  clientId: string;
  /** `sub` of the subject token. */
  subject: string;
  audience?: string;
  scope?: string;
  resource?: string;
}

export interface TokenExchangeGrant {
  /** Successful exchanges, in order. */
  readonly exchanges: ExchangeRecord[];
  /** Refused exchange requests (any OAuth error). */
  readonly refused: number;
  /** The public JWKS of exchanged tokens. */
  readonly jwks: { keys: object[] };
}

interface ProviderErrors {
  InvalidGrant: new (description?: string) => Error;
  InvalidRequest: new (description?: string) => Error;
  InvalidTarget: new (description?: string) => Error;
}

interface GrantContext {
  oidc: { params: Record<string, string | undefined>; client: { clientId: string } };
  body: unknown;
}

interface RegisteringProvider {
  registerGrantType(name: string, handler: (ctx: GrantContext) => Promise<void>, params: string[]): void;
}

// Loaded as test/support/idp.ts does: oidc-provider ships no types.
const OIDC_PROVIDER = 'oidc-provider';

/**
 * Registers the grant. Call it before the first request that finds a client whose `grant_types`
 * include {@link TOKEN_EXCHANGE_GRANT} (oidc-provider validates static clients on first use).
 */
export async function registerTokenExchange(idp: TestIdp, options: TokenExchangeOptions): Promise<TokenExchangeGrant> {
  const { errors } = (await import(OIDC_PROVIDER)) as { errors: ProviderErrors };
  const ttl = options.ttlSec ?? 3600;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'token-exchange', alg: 'ES256', use: 'sig' };
  const state = { exchanges: [] as ExchangeRecord[], refused: 0, jwks: { keys: [publicJwk] } };

  const refuse = (err: Error): never => {
    state.refused += 1;
    throw err;
  };

  (idp.provider as unknown as RegisteringProvider).registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const { subject_token, subject_token_type, requested_token_type, audience, scope, resource } = ctx.oidc.params;
      if (!subject_token) refuse(new errors.InvalidRequest('missing subject_token'));
      if (subject_token_type !== ACCESS_TOKEN_TYPE) refuse(new errors.InvalidRequest('unsupported subject_token_type'));
      if (requested_token_type !== undefined && requested_token_type !== ACCESS_TOKEN_TYPE) refuse(new errors.InvalidRequest('unsupported requested_token_type'));
      const target = audience ?? resource;
      if (!target || !options.audiences.includes(target)) refuse(new errors.InvalidTarget('audience not allowed for token exchange'));
      let subject: JWTPayload;
      try {
        ({ payload: subject } = await jwtVerify(subject_token!, createLocalJWKSet(idp.keys as Parameters<typeof createLocalJWKSet>[0]), { issuer: idp.issuer }));
      } catch {
        return refuse(new errors.InvalidGrant('subject_token is not a valid token of this issuer'));
      }
      const clientId = ctx.oidc.client.clientId;
      const sub = String(subject.sub ?? subject.client_id);
      const token = await new SignJWT({ client_id: clientId, act: { sub: clientId }, ...(scope ? { scope } : {}) })
        .setProtectedHeader({ alg: 'ES256', kid: publicJwk.kid, typ: 'at+jwt' })
        .setIssuer(idp.issuer)
        .setSubject(sub)
        .setAudience(target!)
        .setIssuedAt()
        .setJti(crypto.randomUUID())
        .setExpirationTime(`${ttl}s`)
        .sign(privateKey);
      state.exchanges.push({ clientId, subject: sub, ...(audience ? { audience } : {}), ...(scope ? { scope } : {}), ...(resource ? { resource } : {}) });
      ctx.body = { access_token: token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: ttl, ...(scope ? { scope } : {}) };
    },
    ['subject_token', 'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope'],
  );

  return {
    get exchanges() {
      return state.exchanges;
    },
    get refused() {
      return state.refused;
    },
    jwks: state.jwks,
  };
}
