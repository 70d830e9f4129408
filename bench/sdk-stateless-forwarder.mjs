// The baseline of the gateway throughput benchmark: the MCP SDK's stateless pattern doing the same
// forwarding — a new McpServer and transport for every request (createMcpHandler with a factory),
// whose one tool forwards the call to the child through one reused SDK client holding the same
// service token the gateway caches. In front, the caller's token is checked with jose and the
// result remembered until it expires (a cheaper front than the SDK example's none-at-all would be
// unfair to the gateway, a jose check per request unfair to the baseline). Started as its own
// process by bench/gateway.mjs.
import { createServer } from 'node:http';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';

const { ISSUER, AUDIENCE, PORT, CHILD_URL, CHILD_TOKEN, TOOL } = process.env;
const jwks = createRemoteJWKSet(new URL(`${ISSUER}/jwks`));
const verified = new Map(); // token → exp

const client = new Client({ name: 'sdk-forwarder', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
await client.connect(new StreamableHTTPClientTransport(new URL(CHILD_URL), { requestInit: { headers: { authorization: `Bearer ${CHILD_TOKEN}` } } }));

const handler = toNodeHandler(
  createMcpHandler(() => {
    const server = new McpServer({ name: 'sdk-forwarder', version: '1.0.0' });
    server.registerTool(TOOL, { description: 'The child tool, forwarded.', inputSchema: z.object({ text: z.string() }) }, async (args) =>
      client.callTool({ name: 'echo', arguments: args }),
    );
    return server;
  }),
);

createServer(async (req, res) => {
  const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  const exp = verified.get(token);
  if (!(exp > Date.now() / 1000)) {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience: AUDIENCE });
      verified.set(token, payload.exp);
    } catch {
      res.writeHead(401).end();
      return;
    }
  }
  await handler(req, res);
}).listen(Number(PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
