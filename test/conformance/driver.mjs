#!/usr/bin/env node
/**
 * The MCP conformance suite's client under test: `node driver.mjs <server URL>`, run by
 * `conformance client --command "node driver.mjs" --scenario auth/NAME`. It plays a person who
 * configured Claude Desktop with `seed-mcp serve --upstream <server URL>` and nothing else but what
 * that person would have been given: the scenario context's pre-registered client id and secret,
 * private key or workload ID token (MCP_CONFORMANCE_CONTEXT), or, for the client ID metadata
 * document scenario, the URL of the document they published. A real MCP client from the SDK
 * starts `seed-mcp serve` over stdio, lists the tools and calls the server's tool; the browser is
 * test/support/scripted-browser.mjs (the suite's authorization endpoint redirects at once).
 *
 * Exit 0 when every call succeeded; 1 otherwise (the suite expects that in its "must refuse"
 * scenarios). seed-mcp's stderr is passed through; no token is ever printed by either.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const url = process.argv.at(-1);
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}');
/** The document URL the basic-cimd scenario's authorization server expects as the client id. */
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';

const dir = mkdtempSync(join(tmpdir(), 'seed-conformance-'));
const file = (name, content) => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};

/** What the person configured, from the scenario context (as they would get it from an admin). */
function flags() {
  const args = ['serve', '--upstream', url];
  if (context.idp_id_token) {
    // Enterprise-managed authorization: a workload's ID token, the IdP and seed-mcp's clients.
    args.push('--id-token-file', file('id-token', context.idp_id_token), '--idp-issuer', context.idp_issuer, '--idp-client-id', context.idp_client_id);
  } else if (scenario.startsWith('auth/client-credentials')) {
    // A service account: no browser, ever.
    args.push('--grant', 'client_credentials');
  }
  if (context.client_id) args.push('--client-id', context.client_id);
  if (context.client_secret) args.push('--client-secret-file', file('client-secret', context.client_secret));
  if (context.private_key_pem) args.push('--client-key-file', file('client-key.pem', context.private_key_pem));
  if (scenario === 'auth/basic-cimd') args.push('--client-metadata-url', CLIENT_METADATA_URL);
  return args;
}

const env = {
  PATH: process.env.PATH ?? '',
  HOME: dir,
  SEED_MCP_CONFIG_DIR: join(dir, 'config'),
  SEED_MCP_CACHE_DIR: join(dir, 'cache'),
  SEED_MCP_TOKEN_STORE: 'file',
  BROWSER: `${process.execPath} ${join(root, 'test', 'support', 'scripted-browser.mjs')}`,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
};

let code = 1;
const transport = new StdioClientTransport({ command: process.execPath, args: [join(root, 'bin', 'seed-mcp.js'), ...flags()], env, stderr: 'inherit' });
const client = new Client({ name: 'seed-mcp-conformance-driver', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const upstreamTools = tools.filter((t) => t.name === 'test-tool' || !t.name.startsWith('seed'));
  const target = tools.find((t) => t.name === 'test-tool') ?? upstreamTools[0];
  if (!target) throw new Error(`no upstream tool listed (tools: ${tools.map((t) => t.name).join(', ')})`);
  const result = await client.callTool({ name: target.name, arguments: {} });
  const text = (result.content ?? []).map((c) => c.text ?? '').join('\n');
  if (result.isError) throw new Error(`${target.name} failed: ${text}`);
  process.stderr.write(`driver: listed ${tools.length} tools and called ${target.name}: ${text.slice(0, 80)}\n`);
  code = 0;
} catch (err) {
  process.stderr.write(`driver: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  await client.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
