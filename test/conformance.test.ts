/**
 * The MCP conformance suite's client authorization scenarios against `seed-mcp serve --upstream`
 * (test/conformance/driver.mjs): every scenario by name, then the whole `auth` suite at once. The
 * suite and the Node 22 binary it needs live in test/conformance/node_modules, installed by
 * .ci/run (`npm ci --prefix test/conformance`), apart from the project so that Node 22 never
 * shadows the project's own node.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, 'conformance');
const NODE22 = join(DIR, 'node_modules', '.bin', 'node');
const SUITE = join(DIR, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const DRIVER = `${process.execPath} ${join(DIR, 'driver.mjs')}`;

/** The suite's client authorization scenarios (0.1.16); checked against `conformance list` below. */
const SCENARIOS = [
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
  'auth/client-credentials-jwt',
  'auth/client-credentials-basic',
  'auth/cross-app-access-complete-flow',
];

function conformance(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  if (!existsSync(NODE22) || !existsSync(SUITE)) {
    throw new Error(`the MCP conformance suite is not installed in ${DIR}: run \`npm ci --prefix test/conformance\` (.ci/run does)`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(NODE22, [SUITE, ...args], { cwd: DIR, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** The summary and the checks that did not pass, for a failure message. */
function failures(out: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  return plain
    .split('\n')
    .filter((l) => /FAILURE|WARNING|Client exited|timed out|driver:|Error|Passed|Failed|Total/i.test(l))
    .join('\n');
}

describe('MCP conformance suite, client authorization scenarios', () => {
  it('lists exactly the scenarios this test runs', async () => {
    const { code, out } = await conformance(['list'], 30_000);
    expect(code).toBe(0);
    const listed = [...out.matchAll(/^\s*-\s*(auth\/\S+)/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...SCENARIOS].sort());
  });

  it.concurrent.each(SCENARIOS)('%s', { timeout: 90_000 }, async (scenario) => {
    const { code, out } = await conformance(['client', '--command', DRIVER, '--scenario', scenario, '--timeout', '60000'], 85_000);
    expect(code, failures(out)).toBe(0);
    expect(out).not.toMatch(/\bFAILURE\b/);
  });

  it('passes the whole auth suite run at once', { timeout: 240_000 }, async () => {
    const { code, out } = await conformance(['client', '--command', DRIVER, '--suite', 'auth', '--timeout', '60000'], 230_000);
    expect(code, failures(out)).toBe(0);
  });
});
