// `npm run bench`: every benchmark, each contender side by side with its baseline in one run.
// Prints a Markdown table per benchmark (paste into BENCHMARKS.md with the machine and date).
import { bridgeOverhead } from './bridge-overhead.mjs';
import { coldStart, GOALS } from './cold-start.mjs';
import { cloudThroughput } from './cloud-throughput.mjs';
import { machine, setUp } from './fixtures.mjs';
import { gatewayBench, printGateway } from './gateway.mjs';
import { tokenValidation } from './token-validation.mjs';

const only = process.argv[2];
// The gateway benchmark starts its own IdP, child and servers: no signed-in profile needed.
const f = only === 'gateway' ? { close: async () => {} } : await setUp();
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
try {
  console.log(`# seed-mcp benchmarks — ${new Date().toISOString().slice(0, 10)} — ${machine()}\n`);
  if (!only || only === 'cold-start') {
    const rows = await coldStart(f);
    console.log('## Cold start: spawn → initialize answered (20 runs after a warm-up)\n');
    console.log('| contender | median ms | p90 ms | min ms | over Node floor, median ms | peak RSS MB (median) |\n| --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.name} | ${fmt(r.time.median)} | ${fmt(r.time.p90)} | ${fmt(r.time.min)} | ${fmt(r.overFloor.median)} | ${fmt(r.rss.median)} |`);
    const seed = rows.find((r) => r.name === 'seed-mcp serve --upstream');
    const remote = rows.find((r) => r.name === 'mcp-remote');
    const floor = rows[0];
    console.log(
      `\nseed-mcp / mcp-remote: ${fmt((seed.time.median / remote.time.median) * 100, 0)} % of the time, ${fmt((seed.rss.median / remote.rss.median) * 100, 0)} % of the memory\n`,
    );
    const verdict = (ok) => (ok ? 'PASS' : 'FAIL');
    console.log(
      `goal, cold start ≤ Node floor + ${GOALS.overFloorMs} ms: ${verdict(seed.overFloor.median <= GOALS.overFloorMs)} — ${fmt(seed.overFloor.median)} ms over the floor (median of the rounds' pairs; p90 ${fmt(seed.overFloor.p90)} ms; floor median ${fmt(floor.time.median)} ms)`,
    );
    console.log(
      `goal, peak RSS < ${GOALS.rssMb} MB: ${verdict(seed.rss.median < GOALS.rssMb)} — ${fmt(seed.rss.median)} MB (median VmHWM; max ${fmt(seed.rss.max)} MB; Node floor ${fmt(floor.rss.median)} MB)\n`,
    );
  }
  if (!only || only === 'bridge') {
    const rows = await bridgeOverhead(f);
    console.log('## Bridge overhead: 1000 sequential tools/call (after 50 warm-up calls)\n');
    console.log('| path | upstream era | median ms | p90 ms | p99 ms | added median ms |\n| --- | --- | --- | --- | --- | --- |');
    for (const r of rows)
      console.log(
        `| ${r.name} | ${r.era} | ${fmt(r.latency.median, 3)} | ${fmt(r.latency.p90, 3)} | ${fmt(r.latency.p99, 3)} | ${r.name.startsWith('direct') ? '(baseline)' : fmt(r.added, 3)} |`,
      );
    console.log();
  }
  if (!only || only === 'cloud') {
    const token = await f.idp.serviceToken({ resource: f.upstream.url });
    const rows = await cloudThroughput({ idp: f.idp, token, resource: f.upstream.url });
    console.log('## Cloud throughput: authenticated tools/call, autocannon, 50 connections, 9 interleaved rounds of 3 s\n');
    console.log('| server | requests/s (median) | p50 ms | p99 ms | server CPU µs per request (median) | each round, requests/s |\n| --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.name} | ${fmt(r.rps, 0)} | ${r.p50} | ${r.p99} | ${fmt(r.cpuUs, 1)} | ${r.rounds.join(' ')} |`);
    const [auth, noAuth] = rows;
    const sdk = rows.find((r) => r.name.startsWith('SDK'));
    const baseline = rows.find((r) => r.baseline);
    // Each round runs the contenders back to back: pairing them round by round cancels most of
    // the drift of a shared host, which moves the medians of either by ±30 %.
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const paired = median(auth.rounds.map((r, i) => (1 - r / noAuth.rounds[i]) * 100));
    const pairedSdk = median(auth.rounds.map((r, i) => r / sdk.rounds[i]));
    console.log(
      `\nauth overhead: ${fmt((1 - auth.rps / noAuth.rps) * 100)} % of the median requests/s; ${fmt(paired)} % as the median of the rounds' pairs (each round: ${auth.rounds.map((r, i) => fmt((1 - r / noAuth.rounds[i]) * 100, 0)).join(' ')} %)`,
    );
    console.log(`server CPU per request: auth ${fmt(auth.cpuUs, 1)} µs, no auth ${fmt(noAuth.cpuUs, 1)} µs: ${fmt((auth.cpuUs / noAuth.cpuUs - 1) * 100)} % more`);
    console.log(`against the SDK stateless pattern: ${fmt(auth.rps / sdk.rps, 2)}× (medians), ${fmt(pairedSdk, 2)}× (rounds' pairs)\n`);
    if (baseline) {
      const pairedBase = median(auth.rounds.map((r, i) => r / baseline.rounds[i]));
      const cpuPairs = median(auth.cpuRounds.map((c, i) => c / baseline.cpuRounds[i]));
      console.log(
        `against the baseline build (BENCH_BASELINE_ROOT): ${fmt(auth.rps / baseline.rps, 3)}× the requests/s (medians), ${fmt(pairedBase, 3)}× (rounds' pairs); ${fmt(cpuPairs, 3)}× its server CPU per request (rounds' pairs)\n`,
      );
    }
  }
  if (!only || only === 'tokens') {
    const rows = await tokenValidation();
    console.log('## Token validation: cost per call\n');
    console.log('| contender | µs per call (median) |\n| --- | --- |');
    for (const r of rows) console.log(`| ${r.name} | ${fmt(r.usPerOp, 2)} |`);
    console.log();
  }
  if (!only || only === 'gateway') printGateway(await gatewayBench(), fmt);
} finally {
  await f.close();
}
