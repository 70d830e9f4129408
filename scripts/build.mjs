// Bundles src/ into dist/cli.cjs (every command) and dist/serve.cjs (`serve` alone) with esbuild.
// Start-up time is a feature of a process that a desktop app spawns: resolving and loading modules across node_modules is most of it, so the
// dependencies are bundled in, except those that ship native code or files they find beside
// themselves at run time. One CommonJS file (modules that `import()` loads stay lazily
// initialised inside it) lets bin/seed-mcp.js keep a V8 code cache of it, which Node 20 does not
// do by itself for ES modules. `serve` is the process an MCP host spawns and waits for: its own
// bundle leaves out every other command (ink, React, cloud, demo, Redis, prom-client…), so start-up
// reads, compiles and keeps in memory only what it runs. `node scripts/build.mjs --analyze` prints
// what each bundle holds.
//
// The bundled dependencies are build-time only (devDependencies): the published package's
// `dependencies` are exactly `external` below (test/package.test.ts checks both ways), and their
// licences go with the bundles in dist/THIRD-PARTY-LICENSES.txt. No source maps by default: the
// published package has none (they were 16 MB of its 20), and Node 20 does not apply them to the
// bundle that bin/seed-mcp.js compiles through its code cache (a vm.Script) anyway. `node scripts/build.mjs --sourcemap` writes them
// beside the bundles for debugging, with SEED_MCP_NO_COMPILE_CACHE=1 node --enable-source-maps
// bin/seed-mcp.js …; `files` in package.json keeps them out of a package packed from such a build.
import { analyzeMetafile, build } from 'esbuild';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const external = [
  '@napi-rs/keyring', // native binary
  'open', // runs the xdg-open script it ships (ESM: loaded with import())
  'ink', // ESM with top-level await (yoga's wasm): loaded with import() for interactive login only
  'ink-spinner',
  'react',
  'undici', // only behind HTTPS_PROXY
  'oidc-provider', // ESM with koa and its own views, large: loaded with import() by `seed-mcp demo` only
];

// In the serve bundle, `AUTH_MODE=cloud seed-mcp serve` (a container's start command) runs the
// cloud server from the full bundle: bin/seed-mcp.js sends that command line there in the first
// place, so this is only a safety net that keeps the cloud code out of dist/serve.cjs.
const cloudFromFullBundle = {
  name: 'cloud-from-full-bundle',
  setup(b) {
    b.onResolve({ filter: /^\.\/cloud\.js$/ }, (args) =>
      /[\\/]src[\\/]cli[\\/]commands[\\/]serve\.ts$/.test(args.importer) ? { path: 'cloud', namespace: 'seed-full-bundle' } : undefined,
    );
    b.onResolve({ filter: /^\.\/cli\.cjs$/ }, () => ({ path: './cli.cjs', external: true }));
    b.onLoad({ filter: /.*/, namespace: 'seed-full-bundle' }, () => ({
      contents: `export function runCloud(...args) { return require('./cli.cjs').runCloud(...args); }`,
      loader: 'js',
    }));
  },
};

// The MCP client SDK (the bridge's side towards the upstream) is as large as the server SDK and
// is first needed by the first call that goes upstream: in the serve bundle it is a file of its
// own, dist/mcp-client.cjs, loaded then (with its own zod and protocol schemas, built then).
const clientFromOwnFile = {
  name: 'mcp-client-from-own-file',
  setup(b) {
    b.onResolve({ filter: /^@modelcontextprotocol\/client$/ }, () => ({ path: 'client', namespace: 'seed-mcp-client' }));
    b.onResolve({ filter: /^\.\/mcp-client\.cjs$/ }, () => ({ path: './mcp-client.cjs', external: true }));
    // Through bin/seed-mcp.js's code cache loader when there is one.
    b.onLoad({ filter: /.*/, namespace: 'seed-mcp-client' }, () => ({
      contents: [
        `const load = globalThis.__seedLoadBundle;`,
        `module.exports = typeof load === 'function' ? load(require('node:path').join(__dirname, 'mcp-client.cjs')) : require('./mcp-client.cjs');`,
      ].join('\n'),
      loader: 'js',
    }));
  },
};

// Node's crypto (with its two dozen internal modules) and child_process (net, dgram…) cost
// 1.5–2 MB and a few ms to load. The serve bundle's modules import them at their top but use
// them later (a sign-in, a token refresh, the browser), if at all. There, each is an object with
// a getter per export that requires the module on first use: the same functions, later. (Every
// importer uses named or namespace imports. openid-client the same way measured no gain.)
const LAZY = ['node:crypto', 'node:child_process'];
const lazyModules = {
  name: 'lazy-modules',
  setup(b) {
    const filter = new RegExp(`^(${LAZY.map((m) => m.replace(/^node:/, '(node:)?')).join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'seed-lazy' ? undefined : { path: LAZY.find((m) => m.replace(/^node:/, '') === args.path.replace(/^node:/, '')), namespace: 'seed-lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'seed-lazy' }, async (args) => {
      const names = Object.keys(await import(args.path)).filter((k) => k !== 'default');
      return {
        contents: [
          `let m;`,
          `const load = () => (m ??= require('${args.path}'));`,
          `for (const name of ${JSON.stringify(names)}) Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });`,
        ].join('\n'),
        loader: 'js',
        resolveDir: root,
      };
    });
  },
};

// keepNames (a defineProperty of `name` on every function and class, run as the bundle loads)
// costs the serve bundle 1.3 MB and ~8 ms at start-up. Without it, minified names show only
// where code reads a class's name: the error classes of commander, oauth4webapi, openid-client
// and jose set `this.name = this.constructor.name`. Those classes keep their names here.
const errorClassNames = {
  name: 'error-class-names',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/].*\.(c|m)?js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('this.constructor.name')) return undefined;
      const contents = source.replace(
        /\bclass\s+([A-Za-z_$][\w$]*)\s+extends\s+[A-Za-z_$][\w$.]*\s*\{/g,
        (m, name) => `${m} static { Object.defineProperty(this, 'name', { value: ${JSON.stringify(name)}, configurable: true }); }`,
      );
      return { contents, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

const root = fileURLToPath(new URL('..', import.meta.url));
const bundles = [
  { entry: 'src/cli/main.ts', out: 'dist/cli.cjs', plugins: [], keepNames: true },
  { entry: 'src/cli/serve-main.ts', out: 'dist/serve.cjs', plugins: [cloudFromFullBundle, clientFromOwnFile, lazyModules, errorClassNames], keepNames: false },
  { stdin: `export * from '@modelcontextprotocol/client';`, out: 'dist/mcp-client.cjs', plugins: [], keepNames: true },
];

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const bundledPackages = new Set();
for (const { entry, stdin, out: outfile, plugins, keepNames } of bundles) {
  const result = await build({
    ...(entry ? { entryPoints: [entry] } : { stdin: { contents: stdin, resolveDir: root, sourcefile: outfile.replace(/\.cjs$/, '.js'), loader: 'js' } }),
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external,
    plugins,
    minify: true,
    keepNames,
    sourcemap: process.argv.includes('--sourcemap') ? 'linked' : false,
    jsx: 'automatic',
    logLevel: 'warning',
    legalComments: 'linked',
    metafile: true,
    // Bundled ES modules that read import.meta.url get this file's URL.
    define: { 'import.meta.url': '__seedImportMetaUrl' },
    banner: {
      js: [
        'var __seedImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
        // V8 forgets a script's dynamic-import callback when the script comes from a code cache, so
        // import() of the external ES modules goes through bin/seed-mcp.js's own import().
        'var __seedImport = globalThis.__seedImport || ((specifier) => import(specifier));',
      ].join('\n'),
    },
  });
  if (process.argv.includes('--analyze')) console.log(await analyzeMetafile(result.metafile));
  for (const input of Object.keys(result.metafile.inputs)) {
    const dir = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.replaceAll('\\', '/'))?.[1];
    if (dir) bundledPackages.add(dir);
  }

  const out = new URL(`../${outfile}`, import.meta.url);
  const code = readFileSync(out, 'utf8');
  // Only string-literal specifiers: the banner's fallback, import(specifier), stays as it is.
  const rewritten = code.replace(/(?<![\w$.])import\("([^"]+)"\)/g, '__seedImport("$1")');
  writeFileSync(out, rewritten);
}

// One licence text per bundled package (name@version), in name order.
const licenses = new Map();
for (const dir of bundledPackages) {
  const pkg = JSON.parse(readFileSync(`${root}/${dir}/package.json`, 'utf8'));
  const file = readdirSync(`${root}/${dir}`).find((name) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(name));
  const text = file ? readFileSync(`${root}/${dir}/${file}`, 'utf8').trim() : `${pkg.license ?? 'no licence given'} (the package ships no licence file)`;
  licenses.set(`${pkg.name}@${pkg.version}`, `${pkg.name}@${pkg.version} (${pkg.license ?? 'no licence field'})\n\n${text}`);
}
const notice = [
  'seed-mcp bundles the packages below into dist/*.cjs. Their licences follow.',
  ...[...licenses.keys()].sort().map((key) => `${'-'.repeat(78)}\n${licenses.get(key)}`),
].join('\n\n');
writeFileSync(`${root}/dist/THIRD-PARTY-LICENSES.txt`, `${notice}\n`);
