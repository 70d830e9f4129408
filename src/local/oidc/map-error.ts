import * as client from 'openid-client';
import { isSeedError, SeedError } from '../../shared/errors.js';
import { redact } from '../../shared/redact.js';

const ID_TOKEN_CODES = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', 'OAUTH_KEY_SELECTION_FAILED']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

/** The error and its `cause`s, outermost first. */
function causes(err: unknown): Error[] {
  const out: Error[] = [];
  for (let e: unknown = err; e instanceof Error && out.length < 6; e = e.cause) out.push(e);
  return out;
}

function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if ((e as Error).name === 'TimeoutError') return 'ETIMEDOUT';
    // fetch's own refusal: a port the Fetch standard blocks (1, 22, 25, 6000…) is never connected to.
    if ((e as Error).message === 'bad port') return 'BAD_PORT';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
  BAD_PORT: "fetch never connects to that port: it is on the Fetch standard's list of blocked ports",
};

/**
 * Why a URL could not be reached, in words (`connection refused (ECONNREFUSED)`), or undefined
 * when `err` is not a network failure.
 */
export function unreachableReason(err: unknown): string | undefined {
  const code = networkCode(err);
  if (!code) return undefined;
  return code === 'BAD_PORT' ? NETWORK_WORDS.BAD_PORT : `${NETWORK_WORDS[code] ?? 'network error'} (${code})`;
}

/** What to check when an identity provider cannot be reached. */
export function unreachableHint(issuer: string | undefined): string {
  return `check that ${issuer ?? 'the issuer URL'} is the identity provider you meant and that it is running, then the network, VPN or proxy (HTTPS_PROXY)`;
}

export interface MapContext {
  /** e.g. `sign in`, `refresh the token`: completes `could not <doing>`. */
  doing: string;
  issuer?: string;
  clientId?: string;
  profile: string;
}

/**
 * Turns whatever openid-client, fetch or our own code threw into a {@link SeedError} with a hint.
 * IdP error descriptions are passed through {@link redact} before they reach a message.
 */
export function mapOAuthError(err: unknown, ctx: MapContext): SeedError {
  if (isSeedError(err)) return err;
  const login = `seed-mcp login --profile ${ctx.profile}`;
  const net = unreachableReason(err);
  if (net) {
    // "could not discover the identity provider at X" names it already: not twice.
    const where = ctx.issuer && !ctx.doing.includes(ctx.issuer) ? `the identity provider at ${ctx.issuer} is unreachable` : 'it is unreachable';
    return new SeedError('IDP_UNREACHABLE', `could not ${ctx.doing}: ${where}: ${net}`, { hint: unreachableHint(ctx.issuer), cause: err });
  }
  // A token endpoint refusing the client's authentication answers 401 with a challenge (RFC 6749 §5.2).
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const bodyError = (err.cause as { error?: unknown } | undefined)?.error;
    const description = (err.cause as { error_description?: unknown } | undefined)?.error_description;
    if (err.status === 401 || bodyError === 'invalid_client') {
      return fromOAuthErrorCode(typeof bodyError === 'string' ? bodyError : 'invalid_client', typeof description === 'string' ? description : undefined, ctx, {
        status: err.status,
        cause: err,
      });
    }
  }
  if (err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) {
    const status = err instanceof client.ResponseBodyError ? err.status : undefined;
    return fromOAuthErrorCode(err.error, err.error_description, ctx, { status, cause: err });
  }
  const message = redact(err instanceof Error ? err.message : String(err));
  if (err instanceof client.ClientError || (err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('OAUTH_'))) {
    const code = String((err as { code?: unknown }).code);
    // The client validates no access token: a JWT failing here is the ID token.
    const jwtReason = causes(err).find((e) => ID_TOKEN_CODES.has(String((e as { code?: unknown }).code)) || /\bJW[ST]\b/.test(e.message));
    if (jwtReason) {
      return new SeedError('ID_TOKEN_INVALID', `could not ${ctx.doing}: the ID token failed validation (${redact(jwtReason.message)})`, {
        hint: `nothing was stored; check the issuer URL and the system clock (\`seed-mcp doctor\`), then run \`${login}\` again — a repeat can mean a misconfigured IdP or tampering on the way`,
        cause: err,
      });
    }
    if (code === 'OAUTH_RESPONSE_IS_NOT_JSON' || code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_INVALID_RESPONSE') {
      return new SeedError('IDP_ERROR', `could not ${ctx.doing}: the identity provider gave an unexpected answer (${message})`, {
        hint: 'check the issuer URL; `seed-mcp doctor` checks discovery',
        cause: err,
      });
    }
    return new SeedError('AUTH_FAILED', `could not ${ctx.doing}: ${message}`, {
      hint: `run \`${login}\` again; if it keeps failing, \`seed-mcp doctor\` checks the setup`,
      cause: err,
    });
  }
  return new SeedError('AUTH_FAILED', `could not ${ctx.doing}: ${message}`, {
    hint: `run \`${login}\` again; if it keeps failing, \`seed-mcp doctor\` checks the setup`,
    cause: err,
  });
}

/**
 * Maps an OAuth `error` code (from a token endpoint answer or a redirect back to the loopback) to
 * a {@link SeedError} whose hint says what to do.
 */
export function fromOAuthErrorCode(error: string, description: string | undefined, ctx: MapContext, extra: { status?: number; cause?: unknown } = {}): SeedError {
  const login = `seed-mcp login --profile ${ctx.profile}`;
  const desc = description ? `: ${redact(description)}` : '';
  const cause = extra.cause;
  switch (error) {
    case 'invalid_grant':
      return new SeedError('INVALID_GRANT', `could not ${ctx.doing}: the identity provider rejected the grant (invalid_grant${desc})`, {
        hint: `the session ended or was revoked; run \`${login}\``,
        cause,
      });
    case 'invalid_client':
    case 'unauthorized_client':
      return new SeedError('INVALID_CLIENT', `could not ${ctx.doing}: the identity provider rejected client id "${ctx.clientId ?? '?'}" (${error}${desc})`, {
        hint: 'check --client-id (and --client-secret-file for a confidential client) against the app registered at your IdP',
        cause,
      });
    case 'access_denied':
      return new SeedError('ACCESS_DENIED', `could not ${ctx.doing}: access was denied at the identity provider${desc}`, {
        hint: `run \`${login}\` again and approve the request, or ask your IdP admin for access to this app`,
        cause,
      });
    case 'invalid_scope':
      return new SeedError('AUTH_FAILED', `could not ${ctx.doing}: the identity provider refused the scopes (invalid_scope${desc})`, {
        hint: 'pass --scope with scopes your IdP grants to this client',
        cause,
      });
    case 'invalid_target':
      return new SeedError('AUTH_FAILED', `could not ${ctx.doing}: the identity provider refused the resource (invalid_target${desc})`, {
        hint: 'check --resource, or pass --no-resource for an IdP that rejects the resource parameter (Entra ID, AADSTS9010010)',
        cause,
      });
    default:
      return new SeedError('AUTH_FAILED', `could not ${ctx.doing}: the identity provider answered ${error}${desc}${extra.status ? ` (HTTP ${extra.status})` : ''}`, {
        hint: `run \`${login}\` again; if it keeps failing, \`seed-mcp doctor\` checks the setup`,
        cause,
      });
  }
}
