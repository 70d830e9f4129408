// Bundles src/ into dist/ with esbuild. Start-up time is a feature of a process that a desktop app
// spawns, and module resolution and loading across node_modules is most of it: so dependencies
// are bundled in, except those that ship native code or files they find beside themselves at run
// time. Lazy `import()`s become separate chunks, so that commands which do not need the login
// flow, ink or React never load them.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const external = [
  '@napi-rs/keyring', // native binary
  'open', // runs the xdg-open script it ships
  'ink',
  'ink-spinner',
  'react', // ink and React load only for interactive login; yoga's wasm stays as it ships
  'undici', // only behind HTTPS_PROXY
];

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  minify: true,
  keepNames: true,
  sourcemap: 'linked',
  jsx: 'automatic',
  logLevel: 'warning',
  chunkNames: 'chunks/[name]-[hash]',
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __seedCreateRequire } from 'node:module'; const require = __seedCreateRequire(import.meta.url);" },
  legalComments: 'linked',
});
