import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { createProgram, runMain, VERSION } from './program.js';
import { registerLogin } from './commands/login.js';
import { registerLogout } from './commands/logout.js';
import { registerStatus } from './commands/status.js';
import { registerToken } from './commands/token.js';
import { registerDoctor } from './commands/doctor.js';
import { registerProfiles } from './commands/profiles.js';
import { registerServe } from './commands/serve.js';
import { registerConfig } from './commands/config.js';
import { registerCloud } from './commands/cloud.js';
import { registerDemo } from './commands/demo.js';

// The machinery lives in program.ts, shared with the `serve` bundle (serve-main.ts).
export { runAction, VERSION, type Action, type RunFn } from './program.js';
export { runCloud } from './commands/cloud.js';

/** Builds the commander program; each command registers itself from its own file. */
export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  return createProgram(ctx, setExit, (program, ctx, run) => {
    registerLogin(program, ctx, run);
    registerLogout(program, ctx, run);
    registerStatus(program, ctx, run);
    registerToken(program, ctx, run);
    registerProfiles(program, ctx, run);
    registerDoctor(program, ctx, run);
    registerServe(program, ctx, run, VERSION);
    registerConfig(program, ctx, run);
    registerCloud(program, ctx, run, VERSION);
    registerDemo(program, ctx, run, VERSION);
  });
}

/** The entry point: parses `argv` and resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  return runMain(argv, buildProgram);
}
