/**
 * Step 3 of the MCP endpoint: the POSTed JSON-RPC message (or batch), at most
 * {@link MAX_BODY_BYTES}.
 */
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, readRequestBody } from '../../../shared/http/read-body.js';
import { CloudError } from '../../errors.js';

/** The most a POST /mcp body may hold. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The deepest nesting of arrays and objects a message may have: real MCP messages stay far below. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether the JSON text in `body` nests arrays and objects deeper than `max` (brackets inside
 * strings do not count). A linear scan before parsing: what is parsed is later walked
 * recursively (schema validation, copies), where a deep enough value overflows the stack.
 */
export function nestsDeeperThan(body: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** The parsed body; rejects with BODY_TOO_LARGE (413, Connection: close), TOO_DEEP or PARSE_ERROR (400). */
export async function readMessage(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readRequestBody(req, maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new CloudError('BODY_TOO_LARGE', `request body over ${maxBytes} bytes`);
    throw err;
  }
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) throw new CloudError('TOO_DEEP', `the message nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new CloudError('PARSE_ERROR', 'Parse error: the body is not JSON');
  }
}
