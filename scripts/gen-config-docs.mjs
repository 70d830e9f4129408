// Writes docs/configuration.md, the configuration reference of `seed-mcp cloud`, from the config
// schema itself: src/cloud/config.ts's CLOUD_VARIABLES table and the defaults its zod schema falls
// back to (cloudVariables()). The module is bundled with esbuild into a temporary file first, as
// scripts/build.mjs bundles the CLI, so no TypeScript loader is needed.
//
//   node scripts/gen-config-docs.mjs            # (npm run docs:config) rewrites docs/configuration.md
//   node scripts/gen-config-docs.mjs --check    # exit 1 when the file differs from what would be written
//   ... --out FILE                              # another file than docs/configuration.md
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = 'src/cloud/config.ts';

/** cloudVariables() of src/cloud/config.ts, through a one-off CommonJS bundle. */
async function loadVariables() {
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-config-docs-'));
  try {
    const outfile = join(dir, 'config.cjs');
    await build({ entryPoints: [join(ROOT, SOURCE)], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile, logLevel: 'error' });
    return createRequire(import.meta.url)(outfile).cloudVariables();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cell = (text) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
const code = (name) => `\`${name}\``;

/** The reference's Markdown: an introduction, then one table per group, in the table's order. */
export function render(variables) {
  const groups = new Map();
  for (const v of variables) groups.set(v.group, [...(groups.get(v.group) ?? []), v]);
  const lines = [
    `<!-- Generated from ${SOURCE} by scripts/gen-config-docs.mjs. Do not edit by hand: change the schema's table and run \`npm run docs:config\`. -->`,
    '',
    '# Configuration reference: `seed-mcp cloud`',
    '',
    `\`seed-mcp cloud\` (and \`AUTH_MODE=cloud seed-mcp serve\`, the start command of existing deployment guides) is configured by environment only. This page lists all ${variables.length} variables.`,
    '',
    '- **`NAME_FILE`**: every variable can also be given as a file: `NAME_FILE` is the path of a file whose content, minus one trailing newline, is the value (Docker and Kubernetes secrets). Setting both `NAME` and `NAME_FILE` is an error. Give secrets this way.',
    '- **Empty is unset**: `NAME=` counts as not set, as compose files write it.',
    '- **Flags**: `seed-mcp cloud --port` and `--host` win over `PORT` / `MCP_PORT` and `HOST` (and their `_FILE` forms).',
    '- **Checked at start-up**: every problem is reported at once (`✗ Configuration validation failed:`, one `- ` line each) and the process exits 2 before listening. `seed-mcp config check` does the same checks without starting, and prints the effective configuration with secrets as `[REDACTED]`.',
    '- **Secret** variables are never printed or logged.',
    '',
    'Local mode (`seed-mcp login`, `serve`, `status`, …) reads `SEED_MCP_*` variables instead; the README\'s "Flags" table lists each beside its flag.',
    '',
    'Contents: ' + [...groups.keys()].map((g) => `[${g}](#${anchor(g)})`).join(' · '),
  ];
  for (const [group, rows] of groups) {
    lines.push('', `## ${group}`, '', '| Variable | Default | File form | Aliases | Description |', '| --- | --- | --- | --- | --- |');
    for (const v of rows) {
      const aliases = [...(v.aliases ?? []).map(code), ...(v.flag ? [`flag ${code(v.flag)}`] : [])].join(', ');
      const description = `${v.secret ? '**Secret.** ' : ''}${v.description}`;
      lines.push(`| ${code(v.name)} | ${cell(v.default ?? '—')} | ${code(`${v.name}_FILE`)} | ${aliases || '—'} | ${cell(description)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces as hyphens. */
function anchor(heading) {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}

async function main(argv) {
  const check = argv.includes('--check');
  const at = argv.indexOf('--out');
  const file = at >= 0 ? argv[at + 1] : join(ROOT, 'docs/configuration.md');
  if (!file) throw new Error('--out needs a file');
  const text = render(await loadVariables());
  if (!check) {
    writeFileSync(file, text);
    process.stderr.write(`wrote ${relative(process.cwd(), file) || file}\n`);
    return 0;
  }
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // missing: reported as out of date
  }
  if (current === text) return 0;
  process.stderr.write(`${relative(process.cwd(), file) || file} is out of date with ${SOURCE}: run npm run docs:config\n`);
  return 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
