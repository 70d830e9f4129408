// Gateway (issue #13): what `seed-mcp cloud` in gateway mode adds to a child's `tools/call`, and how
// many it forwards per second against the MCP SDK's stateless pattern doing the same forwarding.
//
// Set-up, all on 127.0.0.1: the project's test IdP (in this process); a bearer-protected child MCP
// server (bench/gateway-child.mjs, its own process, cheap `echo` tool); `seed-mcp cloud` from the
// build with an UPSTREAMS_FILE naming the child as `bench` with client_credentials at the IdP (the
// service token is minted on the first call and cached), a tool policy allowing the child's tools,
// audit logging on; and the baseline (bench/sdk-stateless-forwarder.mjs): a new McpServer and
// transport per request, forwarding through one reused SDK client with the same service token.
//
// Every request is the same claim-less `initialize`-era `tools/call` (MCP-Protocol-Version
// 2025-06-18, no session), what an HTTP load generator and a stateless client send; the child
// answers that era too (the gateway's client and the baseline's negotiate it with the child).
//
// (a) latency: sequential calls over one keep-alive connection per path, the paths taking turns
//     call by call (the order rotating): the child directly, the gateway's aggregated /mcp
//     (`bench_echo`), the gateway's /mcp/bench (`echo`), and the baseline; "added" is gateway −
//     direct of the same turn.
// (b) throughput: autocannon, 50 connections, rounds of a few seconds with the contenders back to
//     back in each round; medians over the rounds and of the rounds' pairs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { cpuSeconds, freePort, startProcess } from './cloud-throughput.mjs';
import { BIN, ROOT, load, stats } from './fixtures.mjs';

export const GOALS = { addedP50Ms: 1, timesSdk: 4 };

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const bodyOf = (tool) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: { text: 'bench' } } });

/** One POST on a keep-alive agent of its own; resolves with status and body text. */
function post(agent, url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function cannon(url, headers, body, duration) {
  return new Promise((resolve, reject) => {
    autocannon({ url, method: 'POST', connections: 50, duration, body, headers: { ...HEADERS, ...headers } }, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

export async function gatewayBench({ calls = 2000, warmup = 200, rounds = 7, secondsPerRound = 3 } = {}) {
  const { startIdp } = await load('test/support/idp.ts');
  const [childPort, gwPort, basePort, oldPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // BENCH_BASELINE_ROOT: another checkout, built, whose gateway runs in the same turns and rounds.
  const oldRoot = process.env.BENCH_BASELINE_ROOT;
  const old = `http://127.0.0.1:${oldPort}`;
  const childUrl = `http://127.0.0.1:${childPort}/mcp`;
  const gw = `http://127.0.0.1:${gwPort}`;
  const baseUrl = `http://127.0.0.1:${basePort}/mcp`;
  const idp = await startIdp({ resources: [`${gw}/mcp`, `${gw}/mcp/bench`, childUrl, baseUrl, `${old}/mcp`] });
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-bench-gw-'));
  const procs = [];
  try {
    writeFileSync(join(dir, 'gw-secret'), 'service-secret\n');
    writeFileSync(
      join(dir, 'upstreams.json'),
      JSON.stringify({
        upstreams: [
          {
            name: 'bench',
            url: childUrl,
            timeout_ms: 10_000,
            auth: { type: 'client_credentials', issuer: idp.issuer, client_id: 'seed-service', client_secret_file: 'gw-secret', resource: childUrl },
          },
        ],
      }),
    );
    writeFileSync(join(dir, 'policy.yaml'), 'rules:\n  - tools: ["*"]\n    allow: { any: true }\n  - server: bench\n    tools: [echo]\n    allow: { subjects: [other-service] }\n');
    const log = { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', RATE_LIMIT_ENABLED: 'false' };
    const child = await startProcess([join(ROOT, 'bench/gateway-child.mjs')], { ISSUER: idp.issuer, PORT: String(childPort) }, childPort);
    procs.push(child);
    const startGateway = (bin, base, port) =>
      startProcess(
        // BENCH_GATEWAY_NODE_ARGS: node flags for the gateway alone, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`.
        [...(process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []), bin, 'cloud'],
        {
          ...log,
          PORT: String(port),
          HOST: '127.0.0.1',
          BASE_URL: base,
          OIDC_ISSUER: idp.issuer,
          RESOURCE_IDENTIFIER: `${base}/mcp`,
          UPSTREAMS_FILE: join(dir, 'upstreams.json'),
          TOOL_POLICY_FILE: join(dir, 'policy.yaml'),
        },
        port,
      );
    const gateway = await startGateway(BIN, gw, gwPort);
    procs.push(gateway);
    const oldGateway = oldRoot ? await startGateway(join(oldRoot, 'bin/seed-mcp.js'), old, oldPort) : undefined;
    if (oldGateway) procs.push(oldGateway);
    const serviceToken = await idp.serviceToken({ client: 'seed-service', resource: childUrl });
    const baseline = await startProcess(
      [join(ROOT, 'bench/sdk-stateless-forwarder.mjs')],
      { ...log, PORT: String(basePort), ISSUER: idp.issuer, AUDIENCE: baseUrl, CHILD_URL: childUrl, CHILD_TOKEN: serviceToken, TOOL: 'bench_echo' },
      basePort,
    );
    procs.push(baseline);
    const bearer = async (resource, client = 'other-service') => ({ authorization: `Bearer ${await idp.serviceToken({ client, resource })}` });

    const paths = [
      { name: 'child directly', url: childUrl, tool: 'echo', headers: { ...HEADERS, authorization: `Bearer ${serviceToken}` }, proc: child },
      { name: 'gateway /mcp (bench_echo)', url: `${gw}/mcp`, tool: 'bench_echo', headers: { ...HEADERS, ...(await bearer(`${gw}/mcp`)) }, proc: gateway, gateway: true },
      { name: 'gateway /mcp/bench (echo)', url: `${gw}/mcp/bench`, tool: 'echo', headers: { ...HEADERS, ...(await bearer(`${gw}/mcp/bench`)) }, proc: gateway, gateway: true },
      ...(oldGateway
        ? [
            {
              name: 'baseline build: gateway /mcp (bench_echo)',
              url: `${old}/mcp`,
              tool: 'bench_echo',
              headers: { ...HEADERS, ...(await bearer(`${old}/mcp`)) },
              proc: oldGateway,
              gateway: true,
              old: true,
            },
          ]
        : []),
      { name: 'SDK stateless forwarder', url: baseUrl, tool: 'bench_echo', headers: { ...HEADERS, ...(await bearer(baseUrl)) }, proc: baseline, baseline: true },
    ];
    for (const p of paths) {
      p.agent = new Agent({ keepAlive: true, maxSockets: 1 });
      p.body = bodyOf(p.tool);
      const r = await post(p.agent, p.url, p.headers, p.body);
      if (r.status !== 200 || !r.text.includes('echo: bench')) throw new Error(`${p.name}: answered ${r.status}: ${r.text.slice(0, 300)}`);
      p.ms = [];
    }

    // (a) latency, interleaved call by call.
    for (let i = 0; i < warmup + calls; i++) {
      for (let k = 0; k < paths.length; k++) {
        const p = paths[(i + k) % paths.length];
        const t0 = performance.now();
        const r = await post(p.agent, p.url, p.headers, p.body);
        const ms = performance.now() - t0;
        if (r.status !== 200 || !r.text.includes('echo: bench')) throw new Error(`${p.name}: answered ${r.status}: ${r.text.slice(0, 300)}`);
        if (i >= warmup) p.ms.push(ms);
      }
    }
    for (const p of paths) p.agent.destroy();
    const direct = paths[0].ms;
    const latency = paths.map((p) => ({
      name: p.name,
      latency: stats(p.ms),
      added: p === paths[0] ? undefined : stats(p.ms.map((ms, i) => ms - direct[i])),
    }));

    // (b) throughput. The child serves every contender; its CPU per request is given apart.
    const contenders = paths.map((p) => ({ ...p, rps: [], p50: [], p99: [], cpuUs: [], childCpuUs: [] }));
    for (const c of contenders) await cannon(c.url, c.headers, c.body, 2); // warm-up
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...contenders].reverse() : contenders;
      for (const c of order) {
        const cpu0 = cpuSeconds(c.proc.pid);
        const child0 = cpuSeconds(child.pid);
        const result = await cannon(c.url, c.headers, c.body, secondsPerRound);
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${c.name}: ${result.non2xx} non-2xx answers and ${result.errors} errors: the figures would measure failures`);
        const n = result.requests.total;
        c.rps.push(result.requests.average);
        c.p50.push(result.latency.p50);
        c.p99.push(result.latency.p99);
        if (c.proc !== child) c.cpuUs.push(((cpuSeconds(c.proc.pid) - cpu0) * 1e6) / n);
        c.childCpuUs.push(((cpuSeconds(child.pid) - child0) * 1e6) / n);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const throughput = contenders.map((c) => ({
      name: c.name,
      gateway: c.gateway === true,
      baseline: c.baseline === true,
      rps: median(c.rps),
      p50: median(c.p50),
      p99: median(c.p99),
      cpuUs: c.cpuUs.length ? median(c.cpuUs) : NaN,
      childCpuUs: median(c.childCpuUs),
      rounds: c.rps.map((x) => Math.round(x)),
    }));
    const base = contenders.find((c) => c.baseline);
    for (const t of throughput) {
      const c = contenders.find((x) => x.name === t.name);
      t.timesSdk = median(c.rps.map((r, i) => r / base.rps[i]));
    }
    return { latency, throughput };
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {});
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the tables and the verdicts (bench/run.mjs `gateway`). */
export function printGateway({ latency, throughput }, fmt) {
  console.log('## Gateway: child tools/call, direct against through `seed-mcp cloud` (initialize era, claim-less)\n');
  console.log('### Latency: sequential, the paths taking turns call by call\n');
  console.log('| path | p50 ms | p90 ms | p99 ms | added p50 ms (paired) | added p99 ms (paired) |\n| --- | --- | --- | --- | --- | --- |');
  for (const r of latency)
    console.log(
      `| ${r.name} | ${fmt(r.latency.median, 3)} | ${fmt(r.latency.p90, 3)} | ${fmt(r.latency.p99, 3)} | ${r.added ? fmt(r.added.median, 3) : '(baseline)'} | ${r.added ? fmt(r.added.p99, 3) : ''} |`,
    );
  console.log(`\n(${latency[0].latency.n} calls per path after the warm-up)\n`);
  console.log('### Throughput: autocannon, 50 connections, rounds back to back\n');
  console.log(
    "| contender | requests/s (median) | × SDK forwarder (rounds' pairs) | p50 ms | p99 ms | its CPU µs per request | child CPU µs per request | each round, requests/s |\n| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const t of throughput)
    console.log(
      `| ${t.name} | ${fmt(t.rps, 0)} | ${t.baseline ? '(baseline)' : fmt(t.timesSdk, 2)} | ${t.p50} | ${t.p99} | ${fmt(t.cpuUs, 1)} | ${fmt(t.childCpuUs, 1)} | ${t.rounds.join(' ')} |`,
    );
  const verdict = (ok) => (ok ? 'PASS' : 'FAIL');
  const agg = latency.find((r) => r.name.startsWith('gateway /mcp ('));
  const one = latency.find((r) => r.name.startsWith('gateway /mcp/'));
  const tAgg = throughput.find((t) => t.name.startsWith('gateway /mcp ('));
  const tOne = throughput.find((t) => t.name.startsWith('gateway /mcp/'));
  console.log(
    `\ngoal, added latency p50 < ${GOALS.addedP50Ms} ms: ${verdict(agg.added.median < GOALS.addedP50Ms && one.added.median < GOALS.addedP50Ms)} — /mcp ${fmt(agg.added.median, 3)} ms (p99 ${fmt(agg.added.p99, 3)} ms), /mcp/bench ${fmt(one.added.median, 3)} ms (p99 ${fmt(one.added.p99, 3)} ms)`,
  );
  console.log(
    `goal, throughput ≥ ${GOALS.timesSdk}× the SDK stateless forwarder: ${verdict(tAgg.timesSdk >= GOALS.timesSdk && tOne.timesSdk >= GOALS.timesSdk)} — /mcp ${fmt(tAgg.timesSdk, 2)}×, /mcp/bench ${fmt(tOne.timesSdk, 2)}× (medians of the rounds' pairs)\n`,
  );
  const before = latency.find((r) => r.name.startsWith('baseline build'));
  const tBefore = throughput.find((t) => t.name.startsWith('baseline build'));
  if (before) {
    console.log(
      `against the baseline build (BENCH_BASELINE_ROOT), /mcp: added p50 ${fmt(before.added.median, 3)} → ${fmt(agg.added.median, 3)} ms; ${fmt(tBefore.timesSdk, 2)}× → ${fmt(tAgg.timesSdk, 2)}× the SDK forwarder; CPU per request ${fmt(tBefore.cpuUs, 1)} → ${fmt(tAgg.cpuUs, 1)} µs\n`,
    );
  }
}
