import type { Command } from 'commander';
import { type CliContext, loadSettings, profileOf, writeJson } from '../context.js';
import type { RunFn } from '../main.js';

export function registerDoctor(program: Command, ctx: CliContext, run: RunFn): void {
  program
    .command('doctor')
    .description('check keychain access, IdP discovery, clock skew, loopback port and upstream reachability')
    .option('--json', 'print the checks as JSON')
    .addHelpText('after', '\nExample:\n  $ seed-mcp doctor --profile work\n')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await run(opts.json, async () => {
        const settings = await loadSettings(ctx, { profile: profileOf(cmd) });
        const { runDoctor } = await import('../../local/doctor.js');
        const checks = await runDoctor(settings);
        const ok = checks.every((c) => c.ok);
        if (opts.json) {
          writeJson(ctx, { ok, checks });
        } else {
          for (const c of checks) {
            const mark = !c.ran ? '–' : !c.ok ? '✖' : c.warning ? '⚠' : '✔';
            ctx.stdout.write(`${mark} ${c.name}: ${c.detail}\n${(!c.ok || c.warning) && c.fix ? `    → ${c.fix}\n` : ''}`);
          }
        }
        return ok ? 0 : 1;
      });
    });
}
