/**
 * `serve --upstream` step-up on a 403 `insufficient_scope`, against the real test IdP and a real
 * upstream, with the scripted browser as `BROWSER`: the scopes asked (the union, with `openid` and
 * `offline_access` kept), the limit of sign-ins, and honest answers when no browser can open.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_STEP_UPS } from '../src/local/serve/local-auth.js';
import { logLines, runCli, SCRIPTED_BROWSER, tempDir } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { connectServe, textOf } from './support/mcp-clients.js';
import { startUpstream, type TestUpstream } from './support/upstream.js';

let idp: TestIdp;
/** admin_op needs mcp:admin, which the IdP grants when asked. */
let upstream: TestUpstream;
/** admin_op needs mcp:root, which the IdP never grants. */
let stubborn: TestUpstream;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  upstream = await startUpstream({ era: 'modern', requiredScopes: { admin_op: 'mcp:admin' } });
  stubborn = await startUpstream({ era: 'modern', requiredScopes: { admin_op: 'mcp:root' } });
  idp = await startIdp({ resources: [upstream.url, stubborn.url], extraScopes: ['mcp:admin', 'mcp:read'] });
  upstream.trust(idp);
  stubborn.trust(idp);
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([upstream?.close(), stubborn?.close(), idp?.close()]);
});

const BASE_SCOPES = 'openid profile email offline_access';

function env(dir: string, target: TestUpstream, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SEED_MCP_CONFIG_DIR: dir,
    SEED_MCP_TOKEN_STORE: 'file',
    SEED_MCP_ISSUER: idp.issuer,
    SEED_MCP_CLIENT_ID: idp.clientId,
    SEED_MCP_RESOURCE: target.url,
    SEED_MCP_UPSTREAM: target.url,
    BROWSER: `${process.execPath} ${SCRIPTED_BROWSER}`,
    SCRIPTED_BROWSER_LOG: join(dir, 'browser.log'),
    ...extra,
  };
}

/** `login` (with `loginArgs`) through the scripted browser, then a `serve` bridge spawned by the SDK client. */
async function bridge(target: TestUpstream, options: { loginArgs?: readonly string[]; serveArgs?: readonly string[]; serveEnv?: Record<string, string> } = {}) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const login = await runCli(['login', ...(options.loginArgs ?? [])], env(t.dir, target));
  expect(login.code, login.stderr).toBe(0);
  const serve = await connectServe('modern', ['serve', ...(options.serveArgs ?? [])], env(t.dir, target, options.serveEnv));
  cleanups.push(() => serve.close());
  return { dir: t.dir, log: join(t.dir, 'browser.log'), client: serve.client as Client, stderr: serve.stderr };
}

const launches = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);
const scopeOf = (launch: { url: string }) => new URL(launch.url).searchParams.get('scope');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function callAdmin(client: Client): Promise<{ isError: boolean; text: string }> {
  const r = await client.callTool({ name: 'admin_op', arguments: {} });
  return { isError: r.isError === true, text: textOf(r) };
}

/** Calls admin_op until the answer is no longer "Sign-in in progress" (the browser sign-in landed). */
async function callAfterSignIn(client: Client): Promise<{ isError: boolean; text: string }> {
  for (let waits = 0; ; waits++) {
    const r = await callAdmin(client);
    if (!r.text.includes('Sign-in in progress') || waits > 150) return r;
    await sleep(100);
  }
}

describe('serve --upstream step-up', () => {
  it('signs in once for the scopes asked before, held and challenged — openid and offline_access kept — waits for it, then the call succeeds', async () => {
    // The token response's `scope` names only the resource's scopes (mcp:read): no openid, no offline_access.
    const { dir, log, client } = await bridge(upstream, { loginArgs: ['--scope', `${BASE_SCOPES} mcp:read`] });
    expect(JSON.parse(readFileSync(join(dir, 'tokens', 'default.json'), 'utf8')).scope).not.toContain('openid');
    const union = `${BASE_SCOPES} mcp:read mcp:admin`;
    // The call that met the 403 waits for the step-up sign-in, then is sent again once.
    const first = await callAdmin(client);
    expect(first.isError, first.text).toBe(false);
    expect(first.text).toBe('admin done');
    // The first launch was `login`; the second is the step-up, asking for exactly the union.
    const [, stepUp] = await logLines(log, 2);
    expect(scopeOf(stepUp)).toBe(union);
    expect((await client.callTool({ name: 'admin_op', arguments: {} })).isError).toBeFalsy();
    await sleep(300);
    expect(launches(log)).toBe(2);
  });

  it('with SEED_MCP_SIGN_IN_WAIT=0 answers at once that a browser opened for the union, then succeeds once the sign-in landed', async () => {
    const { log, client } = await bridge(upstream, { loginArgs: ['--scope', `${BASE_SCOPES} mcp:read`], serveEnv: { SEED_MCP_SIGN_IN_WAIT: '0' } });
    const union = `${BASE_SCOPES} mcp:read mcp:admin`;
    const first = await callAdmin(client);
    expect(first.isError).toBe(true);
    expect(first.text).toContain(`a browser window opened to sign in at ${idp.issuer} (profile default) with the scopes "${union}"`);
    const again = await callAfterSignIn(client);
    expect(again.isError, again.text).toBe(false);
    expect(again.text).toBe('admin done');
    expect(launches(log)).toBe(2);
  });

  it('uses tokens stored by a sign-in elsewhere at once, without a browser', async () => {
    const { dir, log, client } = await bridge(upstream);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'warm' } }))).toBe('echo: warm');
    // A terminal signs in with mcp:admin while serve holds its older token in memory.
    const login = await runCli(['login', '--scope', `${BASE_SCOPES} mcp:admin`], env(dir, upstream));
    expect(login.code, login.stderr).toBe(0);
    const r = await client.callTool({ name: 'admin_op', arguments: {} });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(textOf(r)).toBe('admin done');
    expect(launches(log)).toBe(2);
  });

  it(`stops after ${MAX_STEP_UPS} sign-ins when the server keeps refusing, and opens no more browsers`, async () => {
    const { log, client } = await bridge(stubborn);
    const union = `${BASE_SCOPES} mcp:root`;
    // The first call signs in for the union, is refused again, signs in once more, and gives up.
    const first = await callAdmin(client);
    expect(first.isError).toBe(true);
    const lines = await logLines(log, 1 + MAX_STEP_UPS, 15_000);
    for (const launch of lines.slice(1)) expect(scopeOf(launch)).toBe(union);
    const limited = await callAdmin(client);
    expect(limited.isError).toBe(true);
    expect(limited.text).toBe(
      `The server still refuses this request (insufficient_scope) after ${MAX_STEP_UPS} sign-ins with the scopes "${union}": your account is probably not allowed those scopes. Ask the server's operator or your identity provider's admin to grant them, then run \`seed-mcp login --profile default --scope "${union}"\` in a terminal and retry.`,
    );
    expect((await client.callTool({ name: 'admin_op', arguments: {} })).isError).toBe(true);
    await sleep(500);
    expect(launches(log)).toBe(1 + MAX_STEP_UPS);
  });

  for (const [name, options] of [
    ['the browser command fails', { serveEnv: { BROWSER: '/nonexistent/seed-mcp-test-browser' } }],
    ['--login never', { serveArgs: ['--login', 'never'] }],
  ] as const) {
    it(`when no browser can open (${name}), names the exact login command with the union and never says a browser opened`, async () => {
      const { log, client } = await bridge(upstream, options);
      const command = `seed-mcp login --profile default --scope "${BASE_SCOPES} mcp:admin"`;
      for (let i = 0; i < 2; i++) {
        const r = await client.callTool({ name: 'admin_op', arguments: {} });
        expect(r.isError).toBe(true);
        const text = textOf(r);
        expect(text).toContain(`Run \`${command}\` in a terminal, then retry this request.`);
        expect(text).not.toMatch(/browser window|in progress/i);
      }
      expect(launches(log)).toBe(1);
    });
  }
});
