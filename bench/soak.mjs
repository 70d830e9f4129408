// Soak: does memory stay flat under sustained use? Drives `seed-mcp serve --upstream` (an MCP SDK
// client over stdio) and `seed-mcp cloud` (over Streamable HTTP), CONCURRENCY tools/call in flight
// at all times, for SOAK_MINUTES each; samples each process's RSS (/proc/PID/status VmRSS) and V8
// heap every SOAK_SAMPLE_SECONDS, and judges both series of both after the warm-up: growth under
// 10 % and a slope near zero. The heap judged is the live one, not the sawtooth of garbage: the
// heap in use just after the last full GC, which serve prints to stderr with process.memoryUsage()
// (SEED_MCP_DEBUG_HEAP), and cloud writes to a file through a probe it is started with
// (NODE_OPTIONS=--require, HEAP_PROBE).
//
//   npm run soak                                  # serve and cloud, 10 minutes each
//   SOAK_MINUTES=2 SOAK_TARGET=serve npm run soak # a shorter look at one of them
//
// Environment: SOAK_MINUTES (10), SOAK_TARGET (serve | cloud | both; both), SOAK_WARMUP_SECONDS
// (60), SOAK_SAMPLE_SECONDS (10), SOAK_CONCURRENCY (8), SOAK_JSON=path writes the series as JSON.
// Linux only (RSS from /proc). Exits 1 when a target fails its verdict.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { freePort, startProcess } from './cloud-throughput.mjs';
import { BIN, machine, setUp } from './fixtures.mjs';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const TARGET = process.env.SOAK_TARGET ?? 'both';
const WARMUP_S = Number(process.env.SOAK_WARMUP_SECONDS ?? 60);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
/** Pass marks: growth from the first sample after warm-up to the last, and the fitted slope. */
export const MAX_GROWTH = 0.1;
/** MiB per minute; a leak of the size issue #14 reported (4 MiB/min) fails it by far. */
export const MAX_SLOPE_MIB_PER_MIN = 0.5;

const MiB = 1024 * 1024;
const mib = (bytes) => (bytes / MiB).toFixed(1);

/** Resident set size of a process, in bytes, or undefined once it is gone. */
export function rssOf(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The verdict on one series (bytes over seconds): growth and slope after the warm-up. */
export function judge(samples, key) {
  if (!samples.some((s) => s[key] !== undefined)) return { ok: false, reason: 'not reported' };
  const after = samples.filter((s) => s.t >= WARMUP_S && s[key] !== undefined);
  if (after.length < 3) return { ok: false, reason: `only ${after.length} samples after the warm-up` };
  const first = after[0][key];
  const last = after[after.length - 1][key];
  const growth = (last - first) / first;
  const perMin =
    slope(
      after.map((s) => s.t / 60),
      after.map((s) => s[key]),
    ) / MiB;
  const ok = growth < MAX_GROWTH && perMin < MAX_SLOPE_MIB_PER_MIN;
  return { ok, first, last, growth, slopeMiBPerMin: perMin };
}

/**
 * Keeps `concurrency` calls in flight until `until` (ms since the epoch). A failed call stops the
 * soak: memory figures of a broken run mean nothing.
 */
async function drive(call, concurrency, until) {
  const lane = async () => {
    while (Date.now() < until) await call();
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/**
 * Samples `pid` every SAMPLE_S while `drive` runs; prints each sample as it comes. `heap()` gives
 * the heap figures of the interval ending now, `heapLive` naming the one judged.
 */
async function soak(name, { pid, heap, heapLive, call }) {
  const started = Date.now();
  const until = started + MINUTES * 60_000;
  const samples = [];
  let lastCalls = 0;
  let calls = 0;
  const take = () => {
    const t = Math.round((Date.now() - started) / 1000);
    const h = heap();
    const s = { t, rss: rssOf(pid), heapUsed: h?.heapUsed, heapAfterGc: h?.heapUsedAfterMajorGc, heapTotal: h?.heapTotal, external: h?.external, calls };
    samples.push(s);
    const rate = Math.round((calls - lastCalls) / SAMPLE_S);
    lastCalls = calls;
    console.log(
      `  ${name} t=${String(t).padStart(4)} s  rss ${s.rss ? mib(s.rss).padStart(6) : '     ?'} MiB  heap ${s.heapUsed ? mib(s.heapUsed).padStart(6) : '     ?'} MiB (${heapLive} ${s.heapAfterGc ? mib(s.heapAfterGc).padStart(6) : '     ?'} MiB)  calls ${calls} (${rate}/s)`,
    );
  };
  take();
  const timer = setInterval(take, SAMPLE_S * 1000);
  try {
    await drive(
      async () => {
        await call();
        calls += 1;
      },
      CONCURRENCY,
      until,
    );
  } finally {
    clearInterval(timer);
  }
  take();
  const rss = judge(samples, 'rss');
  // The live heap (heapLive): heapUsed itself is a sawtooth of garbage.
  const heapVerdict = judge(samples, 'heapAfterGc');
  return { name, minutes: MINUTES, calls, callsPerSecond: Math.round(calls / ((Date.now() - started) / 1000)), samples, rss, heap: heapVerdict, heapLive };
}

/** `seed-mcp serve --upstream`, started from the build with SEED_MCP_DEBUG_HEAP, driven over stdio. */
async function soakServe(fixture) {
  let latestHeap;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'serve', '--upstream', fixture.upstream.url],
    env: { ...fixture.env, SEED_MCP_DEBUG_HEAP: '2' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'soak', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  // The pipe exists once the transport has started the child: read it before connect resolves.
  const connecting = client.connect(transport);
  let stderrTail = '';
  transport.stderr?.on('data', (d) => {
    const text = String(d);
    stderrTail = (stderrTail + text).slice(-4000);
    for (const m of text.matchAll(/seed-mcp heap (\{.*\})/g)) latestHeap = JSON.parse(m[1]);
  });
  await connecting;
  const pid = transport.pid;
  const echo = { name: 'echo', arguments: { text: 'soak' } };
  const call = async () => {
    const r = await client.callTool(echo);
    if (r.isError) throw new Error(`serve: call failed: ${JSON.stringify(r)}\n${stderrTail}`);
  };
  try {
    return await soak('serve --upstream', { pid, heap: () => latestHeap, heapLive: 'after a full GC', call });
  } finally {
    await client.close();
  }
}

/**
 * What `seed-mcp cloud` is started with (`NODE_OPTIONS=--require`) to report its heap as serve
 * does (SEED_MCP_DEBUG_HEAP): every 2 s, process.memoryUsage() and the heap in use just after the
 * last full collection, written to SOAK_HEAP_FILE.
 */
const HEAP_PROBE = `
const { PerformanceObserver, constants } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');
let heapUsedAfterMajorGc;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail && e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) heapUsedAfterMajorGc = process.memoryUsage().heapUsed;
}).observe({ entryTypes: ['gc'] });
setInterval(() => writeFileSync(process.env.SOAK_HEAP_FILE, JSON.stringify({ ...process.memoryUsage(), heapUsedAfterMajorGc })), 2000).unref();
`;

/**
 * `seed-mcp cloud` from the build against the test IdP, a service token for the upstream's URL as
 * its audience, driven with an MCP SDK client over Streamable HTTP (tools/call of its own
 * `seed_ping`). Its heap comes from {@link HEAP_PROBE}.
 */
async function soakCloud(fixture) {
  const port = await freePort();
  const resource = fixture.upstream.url;
  const token = await fixture.idp.serviceToken({ resource });
  const env = {
    PORT: String(port),
    HOST: '127.0.0.1',
    OIDC_ISSUER: fixture.idp.issuer,
    OIDC_AUDIENCE: resource,
    BASE_URL: `http://127.0.0.1:${port}`,
    RATE_LIMIT_ENABLED: 'false',
  };
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-soak-'));
  const probe = join(dir, 'heap-probe.cjs');
  const heapFile = join(dir, 'heap.json');
  writeFileSync(probe, HEAP_PROBE);
  const server = await startProcess([BIN, 'cloud'], { LOG_LEVEL: 'warn', NODE_OPTIONS: `--require ${probe}`, SOAK_HEAP_FILE: heapFile, ...env }, port);
  const client = new Client({ name: 'soak', version: '1' }, { versionNegotiation: { mode: 'auto' } });
  const heap = () => {
    try {
      return JSON.parse(readFileSync(heapFile, 'utf8'));
    } catch {
      return undefined; // not written yet, or being written
    }
  };
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { authProvider: { token: async () => token } }));
    const ping = { name: 'seed_ping', arguments: {} };
    const call = async () => {
      const r = await client.callTool(ping);
      if (r.isError) throw new Error(`cloud: call failed: ${JSON.stringify(r)}`);
    };
    return await soak('cloud', { pid: server.pid, heap, heapLive: 'after a full GC', call });
  } finally {
    await client.close().catch(() => {});
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(result) {
  const line = (label, v) =>
    v.first === undefined
      ? `  ${label}: ${v.reason}`
      : `  ${label}: ${mib(v.first)} → ${mib(v.last)} MiB after the warm-up, growth ${(v.growth * 100).toFixed(1)} %, slope ${v.slopeMiBPerMin.toFixed(2)} MiB/min → ${v.ok ? 'PASS' : 'FAIL'}`;
  console.log(`\n${result.name}: ${result.calls} calls in ${result.minutes} min (${result.callsPerSecond}/s, ${CONCURRENCY} in flight)`);
  console.log(line('RSS', result.rss));
  console.log(line(`heap (${result.heapLive})`, result.heap));
  return result.rss.ok && result.heap.ok;
}

async function main() {
  if (process.platform !== 'linux') throw new Error('the soak reads RSS from /proc: Linux only');
  if (!['serve', 'cloud', 'both'].includes(TARGET)) throw new Error(`SOAK_TARGET must be serve, cloud or both, not ${TARGET}`);
  console.log(`soak: ${MINUTES} min per target, warm-up ${WARMUP_S} s, a sample every ${SAMPLE_S} s, ${CONCURRENCY} calls in flight`);
  console.log(`machine: ${machine()}\n`);
  const fixture = await setUp();
  const results = [];
  try {
    if (TARGET !== 'cloud') results.push(await soakServe(fixture));
    if (TARGET !== 'serve') results.push(await soakCloud(fixture));
  } finally {
    await fixture.close();
  }
  let ok = true;
  for (const r of results) ok = report(r) && ok;
  console.log(`\nverdict (growth < ${MAX_GROWTH * 100} %, slope < ${MAX_SLOPE_MIB_PER_MIN} MiB/min, RSS and heap of each): ${ok ? 'PASS' : 'FAIL'}`);
  if (process.env.SOAK_JSON) writeFileSync(process.env.SOAK_JSON, JSON.stringify({ machine: machine(), results }, null, 2));
  return ok;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
