// Cold start: spawn → `initialize` answered, median of 20 (after one warm-up run), and the
// process's peak RSS at that moment (VmHWM), side by side in one run with mcp-remote bridging to
// the same local upstream and with a dependency-free stdio answerer (Node's own floor).
// BENCH_BASELINE_ROOT (a built checkout of another commit) adds that build's `serve --upstream`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, MCP_REMOTE, stats } from './fixtures.mjs';

/** The goals of issue #12: at most this much over Node's own start-up, and a peak RSS under this. */
export const GOALS = { overFloorMs: 60, rssMb: 60 };

const INIT =
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }) + '\n';
const FLOOR = `process.stdin.on('data', (d) => { for (const line of String(d).split('\\n')) if (line.includes('"initialize"')) process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: JSON.parse(line).id, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'floor', version: '1' } } }) + '\\n'); });`;

function peakRssMb(pid) {
  try {
    const kb = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

async function once(args, env) {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'ignore'] });
  child.stdin.write(INIT);
  const ms = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no initialize answer from ${args.join(' ')}`)), 15_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('"id":1')) {
        clearTimeout(timer);
        resolve(performance.now() - t0);
      }
    });
  });
  const rss = peakRssMb(child.pid);
  const exited = new Promise((r) => child.once('close', r));
  child.stdin.end();
  child.kill('SIGTERM');
  await exited;
  return { ms, rss };
}

/** Runs every contender `runs` times, interleaved so that machine noise hits all alike. */
export async function coldStart({ upstream, env, token }, runs = 20) {
  // Each build its own code cache dir: two builds sharing one would evict each other's cache.
  const cacheDir = () => mkdtempSync(join(tmpdir(), 'seed-mcp-bench-cache-'));
  const baseline = process.env.BENCH_BASELINE_ROOT;
  const contenders = [
    { name: 'node floor (no deps)', args: ['-e', FLOOR], env },
    { name: 'seed-mcp serve --upstream', args: [BIN, 'serve', '--upstream', upstream.url], env: { ...env, SEED_MCP_CACHE_DIR: cacheDir() } },
    { name: 'seed-mcp serve (no code cache)', args: [BIN, 'serve', '--upstream', upstream.url], env: { ...env, SEED_MCP_NO_COMPILE_CACHE: '1' } },
    ...(baseline
      ? [
          {
            name: 'baseline build: serve --upstream',
            args: [join(baseline, 'bin/seed-mcp.js'), 'serve', '--upstream', upstream.url],
            env: { ...env, SEED_MCP_CACHE_DIR: cacheDir() },
          },
        ]
      : []),
    { name: 'mcp-remote', args: [MCP_REMOTE, upstream.url, '--allow-http', '--header', `Authorization: Bearer ${token}`], env },
  ];
  const results = new Map(contenders.map((c) => [c.name, { ms: [], rss: [] }]));
  // Warm-up: OS file cache, V8 code cache (written when the process exits).
  for (let i = 0; i < 2; i++) for (const c of contenders) await once(c.args, c.env);
  for (let i = 0; i < runs; i++) {
    // Each round in another order, so that no contender always runs right after the same one.
    for (const c of contenders.map((_, j) => contenders[(i + j) % contenders.length])) {
      const r = await once(c.args, c.env);
      results.get(c.name).ms.push(r.ms);
      results.get(c.name).rss.push(r.rss);
    }
  }
  // Paired with the floor run of the same round: what each adds to Node's own start-up, which
  // moves with machine noise far more than the difference does.
  const floor = results.get(contenders[0].name).ms;
  return contenders.map((c) => ({
    name: c.name,
    time: stats(results.get(c.name).ms),
    overFloor: stats(results.get(c.name).ms.map((ms, i) => ms - floor[i])),
    rss: stats(results.get(c.name).rss),
  }));
}
