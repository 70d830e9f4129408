// The entry point of dist/serve.cjs: the program with `serve` alone, for the process an MCP host
// spawns and waits for (`seed-mcp serve …`, or a bare `seed-mcp` with a pipe on stdin). Its bundle
// holds no other command — no ink, React, cloud, demo, Redis or prom-client — so that start-up
// reads, compiles and keeps in memory only what `serve` runs. bin/seed-mcp.js picks the bundle;
// any other command line (and AUTH_MODE=cloud) gets dist/cli.cjs, from src/cli/main.ts.
import type { Command } from 'commander';
import { registerServe } from './commands/serve.js';
import type { CliContext } from './context.js';
import { createProgram, runMain, VERSION } from './program.js';

export { VERSION };

/** The program with the `serve` command alone: the same options, help and errors as in the full one. */
export function buildServeProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  return createProgram(ctx, setExit, (program, ctx, run) => registerServe(program, ctx, run, VERSION));
}

/** Parses `argv` (`serve …`) and resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  return runMain(argv, buildServeProgram);
}
