/**
 * The deployment files: Dockerfile, deploy/docker-compose.yml, deploy/kubernetes/, the Prometheus
 * scrape config and alert rules, and the Grafana dashboard. They are checked against the product
 * contract (metric, label and variable names), against each other (selectors, secret keys, ports,
 * mounts), against seed-mcp itself (`config check` accepts each example environment; the image's
 * healthcheck command passes against a running `seed-mcp cloud`), and with promtool, which CI
 * installs (Debian package `prometheus`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CLOUD_VARIABLES } from '../src/cloud/config.js';
import { parseUpstreams } from '../src/cloud/gateway/upstreams-file.js';
import { createMetrics } from '../src/cloud/metrics.js';
import { ROOT, runCli, startCli, tempDirs } from './support/cli.js';
import { signingKeyPem } from './support/signing-key.js';

const newDir = tempDirs('seed-mcp-deploy-');
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const PROM = join(DEPLOY, 'prometheus');
const DASHBOARD = join(DEPLOY, 'grafana/seed-mcp-dashboard.json');

// ---------------------------------------------------------------------------------------------
// The product contract: the metric names that existing dashboards and alert rules use, and the
// variable names of existing deployment guides (each a variable of src/cloud/config.ts, which
// docs/configuration.md lists).

/** The contract's metrics. */
const CONTRACT_METRICS = [
  'http_request_duration_seconds',
  'http_request_total',
  'mcp_sessions_active',
  'mcp_sessions_total',
  'mcp_tool_invocations_total',
  'mcp_tool_duration_seconds',
  'auth_attempts_total',
  'auth_token_validation_duration_seconds',
  'oauth_authorization_requests_total',
  'oauth_token_exchanges_total',
  'oauth_token_exchange_duration_seconds',
  'dcr_registrations_total',
  'token_refresh_attempts_total',
  'token_refresh_duration_seconds',
  'jwks_refresh_total',
  'jwks_cache_hits_total',
  'jwks_cache_misses_total',
  'redis_operations_total',
  'redis_operation_duration_seconds',
  'circuit_breaker_state',
  'circuit_breaker_failures_total',
  'rate_limit_hits_total',
];

/** The contract's cloud-mode variables; each also as NAME_FILE. */
const CONTRACT_ENV = [
  'AUTH_MODE',
  'PORT',
  'MCP_PORT',
  'HOST',
  'BASE_URL',
  'AUTH_REQUIRED',
  'ALLOWED_ISSUERS',
  'OIDC_ISSUER',
  'RESOURCE_IDENTIFIER',
  'OIDC_AUDIENCE',
  'JWKS_CACHE_TTL',
  'SCOPES_SUPPORTED',
  'OAUTH_AUTHORIZATION_URL',
  'OAUTH_TOKEN_URL',
  'OAUTH_PROXY_ENABLED',
  'OAUTH_CLIENT_ID',
  'OAUTH_CLIENT_SECRET',
  'DCR_CLIENT_TTL',
  'DCR_RATE_LIMIT_MAX',
  'REDIS_URL',
  'METRICS_ENABLED',
  'METRICS_TOKEN',
  'RATE_LIMIT_ENABLED',
  'MCP_RATE_LIMIT_MAX',
  'MCP_RATE_LIMIT_WINDOW_MS',
  'CORS_EXTRA_ORIGINS',
  'MCP_SESSION_TTL_SECONDS',
  'MCP_MAX_SESSIONS',
  'TOOL_POLICY_FILE',
  'CHECKLIST_DIR',
  'PROCESS_DIR',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'TRUST_PROXY',
];
/** seed-mcp's own, beyond the contract (README, "Several replicas" and "The OAuth proxy"). */
const OWN_ENV = [
  'OAUTH_IDP_RESOURCE',
  'OAUTH_CLIENT_AUTH_METHOD',
  'REDIS_KEY_PREFIX',
  'REVOCATION_FAIL_MODE',
  'REVOCATION_MAX_STALENESS',
  'ALLOWED_HOSTS',
  'FETCH_ALLOWED_HOSTS',
  'OAUTH_CONSENT_TTL',
  'OAUTH_CONSENT_SKIP_LOOPBACK',
  'OAUTH_CONSENT_SKIP_CLIENTS',
  'OAUTH_SIGNING_KEYS',
  'OAUTH_ACCESS_TOKEN_TTL',
  'OAUTH_REFRESH_TOKEN_TTL',
  'UPSTREAMS_FILE',
];
/** README, "Gateway: `UPSTREAMS_FILE`": the metrics of the children of UPSTREAMS_FILE. */
const GATEWAY_METRICS = ['mcp_child_requests_total', 'mcp_child_request_duration_seconds', 'mcp_child_breaker_state', 'mcp_child_token_mints_total'];
const ALLOWED_ENV = new Set([...CONTRACT_ENV, ...OWN_ENV].flatMap((n) => [n, `${n}_FILE`]));
/**
 * Contract metrics seed-mcp does not export: the token refreshes of a local bridge scraped through
 * `seed-mcp serve --metrics-port`, which does not exist (the cloud server refreshes no tokens).
 */
const NOT_EXPORTED_METRICS = new Set(['token_refresh_attempts_total', 'token_refresh_duration_seconds']);

/** Labels that Prometheus adds to every series: the target's, and those of prometheus.yml's relabelling. */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'environment'];

/**
 * Every series name seed-mcp exports (with the label names of each), read from a real metrics
 * registry after one event of each kind: the contract's names and prom-client's default metrics.
 */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  const m = createMetrics();
  m.httpRequest('GET', '/mcp', 200, 0.01);
  m.toolCall('seed_ping', 'success', 0.01);
  m.authAttempt('failure', 'INVALID_TOKEN', 0.01);
  m.jwksRefresh('success');
  m.jwksCacheHit();
  m.jwksCacheMiss();
  m.sessionOpened();
  m.sessionClosed('closed');
  m.rateLimitHit();
  m.circuitBreaker('redis', 'closed');
  m.circuitBreakerFailure('redis');
  m.redisOperation('get', 'success', 0.001);
  m.oauthAuthorization('success');
  m.oauthTokenExchange('authorization_code', 'success', 0.1);
  m.dcrRegistration('success');
  m.childRequest('docs', 'success', 0.05);
  m.childBreaker('docs', 'open');
  m.childTokenMint('docs', 'success');
  const { body } = await m.render();
  const series = new Map<string, Set<string>>();
  for (const line of body.split('\n')) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!sample) continue;
    const name = sample[1]!;
    const labels = series.get(name) ?? new Set<string>();
    for (const l of (sample[2] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)) labels.add(l[1]!);
    series.set(name, labels);
  }
  series.set('up', new Set());
  return series;
}

// ---------------------------------------------------------------------------------------------
// PromQL, by hand: enough to find the metric names and matcher labels of an expression.

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

/** The metric names an expression selects (function names, keywords, labels and numbers left out). */
function metricNames(expr: string): string[] {
  const e = withoutStrings(expr)
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names: string[] = [];
  for (const m of e.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = e[m.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 5m, 1e3
    if (/^\s*\(/.test(e.slice(m.index + m[0].length))) continue; // a function
    if (PROMQL_KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

/** `name{label="…", …}` selectors: the metric and the label names it matches on. */
function selectors(expr: string): Array<{ metric: string; labels: string[] }> {
  const e = withoutStrings(expr);
  return [...e.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map((m) => ({
    metric: m[1]!,
    labels: [...m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!),
  }));
}

/** `by (…)`, `without (…)`, `on (…)`, `ignoring (…)` label lists. */
function groupingLabels(expr: string): string[] {
  return [...withoutStrings(expr).matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/** The base metric of a series name: histogram series end in _bucket, _sum or _count. */
function baseMetric(name: string, exported: Map<string, Set<string>>): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && exported.has(`${base}_bucket`) ? base : name;
}

/** Every problem with the names and labels that `expr` uses. */
function promqlProblems(where: string, expr: string, exported: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  const contract = new Set([...CONTRACT_METRICS, ...GATEWAY_METRICS]);
  for (const name of metricNames(expr)) {
    const base = baseMetric(name, exported);
    const defaultMetric = /^(process|nodejs)_/.test(name) || name === 'up';
    if (!contract.has(base) && !defaultMetric) problems.push(`${where}: ${name} is not a metric of the contract (CONTRACT_METRICS)`);
    if (!exported.has(name)) problems.push(`${where}: seed-mcp exports no series ${name}`);
  }
  for (const { metric, labels } of selectors(expr)) {
    const known = new Set([...(exported.get(metric) ?? []), ...TARGET_LABELS]);
    for (const label of labels) if (!known.has(label)) problems.push(`${where}: ${metric} has no label ${label}`);
  }
  const allLabels = new Set([...[...exported.values()].flatMap((s) => [...s]), ...TARGET_LABELS, 'le']);
  for (const label of groupingLabels(expr)) if (!allLabels.has(label)) problems.push(`${where}: no metric has the label ${label} (by/on/ignoring)`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Dockerfile, by hand

interface Instruction {
  cmd: string;
  args: string;
  line: number;
}

function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      const next = lines[i]!;
      if (!/^\s*#/.test(next)) line += next;
    }
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${first + 1}: cannot read ${JSON.stringify(line)}`);
    out.push({ cmd: m[1]!.toUpperCase(), args: m[2]!.trim(), line: first + 1 });
  }
  return out;
}

function stages(instructions: Instruction[]): { globalArgs: Map<string, string>; stages: Instruction[][] } {
  const globalArgs = new Map<string, string>();
  const result: Instruction[][] = [];
  for (const ins of instructions) {
    if (ins.cmd === 'FROM') result.push([ins]);
    else if (result.length === 0) {
      if (ins.cmd !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.cmd} before the first FROM`);
      const [k = '', v = ''] = ins.args.split('=');
      globalArgs.set(k.trim(), v.trim());
    } else result[result.length - 1]!.push(ins);
  }
  return { globalArgs, stages: result };
}

const expand = (s: string, vars: Map<string, string>): string => s.replace(/\$\{?(\w+)\}?/g, (_, k: string) => vars.get(k) ?? '');

/** ENV's KEY=value pairs (quotes allowed). */
function envPairs(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|\S*)/g)) out.set(m[1]!, m[2]!.replace(/^"|"$/g, ''));
  return out;
}

/** .dockerignore patterns as a matcher of context-relative paths (last match wins, `!` re-includes). */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const re = p
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/');
      return { negate, re: new RegExp(`^${re.replace(/\.\*\//g, '(?:.*/)?')}(?:/.*)?$`) };
    });
  return (path) => {
    let ignored = false;
    for (const r of rules) if (r.re.test(path)) ignored = !r.negate;
    return ignored;
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const read = (path: string): string => readFileSync(path, 'utf8');

function yamlFile(path: string): any {
  const doc = parseAllDocuments(read(path), { merge: true });
  const docs = Array.isArray(doc) ? doc : [doc];
  for (const d of docs) if (d.errors.length) throw new Error(`${path}: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.length === 1 ? docs[0]!.toJS({ maxAliasCount: 100 }) : docs.map((d) => d.toJS());
}

function k8sDocuments(): Array<{ file: string; doc: any }> {
  const out: Array<{ file: string; doc: any }> = [];
  for (const file of readdirSync(K8S)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort()) {
    const docs = parseAllDocuments(read(join(K8S, file)));
    for (const d of Array.isArray(docs) ? docs : [docs]) {
      if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS();
      if (doc !== null) out.push({ file, doc });
    }
  }
  return out;
}

const byKind = (docs: Array<{ doc: any }>, kind: string): any[] => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function composeFile(): any {
  return yamlFile(join(DEPLOY, 'docker-compose.yml'));
}

/** Compose services that run seed-mcp (built from the repo's Dockerfile). */
function seedServices(compose: any): Array<[string, any]> {
  return Object.entries<any>(compose.services).filter(([, s]) => s.build !== undefined || /seed-mcp/.test(s.image ?? ''));
}

function composeEnv(service: any): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((kv: string) => kv.split(/=(.*)/s).slice(0, 2)));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

function findPromtool(): string | undefined {
  for (const p of ['/usr/bin/promtool', ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'promtool'))]) if (existsSync(p)) return p;
  return undefined;
}

const PROMTOOL_HINT =
  'promtool is not installed: it checks deploy/prometheus/*.yml for real. Install it with\n' +
  '  apt-get update && apt-get install -y --no-install-recommends prometheus\n' +
  '(the Debian package ships /usr/bin/promtool; the Prometheus server it also ships is not started).';

function promtool(args: string[], cwd = PROM): { code: number | null; out: string } {
  const bin = findPromtool();
  if (!bin) throw new Error(PROMTOOL_HINT);
  const r = spawnSync(bin, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** The JavaScript of a `node -e CODE` exec-form healthcheck. */
function healthcheckScript(test: string[]): string {
  const args = test[0] === 'CMD' ? test.slice(1) : test;
  expect(args.slice(0, 2), `healthcheck ${JSON.stringify(test)}`).toEqual(['node', '-e']);
  return args[2]!;
}

function dashboard(): any {
  return JSON.parse(read(DASHBOARD));
}

function dashboardPanels(d: any): any[] {
  return d.panels.flatMap((p: any) => (p.type === 'row' ? [p, ...(p.panels ?? [])] : [p]));
}

/**
 * An upstreams file through the real parser (`parseUpstreams`, as `seed-mcp cloud` reads
 * UPSTREAMS_FILE). The secret and token files it names exist only where it is deployed: each is
 * made (with a placeholder) under a temp dir at the same path, and the file's paths moved there;
 * relative paths resolve against that dir, as against the file's own.
 */
function parseUpstreamsExample(text: string, source: string, allowedIssuers: string[]): ReturnType<typeof parseUpstreams> {
  const dir = newDir();
  const value = parse(text) as { upstreams?: Array<{ auth?: Record<string, unknown> }> };
  for (const child of value.upstreams ?? []) {
    for (const [key, path] of Object.entries(child.auth ?? {})) {
      if (!key.endsWith('_file') || typeof path !== 'string') continue;
      const target = join(dir, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, key === 'private_key_file' ? signingKeyPem() : 'placeholder-secret\n');
      if (path.startsWith('/')) child.auth![key] = target;
    }
  }
  return parseUpstreams(stringify(value), 'yaml', source, { allowedIssuers, baseDir: dir });
}

// ---------------------------------------------------------------------------------------------

describe('the contract lists in this test', () => {
  it('name variables of the configuration schema, which docs/configuration.md lists', () => {
    const schema = new Set(Object.keys(CLOUD_VARIABLES));
    for (const name of [...CONTRACT_ENV, ...OWN_ENV]) expect(schema.has(name), `${name} is a variable of src/cloud/config.ts`).toBe(true);
  });

  it('name series that seed-mcp really exports', async () => {
    const exported = await exportedSeries();
    for (const name of CONTRACT_METRICS.filter((n) => !NOT_EXPORTED_METRICS.has(n))) {
      expect(exported.has(name) || exported.has(`${name}_bucket`), `seed-mcp exports ${name}`).toBe(true);
    }
    for (const name of NOT_EXPORTED_METRICS) expect(exported.has(name) || exported.has(`${name}_bucket`), `seed-mcp does not export ${name}`).toBe(false);
    for (const name of GATEWAY_METRICS) expect(exported.has(name) || exported.has(`${name}_bucket`), `seed-mcp exports ${name}`).toBe(true);
  });
});

describe('Dockerfile', () => {
  const text = read(join(ROOT, 'Dockerfile'));
  const { globalArgs, stages: all } = stages(dockerInstructions(text));
  const final = all[all.length - 1]!;
  const of = (stage: Instruction[], cmd: string): Instruction[] => stage.filter((i) => i.cmd === cmd);

  it('has a build stage and a runtime stage, both on a Debian slim Node image with a pinned major', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const stage of all) {
      const [image] = expand(stage[0]!.args, globalArgs).split(/\s+/);
      expect(image, `FROM at line ${stage[0]!.line}`).toMatch(/^node:\d+-bookworm-slim$/);
    }
    const build = all.find((s) => /\bAS\s+build\b/i.test(s[0]!.args));
    expect(build, 'a stage named build').toBeDefined();
    const runs = of(build!, 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(runs).toMatch(/\bnpm ci\b/);
    expect(runs).toMatch(/npm run build|scripts\/build\.mjs/);
  });

  it('final stage: production dependencies only, from the lock file, and the built bundle', () => {
    const runs = of(final, 'RUN').map((i) => i.args);
    expect(runs.join('\n')).not.toMatch(/\bnpm (install|i|add)\b|\byarn\b|\bpnpm\b|--include[= ]dev|--production=false/);
    const npmCi = runs.filter((r) => /\bnpm ci\b/.test(r));
    expect(npmCi.length, 'npm ci in the final stage').toBe(1);
    expect(npmCi[0]).toMatch(/--omit[= ]dev/);
    expect(npmCi[0]).toMatch(/--ignore-scripts/);
    const copies = of(final, 'COPY').map((i) => i.args);
    const fromBuild = copies.filter((c) => /--from=/.test(c));
    expect(fromBuild.length).toBeGreaterThan(0);
    for (const c of fromBuild) expect(c, 'only dist/ comes from the build stage (its node_modules has dev dependencies)').toMatch(/--from=\S+\s+\/app\/dist\s/);
    expect(
      copies.some((c) => /^bin\s/.test(c)),
      'COPY bin',
    ).toBe(true);
    expect(of(final, 'WORKDIR').pop()?.args).toBe('/app');
  });

  it('final stage: a numeric non-root USER, healthcheck without curl, entrypoint bin/seed-mcp.js cloud, port 3000, env, labels', () => {
    const user = of(final, 'USER').pop()?.args;
    expect(user, 'USER in the final stage').toBeDefined();
    const [uid, gid] = user!.split(':');
    expect(uid, 'numeric uid, so that Kubernetes runAsNonRoot can verify it').toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);
    // Nothing after USER runs as root again.
    const userAt = final.findIndex((i) => i.cmd === 'USER');
    expect(final.slice(userAt).filter((i) => i.cmd === 'RUN')).toEqual([]);

    const hc = of(final, 'HEALTHCHECK');
    expect(hc.length).toBe(1);
    expect(hc[0]!.args).not.toMatch(/\b(curl|wget)\b/);
    expect(hc[0]!.args).toMatch(/\/health\b/);

    const entrypoint = of(final, 'ENTRYPOINT').pop()?.args;
    expect(JSON.parse(entrypoint!)).toEqual(['node', '/app/bin/seed-mcp.js']);
    expect(JSON.parse(of(final, 'CMD').pop()!.args)).toEqual(['cloud']);
    expect(of(final, 'EXPOSE').map((i) => i.args)).toContain('3000');
    const env = new Map(of(final, 'ENV').flatMap((i) => [...envPairs(i.args)]));
    expect(env.get('NODE_ENV')).toBe('production');
    expect(env.get('SEED_MCP_NO_COMPILE_CACHE')).toBe('1');
    const labels = of(final, 'LABEL')
      .map((i) => i.args)
      .join(' ');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });

  it('copies only what exists in the build context and .dockerignore lets through; keeps node_modules, dist and .git out', () => {
    const ignored = dockerignore(read(join(ROOT, '.dockerignore')));
    for (const p of ['node_modules', 'dist', '.git', 'coverage', 'test', 'node_modules/x/y', 'deploy/secrets/idp-client-secret']) expect(ignored(p), p).toBe(true);
    for (const stage of all) {
      for (const c of of(stage, 'COPY').filter((i) => !/--from=/.test(i.args))) {
        const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          expect(existsSync(join(ROOT, src)), `COPY ${src} (line ${c.line}) exists`).toBe(true);
          expect(ignored(src), `COPY ${src} (line ${c.line}) is not excluded by .dockerignore`).toBe(false);
        }
      }
    }
    // The bundle needs these at run time: present in the runtime stage's production install.
    const lock = JSON.parse(read(join(ROOT, 'package-lock.json')));
    for (const dep of ['@napi-rs/keyring', 'open', 'ink', 'ink-spinner', 'react', 'undici']) {
      expect(lock.packages[`node_modules/${dep}`]?.dev, `${dep} is a production dependency`).not.toBe(true);
    }
  });

  it('its healthcheck passes against a running seed-mcp cloud and fails when nothing answers', async () => {
    const hc = of(final, 'HEALTHCHECK')[0]!.args.replace(/^(--\S+\s+)*CMD\s+/, '');
    const dockerScript = healthcheckScript(JSON.parse(hc));
    const composeScripts = seedServices(composeFile()).map(([, s]) => healthcheckScript(s.healthcheck.test));
    const port = await freePort();
    const server = startCli(['cloud'], {
      AUTH_MODE: 'cloud',
      PORT: String(port),
      HOST: '127.0.0.1',
      ALLOWED_ISSUERS: 'https://idp.example.invalid',
      RESOURCE_IDENTIFIER: 'api://seed-mcp',
      BASE_URL: `http://localhost:${port}`,
    });
    const probe = (script: string) => spawnSync(process.execPath, ['-e', script], { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, timeout: 15_000 }).status;
    try {
      await server.waitForStderr(/listening/);
      expect(probe(dockerScript), 'Dockerfile HEALTHCHECK').toBe(0);
      for (const s of composeScripts) expect(probe(s), 'compose healthcheck').toBe(0);
    } finally {
      server.child.kill('SIGTERM');
    }
    const done = await server.done;
    expect(done.code, done.stderr).toBe(0);
    expect(probe(dockerScript), 'Dockerfile HEALTHCHECK with nothing listening').toBe(1);
  });
});

describe('deploy/docker-compose.yml', () => {
  const compose = composeFile();
  const seed = seedServices(compose);

  it('parses, and has Redis and two seed-mcp replicas built from the Dockerfile', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['redis']));
    expect(compose.services.redis.image).toMatch(/^redis:7(\.|-|$)/);
    expect(compose.services.redis.healthcheck?.test).toBeDefined();
    expect(seed.length).toBeGreaterThanOrEqual(2);
    for (const [name, s] of seed) {
      const context = resolve(DEPLOY, s.build.context ?? s.build);
      expect(existsSync(join(context, s.build.dockerfile ?? 'Dockerfile')), `${name}: build context has the Dockerfile`).toBe(true);
      expect(s.command ?? ['cloud'], name).toEqual(['cloud']);
    }
    const published = seed.flatMap(([, s]) => (s.ports ?? []).map((p: string) => String(p).split(':')[0]));
    expect(new Set(published).size, 'each replica on its own host port').toBe(published.length);
  });

  it('each seed-mcp service: healthcheck, Redis healthy first, shared REDIS_URL, secrets as _FILE, its own BASE_URL', () => {
    const redisUrls = new Set<string>();
    for (const [name, s] of seed) {
      const env = composeEnv(s);
      expect(s.healthcheck?.test, `${name}: healthcheck`).toBeDefined();
      expect(s.depends_on?.redis?.condition, `${name}: depends_on redis`).toBe('service_healthy');
      expect(env.REDIS_URL, `${name}: REDIS_URL`).toMatch(/^rediss?:\/\/redis(:\d+)?(\/\d+)?$/);
      redisUrls.add(env.REDIS_URL!);
      expect(env.OAUTH_CLIENT_SECRET, `${name}: the IdP secret never as a plain variable`).toBeUndefined();
      expect(env.METRICS_TOKEN, `${name}: the metrics token never as a plain variable`).toBeUndefined();
      const fileVars = Object.entries(env).filter(([k]) => k.endsWith('_FILE') && k !== 'TOOL_POLICY_FILE');
      expect(
        fileVars.map(([k]) => k),
        name,
      ).toContain('OAUTH_CLIENT_SECRET_FILE');
      const serviceSecrets = (s.secrets ?? []).map((x: any) => (typeof x === 'string' ? x : x.source));
      for (const [k, v] of fileVars) {
        const m = /^\/run\/secrets\/([\w.-]+)$/.exec(v);
        expect(m, `${name}: ${k}=${v} is a compose secret`).not.toBeNull();
        expect(serviceSecrets, `${name}: ${k} names a secret the service mounts`).toContain(m![1]);
        expect(compose.secrets?.[m![1]!]?.file, `top-level secret ${m![1]} has a file`).toBeDefined();
      }
      const port = String(s.ports[0]).split(':')[0];
      expect(env.BASE_URL, `${name}: BASE_URL is the published port`).toBe(`http://localhost:${port}`);
      expect(env.OAUTH_PROXY_ENABLED).toBe('true');
      for (const k of ['ALLOWED_ISSUERS', 'RESOURCE_IDENTIFIER', 'CHECKLIST_DIR', 'PROCESS_DIR']) expect(env[k], `${name}: ${k}`).toBeTruthy();
    }
    expect(redisUrls.size, 'the replicas share one Redis').toBe(1);
    for (const [secret, def] of Object.entries<any>(compose.secrets)) {
      const dir = dirname(resolve(DEPLOY, def.file));
      expect(existsSync(dir), `the directory of secret ${secret} exists`).toBe(true);
      expect(read(join(dir, '.gitignore')), `${dir} keeps secrets out of git`).toMatch(/^\*$/m);
    }
  });

  it('uses only variables of the contract', () => {
    for (const [name, s] of seed)
      for (const k of Object.keys(composeEnv(s))) expect(ALLOWED_ENV.has(k), `${name}: ${k} is a cloud-mode variable (docs/configuration.md)`).toBe(true);
  });

  it("each replica's environment passes `seed-mcp config check`", async () => {
    for (const [name, s] of seed) {
      const dir = newDir();
      const mounts = (s.volumes ?? []).map((v: string) => v.split(':')).map(([src = '', dst = '']: string[]) => ({ src: resolve(DEPLOY, src), dst }));
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(composeEnv(s))) {
        const secret = /^\/run\/secrets\/([\w.-]+)$/.exec(v);
        const mount = mounts.find((m: { dst: string }) => v === m.dst || v.startsWith(`${m.dst}/`));
        if (secret) {
          // A signing key must be a real PEM key; the other secrets are any text.
          writeFileSync(join(dir, secret[1]!), secret[1]!.includes('signing') ? signingKeyPem() : `test-${secret[1]}-value\n`);
          env[k] = join(dir, secret[1]!);
        } else if (mount) {
          env[k] = mount.src + v.slice(mount.dst.length);
        } else {
          env[k] = v;
        }
      }
      const r = await runCli(['config', 'check'], env);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const printed = JSON.parse(r.stdout);
      expect(printed).toMatchObject({ authMode: 'cloud', oauthProxy: { enabled: true }, redisUrl: env.REDIS_URL });
      expect(r.stdout).not.toContain('test-idp_client_secret-value');
    }
  });

  it('mounts Prometheus files that exist', () => {
    for (const [, s] of Object.entries<any>(compose.services)) {
      for (const v of s.volumes ?? []) {
        const src = String(v).split(':')[0]!;
        if (src.startsWith('.')) expect(existsSync(resolve(DEPLOY, src)), src).toBe(true);
      }
    }
  });

  it('gateway mode: mounts upstreams.yaml where the commented UPSTREAMS_FILE points; it parses, and its secrets are compose secrets', () => {
    const text = read(join(DEPLOY, 'docker-compose.yml'));
    const path = /^\s*#\s*UPSTREAMS_FILE:\s*(\S+)\s*$/m.exec(text)?.[1];
    expect(path, 'docker-compose.yml names UPSTREAMS_FILE (commented)').toBeDefined();
    for (const [name, s] of seed) {
      const mount = (s.volumes ?? []).map((v: string) => v.split(':')).find(([, dst]: string[]) => dst === path);
      expect(mount, `${name} mounts ${path}`).toBeDefined();
      const source = resolve(DEPLOY, mount[0]);
      const env = composeEnv(s);
      const config = parseUpstreamsExample(read(source), source, env.ALLOWED_ISSUERS!.split(','));
      expect(config.children.length).toBeGreaterThan(0);
      for (const m of read(source).matchAll(/_file:\s*(\S+)/g)) {
        const secret = /^\/run\/secrets\/([\w.-]+)$/.exec(m[1]!)?.[1];
        expect(secret, `${m[1]} is a compose secret`).toBeDefined();
        expect(text, `the secret ${secret} is declared (commented until the gateway is on)`).toMatch(new RegExp(`^\\s*#?\\s*${secret}:\\s*$`, 'm'));
      }
    }
  });

  it('passes `docker-compose config` (the compose schema)', () => {
    // CI installs Debian's docker-compose (.ci/run); without it this fails rather than skips.
    expect(spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status, 'docker-compose is not installed: apt-get install -y docker-compose').toBe(0);
    const dir = newDir();
    mkdirSync(join(dir, 'deploy/secrets'), { recursive: true });
    for (const f of ['docker-compose.yml']) writeFileSync(join(dir, 'deploy', f), read(join(DEPLOY, f)));
    for (const [, def] of Object.entries<any>(composeFile().secrets)) writeFileSync(resolve(dir, 'deploy', def.file), 'x');
    const r = spawnSync('docker-compose', ['-f', join(dir, 'deploy/docker-compose.yml'), 'config', '-q'], { cwd: join(dir, 'deploy'), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('deploy/kubernetes', () => {
  const docs = k8sDocuments();
  const deployments = byKind(docs, 'Deployment');
  const configMaps = byKind(docs, 'ConfigMap');
  const secrets = byKind(docs, 'Secret');
  const seedDeployment = deployments.find((d) => d.metadata.name === 'seed-mcp');
  const container = seedDeployment?.spec.template.spec.containers.find((c: any) => c.name === 'seed-mcp');

  it('every manifest parses, names no namespace, and kustomization.yaml lists every file', () => {
    for (const { file, doc } of docs) {
      expect(doc.apiVersion && doc.kind && doc.metadata?.name, `${file}: apiVersion, kind, metadata.name`).toBeTruthy();
      expect(doc.metadata.namespace, `${file}: ${doc.kind} names no namespace`).toBeUndefined();
    }
    const kustomization = yamlFile(join(K8S, 'kustomization.yaml'));
    expect(kustomization.kind).toBe('Kustomization');
    const files = readdirSync(K8S)
      .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
      .sort();
    expect([...kustomization.resources].sort()).toEqual(files);
    for (const kind of ['Deployment', 'Service', 'ConfigMap', 'Secret', 'PodDisruptionBudget']) expect(byKind(docs, kind).length, kind).toBeGreaterThan(0);
  });

  it('every Deployment runs as non-root with a read-only root filesystem', () => {
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, `${d.metadata.name}: runAsNonRoot`).toBe(true);
      expect(pod.securityContext?.runAsUser, `${d.metadata.name}: runAsUser`).toBeGreaterThan(0);
      for (const c of pod.containers) {
        expect(c.securityContext?.readOnlyRootFilesystem, `${c.name}: readOnlyRootFilesystem`).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation, `${c.name}: allowPrivilegeEscalation`).toBe(false);
        expect(c.securityContext?.capabilities?.drop, `${c.name}: drops capabilities`).toContain('ALL');
        expect(c.resources?.requests?.memory && c.resources?.limits?.memory, `${c.name}: memory request and limit`).toBeTruthy();
      }
    }
  });

  it('seed-mcp: 2 replicas, probes on /health and /health/ready, graceful drain', () => {
    expect(seedDeployment, 'Deployment seed-mcp').toBeDefined();
    expect(container, 'container seed-mcp').toBeDefined();
    const pod = seedDeployment.spec.template.spec;
    expect(seedDeployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(matches(seedDeployment.spec.selector.matchLabels, seedDeployment.spec.template.metadata.labels)).toBe(true);
    expect(container.args ?? ['cloud']).toEqual(['cloud']);
    const portNames = new Map<string, number>(container.ports.map((p: any) => [p.name, p.containerPort]));
    const probePort = (probe: any): number => (typeof probe.httpGet.port === 'number' ? probe.httpGet.port : portNames.get(probe.httpGet.port)!);
    expect(container.livenessProbe?.httpGet?.path).toBe('/health');
    expect(container.readinessProbe?.httpGet?.path).toBe('/health/ready');
    expect(container.startupProbe?.httpGet?.path).toBe('/health');
    const configMap = configMaps.find((c) => container.envFrom?.some((e: any) => e.configMapRef?.name === c.metadata.name));
    expect(configMap, 'envFrom names a ConfigMap of these manifests').toBeDefined();
    const listenPort = Number(configMap.data.PORT ?? configMap.data.MCP_PORT ?? 3000);
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) expect(probePort(probe)).toBe(listenPort);
    // SIGTERM: the preStop sleep, then up to 10 s of drain (README), inside the grace period.
    const sleep = Number(container.lifecycle?.preStop?.exec?.command?.at(-1) ?? container.lifecycle?.preStop?.sleep?.seconds);
    expect(sleep, 'preStop sleep').toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(sleep + 10 + 5);
    expect(pod.enableServiceLinks, 'no FOO_PORT=tcp://… variables from Services (MCP_PORT is a setting)').toBe(false);
    // A read-only root filesystem still needs a writable /tmp.
    const tmp = container.volumeMounts.find((m: any) => m.mountPath === '/tmp');
    expect(pod.volumes.find((v: any) => v.name === tmp?.name)?.emptyDir).toBeDefined();
  });

  it('seed-mcp: the IdP client secret is a file of a Secret, named by OAUTH_CLIENT_SECRET_FILE', () => {
    const pod = seedDeployment.spec.template.spec;
    const env = new Map<string, string>(container.env.map((e: any) => [e.name, e.value]));
    expect(env.has('OAUTH_CLIENT_SECRET')).toBe(false);
    const fileVars = [...env].filter(([k]) => k.endsWith('_FILE'));
    expect(fileVars.map(([k]) => k)).toContain('OAUTH_CLIENT_SECRET_FILE');
    for (const [k, path] of fileVars) {
      const mount = container.volumeMounts.find((m: any) => path.startsWith(`${m.mountPath}/`));
      expect(mount, `${k}=${path} is under a volume mount`).toBeDefined();
      const volume = pod.volumes.find((v: any) => v.name === mount.name);
      expect(volume?.secret?.secretName, `${k}: the volume is a Secret`).toBeDefined();
      const secret = secrets.find((s) => s.metadata.name === volume.secret.secretName);
      expect(secret, `Secret ${volume.secret.secretName} is in the manifests`).toBeDefined();
      const key = path.slice(mount.mountPath.length + 1);
      expect({ ...secret.data, ...secret.stringData }, `${k}: Secret has the key ${key}`).toHaveProperty(key);
    }
    for (const value of Object.values<string>(secrets.find((s) => s.metadata.name === 'seed-mcp').stringData)) {
      expect(value, 'placeholder secrets say so').toMatch(/REPLACE-ME/);
    }
  });

  it('Service, PodDisruptionBudget and Prometheus annotations select the seed-mcp pods', () => {
    const labels = seedDeployment.spec.template.metadata.labels;
    const service = byKind(docs, 'Service').find((s) => matches(s.spec.selector, labels));
    expect(service, 'a Service selecting the seed-mcp pods').toBeDefined();
    const portNames = container.ports.map((p: any) => p.name);
    for (const p of service.spec.ports) expect(typeof p.targetPort === 'number' || portNames.includes(p.targetPort)).toBe(true);
    const pdb = byKind(docs, 'PodDisruptionBudget').find((p) => matches(p.spec.selector.matchLabels, labels));
    expect(pdb, 'a PodDisruptionBudget for the seed-mcp pods').toBeDefined();
    expect(pdb.spec.minAvailable).toBeLessThan(seedDeployment.spec.replicas);
    const annotations = seedDeployment.spec.template.metadata.annotations ?? {};
    expect(Number(annotations['prometheus.io/port'])).toBe(container.ports[0].containerPort);
    // Every Service selects the pods of some Deployment.
    for (const s of byKind(docs, 'Service'))
      expect(
        deployments.some((d) => matches(s.spec.selector, d.spec.template.metadata.labels)),
        s.metadata.name,
      ).toBe(true);
  });

  it('uses only variables of the contract, and REDIS_URL points at a Service of the manifests', () => {
    for (const c of configMaps.filter((c) => c.metadata.name === 'seed-mcp')) {
      for (const k of Object.keys(c.data)) expect(ALLOWED_ENV.has(k), `ConfigMap ${c.metadata.name}: ${k}`).toBe(true);
      const host = new URL(c.data.REDIS_URL).hostname;
      expect(byKind(docs, 'Service').map((s) => s.metadata.name)).toContain(host);
    }
    for (const e of container.env) expect(ALLOWED_ENV.has(e.name), `env ${e.name}`).toBe(true);
  });

  it('the ConfigMap with the Secret files passes `seed-mcp config check`', async () => {
    const dir = newDir();
    const pod = seedDeployment.spec.template.spec;
    const configMap = configMaps.find((c) => container.envFrom.some((e: any) => e.configMapRef?.name === c.metadata.name));
    const env: Record<string, string> = {};
    // /app is the image's WORKDIR, holding the repo's bin, dist and examples.
    for (const [k, v] of Object.entries<string>(configMap.data)) env[k] = v.startsWith('/app/') ? join(ROOT, v.slice(5)) : v;
    for (const e of container.env) {
      const mount = container.volumeMounts.find((m: any) => e.value.startsWith(`${m.mountPath}/`));
      const secret = secrets.find((s) => s.metadata.name === pod.volumes.find((v: any) => v.name === mount.name).secret.secretName);
      const key = e.value.slice(mount.mountPath.length + 1);
      // The placeholder of the signing key is replaced by a real key, as the file's comment asks.
      writeFileSync(join(dir, key), key.includes('signing') ? signingKeyPem() : `${{ ...secret.data, ...secret.stringData }[key]}\n`);
      env[e.name] = join(dir, key);
    }
    const r = await runCli(['config', 'check'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ authMode: 'cloud', oauthProxy: { enabled: true }, baseUrl: configMap.data.BASE_URL });
  });

  it('gateway mode: the upstreams ConfigMap is mounted where the commented UPSTREAMS_FILE points, and parses with the real parser', () => {
    const path = /^\s*#\s*UPSTREAMS_FILE:\s*(\S+)\s*$/m.exec(read(join(K8S, 'configmap.yaml')))?.[1];
    expect(path, 'configmap.yaml names UPSTREAMS_FILE (commented)').toBeDefined();
    const pod = seedDeployment.spec.template.spec;
    const mount = container.volumeMounts.find((m: any) => path!.startsWith(`${m.mountPath}/`));
    expect(mount, `a volume is mounted at ${dirname(path!)}`).toBeDefined();
    expect(mount.subPath, 'no subPath: ConfigMap edits reach the pod and the file is reloaded').toBeUndefined();
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    const configMap = configMaps.find((c) => c.metadata.name === volume?.configMap?.name);
    expect(configMap, 'the volume is a ConfigMap of these manifests').toBeDefined();
    const key = path!.slice(mount.mountPath.length + 1);
    expect(configMap.data, `the ConfigMap has the key ${key}`).toHaveProperty(key);
    const env = configMaps.find((c) => c.metadata.name === 'seed-mcp').data;
    const config = parseUpstreamsExample(configMap.data[key], `${configMap.metadata.name}/${key}`, env.ALLOWED_ISSUERS.split(','));
    expect(config.children.map((c) => c.auth.type)).toEqual(expect.arrayContaining(['client_credentials', 'token_exchange']));
    // The credentials it names are files of the Secret seed-mcp.
    const secretMount = container.volumeMounts.find((m: any) => m.name === pod.volumes.find((v: any) => v.secret?.secretName === 'seed-mcp').name);
    const secret = secrets.find((s) => s.metadata.name === 'seed-mcp');
    for (const m of configMap.data[key].matchAll(/_file:\s*(\S+)/g)) {
      expect(m[1]!.startsWith(`${secretMount.mountPath}/`), `${m[1]} is under the Secret's mount`).toBe(true);
      expect({ ...secret.data, ...secret.stringData }).toHaveProperty(m[1]!.slice(secretMount.mountPath.length + 1));
    }
  });

  it('builds with `kubectl kustomize`', () => {
    // The machine image ships kubectl; .ci/run installs Debian's kubernetes-client where it does not.
    expect(spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status, 'kubectl is not installed: apt-get install -y kubernetes-client').toBe(0);
    const r = spawnSync('kubectl', ['kustomize', K8S], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(parseAllDocuments(r.stdout).length).toBe(docs.length);
  });
});

describe('deploy/prometheus', () => {
  const config = yamlFile(join(PROM, 'prometheus.yml'));
  const rules = yamlFile(join(PROM, 'alerts.yml'));
  const alertRules = rules.groups.flatMap((g: any) => g.rules);

  it('prometheus.yml: loads alerts.yml, scrapes seed-mcp with a bearer from a file, and has a kubernetes_sd example', () => {
    for (const f of config.rule_files) expect(existsSync(join(PROM, f)), f).toBe(true);
    const jobs = config.scrape_configs.filter((j: any) => /^seed-mcp/.test(j.job_name));
    expect(jobs.length).toBeGreaterThanOrEqual(2);
    for (const j of jobs) {
      expect(j.authorization?.credentials_file, `${j.job_name}: bearer from credentials_file`).toBeTruthy();
      expect(j.authorization?.credentials, `${j.job_name}: no inline token`).toBeUndefined();
    }
    expect(jobs.some((j: any) => j.kubernetes_sd_configs)).toBe(true);
    // The compose job's token file is the compose secret Prometheus mounts.
    const compose = composeFile();
    const staticJob = jobs.find((j: any) => j.static_configs);
    const secret = /^\/run\/secrets\/([\w.-]+)$/.exec(staticJob.authorization.credentials_file)![1];
    expect(compose.services.prometheus.secrets).toContain(secret);
    const targets = staticJob.static_configs.flatMap((s: any) => s.targets.map((t: string) => t.split(':')[0]));
    for (const t of targets) expect(Object.keys(compose.services), `target ${t} is a compose service`).toContain(t);
  });

  it('alerts.yml: every rule has a severity, a summary and a description that says what to do', () => {
    const names = alertRules.map((r: any) => r.alert);
    expect(new Set(names).size, 'alert names are unique').toBe(names.length);
    for (const r of alertRules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^SeedMcp[A-Za-z0-9]+$/);
      expect(['info', 'warning', 'critical'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toMatch(/What to do/);
    }
  });

  it('alerts.yml and the dashboard use only contract metric names, with labels those metrics have', async () => {
    const exported = await exportedSeries();
    const problems: string[] = [];
    for (const r of alertRules) problems.push(...promqlProblems(`alert ${r.alert}`, r.expr, exported));
    const d = dashboard();
    for (const p of dashboardPanels(d)) for (const t of p.targets ?? []) problems.push(...promqlProblems(`panel "${p.title}" ${t.refId}`, t.expr, exported));
    for (const v of d.templating.list.filter((v: any) => v.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const inner = /^label_values\((.*),\s*\w+\)$/.exec(q)?.[1] ?? q;
      problems.push(...promqlProblems(`variable ${v.name}`, inner, exported));
    }
    expect(problems).toEqual([]);
    // Every alert about seed-mcp is limited to its jobs.
    for (const r of alertRules) for (const s of selectors(r.expr)) expect(s.labels, `alert ${r.alert}: ${s.metric} selects job`).toContain('job');
  });

  it('alerts.yml: SeedMcpChildBreakerOpen fires on a child breaker open for 1m, by child; alerts.test.yml tests every gateway alert', () => {
    const rule = alertRules.find((r: any) => r.alert === 'SeedMcpChildBreakerOpen');
    expect(rule, 'SeedMcpChildBreakerOpen').toBeDefined();
    expect(rule.expr).toMatch(/mcp_child_breaker_state\{[^}]*\}\)?\s*==\s*2/);
    expect(groupingLabels(rule.expr)).toContain('child');
    expect(rule.for).toBe('1m');
    const tests = read(join(PROM, 'alerts.test.yml'));
    for (const r of alertRules.filter((r: any) => /mcp_child_/.test(r.expr))) expect(tests, `alerts.test.yml tests ${r.alert}`).toContain(`alertname: ${r.alert}`);
  });

  it('promtool: check rules, the rules unit tests, and check config', () => {
    expect(findPromtool(), PROMTOOL_HINT).toBeDefined();
    const check = promtool(['check', 'rules', 'alerts.yml']);
    expect(check.code, check.out).toBe(0);
    const unit = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(unit.code, unit.out).toBe(0);

    // check config reads credentials files and rule files: a copy with a token file of its own.
    const dir = newDir();
    writeFileSync(join(dir, 'token'), 'test-token\n');
    for (const f of config.rule_files) writeFileSync(join(dir, f), read(join(PROM, f)));
    const copy = structuredClone(config);
    for (const j of copy.scrape_configs) if (j.authorization?.credentials_file) j.authorization.credentials_file = join(dir, 'token');
    // Debian's promtool is built without Kubernetes discovery: check those jobs' relabelling with
    // static targets instead.
    writeFileSync(join(dir, 'probe.yml'), stringify({ scrape_configs: [{ job_name: 'k', kubernetes_sd_configs: [{ role: 'pod' }] }] }));
    if (/kubernetes_sd_configs not found/.test(promtool(['check', 'config', 'probe.yml'], dir).out)) {
      for (const j of copy.scrape_configs) {
        if (!j.kubernetes_sd_configs) continue;
        delete j.kubernetes_sd_configs;
        j.static_configs = [{ targets: ['127.0.0.1:3000'] }];
      }
    }
    writeFileSync(join(dir, 'prometheus.yml'), stringify(copy));
    const conf = promtool(['check', 'config', 'prometheus.yml'], dir);
    expect(conf.code, conf.out).toBe(0);
  });

  it('promtool: every dashboard query is valid PromQL', () => {
    expect(findPromtool(), PROMTOOL_HINT).toBeDefined();
    const vars: Record<string, string> = { __rate_interval: '5m', __interval: '1m', __range: '1h', job: 'seed-mcp.*', instance: '.*' };
    const recording = dashboardPanels(dashboard()).flatMap((p: any, i: number) =>
      (p.targets ?? []).map((t: any) => ({ record: `dashboard:panel_${i}_${t.refId}`, expr: t.expr.replace(/\$\{?(\w+)\}?/g, (_: string, k: string) => vars[k] ?? `$${k}`) })),
    );
    const dir = newDir();
    writeFileSync(join(dir, 'dashboard-rules.yml'), stringify({ groups: [{ name: 'dashboard', rules: recording }] }));
    const r = promtool(['check', 'rules', 'dashboard-rules.yml'], dir);
    expect(r.code, r.out).toBe(0);
  });
});

describe('deploy/grafana/seed-mcp-dashboard.json', () => {
  const d = dashboard();
  const panels = dashboardPanels(d).filter((p: any) => p.type !== 'row');

  it('is a dashboard with a Prometheus data source variable and panels with queries', () => {
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(d.uid).toBeTruthy();
    expect(d.title).toBeTruthy();
    const dsVar = d.templating.list.find((v: any) => v.type === 'datasource');
    expect(dsVar?.query).toBe('prometheus');
    const ids = dashboardPanels(d).map((p: any) => p.id);
    expect(new Set(ids).size, 'panel ids are unique').toBe(ids.length);
    expect(panels.length).toBeGreaterThanOrEqual(10);
    const varNames = new Set([...d.templating.list.map((v: any) => v.name), '__rate_interval', '__interval', '__range']);
    for (const p of panels) {
      expect(p.datasource?.uid, `panel "${p.title}" uses the data source variable`).toBe(`\${${dsVar.name}}`);
      expect(p.targets?.length, `panel "${p.title}" has queries`).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t.expr, `panel "${p.title}" ${t.refId}`).toBeTruthy();
        for (const m of t.expr.matchAll(/\$\{?(\w+)\}?/g)) expect(varNames.has(m[1]), `panel "${p.title}": variable $${m[1]} is defined`).toBe(true);
      }
      const g = p.gridPos;
      expect(g.x + g.w, `panel "${p.title}" fits the 24-column grid`).toBeLessThanOrEqual(24);
    }
  });

  it('covers requests, latency, auth, tools, sessions, JWKS, the OAuth proxy, Redis, breakers and rate limits', () => {
    const used = new Set(panels.flatMap((p: any) => p.targets.flatMap((t: any) => metricNames(t.expr))).map((n: string) => n.replace(/_(bucket|sum|count)$/, '')));
    for (const name of [
      'http_request_total',
      'http_request_duration_seconds',
      'auth_attempts_total',
      'mcp_tool_invocations_total',
      'mcp_tool_duration_seconds',
      'mcp_sessions_active',
      'jwks_refresh_total',
      'oauth_authorization_requests_total',
      'oauth_token_exchanges_total',
      'dcr_registrations_total',
      'redis_operations_total',
      'circuit_breaker_state',
      'rate_limit_hits_total',
    ]) {
      expect(used.has(name), `a panel shows ${name}`).toBe(true);
    }
  });
});

describe('gateway mode in the dashboard and examples', () => {
  it('the dashboard shows every child metric, per child', () => {
    const panels = dashboardPanels(dashboard()).filter((p: any) => p.type !== 'row');
    for (const name of GATEWAY_METRICS) {
      const panel = panels.find((p: any) => p.targets.some((t: any) => metricNames(t.expr).some((n) => n.replace(/_(bucket|sum|count)$/, '') === name)));
      expect(panel, `a panel shows ${name}`).toBeDefined();
      expect(groupingLabels(panel.targets.map((t: any) => t.expr).join(' ')), `panel "${panel.title}" is per child`).toContain('child');
    }
  });

  it('examples/upstreams.yaml (README "Gateway") parses with the real parser and has each kind of child', () => {
    const source = join(ROOT, 'examples/upstreams.yaml');
    const text = read(source);
    const issuers = [...new Set([...text.matchAll(/issuer:\s*(https:\/\/\S+)/g)].map((m) => m[1]!))];
    const config = parseUpstreamsExample(text, source, issuers);
    expect(new Set(config.children.map((c) => (c.command ? 'stdio' : c.auth.type)))).toEqual(new Set(['client_credentials', 'token_exchange', 'static', 'stdio']));
    expect(config.children.some((c) => c.allowedIssuers && c.scopes.length > 0)).toBe(true);
    // The README's example is this file's.
    const readme = read(join(ROOT, 'README.md'));
    for (const c of config.children) expect(readme, `README names the child ${c.name}`).toContain(`name: ${c.name}`);
  });
});

describe('docs/idp-setup.md', () => {
  const doc = read(join(ROOT, 'docs/idp-setup.md'));
  it('covers the four IdPs, the callback paths and the scopes', () => {
    for (const idp of ['## Okta', '## Microsoft Entra ID', '## Keycloak', '## Auth0']) expect(doc).toContain(idp);
    for (const s of ['/oauth/authorize/callback', 'http://127.0.0.1/callback', '--redirect-host localhost', '--no-resource', '--assume-pkce', 'AADSTS9010010', 'offline_access'])
      expect(doc).toContain(s);
    for (const scope of ['checklist.list', 'checklist.read', 'process.read', 'process.search']) expect(doc).toContain(scope);
    // Every variable the guide names is a setting of the contract.
    for (const m of doc.matchAll(/\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=/g)) expect(ALLOWED_ENV.has(m[1]!), m[1]).toBe(true);
  });
});
