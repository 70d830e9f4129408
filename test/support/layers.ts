/**
 * The layering rule of src/, checked from the import statements of every source file:
 * `shared` imports no other part; `local` and `cloud` never import each other; only `cli` imports
 * `demo`. Static imports, re-exports and dynamic `import()` of relative paths all count.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export type Part = 'cli' | 'shared' | 'local' | 'cloud' | 'demo';

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

const IMPORT = /(?:\bimport\s*(?:type\s+)?(?:[\w*{}\s,]+\sfrom\s*)?|\bexport\s*(?:type\s+)?[\w*{}\s,]*\sfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** The part a path under `srcDir` belongs to (its first folder), if any. */
function partOf(srcDir: string, path: string): Part | undefined {
  const top = relative(srcDir, path).split(sep)[0];
  return top === 'cli' || top === 'shared' || top === 'local' || top === 'cloud' || top === 'demo' ? top : undefined;
}

/** Why `from` may not import `to`, or undefined when it may. */
export function ruleBroken(from: Part, to: Part): string | undefined {
  if (from === to) return undefined;
  if (from === 'shared') return 'shared imports no other part';
  if ((from === 'local' && to === 'cloud') || (from === 'cloud' && to === 'local')) return 'local and cloud never import each other';
  if (to === 'demo' && from !== 'cli') return 'only cli imports demo';
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx|mts|js|mjs)$/.test(e.name) ? [path] : [];
  });
}

/** Every import in `srcDir` that breaks the rule. */
export function layerViolations(srcDir: string): Violation[] {
  const root = resolve(srcDir);
  const violations: Violation[] = [];
  for (const file of sourceFiles(root)) {
    const from = partOf(root, file);
    if (!from) continue;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), match[1]!);
      const to = partOf(root, target);
      const rule = to ? ruleBroken(from, to) : relative(root, target).startsWith('..') ? 'src imports nothing outside src' : undefined;
      if (rule) violations.push({ file: relative(root, file), imports: match[1]!, rule });
    }
  }
  return violations;
}
