// The baseline of the cloud throughput benchmark: the SDK's own stateless pattern — a new
// McpServer and transport for every request (createMcpHandler with a factory) — with a plain
// jose check of the bearer token in front. Started as its own process by cloud-throughput.mjs.
import { createServer } from 'node:http';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';

const { ISSUER, AUDIENCE, PORT } = process.env;
const jwks = createRemoteJWKSet(new URL(`${ISSUER}/jwks`));
const handler = toNodeHandler(
  createMcpHandler(() => {
    const server = new McpServer({ name: 'baseline', version: '1.0.0' });
    server.registerTool('seed_ping', { description: 'ping', inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: '{"status":"ok"}' }] }));
    return server;
  }),
);
createServer(async (req, res) => {
  try {
    await jwtVerify((req.headers.authorization ?? '').replace(/^Bearer /, ''), jwks, { issuer: ISSUER, audience: AUDIENCE });
  } catch {
    res.writeHead(401).end();
    return;
  }
  await handler(req, res);
}).listen(Number(PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
