import { errors } from 'jose';
import { authErrorOf, type AuthError } from './errors.js';

/**
 * The {@link AuthError} for a jose verification failure. Descriptions name claims, never their
 * values (those come from the token). Anything that is not a jose error is a bug or an outage,
 * not a bad token: undefined, and the caller rethrows it.
 */
export function mapJoseError(err: unknown): AuthError | undefined {
  if (err instanceof errors.JWTExpired) return authErrorOf('TOKEN_EXPIRED', 'the token has expired', { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (reason === 'missing') return authErrorOf('INVALID_TOKEN', `the token has no ${claim} claim`, { cause: err });
    if (claim === 'aud') return authErrorOf('INVALID_AUDIENCE', 'the token is not meant for this server (aud)', { cause: err });
    if (claim === 'iss') return authErrorOf('INVALID_ISSUER', 'the token issuer is not one this server trusts', { cause: err });
    if (claim === 'nbf' && reason === 'check_failed') return authErrorOf('INVALID_TOKEN', 'the token is not yet valid (nbf)', { cause: err });
    return authErrorOf('INVALID_TOKEN', `the token ${claim} claim is invalid`, { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return authErrorOf('INVALID_SIGNATURE', 'the token signature does not verify', { cause: err });
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return authErrorOf('INVALID_SIGNATURE', 'the token is signed by a key its issuer does not publish', { cause: err });
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return authErrorOf('INVALID_SIGNATURE', 'the token signature algorithm is not accepted', { cause: err });
  }
  if (err instanceof errors.JWKInvalid || err instanceof errors.JWKSInvalid) {
    return authErrorOf('INVALID_SIGNATURE', 'the issuer key for this token is unusable', { cause: err });
  }
  if (err instanceof errors.JOSEError) return authErrorOf('INVALID_TOKEN', 'the token is malformed', { cause: err });
  return undefined;
}
