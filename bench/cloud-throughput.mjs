// Cloud throughput: autocannon on 127.0.0.1, 50 connections, authenticated tools/call, in one run:
// seed-mcp cloud with auth, the same with AUTH_REQUIRED=false (the cost of auth), and the SDK's
// stateless pattern with a plain jose check in front (bench/sdk-stateless-baseline.mjs).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { BIN, ROOT } from './fixtures.mjs';

export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/**
 * Starts a server process and waits until its port answers HTTP (whatever the status). Its stderr
 * (one audit line per authenticated request) goes through a pipe to a `cat` of its own that
 * writes it to a file, as a container's log goes to its runtime: the server pays for the pipe
 * write, not for a file system (a plain file measured about 7 µs per line here, a kernel cost of
 * this host's disk), and the load generator drains nothing.
 */
export async function startProcess(args, env, port) {
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-bench-log-'));
  const logFile = join(dir, 'stderr.log');
  const sink = spawn('sh', ['-c', 'exec cat > "$0"', logFile], { stdio: ['pipe', 'ignore', 'ignore'] });
  // BENCH_SERVER_CPU=1 (with the bench itself under `taskset -c 0`): the servers run on a core of
  // their own, so the load generator and the server do not take turns on the same one.
  const pin = process.env.BENCH_SERVER_CPU;
  const [command, argv] = pin ? ['taskset', ['-c', pin, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', sink.stdin] });
  sink.stdin.destroy(); // the child holds its own copy of the pipe's end
  const log = () => readFileSync(logFile, 'utf8').slice(0, 500);
  for (let i = 0; ; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      break;
    } catch {
      if (i > 150 || child.exitCode !== null) throw new Error(`${args.join(' ')} did not start: ${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    pid: child.pid,
    stop: async () => {
      await new Promise((r) => (child.once('close', r), child.kill('SIGTERM')));
      await new Promise((r) => (sink.exitCode !== null ? r() : sink.once('close', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc: what a request costs the
 * server, whatever the load generator on the same cores manages to send.
 */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function load(url, headers, durationSec) {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } });
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        connections: 50,
        duration: durationSec,
        body,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers },
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

export async function cloudThroughput({ idp, token, resource }, { rounds = 9, secondsPerRound = 3 } = {}) {
  const contenders = [
    {
      name: 'seed-mcp cloud (auth)',
      auth: true,
      args: [BIN, 'cloud'],
      env: (port) => ({ PORT: String(port), HOST: '127.0.0.1', OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: resource, BASE_URL: `http://127.0.0.1:${port}` }),
    },
    {
      name: 'seed-mcp cloud (AUTH_REQUIRED=false)',
      auth: false,
      args: [BIN, 'cloud'],
      env: (port) => ({ PORT: String(port), HOST: '127.0.0.1', AUTH_REQUIRED: 'false', BASE_URL: `http://127.0.0.1:${port}` }),
    },
    // BENCH_BASELINE_ROOT: a checkout of another commit, built (`npm run build` there), whose
    // `seed-mcp cloud` runs in the same rounds: a change's cost measured against the code before it.
    ...(process.env.BENCH_BASELINE_ROOT
      ? [
          {
            name: `seed-mcp cloud (auth), baseline build`,
            auth: true,
            baseline: true,
            args: [join(process.env.BENCH_BASELINE_ROOT, 'bin/seed-mcp.js'), 'cloud'],
            env: (port) => ({ PORT: String(port), HOST: '127.0.0.1', OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: resource, BASE_URL: `http://127.0.0.1:${port}` }),
          },
        ]
      : []),
    {
      name: 'SDK stateless pattern + jose',
      auth: true,
      args: [join(ROOT, 'bench/sdk-stateless-baseline.mjs')],
      env: (port) => ({ PORT: String(port), ISSUER: idp.issuer, AUDIENCE: resource }),
    },
  ];
  // All three run at once and take turns in short rounds, so that machine drift (large on a
  // shared 2-vCPU host) falls on each alike; the medians over the rounds are reported.
  const running = [];
  try {
    for (const c of contenders) {
      const port = await freePort();
      // The limiter would answer 429 after 100 requests a minute: this measures the auth + MCP path.
      const proc = await startProcess(c.args, { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', RATE_LIMIT_ENABLED: 'false', ...c.env(port) }, port);
      const url = `http://127.0.0.1:${port}/mcp`;
      // Every contender gets the same request, bearer header included: the no-auth server ignores
      // it, so the difference is the cost of checking it, not of the client sending more bytes.
      const headers = { authorization: `Bearer ${token}` };
      running.push({ ...c, proc, url, headers, rps: [], p50: [], p99: [], cpuUs: [] });
      // The answer must be a real tool result, not an error page.
      const probe = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'seed_ping', arguments: {} } }),
      });
      const text = await probe.text();
      if (probe.status !== 200 || !text.includes('status')) throw new Error(`${c.name}: probe answered ${probe.status}: ${text.slice(0, 200)}`);
      await load(url, headers, 2); // warm-up
    }
    for (let round = 0; round < rounds; round++) {
      for (const r of running) {
        const cpuBefore = cpuSeconds(r.proc.pid);
        const result = await load(r.url, r.headers, secondsPerRound);
        r.cpuUs.push(((cpuSeconds(r.proc.pid) - cpuBefore) * 1e6) / result.requests.total);
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${r.name}: ${result.non2xx} non-2xx answers and ${result.errors} errors: the figures would measure failures`);
        r.rps.push(result.requests.average);
        r.p50.push(result.latency.p50);
        r.p99.push(result.latency.p99);
      }
    }
  } finally {
    for (const r of running) await r.proc.stop();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return running.map((r) => ({
    name: r.name,
    rps: median(r.rps),
    p50: median(r.p50),
    p99: median(r.p99),
    cpuUs: median(r.cpuUs),
    rounds: r.rps.map((x) => Math.round(x)),
    cpuRounds: r.cpuUs,
    baseline: r.baseline === true,
    non2xx: 0,
    errors: 0,
  }));
}
