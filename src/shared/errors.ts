/**
 * One error family for the whole product. Every failure a person can see is a `SeedError` with a
 * stable `code`, a message in the form `could not <verb> <noun>: <why>`, and a `hint` that says
 * what to do next. The CLI maps `exitCode`; the HTTP layer maps codes to statuses.
 */

/** Exit codes from the product contract. */
export const ExitCode = {
  Ok: 0,
  AuthFailed: 1,
  Usage: 2,
  Unreachable: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const exitCodes = {
  NOT_SIGNED_IN: ExitCode.AuthFailed,
  AUTH_FAILED: ExitCode.AuthFailed,
  ACCESS_DENIED: ExitCode.AuthFailed,
  LOGIN_TIMEOUT: ExitCode.AuthFailed,
  STATE_MISMATCH: ExitCode.AuthFailed,
  INVALID_GRANT: ExitCode.AuthFailed,
  INVALID_CLIENT: ExitCode.AuthFailed,
  ISSUER_MISMATCH: ExitCode.AuthFailed,
  PKCE_UNSUPPORTED: ExitCode.AuthFailed,
  ID_TOKEN_INVALID: ExitCode.AuthFailed,
  USAGE: ExitCode.Usage,
  CONFIG_INVALID: ExitCode.Usage,
  /** Stored tokens of another issuer or server than the profile names now. */
  PROFILE_MISMATCH: ExitCode.Usage,
  IDP_UNREACHABLE: ExitCode.Unreachable,
  IDP_ERROR: ExitCode.Unreachable,
  DISCOVERY_FAILED: ExitCode.Unreachable,
  TOKEN_STORE_FAILED: ExitCode.AuthFailed,
  LOCK_TIMEOUT: ExitCode.AuthFailed,
} as const;

export type ErrorCode = keyof typeof exitCodes;

export interface SeedErrorOptions {
  /** What the person reading it should do next. */
  hint?: string;
  cause?: unknown;
}

export class SeedError extends Error {
  override readonly name = 'SeedError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: SeedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): ExitCode {
    return exitCodes[this.code];
  }
}

export function isSeedError(err: unknown): err is SeedError {
  return err instanceof SeedError;
}
