import { constants as fsConstants, type Dirent, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ToolError } from '../types.js';

/** Which directory a library serves: checklists (`CHECKLIST_DIR`) or processes (`PROCESS_DIR`). */
export type DocumentKind = 'checklist' | 'process';

/** One Markdown document as listed: never its path on disk. */
export interface DocumentSummary {
  /** Path relative to the directory, without `.md`/`.markdown`, `/`-separated: `security/incident-response`. */
  id: string;
  /** The first `# ` heading, or the file name when there is none. */
  title: string;
  /** The first paragraph, whitespace collapsed, at most 200 characters ('' when there is none). */
  description: string;
  /** Last modification, ISO 8601. */
  updatedAt: string;
  bytes: number;
}

export interface Document extends DocumentSummary {
  /** The Markdown text as stored (UTF-8, without a byte-order mark). */
  content: string;
}

export interface SearchHit {
  id: string;
  title: string;
  /** Matches of all terms, a title match counting {@link TITLE_WEIGHT} times; higher is better. */
  score: number;
  /** Text around the first match in the body (or the start of the document), at most 160 characters. */
  snippet: string;
}

export interface DocumentLibraryOptions {
  /** Larger files are skipped. Default 1 MiB. */
  maxFileBytes?: number;
}

export interface DocumentLibrary {
  readonly kind: DocumentKind;
  /** Every document, sorted by id. */
  list(): Promise<DocumentSummary[]>;
  /** The document with exactly this id, or `undefined`: ids are looked up, never joined into a path. */
  get(id: string): Promise<Document | undefined>;
  /** Documents matching every term of `query` (case-insensitive), best first; `limit` 1..50, default 10. */
  search(query: string, options?: { limit?: number }): Promise<SearchHit[]>;
}

const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
/** A walk stops there: a document library is a few hundred files, not a file system. */
const MAX_FILES = 2000;
const MAX_DEPTH = 16;
/** Parsed documents kept between calls (re-read when their stat changes), in total. */
const MAX_CACHE_BYTES = 64 * 1024 * 1024;
const TITLE_WEIGHT = 5;
const MAX_TERMS = 32;
const DESCRIPTION_MAX = 200;
const SNIPPET_MAX = 160;
const MARKDOWN_FILE = /\.(?:md|markdown)$/i;
// Hidden entries (.git, .obsidian), and names no id could carry cleanly: backslashes, control characters.
// eslint-disable-next-line no-control-regex
const UNSAFE_NAME = /^\.|[\\\u0000-\u001f\u007f]/;
const O_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);

interface Entry {
  id: string;
  /** Real path, inside the real root. */
  path: string;
  stats: Stats;
}

interface Parsed {
  title: string;
  description: string;
  updatedAt: string;
  bytes: number;
  content: string;
  /** Title line removed, whitespace collapsed: what search matches and snippets are cut from. */
  body: string;
}

interface CacheEntry {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  parsed: Parsed;
}

/**
 * The Markdown documents under `dir`, found by walking it on every call: regular `.md`/`.markdown`
 * files only, symbolic links never followed, anything resolving outside `dir` or larger than
 * `maxFileBytes` skipped. Parsed files are cached while their size, mtime, ctime and inode stay the same.
 */
export function createDocumentLibrary(dir: string, kind: DocumentKind, options: DocumentLibraryOptions = {}): DocumentLibrary {
  const configured = resolve(dir);
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) throw new RangeError('maxFileBytes must be a positive integer');
  const cache = new Map<string, CacheEntry>();
  let cachedBytes = 0;

  async function walk(): Promise<Entry[]> {
    let root: string;
    try {
      root = await realpath(configured);
      if (!(await stat(root)).isDirectory()) throw new Error(`${root} is not a directory`);
    } catch (err) {
      // The message is for the model and the person: no path. The cause (with the path) is for logs.
      throw new ToolError(
        `The ${kind} library is unavailable: the server cannot read its ${kind} directory. Ask the administrator to check ${kind === 'checklist' ? 'CHECKLIST_DIR' : 'PROCESS_DIR'}.`,
        { cause: err },
      );
    }
    const inside = root.endsWith(sep) ? root : root + sep;
    const entries: Entry[] = [];
    const ids = new Set<string>();

    const visit = async (absDir: string, rel: string[]): Promise<void> => {
      if (rel.length > MAX_DEPTH) return;
      let dirents: Dirent[];
      try {
        dirents = await readdir(absDir, { withFileTypes: true });
      } catch {
        return; // unreadable subdirectory: skipped
      }
      dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of dirents) {
        if (entries.length >= MAX_FILES) return;
        if (UNSAFE_NAME.test(d.name) || d.isSymbolicLink()) continue;
        const abs = join(absDir, d.name);
        if (d.isDirectory()) {
          await visit(abs, [...rel, d.name]);
          continue;
        }
        const ext = MARKDOWN_FILE.exec(d.name);
        if (!d.isFile() || !ext) continue;
        let stats: Stats;
        let real: string;
        try {
          stats = await lstat(abs);
          if (!stats.isFile() || stats.size > maxFileBytes) continue;
          real = await realpath(abs);
        } catch {
          continue; // gone since readdir
        }
        if (!real.startsWith(inside)) continue;
        const id = [...rel, d.name.slice(0, ext.index)].join('/');
        if (ids.has(id)) continue; // `a.md` and `a.markdown`: the first in name order wins
        ids.add(id);
        entries.push({ id, path: real, stats });
      }
    };
    await visit(root, []);

    const live = new Set(entries.map((e) => e.path));
    for (const [path, c] of cache) {
      if (!live.has(path)) {
        cache.delete(path);
        cachedBytes -= c.size;
      }
    }
    return entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async function load(entry: Entry): Promise<Parsed | undefined> {
    const hit = cache.get(entry.path);
    if (hit && sameFile(hit, entry.stats)) return hit.parsed;
    let handle;
    try {
      handle = await open(entry.path, O_FLAGS);
    } catch {
      return undefined;
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile() || stats.size > maxFileBytes) return undefined;
      // Read at most one byte more than allowed, whatever the file has grown to since the stat.
      const buf = Buffer.alloc(Math.min(stats.size, maxFileBytes) + 1);
      let length = 0;
      while (length < buf.length) {
        const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      if (length > maxFileBytes) return undefined;
      const content = buf
        .subarray(0, length)
        .toString('utf8')
        .replace(/^\uFEFF/, '');
      const parsed = parse(content, entry.id.slice(entry.id.lastIndexOf('/') + 1));
      parsed.updatedAt = stats.mtime.toISOString();
      parsed.bytes = length;
      if (hit) {
        cache.delete(entry.path);
        cachedBytes -= hit.size;
      }
      if (cachedBytes + stats.size <= MAX_CACHE_BYTES) {
        cache.set(entry.path, { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, parsed });
        cachedBytes += stats.size;
      }
      return parsed;
    } catch {
      return undefined;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async function loadAll(): Promise<Array<{ id: string; doc: Parsed }>> {
    const out: Array<{ id: string; doc: Parsed }> = [];
    for (const entry of await walk()) {
      const doc = await load(entry);
      if (doc) out.push({ id: entry.id, doc });
    }
    return out;
  }

  return {
    kind,
    async list() {
      return (await loadAll()).map(({ id, doc }) => summary(id, doc));
    },
    async get(id) {
      if (typeof id !== 'string' || id === '') return undefined;
      const entry = (await walk()).find((e) => e.id === id);
      const doc = entry && (await load(entry));
      return doc && { ...summary(entry.id, doc), content: doc.content };
    },
    async search(query, options = {}) {
      const limit = Math.min(50, Math.max(1, Math.trunc(options.limit ?? 10) || 10));
      const terms = [...new Set(String(query).toLowerCase().split(/\s+/).filter(Boolean))].slice(0, MAX_TERMS);
      if (terms.length === 0) return [];
      const patterns = terms.map((t) => new RegExp(escapeRegExp(t), 'giu'));
      const any = new RegExp(terms.map(escapeRegExp).join('|'), 'iu');
      const hits: Array<SearchHit & { titleMatches: number }> = [];
      for (const { id, doc } of await loadAll()) {
        let score = 0;
        let titleMatches = 0;
        let all = true;
        for (const p of patterns) {
          const inTitle = count(p, doc.title);
          const inBody = count(p, doc.body);
          if (inTitle + inBody === 0) {
            all = false;
            break;
          }
          titleMatches += inTitle;
          score += inTitle * TITLE_WEIGHT + inBody;
        }
        if (!all) continue;
        const at = any.exec(doc.body);
        const snippet = at ? cutAround(doc.body, at.index, at[0].length, SNIPPET_MAX) : cutAround(doc.description || doc.body, 0, 0, SNIPPET_MAX);
        hits.push({ id, title: doc.title, score, snippet, titleMatches });
      }
      hits.sort((a, b) => b.score - a.score || b.titleMatches - a.titleMatches || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return hits.slice(0, limit).map(({ id, title, score, snippet }) => ({ id, title, score, snippet }));
    },
  };
}

/**
 * Rejects arguments a document tool does not take, and anything that is not an object, with a
 * {@link ToolError} saying what is wrong.
 */
export function checkToolArgs(args: unknown, allowed: readonly string[], tool: string): Record<string, unknown> {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new ToolError(`${tool}: the arguments must be an object.`);
  const unknown = Object.keys(args).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    const names = unknown
      .slice(0, 3)
      .map((k) => JSON.stringify(k.slice(0, 40)))
      .join(', ');
    const takes = allowed.length ? `it takes only ${allowed.join(', ')}` : 'it takes no arguments';
    throw new ToolError(`${tool}: unknown argument${unknown.length > 1 ? 's' : ''} ${names}; ${takes}.`);
  }
  return args as Record<string, unknown>;
}

/** The `id` argument of a `get_*` tool: a non-empty string of at most 512 characters. */
export function documentIdArg(args: unknown, tool: string, listTool: string): string {
  const { id } = checkToolArgs(args, ['id'], tool);
  if (id === undefined) throw new ToolError(`${tool}: the argument "id" is required; call ${listTool} for the ids.`);
  if (typeof id !== 'string') throw new ToolError(`${tool}: "id" must be a string, not ${describeType(id)}.`);
  if (id.length === 0 || id.length > 512) throw new ToolError(`${tool}: "id" must be 1 to 512 characters long; call ${listTool} for the ids.`);
  return id;
}

/** "a string", "null", "an array"…: what a wrong argument was, for an error message. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function summary(id: string, doc: Parsed): DocumentSummary {
  return { id, title: doc.title, description: doc.description, updatedAt: doc.updatedAt, bytes: doc.bytes };
}

function sameFile(c: CacheEntry, s: Stats): boolean {
  return c.dev === s.dev && c.ino === s.ino && c.size === s.size && c.mtimeMs === s.mtimeMs && c.ctimeMs === s.ctimeMs;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HEADING = /^ {0,3}#{1,6}(?:[ \t]|$)/;
const H1 = /^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const LIST_ITEM = /^\s*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/;
const RULE = /^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$/;
const SETEXT = /^ {0,3}(?:=+|-+)[ \t]*$/;

/** Title, description and search text of a Markdown document; no Markdown library, just enough. */
function parse(content: string, fileName: string): Parsed {
  const lines = content.split(/\r\n|\r|\n/);
  let i = 0;
  if (/^---[ \t]*$/.test(lines[0] ?? '')) {
    // YAML front matter: not a paragraph, not a title.
    const end = lines.findIndex((l, n) => n > 0 && /^(?:---|\.\.\.)[ \t]*$/.test(l));
    if (end > 0) i = end + 1;
  }
  let titleLine = -1;
  let title: string | undefined;
  let description: string | undefined;
  let paragraph: string[] = [];
  let fence: string | undefined;
  let comment = false;

  const endParagraph = () => {
    if (description === undefined && paragraph.length > 0) description = paragraph.join(' ');
    paragraph = [];
  };
  for (; i < lines.length && (title === undefined || description === undefined); i++) {
    const line = lines[i]!;
    if (fence) {
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') fence = undefined;
      continue;
    }
    if (comment) {
      if (line.includes('-->')) comment = false;
      continue;
    }
    const f = FENCE.exec(line);
    if (f) {
      endParagraph();
      fence = f[1]!;
      continue;
    }
    if (HEADING.test(line)) {
      endParagraph();
      const h = H1.exec(line);
      if (h && title === undefined && h[1]!.trim()) {
        title = plainText(h[1]!);
        titleLine = i;
      }
      continue;
    }
    if (line.trim() === '') {
      endParagraph();
      continue;
    }
    if (paragraph.length > 0) {
      if (SETEXT.test(line)) {
        paragraph = []; // the "paragraph" was a setext heading
        continue;
      }
      if (LIST_ITEM.test(line) || /^\s*>/.test(line)) {
        endParagraph();
      } else {
        paragraph.push(line.trim());
        continue;
      }
    }
    if (description !== undefined) continue;
    if (line.trimStart().startsWith('<!--')) {
      comment = !line.includes('-->');
      continue;
    }
    // Lists, quotes, tables, rules, indented code and HTML: not the prose a description is.
    if (LIST_ITEM.test(line) || RULE.test(line) || /^\s*[>|<]/.test(line) || /^(?: {4}|\t)/.test(line)) continue;
    paragraph.push(line.trim());
  }
  endParagraph();

  const body = (titleLine >= 0 ? [...lines.slice(0, titleLine), ...lines.slice(titleLine + 1)] : lines).join(' ').replace(/\s+/g, ' ').trim();
  return {
    title: title || fileName,
    description: truncate(plainText(description ?? ''), DESCRIPTION_MAX),
    updatedAt: '',
    bytes: 0,
    content,
    body,
  };
}

/** Inline Markdown to text: links and images to their text, emphasis and code marks dropped. */
function plainText(s: string): string {
  return s
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\*\*|__|~~|`/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** At most `max` characters of `text` around [at, at + length), on word boundaries where it can. */
function cutAround(text: string, at: number, length: number, max: number): string {
  if (text.length <= max) return text;
  let start = Math.max(0, at - 40);
  if (text.length - start < max - 1) start = text.length - (max - 1);
  if (start > 0) {
    const space = text.indexOf(' ', start);
    if (space !== -1 && space < at && space - start < 20) start = space + 1;
  }
  const prefix = start > 0 ? '…' : '';
  let end = start + max - prefix.length;
  let suffix = '';
  if (end < text.length) {
    suffix = '…';
    end -= 1;
    const space = text.lastIndexOf(' ', end);
    if (space > at + length && end - space < 20) end = space;
  } else {
    end = text.length;
  }
  return prefix + text.slice(start, end).trim() + suffix;
}

function count(pattern: RegExp, text: string): number {
  pattern.lastIndex = 0;
  let n = 0;
  while (pattern.exec(text)) n++;
  return n;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
