/**
 * bin/seed-mcp.js loads the bundle through a V8 code cache. The cache must be created in the
 * user's own cache dir, survive corruption, and not break what the bundle loads with import()
 * (the keychain binding, `open`, ink), which V8 would otherwise refuse from a cached script.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDirs } from './support/cli.js';
import { startIdp, type TestIdp } from './support/idp.js';
import { connectServe } from './support/mcp-clients.js';

let idp: TestIdp;
beforeAll(async () => {
  idp = await startIdp();
});
afterAll(async () => {
  await idp?.close();
});
const newDir = tempDirs();
const caches = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.v8cache'))
    .sort();

describe('the start-up code cache', () => {
  it('is written to the cache dir (0700, files 0600) and reused; import() still works from it', async () => {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS) throw new Error('no D-Bus session: run the tests with `npm test`');
    const cache = newDir();
    const config = newDir();
    const env = { SEED_MCP_CACHE_DIR: cache, SEED_MCP_CONFIG_DIR: config };
    const first = await runCli(['doctor', '--json'], env);
    const [file] = caches(cache);
    expect(file).toMatch(/^cli-\d+-\d+-v\d+\.\d+\.\d+-\w+\.v8cache$/);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(statSync(join(cache, file!)).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(join(cache, file!));
    const second = await runCli(['doctor', '--json'], env);
    // The keychain binding is loaded with import(): it works with and without the cache.
    for (const r of [first, second]) expect(JSON.parse(r.stdout).checks[0]).toMatchObject({ name: 'keychain', ok: true, detail: 'OS keychain answers' });
    expect(readFileSync(join(cache, file!)).equals(bytes)).toBe(true); // reused, not rewritten
  });

  it('replaces a corrupt cache and works meanwhile', async () => {
    const cache = newDir();
    const env = { SEED_MCP_CACHE_DIR: cache, SEED_MCP_CONFIG_DIR: newDir() };
    await runCli(['--version'], env);
    const [file] = caches(cache);
    writeFileSync(join(cache, file!), 'not a V8 code cache');
    const r = await runCli(['--version'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(readFileSync(join(cache, file!), 'utf8')).not.toBe('not a V8 code cache');
  });

  it('keeps a separate cache for serve', async () => {
    const cache = newDir();
    const c = await connectServe('modern', ['serve'], { SEED_MCP_CACHE_DIR: cache, SEED_MCP_CONFIG_DIR: newDir(), SEED_MCP_TOKEN_STORE: 'file' });
    await c.client.listTools();
    await c.close();
    for (let i = 0; i < 40 && !caches(cache).some((f) => f.startsWith('serve-')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(caches(cache).map((f) => f.split('-')[0])).toEqual(['serve']);
  });

  it('opens the system browser through `open` when BROWSER is not set', async () => {
    const env: Record<string, string> = { SEED_MCP_CACHE_DIR: newDir(), SEED_MCP_CONFIG_DIR: newDir(), SEED_MCP_TOKEN_STORE: 'file' };
    await runCli(['--version'], env); // the cache exists for the login run
    const r = await runCli(['login', '--issuer', idp.issuer, '--client-id', idp.clientId, '--timeout', '1'], env);
    // No real browser answers on this machine: what matters is that `open` loaded and launched.
    expect(r.stderr).toContain('Opened the browser to sign in.');
    expect(r.stderr).not.toContain('could not open the browser');
    expect(r.code).toBe(1);
  });
});
