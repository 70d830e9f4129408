/**
 * Step 3 of the MCP endpoint: the POSTed JSON-RPC message (or batch), at most
 * {@link MAX_BODY_BYTES}.
 */
import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, readRequestBody } from '../../../shared/http/read-body.js';
import { CloudError } from '../../errors.js';

/** The most a POST /mcp body may hold. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The parsed body; rejects with BODY_TOO_LARGE (413, Connection: close) or PARSE_ERROR (400). */
export async function readMessage(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readRequestBody(req, maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new CloudError('BODY_TOO_LARGE', `request body over ${maxBytes} bytes`);
    throw err;
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new CloudError('PARSE_ERROR', 'Parse error: the body is not JSON');
  }
}
