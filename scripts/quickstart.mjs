#!/usr/bin/env node
// Quick start until `seed-mcp demo` exists: starts the project's test OpenID Provider on
// 127.0.0.1, signs you in with the real CLI (your browser, or a scripted stand-in where no
// browser can open), then shows status and a token's claims. Not for production: the IdP keeps
// everything in memory and accepts any user name and password.
//
//   npm run quickstart            # then Ctrl-C to stop the IdP
//   npm run quickstart -- --exit  # stop after the walkthrough (CI, scripts)
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin/seed-mcp.js');
const exitAfter = process.argv.includes('--exit') || !process.stdin.isTTY;
const profile = 'quickstart';

// The test IdP is TypeScript under test/support; bundle it once for plain node.
const out = join(root, 'node_modules/.cache/seed-mcp/idp.mjs');
mkdirSync(dirname(out), { recursive: true });
await build({
  entryPoints: [join(root, 'test/support/idp.ts')],
  outfile: out,
  bundle: true,
  format: 'esm',
  platform: 'node',
  packages: 'external',
  logLevel: 'error',
  absWorkingDir: root,
});
const { startIdp } = await import(pathToFileURL(out).href);
const idp = await startIdp({ port: Number(process.env.QUICKSTART_PORT ?? 0) });

const env = { ...process.env };
const noDisplay = process.platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY;
if (!env.BROWSER && noDisplay) {
  env.BROWSER = `${process.execPath} ${join(root, 'test/support/scripted-browser.mjs')}`;
}
const say = (s = '') => process.stderr.write(s + '\n');
say(`\nA local test identity provider (NOT for production) runs at ${idp.issuer}`);
say('  client id: seed-cli   user: any name (e.g. alice)   password: anything');
if (env.BROWSER && noDisplay && !process.env.BROWSER) say('  no display here: a scripted browser will fill the sign-in pages for you');
say();

function run(args, { capture = false } = {}) {
  say(`$ seed-mcp ${args.join(' ')}`);
  return new Promise((res) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['inherit', capture ? 'pipe' : 'inherit', 'inherit'] });
    let stdout = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.on('close', (code) => res({ code, stdout }));
  });
}

let code = 0;
const login = await run(['login', '--issuer', idp.issuer, '--client-id', 'seed-cli', '--profile', profile]);
if (login.code === 0) {
  await run(['status', '--profile', profile]);
  const token = await run(['token', '--profile', profile], { capture: true });
  const claims = JSON.parse(Buffer.from(token.stdout.trim().split('.')[1] ?? '', 'base64url').toString() || '{}');
  say(`  → a valid access token (not shown): sub=${claims.sub} aud=${claims.aud} expires ${new Date(claims.exp * 1000).toISOString()}`);
  say(`\nTry more in another terminal while this runs:`);
  say(`  npx seed-mcp status --profile ${profile}`);
  say(`  curl -H "Authorization: Bearer $(npx seed-mcp token --profile ${profile})" https://your-api.example/`);
  say(`  npx seed-mcp doctor --profile ${profile}`);
  say(`  npx seed-mcp logout --profile ${profile}`);
} else {
  code = login.code ?? 1;
}
if (exitAfter) {
  await run(['logout', '--profile', profile]);
  await idp.close();
  process.exit(code);
}
say('\nCtrl-C stops the identity provider.');
process.on('SIGINT', async () => {
  await idp.close();
  process.exit(code);
});
