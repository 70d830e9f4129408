/**
 * The files `seed-mcp cloud` reads and keeps current (the tool policy, the upstreams): YAML or
 * JSON by extension, validated with a zod schema reporting every problem at once with its line,
 * and reloaded on change or SIGHUP with the last good version kept when an edit is broken.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** How a file is written. */
export type FileFormat = 'yaml' | 'json';

/** What a config file is, for its messages: `the tool policy`, `the upstreams file`. */
export interface FileKind {
  /** `could not load <what> <source>: …` */
  what: string;
  /** The hint of every load error. */
  hint: string;
  /** The problem reported for an empty file. */
  empty: string;
  /** The env variable naming the file, for read errors. */
  variable: string;
}

/**
 * Parses `text` and validates it with `schema`, then `compile`s the result (which may report
 * problems of its own by returning strings).
 *
 * @throws SeedError `CONFIG_INVALID` whose message is `could not load <what> <source>: N problems`
 *   followed by one `\n  - <location>: <problem>` line per problem, in file order.
 */
export function parseConfigText<S extends z.ZodType, T>(
  text: string,
  format: FileFormat,
  source: string,
  kind: FileKind,
  schema: S,
  compile: (value: z.infer<S>) => T | { problems: string[] },
): T {
  const src = text.replace(/^\uFEFF/, '');
  const problems: string[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };

  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(src);
    } catch (err) {
      // V8 says where as "at position 51"; people count lines.
      const message = (err as Error).message.replace(/ at position (\d+)(?: \(line \d+ column \d+\))?/, (_m, pos: string) => ` at ${at(Number(pos))}`);
      problems.push(`not valid JSON: ${message}`);
    }
    // JSON.parse keeps the last of two equal keys without a word; a silently dropped key is not
    // something an access policy or a credential should do.
    if (problems.length === 0) {
      for (const e of doc.errors) if (e.code === 'DUPLICATE_KEY') problems.push(`${at(e.pos[0])}: duplicate key`);
    }
  } else {
    for (const e of [...doc.errors, ...doc.warnings]) problems.push(`${at(e.pos[0])}: ${yamlMessage(e.code, e.message, kind)}`);
    if (problems.length === 0) {
      try {
        value = doc.toJS();
      } catch (err) {
        problems.push(`not valid YAML: ${(err as Error).message}`);
      }
    }
  }

  if (problems.length === 0) {
    if (value === null || value === undefined) {
      problems.push(kind.empty);
    } else {
      const result = schema.safeParse(value, { reportInput: true });
      if (result.success) {
        const compiled = compile(result.data);
        if (!(compiled && typeof compiled === 'object' && 'problems' in compiled && Array.isArray(compiled.problems))) return compiled as T;
        problems.push(...compiled.problems);
      } else {
        const offsetOf = (path: PropertyKey[]): number | undefined => {
          for (let n = path.length; n >= 0; n--) {
            const node = doc.getIn(path.slice(0, n) as unknown[], true);
            if (isNode(node) && node.range) return node.range[0];
          }
          return undefined;
        };
        const found: Array<{ offset: number; text: string }> = [];
        for (const issue of result.error.issues) {
          const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
          for (const path of paths) {
            const offset = offsetOf(path);
            const line = offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`;
            found.push({ offset: offset ?? 0, text: `${wherePath(path)}${line}: ${issueMessage(issue)}` });
          }
        }
        // In file order, which is how people fix them; sort is stable for problems on one line.
        problems.push(...found.sort((a, b) => a.offset - b.offset).map((p) => p.text));
      }
    }
  }

  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  throw new SeedError('CONFIG_INVALID', `could not load ${kind.what} ${source}: ${count}${problems.map((p) => `\n  - ${p}`).join('')}`, { hint: kind.hint });
}

/** `rules[1].allow.emails[0]`, the way the file reads. */
export function wherePath(path: PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  return out || 'the file';
}

function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return 'unknown key';
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'string') return `must be a string, got ${describe(issue.input)}`;
      if (!issue.message.startsWith('Invalid input')) return issue.message;
      return `must be ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}, got ${describe(issue.input)}`;
    default:
      return issue.message;
  }
}

function describe(input: unknown): string {
  if (input === null) return 'nothing';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `${typeof input} ${JSON.stringify(input)}`;
}

function yamlMessage(code: string, message: string, kind: FileKind): string {
  if (code === 'DUPLICATE_KEY') return 'duplicate key';
  if (code === 'MULTIPLE_DOCS') return `the file holds several YAML documents; ${kind.what.replace(/^the /, 'a ')} is one`;
  return message;
}

function formatOf(path: string): FileFormat | undefined {
  const ext = extname(path).toLowerCase();
  return ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
}

/** Reads a config file; the extension (`.yaml`, `.yml`, `.json`) says which format. */
export async function readConfigText(path: string, kind: FileKind): Promise<{ text: string; format: FileFormat }> {
  const format = formatOf(path);
  if (!format) {
    throw new SeedError('CONFIG_INVALID', `could not load ${kind.what} ${path}: its name must end in .yaml, .yml or .json`, {
      hint: 'the extension says whether the file is YAML or JSON',
    });
  }
  try {
    return { text: await readFile(path, 'utf8'), format };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new SeedError('CONFIG_INVALID', `could not load ${kind.what} ${path}: ${why}`, { hint: `check ${kind.variable}`, cause: err });
  }
}

export interface WatchOptions<T> {
  logger: Logger;
  /** Called with each version a reload puts in force (not with the first). */
  onChange?: (value: T) => void;
  /** How long the file must be quiet before a reload: editors write in several steps. 200 ms. */
  debounceMs?: number;
}

export interface FileWatcher<T> {
  /** The version in force: the last one that loaded. */
  current(): T;
  /** Loads the file again now. Rejects with the `CONFIG_INVALID` error when it is broken; the last good version stays. */
  reload(): Promise<void>;
  /** Stops watching the file and listening for SIGHUP. */
  close(): void;
}

export interface WatchedFile<T> {
  kind: FileKind;
  parse(text: string, format: FileFormat, source: string): T;
  /** Log events: `<prefix>_loaded`, `<prefix>_reloaded`, `<prefix>_reload_failed`, `<prefix>_watch_failed`, `<prefix>_on_change_failed`. */
  eventPrefix: string;
  /** Fields logged with each load (counts, never secrets). */
  summary(value: T): Record<string, unknown>;
  loadedAt(value: T): number;
}

type Trigger = 'SIGHUP' | 'file change' | 'reload';

/**
 * Loads a config file, then keeps it current: reloads on SIGHUP and when the file changes. A broken
 * edit is logged (`<prefix>_reload_failed`) and the last good version stays in force; a failure
 * never stops the server. The file's directory is watched, not the file, because editors and
 * config-management tools replace a file by renaming another over it; events for other names are
 * ignored, except Kubernetes' `..data`, which a mounted ConfigMap swaps on update.
 *
 * @returns Once the first load succeeded; rejects when it did not: the server must not start with
 *   a broken file.
 */
export async function watchConfigFile<T>(path: string, file: WatchedFile<T>, options: WatchOptions<T>): Promise<FileWatcher<T>> {
  const { logger, onChange, debounceMs = 200 } = options;
  const prefix = file.eventPrefix;
  const first = await readConfigText(path, file.kind);
  let value = file.parse(first.text, first.format, path);
  let lastText = first.text;
  let lastFailed = false;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  logger.info(`${prefix}_loaded`, { source: path, ...file.summary(value) });

  const load = async (trigger: Trigger): Promise<void> => {
    let next: T;
    try {
      const { text, format } = await readConfigText(path, file.kind);
      // Our own read, or a touch, can raise an event; a reload without a change is only noise.
      if (trigger === 'file change' && text === lastText && !lastFailed) return;
      lastText = text;
      next = file.parse(text, format, path);
    } catch (err) {
      lastFailed = true;
      throw err;
    }
    lastFailed = false;
    if (closed && trigger !== 'reload') return;
    value = next;
    logger.info(`${prefix}_reloaded`, { source: path, ...file.summary(next), trigger });
    try {
      onChange?.(next);
    } catch (err) {
      logger.error(`${prefix}_on_change_failed`, { source: path, error: (err as Error).message });
    }
  };

  // One load at a time: a slow read finishing last must not put an older text in force.
  const enqueue = (trigger: Trigger): Promise<void> => {
    const run = queue.then(() => load(trigger));
    queue = run.catch(() => undefined);
    return run;
  };

  const background = (trigger: Trigger): void => {
    if (closed) return;
    enqueue(trigger).catch((err: unknown) => {
      logger.error(`${prefix}_reload_failed`, {
        source: path,
        trigger,
        error: err instanceof Error ? err.message : String(err),
        kept: { loadedAt: new Date(file.loadedAt(value)).toISOString(), ...file.summary(value) },
      });
    });
  };

  const onSighup = (): void => background('SIGHUP');
  process.on('SIGHUP', onSighup);

  const name = basename(path);
  let watcher: FSWatcher | undefined;
  const hint = `send SIGHUP to reload ${file.kind.what}`;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename !== null && filename !== name && filename !== '..data') return;
      clearTimeout(timer);
      timer = setTimeout(() => background('file change'), debounceMs);
      timer.unref();
    });
    watcher.on('error', (err) => logger.warn(`${prefix}_watch_failed`, { source: path, error: err.message, hint }));
  } catch (err) {
    // Out of inotify watches, say: the file is good, only automatic reloads are lost.
    logger.warn(`${prefix}_watch_failed`, { source: path, error: (err as Error).message, hint });
  }

  return {
    current: () => value,
    reload: () => enqueue('reload'),
    close() {
      closed = true;
      clearTimeout(timer);
      process.off('SIGHUP', onSighup);
      watcher?.close();
    },
  };
}
