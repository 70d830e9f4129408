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
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    prepare(level, msg, fields) {
      if (ORDER[level] < min) return noop;
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
