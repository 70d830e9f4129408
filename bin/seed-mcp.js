#!/usr/bin/env node
// Loads dist/cli.cjs through a V8 code cache, so that a desktop app spawning `seed-mcp serve`
// waits for neither parsing nor compiling the bundle after the first run. The cache lives in the
// user's own cache dir (0700), is keyed by the bundle, Node version and architecture, and is only
// ever a speed-up: any problem with it falls back to a plain load. SEED_MCP_NO_COMPILE_CACHE=1
// turns it off.
import Module, { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const file = fileURLToPath(new URL('../dist/cli.cjs', import.meta.url));
const require = createRequire(file);
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

function load() {
  const loader = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  if (process.env.SEED_MCP_NO_COMPILE_CACHE || !loader) return { cli: require(file) };
  const source = readFileSync(file, 'utf8');
  const info = statSync(file);
  // serve and the other commands compile different functions: one cache each.
  const kind = process.argv[2] === 'serve' || (process.argv.length === 2 && !process.stdin.isTTY) ? 'serve' : 'cli';
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
  script.runInThisContext().call(module.exports, module.exports, require, module, file, dirname(file));
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
  return { cli: module.exports };
}

const { cli } = load();
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
