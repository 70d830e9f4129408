/**
 * Opaque access tokens: RFC 7662 token introspection at an allowed issuer's introspection
 * endpoint, with this server's own client credentials there (`INTROSPECTION`). The answer is
 * checked as a JWT's claims are (`iss`, `aud`, `exp`, `nbf`, `token_type`) and becomes the same
 * {@link VerifiedToken}, so tool scopes and policy treat both kinds of token alike. The validator
 * caches what this finds (for at most `INTROSPECTION_CACHE_TTL` seconds, never past `exp`).
 *
 * A token, an endpoint's answer or a client secret never goes into an error message or a log.
 */
import { createHash, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { BodyTooLargeError, readResponseText } from '../../shared/http/read-body.js';
import { authErrorOf, IntrospectionUnavailableError } from './errors.js';
import { FETCH_TIMEOUT_MS } from './fetch-json.js';
import { discoverIssuerEndpoint } from './discover-jwks-uri.js';
import { toVerifiedToken, tokenIdOf, type VerifiedToken } from './verified-token.js';

export type IntrospectionAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** One issuer's introspection endpoint and this server's client there (one `INTROSPECTION` entry). */
export interface IntrospectionIssuer {
  /** An allowed issuer; `iss` of an answer, when present, must be exactly this. */
  issuer: string;
  /** The RFC 7662 endpoint; unset = the issuer metadata's `introspection_endpoint`. */
  endpoint?: string;
  clientId: string;
  authMethod: IntrospectionAuthMethod;
  /** For `client_secret_basic` / `client_secret_post`. */
  clientSecret?: string;
  /** PEM private key (RSA, EC P-256/P-384, Ed25519), for `private_key_jwt`. */
  privateKey?: string;
  /** `kid` of the client assertion's header. */
  keyId?: string;
  /**
   * `opaque` (default): only tokens that are not JWTs are introspected; `all`: also the JWTs that
   * name this issuer (instead of verifying their signature here: the IdP then decides revocation).
   */
  tokens: 'opaque' | 'all';
  /** Refuse active tokens whose answer names no `aud`; true unless `require_audience: false`. */
  requireAudience: boolean;
}

export type IntrospectionResult = 'active' | 'inactive' | 'error';

export interface IntrospectionOptions {
  issuers: readonly IntrospectionIssuer[];
  /** Longest time an answer is reused, in seconds (`INTROSPECTION_CACHE_TTL`); 0 = never. */
  cacheTtlSec: number;
  /** Each request to an introspection endpoint, for metrics. */
  onIntrospection?: (result: IntrospectionResult, seconds: number) => void;
}

/** What introspecting a token found, for the validator's cache. Times in ms since the epoch. */
export interface Introspected {
  token: VerifiedToken;
  issuer: string;
  /** `exp` + tolerance; Infinity when the answer names no `exp`. */
  deadline: number;
  /** When the answer must be asked for again. */
  staleAt: number;
}

export interface Introspector {
  /** Whether a JWT naming `issuer` is introspected rather than verified here (`tokens: all`). */
  handlesJwtsOf(issuer: string): boolean;
  /**
   * Introspects `token` at `issuer`'s endpoint, or, unset, at each configured endpoint in turn
   * until one knows it. Rejects with an `AuthError`, or an {@link IntrospectionUnavailableError}
   * when no endpoint that was asked could answer and none said the token is active.
   */
  introspect(token: string, issuer?: string): Promise<Introspected>;
}

export interface IntrospectorDeps {
  audiences: readonly string[];
  /** A live audience check instead of `audiences` (the validator's `acceptsAudience`). */
  acceptsAudience?: (aud: string) => boolean;
  fetch: typeof fetch;
  now: () => number;
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. */
  toleranceSec: number;
  timeoutMs?: number;
  /** Aborts requests in flight (the validator's close()). */
  signal: AbortSignal;
}

/** Introspection answers are small; anything bigger is refused. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** After a failed discovery of an endpoint, the next attempt waits at least this long. */
const DISCOVERY_RETRY_MS = 1_000;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * The JWS alg of a `private_key_jwt` client assertion signed with `key`; undefined for a key that
 * cannot sign one (symmetric, DSA, a curve without a JWS alg).
 */
export function clientAssertionAlg(key: KeyObject): 'RS256' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | undefined {
  if (key.type !== 'private') return undefined;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? 'ES256' : curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The identity of an introspected token, for revocation and replay: its `jti` where the answer has
 * one (as for a JWT), else a sha256 of the issuer and the token, in a form no JWT's id can take.
 */
export function introspectedTokenId(issuer: string, jti: string | undefined, token: string): string {
  if (jti !== undefined) return tokenIdOf(issuer, jti, '');
  return createHash('sha256')
    .update(JSON.stringify(['opaque', issuer]), 'utf8')
    .update(token, 'utf8')
    .digest('base64url');
}

/** Creates the introspection client of the validator. */
export function createIntrospector(options: IntrospectionOptions, deps: IntrospectorDeps): Introspector {
  const accepted: Pick<ReadonlySet<string>, 'has'> = deps.acceptsAudience ? { has: deps.acceptsAudience } : new Set(deps.audiences);
  const endpoints = options.issuers.map((config) => new IssuerEndpoint(config, deps));
  const byIssuer = new Map(endpoints.map((e) => [e.config.issuer, e]));
  // Concurrent requests with the same token share one introspection (keyed by its hash).
  const inflight = new Map<string, Promise<Introspected>>();

  async function ask(endpoint: IssuerEndpoint, token: string): Promise<Record<string, unknown> | undefined> {
    const started = performance.now();
    try {
      const answer = await endpoint.introspect(token);
      options.onIntrospection?.(answer.active === true ? 'active' : 'inactive', (performance.now() - started) / 1000);
      return answer.active === true ? answer : undefined;
    } catch (err) {
      options.onIntrospection?.('error', (performance.now() - started) / 1000);
      throw err;
    }
  }

  async function introspectUncached(token: string, issuer: string | undefined): Promise<Introspected> {
    const candidates = issuer !== undefined ? [byIssuer.get(issuer)!] : endpoints;
    let unavailable: IntrospectionUnavailableError | undefined;
    for (const endpoint of candidates) {
      let answer: Record<string, unknown> | undefined;
      try {
        answer = await ask(endpoint, token);
      } catch (err) {
        unavailable ??= err instanceof IntrospectionUnavailableError ? err : new IntrospectionUnavailableError(endpoint.config.issuer, String(err), { cause: err });
        continue;
      }
      if (answer) return toIntrospected(answer, endpoint.config, token);
    }
    if (unavailable) throw unavailable;
    throw authErrorOf('INVALID_TOKEN', 'the token is not active (token introspection)');
  }

  function toIntrospected(answer: Record<string, unknown>, config: IntrospectionIssuer, token: string): Introspected {
    const nowMs = deps.now();
    const tolerance = deps.toleranceSec;
    checkAnswer(answer, config, accepted, Math.floor(nowMs / 1000), tolerance);
    const claims: Record<string, unknown> = { ...answer, iss: config.issuer };
    delete claims.active;
    // RFC 7662 `username`: the resource owner, when the answer has no `sub`.
    if (typeof claims.sub !== 'string' && typeof answer.username === 'string' && answer.username !== '') claims.sub = answer.username;
    const jti = typeof claims.jti === 'string' && claims.jti !== '' && claims.jti !== token ? claims.jti : undefined;
    if (jti === undefined) delete claims.jti;
    const verified = toVerifiedToken(claims, '', introspectedTokenId(config.issuer, jti, token));
    const exp = typeof answer.exp === 'number' ? answer.exp : undefined;
    const deadline = exp !== undefined ? (exp + tolerance) * 1000 : Number.POSITIVE_INFINITY;
    const staleAt = Math.min(nowMs + options.cacheTtlSec * 1000, exp !== undefined ? exp * 1000 : Number.POSITIVE_INFINITY);
    return { token: verified, issuer: config.issuer, deadline, staleAt };
  }

  return {
    handlesJwtsOf(issuer) {
      return byIssuer.get(issuer)?.config.tokens === 'all';
    },
    introspect(token, issuer) {
      if (issuer !== undefined && !byIssuer.has(issuer)) return Promise.reject(new TypeError(`no introspection endpoint for ${issuer}`));
      const key = createHash('sha256').update(token, 'utf8').digest('base64url') + (issuer === undefined ? '' : ` ${issuer}`);
      const running = inflight.get(key);
      if (running) return running;
      const promise = introspectUncached(token, issuer).finally(() => inflight.delete(key));
      inflight.set(key, promise);
      return promise;
    },
  };
}

/**
 * The checks of an active answer: RFC 7662 §2.2 members are all optional, so each is checked
 * where present, as the validator checks a JWT's claims (whole seconds, the same tolerance).
 */
function checkAnswer(answer: Record<string, unknown>, config: IntrospectionIssuer, audiences: Pick<ReadonlySet<string>, 'has'>, now: number, tolerance: number): void {
  if (answer.iss !== undefined && answer.iss !== config.issuer) throw authErrorOf('INVALID_ISSUER', 'the token issuer is not the one its introspection endpoint serves');
  if (answer.token_type !== undefined) {
    const type = typeof answer.token_type === 'string' ? answer.token_type.toLowerCase() : '';
    if (type !== 'bearer' && type !== 'access_token') throw authErrorOf('INVALID_TOKEN', 'the token is not a bearer access token (token_type)');
  }
  // A sender-constrained token (DPoP, mTLS) is no bearer token: its proof cannot be checked here.
  const cnf = answer.cnf;
  if (cnf && typeof cnf === 'object' && Object.keys(cnf).length > 0)
    throw authErrorOf('INVALID_TOKEN', 'the token is sender-constrained (cnf) and cannot be used as a bearer token');
  const aud = answer.aud;
  if (aud === undefined) {
    if (config.requireAudience) throw authErrorOf('INVALID_TOKEN', 'the token introspection names no audience (aud)');
  } else {
    const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!named.some((value) => typeof value === 'string' && audiences.has(value))) throw authErrorOf('INVALID_AUDIENCE', 'the token is not meant for this server (aud)');
  }
  if (answer.iat !== undefined) {
    if (!isNumericDate(answer.iat)) throw authErrorOf('INVALID_TOKEN', 'the token iat is invalid');
    if (answer.iat > now + tolerance) throw authErrorOf('INVALID_TOKEN', 'the token was issued in the future; check the clocks');
  }
  if (answer.nbf !== undefined) {
    if (!isNumericDate(answer.nbf)) throw authErrorOf('INVALID_TOKEN', 'the token nbf is invalid');
    if (answer.nbf > now + tolerance) throw authErrorOf('INVALID_TOKEN', 'the token is not yet valid (nbf)');
  }
  if (answer.exp !== undefined) {
    if (!isNumericDate(answer.exp)) throw authErrorOf('INVALID_TOKEN', 'the token exp is invalid');
    if (answer.exp <= now - tolerance) throw authErrorOf('TOKEN_EXPIRED', 'the token has expired');
  }
}

const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** One issuer's endpoint: where it is (configured or discovered) and how to ask it. */
class IssuerEndpoint {
  readonly config: IntrospectionIssuer;
  readonly #deps: IntrospectorDeps;
  readonly #key: { key: KeyObject; alg: string } | undefined;
  #url: string | undefined;
  #discovering: Promise<string> | undefined;
  #failedAt = Number.NEGATIVE_INFINITY;
  #failure = '';

  constructor(config: IntrospectionIssuer, deps: IntrospectorDeps) {
    this.config = config;
    this.#deps = deps;
    this.#url = config.endpoint;
    if (config.authMethod === 'private_key_jwt') {
      const key = createPrivateKey(config.privateKey ?? '');
      const alg = clientAssertionAlg(key);
      if (!alg) throw new TypeError(`createIntrospector: the private key for ${config.issuer} cannot sign a client assertion`);
      this.#key = { key, alg };
    }
  }

  async #endpoint(): Promise<string> {
    if (this.#url) return this.#url;
    if (this.#deps.now() - this.#failedAt < DISCOVERY_RETRY_MS) throw new Error(this.#failure);
    this.#discovering ??= discoverIntrospectionEndpoint(this.config.issuer, this.#deps)
      .then((url) => (this.#url = url))
      .catch((err: unknown) => {
        this.#failedAt = this.#deps.now();
        this.#failure = err instanceof Error ? err.message : String(err);
        throw err;
      })
      .finally(() => (this.#discovering = undefined));
    return this.#discovering;
  }

  /** The endpoint's JSON answer; throws {@link IntrospectionUnavailableError} when there is none. */
  async introspect(token: string): Promise<Record<string, unknown>> {
    const { issuer } = this.config;
    let url: string;
    try {
      url = await this.#endpoint();
    } catch (err) {
      throw new IntrospectionUnavailableError(issuer, `no introspection endpoint: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    this.#authenticate(body, headers);
    const timeoutMs = this.#deps.timeoutMs ?? FETCH_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([this.#deps.signal, timeout]);
    try {
      let res: Response;
      try {
        res = await this.#deps.fetch(url, { method: 'POST', headers, body, signal, redirect: 'error' });
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
        throw new Error(`could not reach ${url}: ${cause}`);
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        // 401/400: this server's credentials at the IdP are wrong, not the caller's token.
        throw new Error(`${url} answered HTTP ${res.status}${res.status === 401 || res.status === 400 ? ' (check the client credentials in INTROSPECTION)' : ''}`);
      }
      let text: string;
      try {
        text = await readResponseText(res, MAX_ANSWER_BYTES);
      } catch (err) {
        throw new Error(err instanceof BodyTooLargeError ? `${url} answered more than ${MAX_ANSWER_BYTES} bytes` : `${url}: ${(err as Error).message}`);
      }
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new Error(`${url} did not answer JSON`);
      }
      if (!answer || typeof answer !== 'object' || Array.isArray(answer)) throw new Error(`${url} did not answer a JSON object`);
      return answer as Record<string, unknown>;
    } catch (err) {
      const why = timeout.aborted ? `${url} did not answer within ${timeoutMs} ms` : this.#deps.signal.aborted ? 'the validator is closed' : (err as Error).message;
      throw new IntrospectionUnavailableError(issuer, why, { cause: err });
    }
  }

  /** Client authentication at the endpoint (RFC 7662 §2.1, RFC 6749 §2.3, RFC 7523). */
  #authenticate(body: URLSearchParams, headers: Record<string, string>): void {
    const { clientId, clientSecret, authMethod, issuer } = this.config;
    if (authMethod === 'client_secret_basic') {
      headers.authorization = `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret ?? '')}`).toString('base64')}`;
    } else if (authMethod === 'client_secret_post') {
      body.set('client_id', clientId);
      body.set('client_secret', clientSecret ?? '');
    } else {
      const { key, alg } = this.#key!;
      const iat = Math.floor(this.#deps.now() / 1000);
      const header = { alg, typ: 'JWT', ...(this.config.keyId ? { kid: this.config.keyId } : {}) };
      const payload = { iss: clientId, sub: clientId, aud: issuer, jti: randomUUID(), iat, exp: iat + 60 };
      const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
      const digest = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
      const signature = sign(digest, Buffer.from(input), alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key);
      body.set('client_id', clientId);
      body.set('client_assertion_type', ASSERTION_TYPE);
      body.set('client_assertion', `${input}.${signature.toString('base64url')}`);
    }
  }
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

/**
 * The `introspection_endpoint` of an allowed issuer's metadata ({@link discoverIssuerEndpoint}).
 */
function discoverIntrospectionEndpoint(issuer: string, deps: IntrospectorDeps): Promise<string> {
  const options = { fetch: deps.fetch, signal: deps.signal, ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}) };
  return discoverIssuerEndpoint(issuer, 'introspection_endpoint', options, 'has no introspection_endpoint; set "endpoint" in INTROSPECTION');
}
