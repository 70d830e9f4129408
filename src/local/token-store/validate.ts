import { SeedError } from '../../shared/errors.js';
import type { StoredTokens } from './types.js';

/**
 * A stored token set that cannot be used: not JSON, not a seed-mcp set, or one with fields missing
 * or of the wrong type (an empty `{}` file). `logout` deletes such a set instead of failing on it,
 * so the hint every reader gives (`seed-mcp logout` then log in again) always works.
 */
export class CorruptTokensError extends SeedError {
  constructor(message: string, hint: string) {
    super('TOKEN_STORE_FAILED', message, { hint });
  }
}

const IDENTITY_SOURCES = new Set(['id_token', 'access_token', 'unknown']);

/** Fields every set has, and their checks. */
const REQUIRED: Record<string, (v: unknown) => boolean> = {
  issuer: (v) => typeof v === 'string' && v !== '',
  clientId: (v) => typeof v === 'string' && v !== '',
  accessToken: (v) => typeof v === 'string' && v !== '',
  tokenType: (v) => typeof v === 'string',
  scope: (v) => typeof v === 'string',
  obtainedAt: (v) => typeof v === 'number' && Number.isFinite(v),
};

/** Fields a set may lack, and their checks when present. */
const OPTIONAL: Record<string, (v: unknown) => boolean> = {
  expiresAt: (v) => typeof v === 'number' && Number.isFinite(v),
  refreshToken: (v) => typeof v === 'string',
  idToken: (v) => typeof v === 'string',
  resource: (v) => typeof v === 'string',
  subject: (v) => typeof v === 'string',
  email: (v) => typeof v === 'string',
  name: (v) => typeof v === 'string',
  identitySource: (v) => typeof v === 'string' && IDENTITY_SOURCES.has(v),
};

/**
 * Checks a stored token set whole, the one check every store (file, keychain, memory) makes when
 * it reads: an empty or partial set is an error that names where it was and what is wrong with it
 * (field names only, never values), never a set with `undefined` in it.
 *
 * @param source where it was, for the message: `the file /…/work.json`, `the keychain entry`.
 */
export function checkStoredTokens(value: unknown, profile: string, source: string): StoredTokens {
  const hint = `run \`seed-mcp logout --profile ${profile}\` then \`seed-mcp login --profile ${profile}\``;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || (value as { version?: unknown }).version !== 1) {
    throw new CorruptTokensError(
      `could not read tokens for profile ${profile}: ${source} does not hold a seed-mcp token set (version 1)`,
      `${hint}; a newer seed-mcp may have written it`,
    );
  }
  const record = value as Record<string, unknown>;
  const missing = Object.keys(REQUIRED).filter((k) => record[k] === undefined);
  const wrong = [...Object.entries(REQUIRED), ...Object.entries(OPTIONAL)].filter(([k, ok]) => record[k] !== undefined && !ok(record[k])).map(([k]) => k);
  if (missing.length > 0 || wrong.length > 0) {
    const why = [missing.length > 0 ? `${missing.join(', ')} missing` : '', wrong.length > 0 ? `${wrong.join(', ')} not valid` : ''].filter(Boolean).join('; ');
    throw new CorruptTokensError(`could not read tokens for profile ${profile}: ${source} holds an incomplete token set (${why})`, hint);
  }
  return value as StoredTokens;
}

/**
 * Parses and checks a stored token set. Text that is not JSON is an error, not "signed out": hiding
 * it would make the next login write over something a person may want to look at.
 */
export function parseStoredTokens(text: string, profile: string, source: string): StoredTokens {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which holds tokens: leave it out.
    throw new CorruptTokensError(
      `could not read tokens for profile ${profile}: ${source} is not valid JSON`,
      `run \`seed-mcp logout --profile ${profile}\` then \`seed-mcp login --profile ${profile}\``,
    );
  }
  return checkStoredTokens(value, profile, source);
}
