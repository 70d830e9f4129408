// Bundles src/ into dist/cli.cjs with esbuild. Start-up time is a feature of a process that a
// desktop app spawns: resolving and loading modules across node_modules is most of it, so the
// dependencies are bundled in, except those that ship native code or files they find beside
// themselves at run time. One CommonJS file (modules that `import()` loads stay lazily
// initialised inside it) lets bin/seed-mcp.js keep a V8 code cache of it, which Node 20 does not
// do by itself for ES modules.
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const external = [
  '@napi-rs/keyring', // native binary
  'open', // runs the xdg-open script it ships (ESM: loaded with import())
  'ink', // ESM with top-level await (yoga's wasm): loaded with import() for interactive login only
  'ink-spinner',
  'react',
  'undici', // only behind HTTPS_PROXY
  'oidc-provider', // ESM with koa and its own views, large: loaded with import() by `seed-mcp demo` only
];

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  logLevel: 'warning',
  legalComments: 'linked',
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

const out = new URL('../dist/cli.cjs', import.meta.url);
const code = readFileSync(out, 'utf8');
// Only string-literal specifiers: the banner's fallback, import(specifier), stays as it is.
const rewritten = code.replace(/(?<![\w$.])import\("([^"]+)"\)/g, '__seedImport("$1")');
writeFileSync(out, rewritten);
