#!/usr/bin/env node
/**
 * A stdio MCP server for gateway tests (SDK v1, the `initialize` era): `add` sums two numbers, `grow` adds a tool at run time (list_changed),
 * `env` answers an environment variable (to show the gateway passes `env`), `crash` exits the
 * process (the gateway must restart it). Plain JavaScript: the gateway spawns it with `node`.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'stdio-child', version: '1.0.0' });
server.registerTool('add', { description: 'Adds a and b.', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
  content: [{ type: 'text', text: String(a + b) }],
}));
server.registerTool('env', { description: 'The value of CHILD_GREETING.' }, async () => ({
  content: [{ type: 'text', text: process.env.CHILD_GREETING ?? '(unset)' }],
}));
server.registerTool('pid', { description: 'This process id.' }, async () => ({ content: [{ type: 'text', text: String(process.pid) }] }));
server.registerTool('crash', { description: 'Exits at once.' }, async () => {
  setImmediate(() => process.exit(3));
  return { content: [{ type: 'text', text: 'bye' }] };
});
server.registerTool('grow', { description: 'Adds the tool "grown" (the SDK then sends notifications/tools/list_changed).' }, async () => {
  server.registerTool('grown', { description: 'Added at run time.' }, async () => ({ content: [{ type: 'text', text: 'I grew' }] }));
  return { content: [{ type: 'text', text: 'grown' }] };
});
await server.connect(new StdioServerTransport());
