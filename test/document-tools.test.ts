/**
 * Document tools over a temp directory: list/get/search, what the walk skips (large files,
 * non-Markdown, symlinks, hidden entries), path traversal, input validation, scopes, and the
 * tools over `examples/documents`.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getChecklistTool } from '../src/shared/tools/documents/get-checklist.js';
import { getProcessTool } from '../src/shared/tools/documents/get-process.js';
import { documentTools } from '../src/shared/tools/documents/index.js';
import { createDocumentLibrary, type DocumentLibrary } from '../src/shared/tools/documents/library.js';
import { listChecklistsTool } from '../src/shared/tools/documents/list-checklists.js';
import { listProcessesTool } from '../src/shared/tools/documents/list-processes.js';
import { searchProcessesTool } from '../src/shared/tools/documents/search-processes.js';
import { ToolError, type ToolContext, type ToolDefinition } from '../src/shared/tools/types.js';

const ROOT = resolve(import.meta.dirname, '..');
const ctx: ToolContext = {
  mode: 'local',
  server: { name: 'seed-mcp', version: 'test' },
  caller: () => Promise.reject(new ToolError('not signed in')),
  signal: new AbortController().signal,
};

let base: string;
let dir: string;
let outside: string;

function write(rel: string, text: string): void {
  const file = join(dir, rel);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'seed-docs-'));
  dir = join(base, 'docs');
  outside = join(base, 'outside');
  mkdirSync(dir);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.md'), '# Secret\n\nTOP-SECRET-CONTENT rollback\n');
  mkdirSync(join(outside, 'more'));
  writeFileSync(join(outside, 'more', 'leak.md'), '# Leak\n\nTOP-SECRET-CONTENT\n');

  write('onboarding.md', '# Onboarding\n\nWhat new people do in their first week.\n\n- [ ] Get a laptop\n');
  write(
    'deploy.md',
    [
      '---',
      'owner: platform',
      '---',
      '<!-- draft -->',
      '# Deploying to **production**',
      '',
      'Steps for a safe [deploy](https://example.com) with a rollback plan.',
      'Second line of the same paragraph.',
      '',
      '```sh',
      '# not a heading',
      '```',
      '',
      ...Array.from({ length: 30 }, (_, i) => `Filler line ${i} about nothing much at all.`),
      'Roll back when the error rate doubles; the rollback takes five minutes.',
    ].join('\n'),
  );
  write('security/incident-response.md', '# Incident response\n\nPage security at once. Rollback is rarely enough.\n');
  write('security/deep/nested/runbook.markdown', 'No heading here, just a paragraph about rollback.\n');
  write('rollback.md', '# Rollback\n\nHow to roll back a release: see rollback steps.\n');
  write('long.md', `# Long\n\n${'word '.repeat(100)}\n`);
  write('notes.txt', '# Not markdown\n\nrollback\n');
  write('.hidden.md', '# Hidden\n');
  write('.git/HEAD.md', '# In .git\n');
  write('big.md', `# Big\n\n${'x'.repeat(1024 * 1024)}\n`);
  symlinkSync(join(outside, 'secret.md'), join(dir, 'linked.md'));
  symlinkSync(outside, join(dir, 'linkdir'));
  symlinkSync(join(dir, 'onboarding.md'), join(dir, 'alias.md'));
  utimesSync(join(dir, 'onboarding.md'), new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00Z'));
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

const checklists = (): DocumentLibrary => createDocumentLibrary(dir, 'checklist');
const processes = (): DocumentLibrary => createDocumentLibrary(dir, 'process');

/** The structured content of a result, as the record `jsonResult` made it. */
const sc = (r: CallToolResult): Record<string, unknown> => r.structuredContent as Record<string, unknown>;

async function failure(tool: ToolDefinition, args: Record<string, unknown>): Promise<string> {
  const err = await tool.handler(args, ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ToolError);
  return (err as ToolError).message;
}

describe('document library', () => {
  it('lists regular Markdown files, nested, with titles, descriptions and dates', async () => {
    const docs = await checklists().list();
    expect(docs.map((d) => d.id)).toEqual(['deploy', 'long', 'onboarding', 'rollback', 'security/deep/nested/runbook', 'security/incident-response']);
    const onboarding = docs.find((d) => d.id === 'onboarding')!;
    expect(onboarding).toEqual({
      id: 'onboarding',
      title: 'Onboarding',
      description: 'What new people do in their first week.',
      updatedAt: '2024-05-01T10:00:00.000Z',
      bytes: Buffer.byteLength('# Onboarding\n\nWhat new people do in their first week.\n\n- [ ] Get a laptop\n'),
    });
    const deploy = docs.find((d) => d.id === 'deploy')!;
    expect(deploy.title).toBe('Deploying to production');
    expect(deploy.description).toBe('Steps for a safe deploy with a rollback plan. Second line of the same paragraph.');
    const runbook = docs.find((d) => d.id === 'security/deep/nested/runbook')!;
    expect(runbook.title).toBe('runbook');
    expect(runbook.description).toBe('No heading here, just a paragraph about rollback.');
    const long = docs.find((d) => d.id === 'long')!;
    expect(long.description.length).toBeLessThanOrEqual(200);
    expect(long.description.endsWith('…')).toBe(true);
    expect(JSON.stringify(docs)).not.toContain(dir);
  });

  it('skips large files, non-Markdown files, hidden entries and symbolic links', async () => {
    const ids = (await checklists().list()).map((d) => d.id);
    for (const id of ['big', 'notes', 'notes.txt', '.hidden', 'hidden', '.git/HEAD', 'linked', 'alias', 'linkdir/secret', 'linkdir/more/leak']) {
      expect(ids).not.toContain(id);
    }
    // A smaller limit skips more; the default 1 MiB keeps `long` and drops `big`.
    const small = createDocumentLibrary(dir, 'checklist', { maxFileBytes: 100 });
    expect((await small.list()).map((d) => d.id)).not.toContain('long');
    expect(await small.get('long')).toBeUndefined();
    const all = JSON.stringify(await processes().search('top-secret-content'));
    expect(all).toBe('[]');
  });

  it('gets a document by id with its content, and re-reads a changed file', async () => {
    const lib = checklists();
    const doc = await lib.get('security/incident-response');
    expect(doc).toMatchObject({ id: 'security/incident-response', title: 'Incident response' });
    expect(doc!.content).toBe('# Incident response\n\nPage security at once. Rollback is rarely enough.\n');
    write('security/incident-response.md', '# Incident response v2\n\nChanged.\n');
    try {
      expect((await lib.get('security/incident-response'))!.title).toBe('Incident response v2');
    } finally {
      write('security/incident-response.md', '# Incident response\n\nPage security at once. Rollback is rarely enough.\n');
    }
    write('fresh.md', '# Fresh\n');
    try {
      expect((await lib.get('fresh'))!.title).toBe('Fresh');
    } finally {
      rmSync(join(dir, 'fresh.md'));
    }
    expect(await lib.get('fresh')).toBeUndefined();
  });

  const traversal = [
    '../outside/secret',
    '../outside/secret.md',
    '..',
    '.',
    '/etc/passwd',
    '../../../../../../etc/passwd',
    '%2e%2e/outside/secret',
    '%2e%2e%2foutside%2fsecret',
    'onboarding\0',
    'onboarding\0.md',
    'security\\incident-response',
    '..\\outside\\secret',
    'security/../onboarding',
    './onboarding',
    'security//incident-response',
    '/onboarding',
    'onboarding.md',
    'onboarding/',
    'ONBOARDING',
    'linked',
    'linkdir/secret',
    'alias',
    'big',
    'notes.txt',
    '.hidden',
    'security/deep/nested/runbook.markdown',
  ];

  it('finds nothing for traversal attempts, raw paths, links or skipped files', async () => {
    const lib = checklists();
    const absolute = [join(dir, 'onboarding.md'), join(dir, 'onboarding'), join(outside, 'secret'), join(outside, 'secret.md')];
    for (const id of [...traversal, ...absolute]) {
      expect(await lib.get(id), id).toBeUndefined();
    }
  });

  it('answers traversal attempts through the tool with an error that names no path', async () => {
    const tool = getChecklistTool(checklists());
    for (const id of [...traversal, join(dir, 'onboarding.md'), join(outside, 'secret')]) {
      const message = await failure(tool, { id });
      expect(message).toMatch(/no checklist has that id.*list_checklists/);
      for (const path of [dir, outside, base, tmpdir(), '/etc', 'passwd', '..', '\\']) expect(message).not.toContain(path);
    }
  });

  it('fails without a path when the directory is missing', async () => {
    const tool = listChecklistsTool(createDocumentLibrary(join(base, 'missing'), 'checklist'));
    const message = await failure(tool, {});
    expect(message).toMatch(/CHECKLIST_DIR/);
    expect(message).not.toContain(base);
  });

  it('searches title and body for all terms, title matches weighted, with snippets', async () => {
    const lib = processes();
    const hits = await lib.search('ROLLBACK');
    expect(hits.map((h) => h.id)).toEqual(['rollback', 'deploy', 'security/deep/nested/runbook', 'security/incident-response']);
    // `rollback` has it in the title (weighted) and once in the body; `deploy` twice in the body.
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
    for (const h of hits) {
      expect(h.snippet.length).toBeLessThanOrEqual(160);
      expect(h.snippet.toLowerCase()).toContain('rollback');
    }
    // The first body match of `deploy` is early; a later-only term gets a snippet cut around it.
    const [late] = await lib.search('doubles');
    expect(late!.id).toBe('deploy');
    expect(late!.snippet.startsWith('…')).toBe(true);
    expect(late!.snippet).toContain('doubles');
    expect(late!.snippet.length).toBeLessThanOrEqual(160);

    expect((await lib.search('rollback security')).map((h) => h.id)).toEqual(['security/incident-response']);
    expect(await lib.search('rollback nonexistentword')).toEqual([]);
    expect(await lib.search('   ')).toEqual([]);
    expect(await lib.search('rollback', { limit: 2 })).toHaveLength(2);
    // Regular-expression characters are text.
    expect(await lib.search('.*')).toEqual([]);
  });
});

describe('document tools', () => {
  it('have the required scopes, read-only annotations and JSON Schema inputs', () => {
    const c = checklists();
    const p = processes();
    const tools = [listChecklistsTool(c), getChecklistTool(c), listProcessesTool(p), getProcessTool(p), searchProcessesTool(p)];
    expect(Object.fromEntries(tools.map((t) => [t.name, t.requiredScopes]))).toEqual({
      list_checklists: ['checklist.list'],
      get_checklist: ['checklist.read'],
      list_processes: ['process.read'],
      get_process: ['process.read'],
      search_processes: ['process.search'],
    });
    for (const t of tools) {
      expect(t.annotations).toEqual({ readOnlyHint: true, openWorldHint: false });
      expect(t.inputSchema.type).toBe('object');
    }
    expect(tools[1]!.inputSchema.required).toEqual(['id']);
    expect(tools[4]!.inputSchema.required).toEqual(['query']);
    expect(() => getChecklistTool(p)).toThrow(TypeError);
  });

  it('return structured content, and the Markdown as text for get_*', async () => {
    const list = await listProcessesTool(processes()).handler({}, ctx);
    expect(list.structuredContent).toMatchObject({ count: 6 });
    expect((sc(list).processes as Array<{ id: string }>).map((d) => d.id)).toContain('security/incident-response');

    const got = await getProcessTool(processes()).handler({ id: 'onboarding' }, ctx);
    expect(got.isError).toBeFalsy();
    expect(got.structuredContent).toMatchObject({ id: 'onboarding', title: 'Onboarding' });
    expect(got.content).toHaveLength(2);
    expect(got.content[1]).toEqual({ type: 'text', text: '# Onboarding\n\nWhat new people do in their first week.\n\n- [ ] Get a laptop\n' });

    const found = await searchProcessesTool(processes()).handler({ query: 'rollback', limit: 1 }, ctx);
    expect(found.structuredContent).toMatchObject({ query: 'rollback', count: 1, results: [{ id: 'rollback' }] });
    const nullLimit = await searchProcessesTool(processes()).handler({ query: 'rollback', limit: null }, ctx);
    expect(nullLimit.structuredContent).toMatchObject({ count: 4 });
  });

  it('reject bad input with a ToolError saying what is wrong', async () => {
    const get = getChecklistTool(checklists());
    expect(await failure(get, {})).toMatch(/"id" is required/);
    expect(await failure(get, { id: 42 })).toMatch(/"id" must be a string, not a number/);
    expect(await failure(get, { id: ['a'] })).toMatch(/not an array/);
    expect(await failure(get, { id: '' })).toMatch(/1 to 512 characters/);
    expect(await failure(get, { id: 'a'.repeat(513) })).toMatch(/1 to 512 characters/);
    expect(await failure(get, { id: 'onboarding', path: '/etc/passwd' })).toMatch(/unknown argument "path"; it takes only id/);
    expect(await failure(listChecklistsTool(checklists()), { x: 1 })).toMatch(/unknown argument "x"; it takes no arguments/);
    expect(await failure(get, null as unknown as Record<string, unknown>)).toMatch(/must be an object/);

    const search = searchProcessesTool(processes());
    expect(await failure(search, {})).toMatch(/"query" is required/);
    expect(await failure(search, { query: 5 })).toMatch(/"query" must be a string, not a number/);
    expect(await failure(search, { query: '' })).toMatch(/1 to 200 characters/);
    expect(await failure(search, { query: 'a'.repeat(201) })).toMatch(/1 to 200 characters/);
    expect(await failure(search, { query: '   ' })).toMatch(/at least one word/);
    expect(await failure(search, { query: 'x', limit: 0 })).toMatch(/"limit" must be an integer from 1 to 50, not 0/);
    expect(await failure(search, { query: 'x', limit: 51 })).toMatch(/not 51/);
    expect(await failure(search, { query: 'x', limit: 2.5 })).toMatch(/not 2.5/);
    expect(await failure(search, { query: 'x', limit: '5' })).toMatch(/not a string/);
  });

  it('documentTools over examples/documents: five tools that work', async () => {
    expect(documentTools({})).toEqual([]);
    expect(documentTools({ checklistDir: '', processDir: '' })).toEqual([]);
    expect(documentTools({ checklistDir: join(ROOT, 'examples/documents/checklists') }).map((t) => t.name)).toEqual(['list_checklists', 'get_checklist']);

    const tools = documentTools({
      checklistDir: join(ROOT, 'examples/documents/checklists'),
      processDir: join(ROOT, 'examples/documents/processes'),
    });
    expect(tools.map((t) => t.name)).toEqual(['list_checklists', 'get_checklist', 'list_processes', 'get_process', 'search_processes']);
    const byName = new Map(tools.map((t) => [t.name, t]));
    const call = (name: string, args: Record<string, unknown>) => byName.get(name)!.handler(args, ctx);

    const lc = await call('list_checklists', {});
    const checklistIds = sc(lc).checklists as Array<{ id: string; title: string; description: string }>;
    expect(checklistIds.map((d) => d.id)).toEqual(['onboarding', 'production-deploy', 'security/incident-response']);
    for (const d of checklistIds) {
      expect(d.title).not.toBe('');
      expect(d.description.length).toBeGreaterThan(20);
    }
    const gc = await call('get_checklist', { id: 'security/incident-response' });
    expect(sc(gc).title).toBe('Security incident response');
    expect(String(sc(gc).content)).toContain('- [ ]');

    const lp = await call('list_processes', {});
    expect((sc(lp).processes as Array<{ id: string }>).map((d) => d.id)).toEqual(['access-review', 'change-management', 'on-call-handover']);
    const gp = await call('get_process', { id: 'change-management' });
    expect(sc(gp).title).toBe('Change management');

    const sp = await call('search_processes', { query: 'rollback plan' });
    expect((sc(sp).results as Array<{ id: string }>)[0]!.id).toBe('change-management');
    const access = await call('search_processes', { query: 'access review' });
    expect((sc(access).results as Array<{ id: string }>)[0]!.id).toBe('access-review');

    expect(await failure(byName.get('get_process')!, { id: '../checklists/onboarding' })).toMatch(/no process has that id/);
  });
});
