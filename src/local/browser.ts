import { spawn } from 'node:child_process';
import type { Logger } from '../shared/logger.js';

/** Opens a URL for the person at the keyboard. */
export interface Browser {
  /** Resolves once the browser was launched (not when the person is done); never rejects. */
  open(url: string): Promise<boolean>;
}

/** Splits a command line on white space, honouring simple single and double quotes. */
export function splitCommand(command: string): string[] {
  const parts: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(command))) parts.push(m[1] ?? m[2] ?? m[3] ?? '');
  return parts;
}

/**
 * The system browser through the `open` package, or `command` when given (`--browser-command` or
 * `BROWSER`, which may hold `%s` for the URL; otherwise the URL is the last argument). A launch
 * that fails is logged with the advice to open the printed URL by hand.
 */
export function createBrowser(options: { command?: string; logger: Logger }): Browser {
  const { command, logger } = options;
  return {
    async open(url: string): Promise<boolean> {
      try {
        if (command) {
          // BROWSER may list several commands separated by ':'; the first is used.
          const first = command.split(':').find((c) => c.trim()) ?? command;
          const argv = splitCommand(first).map((a) => a.replace('%s', url));
          if (!first.includes('%s')) argv.push(url);
          const [file, ...args] = argv;
          if (!file) throw new Error('empty browser command');
          await new Promise<void>((resolve, reject) => {
            const child = spawn(file, args, { stdio: 'ignore', detached: true, shell: false });
            child.once('error', reject);
            child.once('spawn', () => {
              child.unref();
              resolve();
            });
          });
        } else {
          const { default: open } = await import('open');
          const child = await open(url, { wait: false });
          await new Promise<void>((resolve, reject) => {
            child.once('error', reject);
            child.once('spawn', () => resolve());
            if (child.pid) resolve();
          });
          child.unref();
        }
        return true;
      } catch (err) {
        logger.warn(`could not open the browser: ${(err as Error).message}; open the URL above yourself`);
        return false;
      }
    },
  };
}
