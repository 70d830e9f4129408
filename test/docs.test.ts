/**
 * The documents against what they describe: the README's test prerequisites against what .ci/run
 * installs, "no test skips" against the test files, docs/configuration.md against the config
 * schema it is generated from (scripts/gen-config-docs.mjs) and against the variables
 * loadCloudConfig really reads, `seed-mcp cloud --help` against the reference it names, and the
 * comments and documents against citations of files outside the repository.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOUD_VARIABLES, loadCloudConfig } from '../src/cloud/config.js';
import { ROOT, runCli, tempDirs } from './support/cli.js';

const newDir = tempDirs('seed-mcp-docs-');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const SELF = 'test/docs.test.ts';
const REFERENCE = 'docs/configuration.md';
const GENERATOR = join(ROOT, 'scripts/gen-config-docs.mjs');

/** Every file under `dir` (relative to the root) ending in one of `exts`, node_modules left out. */
function files(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (exts.some((e) => entry.name.endsWith(e))) out.push(relative(ROOT, path));
    }
  };
  walk(join(ROOT, dir));
  return out;
}

/** `file:line: text` of every line matching `re`. */
function matches(paths: string[], re: RegExp): string[] {
  return paths.flatMap((path) =>
    read(path)
      .split('\n')
      .flatMap((line, i) => (re.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : [])),
  );
}

describe('the README on running the tests', () => {
  it('names the packages .ci/run installs, and the conformance suite', () => {
    const ci = read('.ci/run');
    const installed = [...ci.matchAll(/missing\+=\(([^)]+)\)/g)].flatMap((m) => m[1]!.trim().split(/\s+/));
    expect(installed.length, '.ci/run lists its packages as missing+=(…)').toBeGreaterThan(0);
    const line = /^apt-get install ([a-z0-9.+ -]+)$/m.exec(read('README.md'));
    expect(line, 'the README has an `apt-get install …` line of the packages the tests need').not.toBeNull();
    const listed = line![1]!.trim().split(/\s+/);
    expect([...new Set(listed)].sort(), 'README.md and .ci/run name the same Debian packages').toEqual([...new Set(installed)].sort());
    expect(ci).toContain('npm ci --prefix test/conformance');
    expect(read('README.md')).toContain('npm ci --prefix test/conformance');
  });

  it('is right that no test skips: no test file holds a skip, a todo, a conditional test or an only', () => {
    // This file spells the constructs out in its patterns, so it is left out.
    const tests = files('test', ['.ts', '.mts', '.mjs', '.js']).filter((path) => path !== SELF);
    expect(tests.length).toBeGreaterThan(50);
    const found = [
      ...matches(tests, /\b(?:it|test|describe|suite|bench)(?:\.\w+)*\.(?:skip|skipIf|runIf|todo|only)\b/),
      ...matches(tests, /\b(?:ctx|context|t|task)\.skip\s*\(/),
      ...matches(tests, /\bxit\(|\bxdescribe\(/),
    ];
    expect(found, 'a test that cannot run must fail and say what to install, never skip').toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  it(`is what ${REFERENCE}'s generator writes from src/cloud/config.ts today`, () => {
    const r = spawnSync(process.execPath, [GENERATOR, '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr, 'run npm run docs:config').toBe('');
    expect(r.status, 'run npm run docs:config').toBe(0);
  });

  it('a stale copy fails the check, which says how to regenerate it', () => {
    const stale = join(newDir(), 'configuration.md');
    writeFileSync(stale, read(REFERENCE).replace(/^\| `JWKS_CACHE_TTL` .*\n/m, ''));
    const r = spawnSync(process.execPath, [GENERATOR, '--check', '--out', stale], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is out of date with src/cloud/config.ts: run npm run docs:config');
    // And the command it names writes the file the check then accepts.
    expect(spawnSync(process.execPath, [GENERATOR, '--out', stale], { cwd: ROOT, encoding: 'utf8' }).status).toBe(0);
    expect(spawnSync(process.execPath, [GENERATOR, '--check', '--out', stale], { cwd: ROOT, encoding: 'utf8' }).status).toBe(0);
    expect(readFileSync(stale, 'utf8')).toBe(read(REFERENCE));
  });

  it('lists every variable loadCloudConfig reads, each with its NAME_FILE form, and no other', () => {
    // The names the validator asks the environment for, whatever the table says.
    const asked = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: (_, key) => {
        if (typeof key === 'string') asked.add(key);
        return undefined;
      },
    });
    expect(() => loadCloudConfig(env)).toThrow(/Configuration validation failed/);
    const names = [...asked].filter((k) => asked.has(`${k}_FILE`)).sort();
    expect(names.length).toBeGreaterThan(40);
    expect([...asked].sort(), 'each variable is read as NAME and NAME_FILE').toEqual(names.flatMap((n) => [n, `${n}_FILE`]).sort());

    const rows = [...read(REFERENCE).matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \| `([A-Z0-9_]+)` \|/gm)];
    expect(rows.map((m) => m[1]).sort(), `the variables of ${REFERENCE}`).toEqual(names);
    for (const m of rows) expect(m[3], `${m[1]}'s file form`).toBe(`${m[1]}_FILE`);
    expect(Object.keys(CLOUD_VARIABLES).sort()).toEqual(names);
    expect(read(REFERENCE)).toContain(`lists all ${names.length} variables`);
  });

  it("states the defaults the schema falls back to: an empty environment's effective configuration", async () => {
    const row = (name: string): string => new RegExp(`^\\| \`${name}\` \\| ([^|]*) \\|`, 'm').exec(read(REFERENCE))?.[1] ?? '(no row)';
    const config = loadCloudConfig({ AUTH_REQUIRED: 'false', BASE_URL: 'https://mcp.example.com' });
    const cases: Array<[string, unknown]> = [
      ['HOST', config.host],
      ['JWKS_CACHE_TTL', config.jwksCacheTtlSec],
      ['MCP_SESSION_TTL_SECONDS', config.sessionTtlSec],
      ['MCP_MAX_SESSIONS', config.maxSessions],
      ['MCP_RATE_LIMIT_MAX', config.rateLimit.max],
      ['OAUTH_ACCESS_TOKEN_TTL', config.oauthProxy.accessTokenTtlSec],
      ['REDIS_KEY_PREFIX', config.redisKeyPrefix],
      ['REVOCATION_FAIL_MODE', config.revocationFailMode],
      ['LOG_LEVEL', config.logLevel],
      ['METRICS_ENABLED', config.metrics.enabled],
      ['PORT', config.port],
    ];
    for (const [name, value] of cases) expect(row(name), `${name}'s default`).toBe(`\`${String(value)}\``);
  });
});

describe('seed-mcp cloud --help', () => {
  it('points to the configuration reference and to `config check`, both of which exist', async () => {
    const help = await runCli(['cloud', '--help'], {});
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain(`Every variable, with its default, aliases and NAME_FILE form: ${REFERENCE} (configuration reference).`);
    expect(help.stdout).toContain('Check a configuration without starting: seed-mcp config check (the effective configuration, secrets redacted; exit 2 when invalid).');
    expect(read(REFERENCE)).toMatch(/^# Configuration reference/m);
    const check = await runCli(['config', 'check'], { AUTH_REQUIRED: 'false', BASE_URL: 'https://mcp.example.com' });
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ authRequired: false, baseUrl: 'https://mcp.example.com' });
  });
});

describe('citations', () => {
  it('name only files inside the repository: not the shared design, style or testing notes, nor an absolute path', () => {
    // Built from parts, so that this file does not match itself.
    const outside = new RegExp(['\\b(?:DESIGN|STYLE|TESTING)\\.md\\b', '/work(?=/)', '\\bshared/[A-Z]'].join('|'));
    const code = ['src', 'test', 'scripts', 'bench'].flatMap((dir) => files(dir, ['.ts', '.tsx', '.mts', '.mjs', '.js', '.cjs', '.sh']));
    const docs = ['README.md', 'BENCHMARKS.md', ...files('docs', ['.md'])];
    expect(matches([...code, ...docs], outside), 'point to the README, docs/ or the code instead').toEqual([]);
  });
});
