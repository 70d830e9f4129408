/**
 * The package as npm publishes it (issue #15, point 8): `npm pack` of the built tree into a temp
 * dir, its file list and package.json, then `npm install <tarball>` into an empty folder and the
 * installed `seed-mcp` run from there (`--version`, `config check`, `demo --print-claude-config`,
 * a short `demo`) with nothing but the package's runtime dependencies beside it.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDirs } from './support/cli.js';
import { freePort } from './support/ports.js';

const run = promisify(execFile);
const newDir = tempDirs('seed-mcp-package-');

/** What `npm pack --json` says of one tarball. */
interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string; size: number }>;
}

/** Lifecycle scripts npm runs when the package is installed (`prepare`: from git). */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'];

/** The environment of a child npm: without what `npm test` sets for its own package. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_(lifecycle|package|command|config_local_prefix|config_call)|INIT_CWD$)/i.test(k)));
}

/** The package a module specifier names: `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  return specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
}

let packed: Packed;
let manifest: Record<string, any>;
/** The empty folder the tarball was installed into, and the package inside it. */
let consumer: string;
let installed: string;

beforeAll(async () => {
  // `npm test` builds before vitest; a lone `vitest run test/package.test.ts` may come first.
  if (!existsSync(join(ROOT, 'dist/cli.cjs'))) await run(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
  const out = newDir();
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: ROOT, env: npmEnv(), maxBuffer: 16 << 20 });
  packed = (JSON.parse(stdout) as Packed[])[0]!;
  manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

  consumer = newDir();
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const install = (mode: string) => run('npm', ['install', mode, '--no-audit', '--no-fund', join(out, packed.filename)], { cwd: consumer, env: npmEnv() });
  // The cache holds every tarball after `npm ci`, but not always the registry's metadata that a
  // fresh install resolves versions with (npm ci reads versions from the lock file).
  await install('--offline').catch(() => install('--prefer-offline'));
  installed = join(consumer, 'node_modules/seed-mcp');
}, 180_000);

describe('the packed tarball', () => {
  it('holds the launcher, the bundles, LICENSE, CHANGELOG.md, README.md and package.json; no source map, source or test', () => {
    const paths = packed.files.map((f) => f.path);
    for (const path of ['bin/seed-mcp.js', 'bin/package.json', 'dist/cli.cjs', 'dist/serve.cjs', 'dist/mcp-client.cjs', 'dist/THIRD-PARTY-LICENSES.txt']) {
      expect(paths).toContain(path);
    }
    // docs/configuration.md: `seed-mcp cloud --help` points to it, so it is in the package.
    for (const path of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'docs/configuration.md']) expect(paths).toContain(path);
    const outside = paths.filter((p) => !/^(bin|dist|docs|examples)\//.test(p) && !['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json'].includes(p));
    expect(outside, 'files outside bin/, dist/, docs/, examples/ and the four top-level files').toEqual([]);
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    // Nor a link to one: a bundle that names a map it does not ship.
    for (const name of readdirSync(join(installed, 'dist')).filter((n) => n.endsWith('.cjs'))) {
      expect(readFileSync(join(installed, 'dist', name), 'utf8'), name).not.toMatch(/sourceMappingURL=/);
    }
    // The source maps were 16 MB of 20; the bundles and notices are about 4.
    expect(packed.unpackedSize).toBeLessThan(8_000_000);
  });

  it('LICENSE is the Apache License 2.0 that package.json names, and CHANGELOG.md has this version', () => {
    expect(manifest.license).toBe('Apache-2.0');
    const license = readFileSync(join(installed, 'LICENSE'), 'utf8');
    expect(license).toMatch(
      /^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\/\s+TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/,
    );
    expect(license).toContain('9. Accepting Warranty or Additional Liability.');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    expect(readFileSync(join(installed, 'CHANGELOG.md'), 'utf8')).toContain(`## [${manifest.version}]`);
  });

  it('package.json says where the repository, home page and issues are, and runs nothing at install that it does not ship', () => {
    const shipped = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    expect(shipped.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/) });
    expect(shipped.homepage).toMatch(/^https:\/\/github\.com\//);
    expect(shipped.bugs).toEqual({ url: expect.stringMatching(/^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/issues$/) });
    const paths = new Set(packed.files.map((f) => f.path));
    for (const name of INSTALL_SCRIPTS.filter((s) => shipped.scripts?.[s] !== undefined)) {
      const files = String(shipped.scripts[name])
        .split(/\s+/)
        .filter((word) => /\.(c|m)?js$/.test(word));
      for (const file of files) expect(paths, `the ${name} script runs ${file}`).toContain(file.replace(/^\.\//, ''));
    }
  });

  it('depends at run time on exactly the modules the build leaves out of the bundles, and the bundles load nothing else', () => {
    const build = readFileSync(join(ROOT, 'scripts/build.mjs'), 'utf8');
    const list = /const external = \[([^\]]*)\]/.exec(build)?.[1];
    expect(list, 'the external list in scripts/build.mjs').toBeDefined();
    const external = [...list!.replace(/\/\/.*/g, '').matchAll(/'([^']+)'/g)].map((m) => m[1]).sort();
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual(external);

    // What the shipped bundles require() or import() at run time (a require in a string or a
    // template, as ajv's code generator writes them for standalone code, is not one).
    const builtins = new Set(builtinModules);
    const loaded = new Set<string>();
    for (const name of readdirSync(join(installed, 'dist')).filter((n) => n.endsWith('.cjs'))) {
      const code = readFileSync(join(installed, 'dist', name), 'utf8');
      for (const [, specifier = ''] of code.matchAll(/(?<!['`\w$.])(?:require|__seedImport)\("([^"]+)"\)/g)) {
        if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !builtins.has(specifier)) loaded.add(packageOf(specifier));
      }
    }
    expect([...loaded].sort()).toEqual(external);
  });
});

describe('installed from the tarball into an empty folder', () => {
  const bin = () => join(consumer, 'node_modules/.bin/seed-mcp');
  const env = () => {
    const home = newDir();
    return { PATH: process.env.PATH ?? '', HOME: home, SEED_MCP_CONFIG_DIR: join(home, 'config'), SEED_MCP_CACHE_DIR: join(home, 'cache'), SEED_MCP_TOKEN_STORE: 'file' };
  };

  it('has its runtime dependencies and no bundled one beside it, and each loads from the installed bundles', async () => {
    const top = readdirSync(join(consumer, 'node_modules')).flatMap((n) => (n.startsWith('@') ? readdirSync(join(consumer, 'node_modules', n)).map((m) => `${n}/${m}`) : [n]));
    for (const dep of Object.keys(manifest.dependencies)) expect(top).toContain(dep);
    // Bundled into dist/*.cjs, so not installed for seed-mcp (none of the runtime dependencies needs them).
    for (const bundled of ['commander', 'openid-client', 'ioredis', 'prom-client', '@modelcontextprotocol/server', '@opentelemetry/sdk-trace-base']) {
      expect(top).not.toContain(bundled);
    }
    const script = `for (const m of ${JSON.stringify(Object.keys(manifest.dependencies))}) await import(m);`;
    await run(process.execPath, ['--input-type=module', '-e', script], { cwd: join(installed, 'dist'), env: env() });
  });

  it('seed-mcp --version, config check and demo --print-claude-config work', async () => {
    const version = await run(bin(), ['--version'], { env: env() });
    expect(version.stdout.trim()).toBe(manifest.version);

    const check = await run(bin(), ['config', 'check'], { env: { ...env(), OIDC_ISSUER: 'https://idp.example.com', OIDC_AUDIENCE: 'api://seed-mcp' } });
    expect(JSON.parse(check.stdout)).toMatchObject({ authMode: 'cloud', allowedIssuers: ['https://idp.example.com'], audiences: ['api://seed-mcp'] });

    const claude = await run(bin(), ['demo', '--print-claude-config'], { env: env() });
    const entry = JSON.parse(claude.stdout).mcpServers['seed-mcp-demo'];
    expect(entry.args).toEqual([join(installed, 'bin/seed-mcp.js'), 'serve']);
  });

  it('seed-mcp demo starts its identity provider (oidc-provider) and the MCP server, and stops on Ctrl-C', async () => {
    const [port, idpPort] = [await freePort(), await freePort()];
    const child = spawn(bin(), ['demo', '--port', String(port), '--idp-port', String(idpPort), '--data-dir', newDir()], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const closed = new Promise((res) => child.on('close', res));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('Ctrl-C stops it')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the demo did not start:\n${output}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      const discovery = await fetch(`http://127.0.0.1:${idpPort}/.well-known/openid-configuration`);
      expect(((await discovery.json()) as { issuer: string }).issuer).toBe(`http://127.0.0.1:${idpPort}`);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    } finally {
      child.kill('SIGINT');
    }
    await closed;
  });
});

describe('a git checkout right after `npm ci` (no dist/ yet: there is no prepare script)', () => {
  /** A copy of the checkout's sources with the installed node_modules beside them, and no dist/. */
  function checkout(withNodeModules: boolean): string {
    const dir = newDir();
    for (const part of ['bin', 'scripts', 'src', 'package.json', 'tsconfig.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
    if (withNodeModules) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    return dir;
  }
  const env = () => ({ ...process.env, SEED_MCP_CACHE_DIR: newDir() });

  it('builds itself on the first run, so `npm ci && npx seed-mcp demo` works; the build writes nothing to stdout', async () => {
    const dir = checkout(true);
    const first = await run(process.execPath, [join(dir, 'bin/seed-mcp.js'), '--version'], { env: env() });
    expect(first.stdout).toBe(`${manifest.version}\n`);
    expect(first.stderr).toContain('seed-mcp: first run in this checkout: building dist/ (npm run build)');
    expect(existsSync(join(dir, 'dist/cli.cjs')) && existsSync(join(dir, 'dist/serve.cjs'))).toBe(true);
    const second = await run(process.execPath, [join(dir, 'bin/seed-mcp.js'), '--version'], { env: env() });
    expect(second.stderr).not.toContain('building');
  }, 60_000);

  it('without its dependencies installed, says what to run instead of a stack trace (exit 1)', async () => {
    const dir = checkout(false);
    const failed = await run(process.execPath, [join(dir, 'bin/seed-mcp.js'), '--version'], { env: env() }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 1, stdout: '' });
    expect(failed.stderr).toContain('this copy of seed-mcp is not built');
    expect(failed.stderr).toContain(`run \`npm ci && npm run build\` in ${dir}`);
    expect(failed.stderr).not.toMatch(/\n\s+at /);
  });
});
