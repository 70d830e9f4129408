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

/**
 * Lines to stderr, gathered within one event-loop turn and written together: a server logging an
 * audit event per request would otherwise pay a write (a syscall on a pipe) per line. Whatever
 * is pending is written synchronously when the process exits, so no line is lost on shutdown.
 */
function batchedStderr(): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    process.stderr.write(chunk);
  };
  process.once('exit', () => {
    if (pending.length === 0) return;
    try {
      // At exit only synchronous writes happen; fd 2 is stderr.
      writeSync(2, pending.join(''));
    } catch {
      // stderr is gone: nothing left to tell.
    }
  });
  return (line: string) => {
    pending.push(line + '\n');
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
