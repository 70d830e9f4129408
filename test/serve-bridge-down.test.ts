/**
 * `serve --upstream` while the upstream is down (issue #15, point 5): the host's list requests get
 * an empty list (its own tools for `tools/list`) and stderr one warning each, said once — not a
 * JSON-RPC error, which a host such as Claude Desktop shows as a broken server. When the upstream
 * is back, the lists fill again without a restart. The SDK's MCP client spawns `serve` as a host does.
 */
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SCRIPTED_BROWSER, tempDirs } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { eventually } from './support/store-contract.js';
import { connectServe, type ServeClient } from './support/mcp-clients.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

let idp: TestIdp;
let upstream: TestUpstream;
let serve: ServeClient | undefined;

beforeAll(async () => {
  upstream = await startUpstream({ era: 'modern' });
  idp = await startIdp({ resources: [upstream.url] });
  upstream.trust(idp);
});
afterAll(async () => {
  await serve?.close();
  await Promise.all([upstream?.close(), idp?.close()]);
});

const newDir = tempDirs();

describe('serve --upstream with the upstream down', () => {
  it('answers resources/list, resources/templates/list and prompts/list with [] and a warning on stderr, tools/list with its own tools', async () => {
    const env = {
      SEED_MCP_CONFIG_DIR: newDir(),
      SEED_MCP_TOKEN_STORE: 'file',
      SEED_MCP_ISSUER: idp.issuer,
      SEED_MCP_CLIENT_ID: idp.clientId,
      SEED_MCP_RESOURCE: upstream.url,
      SEED_MCP_UPSTREAM: upstream.url,
      BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    };
    const login = await runCli(['login'], env);
    expect(login.code, login.stderr).toBe(0);
    await upstream.stop();

    serve = await connectServe('modern', ['serve'], env);
    const client = serve.client as Client;
    expect(await client.listResources()).toMatchObject({ resources: [] });
    expect(await client.listResourceTemplates()).toMatchObject({ resourceTemplates: [] });
    expect(await client.listPrompts()).toMatchObject({ prompts: [] });
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['seed_ping', 'whoami']);

    const why = `the upstream MCP server at ${upstream.url} is unreachable (ECONNREFUSED). It may be restarting; retry in a moment — seed-mcp reconnects by itself.`;
    // stderr is written in batches: wait for the last line.
    await eventually(() => serve!.stderr().includes(`upstream's tools`), 2000, 'the tools warning on stderr');
    const stderr = serve.stderr();
    for (const noun of ['resources', 'resource templates', 'prompts', 'tools']) {
      expect(stderr).toContain(`seed-mcp warn: could not list the upstream's ${noun}, answering an empty list: ${why}\n`);
    }
    // Each failure said once, not "could not list the upstream's tools: Could not list the upstream tools: …".
    expect(stderr).not.toMatch(/could not list[^\n]*could not list/i);

    // Back up: the next lists reach it, no restart of serve needed.
    await upstream.restart();
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(['test://hello']);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
  });
});
