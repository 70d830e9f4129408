// Bridge overhead: 1000 sequential tools/call through `seed-mcp serve --upstream`, through
// mcp-remote, and straight to the upstream over HTTP, in one run. The paths take turns call by
// call, so that machine noise falls on all of them alike. Each bridge is compared with the direct
// call of the protocol era it speaks to the upstream (seed-mcp negotiates 2026-07-28; mcp-remote,
// on SDK v1, uses the initialize era).
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { BIN, MCP_REMOTE, stats } from './fixtures.mjs';

export async function bridgeOverhead({ upstream, env, token }, calls = 1000) {
  const direct = async (mode) => {
    const c = new Client({ name: 'bench', version: '1' }, { versionNegotiation: { mode } });
    await c.connect(new StreamableHTTPClientTransport(new URL(upstream.url), { authProvider: { token: async () => token } }));
    return c;
  };
  const stdio = async (args, mode) => {
    const c = new Client({ name: 'bench', version: '1' }, { versionNegotiation: { mode } });
    await c.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' }));
    return c;
  };
  const paths = [
    { name: 'direct HTTP, 2026-07-28', era: 'modern', client: await direct('auto') },
    { name: 'direct HTTP, initialize era', era: 'legacy', client: await direct('legacy') },
    { name: 'seed-mcp serve --upstream', era: 'modern', client: await stdio([BIN, 'serve', '--upstream', upstream.url], 'auto') },
    { name: 'mcp-remote', era: 'legacy', client: await stdio([MCP_REMOTE, upstream.url, '--allow-http', '--header', `Authorization: Bearer ${token}`], 'legacy') },
  ];
  // seed-mcp's own tool, no upstream: what the stdio hop and the SDK server cost by themselves.
  paths.push({ name: 'seed-mcp serve, own tool (seed_ping)', era: 'none', client: paths[2].client, tool: { name: 'seed_ping', arguments: {} } });
  const echo = { name: 'echo', arguments: { text: 'bench' } };
  const ms = new Map(paths.map((p) => [p.name, []]));
  for (let i = 0; i < calls + 50; i++) {
    for (const p of paths) {
      const t0 = performance.now();
      const r = await p.client.callTool(p.tool ?? echo);
      if (i >= 50) ms.get(p.name).push(performance.now() - t0); // the first 50 warm up
      if (r.isError) throw new Error(`${p.name}: call failed: ${JSON.stringify(r)}`);
    }
  }
  for (const p of new Set(paths.map((p) => p.client))) await p.close();
  const rows = paths.map((p) => ({ name: p.name, era: p.era, latency: stats(ms.get(p.name)) }));
  const base = Object.fromEntries(rows.filter((r) => r.name.startsWith('direct')).map((r) => [r.era, r.latency.median]));
  return rows.map((r) => ({ ...r, added: r.name.startsWith('direct') ? 0 : r.era === 'none' ? r.latency.median : r.latency.median - base[r.era] }));
}
