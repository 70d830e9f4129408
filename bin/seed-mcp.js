#!/usr/bin/env node
// Loads dist/cli.cjs (for `serve`, dist/serve.cjs: see scripts/build.mjs) through a V8 code
// cache, so that a desktop app spawning `seed-mcp serve` waits for neither parsing nor compiling
// the bundle after the first run. The cache lives in the user's own cache dir (0700), is keyed by
// the bundle, Node version and architecture, and is only ever a speed-up: any problem with it
// falls back to a plain load. SEED_MCP_NO_COMPILE_CACHE=1 turns it off.
//
// CommonJS (bin/package.json says so): an ES-module entry would start Node's ES-module loader
// first, 1.5 MB and a few ms before anything of ours runs.
'use strict';
const Module = require('node:module');
const { createRequire } = Module;
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { homedir } = require('node:os');
const { basename, dirname, join } = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

// `serve` (a bare `seed-mcp` with a pipe on stdin is `serve` too) has a bundle of its own, without
// the other commands; AUTH_MODE=cloud turns `serve` into the cloud server, which only the full one has.
const serve = (process.argv[2] === 'serve' || (process.argv.length === 2 && !process.stdin.isTTY)) && process.env.AUTH_MODE !== 'cloud';
const file = join(__dirname, '..', 'dist', serve ? 'serve.cjs' : 'cli.cjs');
// The MCP SDK builds its schemas at start-up, and most of what it allocates lives on: V8 would
// grow the young generation from 2 MB to 8 MB on the way, 5 MB of resident memory that a stdio
// server answering one host never needs again. Keep it at its initial size (measured
// in BENCHMARKS.md, issue #12). The heap limits are set before this runs; the growth factor is read
// at each growth. Not for the other commands: `cloud` serves many clients.
if (serve) v8.setFlagsFromString('--semi-space-growth-factor=1');
// The bundle's import() of ES-module dependencies (ink, open…) comes here: see scripts/build.mjs.
globalThis.__seedImport = (specifier) => import(specifier);

// `seed-mcp --help | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

function cacheDir(env) {
  if (env.SEED_MCP_CACHE_DIR) return env.SEED_MCP_CACHE_DIR;
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'seed-mcp', 'cache');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'seed-mcp');
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'seed-mcp');
}

/** Loads a CommonJS bundle through its own code cache (`kind` names it) and returns its exports. */
function load(file, kind) {
  const requireBundle = createRequire(file);
  const loader = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (process.env.SEED_MCP_NO_COMPILE_CACHE || !loader) return requireBundle(file);
  const source = readFileSync(file, 'utf8');
  const info = statSync(file);
  const dir = cacheDir(process.env);
  const cacheFile = join(dir, `${kind}-${info.size}-${Math.floor(info.mtimeMs)}-${process.version}-${process.arch}.v8cache`);
  let cachedData;
  try {
    // Only a cache dir of our own: code cache data is trusted input to V8.
    if (process.getuid === undefined || statSync(dir).uid === process.getuid()) cachedData = readFileSync(cacheFile);
  } catch {
    // No cache yet.
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData, importModuleDynamically: loader });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, requireBundle, module, file, dirname(file));
  if (!cachedData || script.cachedDataRejected) {
    let written = false;
    const save = () => {
      if (written) return;
      written = true;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, cacheFile);
        // Caches of earlier builds or Node versions are dead weight.
        for (const name of readdirSync(dir)) {
          if (name.startsWith(`${kind}-`) && name !== basename(cacheFile)) rmSync(join(dir, name), { force: true });
        }
      } catch {
        // A read-only home or a full disk only costs the speed-up.
      }
    };
    // After the command has done its start-up work, so that its functions are in the cache.
    setTimeout(save, 1500).unref();
    process.once('exit', save);
  }
  return module.exports;
}

// serve and the other commands run different bundles: one cache each. The serve bundle loads
// dist/mcp-client.cjs (the bridge's MCP client) on its first upstream call through this too.
globalThis.__seedLoadBundle = (path) => load(path, basename(path, '.cjs'));

// A git checkout after `npm ci` has no dist/ yet (the package has no `prepare` script: an install
// script that builds is refused or warned about by package managers). Build it once, here, so that
// `npm ci && npx seed-mcp demo` works; the build's own output goes to stderr, since stdout of
// `serve` is JSON-RPC only. An installed package always has dist/.
if (!existsSync(file)) {
  const root = join(__dirname, '..');
  const build = join(root, 'scripts', 'build.mjs');
  let built = false;
  if (existsSync(build) && existsSync(join(root, 'node_modules', 'esbuild'))) {
    process.stderr.write('seed-mcp: first run in this checkout: building dist/ (npm run build)…\n');
    const run = require('node:child_process').spawnSync(process.execPath, [build], { cwd: root, stdio: ['ignore', 2, 2] });
    built = run.status === 0 && existsSync(file);
  }
  if (!built) {
    process.stderr.write(
      `seed-mcp: ${file} is missing: this copy of seed-mcp is not built.\n` +
        `  In a git checkout, run \`npm ci && npm run build\` in ${root}; otherwise reinstall the package (npm install -g seed-mcp).\n`,
    );
    process.exit(1);
  }
}
const cli = load(file, serve ? 'serve' : 'cli');
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
