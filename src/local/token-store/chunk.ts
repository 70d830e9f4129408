/**
 * Splitting a secret across several keychain entries, and joining it back. Pure functions: the
 * keychain adapter decides where the pieces live.
 *
 * Windows Credential Manager holds 2,560 bytes per entry, which the Rust keyring behind
 * `@napi-rs/keyring` fills with UTF-16: 1,280 characters. A token set with a long JWT access token,
 * an ID token and a refresh token is often larger, so it is split into numbered chunk entries and
 * the main entry keeps a small header that says how many there are and a digest of the whole value.
 * The digest catches a half-finished write (chunks from one login, header from another).
 */
import { createHash } from 'node:crypto';

/**
 * Longest value (in UTF-16 code units, as JavaScript counts `length`) kept in one entry. Below the
 * Windows limit of 1,280 with room to spare for whatever the platform adds.
 */
export const CHUNK_LIMIT = 1200;

/** Starts the header in the main entry. Stored tokens are JSON, so they never start with it. */
export const CHUNK_HEADER_PREFIX = 'seed-mcp-chunks:v1:';

/** What the main entry says about a chunked value. */
export interface ChunkHeader {
  /** Number of chunk entries, `#1` to `#count`. */
  count: number;
  /** First 16 hex characters of the SHA-256 of the whole value (UTF-8). */
  digest: string;
}

/** A value laid out for the keychain: `main` goes to the profile's entry, `chunks[i]` to `#i+1`. */
export interface SplitValue {
  main: string;
  /** Empty when the value fits in the main entry. */
  chunks: string[];
}

/** First 16 hex characters of the SHA-256 of `value`: enough to catch a mix-up, short to store. */
export function digestOf(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}

/** Formats the header kept in the main entry of a chunked value. */
export function formatChunkHeader(header: ChunkHeader): string {
  return `${CHUNK_HEADER_PREFIX}${header.count}:${header.digest}`;
}

/**
 * Reads a main entry's value as a chunk header; `undefined` when the value is stored whole.
 *
 * @example
 * parseChunkHeader('seed-mcp-chunks:v1:7:0123456789abcdef') // { count: 7, digest: '0123…' }
 * parseChunkHeader('{"version":1,…}') // undefined
 */
export function parseChunkHeader(main: string): ChunkHeader | undefined {
  if (!main.startsWith(CHUNK_HEADER_PREFIX)) return undefined;
  const match = /^(\d{1,4}):([0-9a-f]{16})$/.exec(main.slice(CHUNK_HEADER_PREFIX.length));
  if (!match) return undefined;
  const count = Number(match[1]);
  if (count < 1) return undefined;
  return { count, digest: match[2]! };
}

/**
 * Lays `value` out for the keychain. Values of at most `limit` code units stay whole; longer ones
 * become chunks of at most `limit` code units each plus a header for the main entry.
 *
 * @example
 * const { main, chunks } = splitValue(JSON.stringify(tokens));
 */
export function splitValue(value: string, limit: number = CHUNK_LIMIT): SplitValue {
  if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`chunk limit must be an integer of at least 2, got ${limit}`);
  if (value.length <= limit) return { main: value, chunks: [] };
  const chunks: string[] = [];
  let start = 0;
  while (start < value.length) {
    let end = Math.min(start + limit, value.length);
    // Never cut a surrogate pair in two: each half alone is not valid Unicode, and the native
    // layer converts to UTF-8, which would replace it and break the digest on the way back.
    if (end < value.length && isHighSurrogate(value.charCodeAt(end - 1))) end -= 1;
    chunks.push(value.slice(start, end));
    start = end;
  }
  return { main: formatChunkHeader({ count: chunks.length, digest: digestOf(value) }), chunks };
}

/** Result of {@link joinChunks}: the value, or why the pieces do not make one. */
export type JoinResult = { ok: true; value: string } | { ok: false; reason: string };

/**
 * Reassembles a chunked value and checks it against the header's digest. Missing chunks are
 * passed as `null` or `undefined`.
 */
export function joinChunks(header: ChunkHeader, chunks: ReadonlyArray<string | null | undefined>): JoinResult {
  if (chunks.length !== header.count) {
    return { ok: false, reason: `expected ${header.count} chunks, found ${chunks.length}` };
  }
  const missing = chunks.findIndex((c) => typeof c !== 'string');
  if (missing !== -1) return { ok: false, reason: `chunk ${missing + 1} of ${header.count} is missing` };
  const value = chunks.join('');
  if (digestOf(value) !== header.digest) {
    return { ok: false, reason: 'the stored chunks do not match their checksum' };
  }
  return { ok: true, value };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
