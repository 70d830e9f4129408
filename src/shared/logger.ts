import { writeSync } from 'node:fs';
import { redact } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A structured logger. Always writes to a stream that is not stdout in `serve`. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /**
   * A line built (and redacted) once, written each time the returned function is called, with the
   * time of that call: for events logged per request with the same fields, such as the audit line
   * of a token seen before.
   */
  prepare(level: LogLevel, msg: string, fields?: Record<string, unknown>): () => void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'json' | 'pretty';
  /** Where lines go; stderr unless a test passes its own. */
  write?: (line: string) => void;
  /**
   * Repeated warnings and errors: the first {@link DEDUPE_BURST} of an interval are written, later
   * identical ones (same level, message and fields) within this many ms are only counted,
   * and one summary line per interval says how many there were (`repeated`). Default
   * {@link DEDUPE_MS}; 0 writes every line.
   */
  dedupeMs?: number;
}

/** Default of {@link LoggerOptions.dedupeMs}. */
export const DEDUPE_MS = 10_000;
/**
 * Identical lines written per interval before the rest are only counted: a flood is collapsed, but
 * a state change that happens twice in a row (an outage, a recovery, another outage) is still told.
 */
export const DEDUPE_BURST = 2;
/** Distinct repeated lines tracked at once; beyond that, lines are written as they come. */
const DEDUPE_MAX_KEYS = 1_000;

interface Repeat {
  level: LogLevel;
  msg: string;
  /** The fields of the latest occurrence, for the summary. */
  fields: Record<string, unknown> | undefined;
  /** Occurrences written in this interval. */
  written: number;
  /** Occurrences counted but not written since the last summary. */
  count: number;
}

/** Creates a logger whose every line passes through {@link redact}. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const format = options.format ?? 'pretty';
  const write = options.write ?? batchedStderr();
  let lastMs = 0;
  let lastIso = '';
  const isoNow = (): string => {
    const ms = Date.now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const line =
      format === 'json'
        ? JSON.stringify({ time: isoNow(), level, msg, ...fields })
        : `seed-mcp ${level}: ${msg}${fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : ''}`;
    write(redact(line));
  };
  const dedupeMs = options.dedupeMs ?? DEDUPE_MS;
  const repeats = new Map<string, Repeat>();
  let sweep: NodeJS.Timeout | undefined;
  // Once per interval: a summary for each line repeated since, and forget lines that were not.
  const summarize = (): void => {
    for (const [key, r] of repeats) {
      if (r.count === 0) {
        repeats.delete(key);
        continue;
      }
      emit(r.level, r.msg, { ...r.fields, repeated: r.count, repeated_within_ms: dedupeMs });
      // Still flooding: the next interval's lines are counted from the start.
      r.count = 0;
      r.written = DEDUPE_BURST;
    }
    if (repeats.size === 0 && sweep) {
      clearInterval(sweep);
      sweep = undefined;
    }
  };
  // Warnings and errors only: info and debug lines are per-request audit events, each one wanted.
  const emitOnce = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    if (dedupeMs <= 0) return emit(level, msg, fields);
    // Identical lines: the same level, message and fields (`event`, `code`, reasons...); only the time differs.
    const key = `${level}\u0000${msg}\u0000${fields ? safeJson(fields) : ''}`;
    const seen = repeats.get(key);
    if (seen && seen.written >= DEDUPE_BURST) {
      seen.count += 1;
      seen.fields = fields;
      return;
    }
    if (seen) seen.written += 1;
    else if (repeats.size < DEDUPE_MAX_KEYS) {
      repeats.set(key, { level, msg, fields, written: 1, count: 0 });
      if (!sweep) {
        sweep = setInterval(summarize, dedupeMs);
        sweep.unref();
      }
    }
    emit(level, msg, fields);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emitOnce('warn', m, f),
    error: (m, f) => emitOnce('error', m, f),
    prepare(level, msg, fields) {
      if (ORDER[level] < min) return noop;
      if (dedupeMs > 0 && (level === 'warn' || level === 'error')) return () => emitOnce(level, msg, fields);
      if (format === 'json') {
        // The same line as emit() writes: the time first, then the rest, redacted once.
        const rest = redact(JSON.stringify({ level, msg, ...fields }).slice(1));
        return () => write(`{"time":"${isoNow()}",${rest}`);
      }
      const line = redact(`seed-mcp ${level}: ${msg}${fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : ''}`);
      return () => write(line);
    },
  };
}

const noop = (): void => {};

function safeJson(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields);
  } catch {
    return String(Object.keys(fields));
  }
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, prepare: () => noop };

/** How long a line may wait for others before it is written, and how much may wait. */
const FLUSH_MS = 25;
const FLUSH_BYTES = 64 * 1024;

/**
 * Lines to stderr, gathered for up to {@link FLUSH_MS} (or {@link FLUSH_BYTES}) and written
 * together. A server logging an audit event per request would otherwise pay a write per line or
 * two: stderr is synchronous for files and pipes on Linux. The lines are copied into a byte
 * buffer at once, so that no string outlives the request that made it (strings kept for 25 ms
 * would be promoted to the old generation under load, and cost a major GC). Whatever is pending
 * is written synchronously when the process exits, so a line is lost only when the process is
 * killed outright (SIGKILL), and then at most the last 25 ms.
 */
function batchedStderr(): (line: string) => void {
  let buffer = Buffer.allocUnsafe(FLUSH_BYTES);
  let used = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (used === 0) return;
    const chunk = buffer.subarray(0, used);
    buffer = Buffer.allocUnsafe(FLUSH_BYTES);
    used = 0;
    process.stderr.write(chunk);
  };
  process.once('exit', () => {
    if (used === 0) return;
    try {
      // At exit only synchronous writes happen; fd 2 is stderr.
      writeSync(2, buffer.subarray(0, used));
    } catch {
      // stderr is gone: nothing left to tell.
    }
  });
  return (line: string) => {
    // At most 3 bytes per UTF-16 unit, and the newline.
    const most = line.length * 3 + 1;
    if (used + most > FLUSH_BYTES) flush();
    if (most > FLUSH_BYTES) {
      process.stderr.write(line + '\n');
      return;
    }
    used += buffer.write(line, used, 'utf8');
    buffer[used++] = 0x0a;
    if (!timer) {
      timer = setTimeout(flush, FLUSH_MS);
      timer.unref();
    }
  };
}
