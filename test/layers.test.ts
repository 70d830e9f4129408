/** The layering rule holds in src/, and the check finds each kind of break in a tree made to break it. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { layerViolations } from './support/layers.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const scratch = mkdtempSync(join(tmpdir(), 'seed-mcp-layers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, 'src-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('layers', () => {
  it('src/ keeps the rule', () => {
    expect(layerViolations(SRC)).toEqual([]);
  });

  it('finds shared importing another part, local and cloud importing each other, demo imported outside cli', () => {
    const dir = tree({
      'shared/a.ts': "import { x } from '../cloud/x.js';\nexport const a = x;\n",
      'shared/b.ts': "export { y } from '../local/y.js';\n",
      'local/c.ts': "const m = await import('../cloud/m.js');\n",
      'cloud/d.ts': "import type { T } from '../local/t.js';\n",
      'cloud/e.ts': "import { run } from '../demo/run.js';\n",
      'cli/f.ts': "import { run } from '../demo/run.js';\nimport { x } from '../cloud/x.js';\nimport { s } from '../shared/s.js';\n",
      'demo/g.ts': "import { x } from '../cloud/x.js';\nimport { s } from '../shared/s.js';\n",
      'local/h.ts': "import { s } from '../shared/s.js';\nimport { z } from './z.js';\n",
    });
    const found = layerViolations(dir).map((v) => `${v.file} -> ${v.imports}: ${v.rule}`);
    expect(found.sort()).toEqual(
      [
        'cloud/d.ts -> ../local/t.js: local and cloud never import each other',
        'cloud/e.ts -> ../demo/run.js: only cli imports demo',
        'local/c.ts -> ../cloud/m.js: local and cloud never import each other',
        'shared/a.ts -> ../cloud/x.js: shared imports no other part',
        'shared/b.ts -> ../local/y.js: shared imports no other part',
      ].sort(),
    );
  });
});
