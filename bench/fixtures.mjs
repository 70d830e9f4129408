// Shared set-up for the benchmarks: the project's test IdP and a real upstream MCP server (the
// same code the tests use, bundled once for plain node), and a signed-in seed-mcp profile.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'bin/seed-mcp.js');
export const MCP_REMOTE = join(ROOT, 'node_modules/mcp-remote/dist/proxy.js');

/** Bundles a TypeScript module of the project (a path from the root) for plain node and imports it. */
export async function load(entry) {
  const out = join(ROOT, 'node_modules/.cache/seed-mcp-bench', `${entry.replace(/[/.]/g, '_')}.mjs`);
  mkdirSync(dirname(out), { recursive: true });
  await build({ entryPoints: [join(ROOT, entry)], outfile: out, bundle: true, format: 'esm', platform: 'node', packages: 'external', logLevel: 'error', absWorkingDir: ROOT });
  return import(pathToFileURL(out).href);
}

/** Starts IdP + upstream, signs a profile in; returns what the benchmarks need and a close(). */
export async function setUp() {
  const [{ startIdp }, { startUpstream }] = await Promise.all([load('test/support/idp.ts'), load('test/support/upstream.ts')]);
  const upstream = await startUpstream({ era: 'modern' });
  const idp = await startIdp({ resources: [upstream.url] });
  upstream.trust(idp);
  const configDir = mkdtempSync(join(tmpdir(), 'seed-mcp-bench-'));
  const env = {
    ...process.env,
    SEED_MCP_CONFIG_DIR: configDir,
    SEED_MCP_TOKEN_STORE: 'file',
    SEED_MCP_ISSUER: idp.issuer,
    SEED_MCP_CLIENT_ID: idp.clientId,
    SEED_MCP_RESOURCE: upstream.url,
    BROWSER: `${process.execPath} ${join(ROOT, 'test/support/scripted-browser.mjs')}`,
  };
  // Not spawnSync: the IdP answering the login runs in this very process.
  const login = await new Promise((res) => {
    const child = spawn(process.execPath, [BIN, 'login'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => res({ status, stderr }));
  });
  if (login.status !== 0) throw new Error(`login failed: ${login.stderr}`);
  const token = JSON.parse(readFileSync(join(configDir, 'tokens', 'default.json'), 'utf8')).accessToken;
  return {
    idp,
    upstream,
    env,
    token,
    async close() {
      await upstream.close();
      await idp.close();
    },
  };
}

export function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p90: q(0.9), p99: q(0.99), min: s[0], max: s[s.length - 1] };
}

/** One line naming the machine, for the figures. */
export function machine() {
  let cpu = 'unknown CPU';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpu = `${info.match(/^processor/gm)?.length ?? '?'} × ${info.match(/model name\s*:\s*(.+)/)?.[1] ?? 'unknown CPU'}`;
  } catch {
    // Not Linux.
  }
  return `${process.platform}/${process.arch}, Node ${process.version}, ${cpu}`;
}
