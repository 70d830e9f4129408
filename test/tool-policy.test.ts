/** The tool policy: matching, both file forms, every problem at once, and reloads that never open up. */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy, watchPolicy, type PolicyWatcher, type ToolPolicy } from '../src/cloud/policy.js';
import type { Logger } from '../src/shared/logger.js';
import type { Caller } from '../src/shared/tools/types.js';
import { configError as policyError, problems } from './support/config-error.js';

const ISSUER = 'https://login.example.com';
const OTHER_ISSUER = 'https://other.example.net';

const caller = (claims: Partial<Caller> = {}): Caller => ({ subject: 'user-1', issuer: ISSUER, scopes: [], ...claims });
const yaml = (text: string, source = '/etc/seed/policy.yaml'): ToolPolicy => parsePolicy(text, 'yaml', source);

describe('evaluate', () => {
  it('allows by subject, exactly', () => {
    const p = yaml('rules: [{ tools: [whoami], allow: { subjects: [admin-1] } }]');
    expect(p.evaluate('whoami', caller({ subject: 'admin-1' }))).toEqual({ allowed: true, rule: 0 });
    expect(p.evaluate('whoami', caller({ subject: 'ADMIN-1' })).allowed).toBe(false);
    expect(p.evaluate('whoami', caller({ subject: 'admin-10' })).allowed).toBe(false);
  });

  it('allows by exact email, whatever the case', () => {
    const p = yaml('rules: [{ tools: [whoami], allow: { emails: [Alice@Example.com] } }]');
    expect(p.evaluate('whoami', caller({ email: 'alice@example.com' })).allowed).toBe(true);
    expect(p.evaluate('whoami', caller({ email: 'ALICE@EXAMPLE.COM' })).allowed).toBe(true);
    expect(p.evaluate('whoami', caller({ email: 'bob@example.com' })).allowed).toBe(false);
    expect(p.evaluate('whoami', caller({ email: 'alice@example.com.attacker.org' })).allowed).toBe(false);
    expect(p.evaluate('whoami', caller()).allowed).toBe(false);
  });

  it('allows "*@domain" for that domain only: no look-alikes, no subdomains', () => {
    const p = yaml('rules: [{ tools: [whoami], allow: { emails: ["*@example.com"] } }]');
    expect(p.evaluate('whoami', caller({ email: 'alice@example.com' })).allowed).toBe(true);
    expect(p.evaluate('whoami', caller({ email: 'Bob@EXAMPLE.com' })).allowed).toBe(true);
    for (const email of ['evil@example.com.attacker.org', 'x@sub.example.com', 'x@notexample.com', 'example.com', '@example.com', 'x@example.com@attacker.org']) {
      expect(p.evaluate('whoami', caller({ email })).allowed, email).toBe(false);
    }
  });

  it('allows by group or role claim, exactly', () => {
    const p = yaml('rules: [{ tools: [get_checklist], allow: { groups: [sre, platform] } }]');
    expect(p.evaluate('get_checklist', caller({ groups: ['dev', 'platform'] })).allowed).toBe(true);
    expect(p.evaluate('get_checklist', caller({ groups: ['SRE', 'dev'] })).allowed).toBe(false);
    expect(p.evaluate('get_checklist', caller({ groups: [] })).allowed).toBe(false);
    expect(p.evaluate('get_checklist', caller()).allowed).toBe(false);
  });

  it('allows by scopes only when the token carries all of them', () => {
    const p = yaml('rules: [{ tools: [get_checklist], allow: { scopes: [mcp:read, mcp:admin] } }]');
    expect(p.evaluate('get_checklist', caller({ scopes: ['openid', 'mcp:admin', 'mcp:read'] })).allowed).toBe(true);
    expect(p.evaluate('get_checklist', caller({ scopes: ['mcp:read'] })).allowed).toBe(false);
    expect(p.evaluate('get_checklist', caller()).allowed).toBe(false);
  });

  it('allows everyone authenticated with any: true', () => {
    const p = yaml('rules: [{ tools: [whoami, seed_ping], allow: { any: true } }]');
    expect(p.evaluate('seed_ping', caller())).toEqual({ allowed: true, rule: 0 });
    expect(p.evaluate('whoami', caller({ subject: 'someone-else', issuer: OTHER_ISSUER })).allowed).toBe(true);
    expect(p.evaluate('get_checklist', caller()).allowed).toBe(false);
  });

  it('matches any one criterion of a rule', () => {
    const p = yaml('rules: [{ tools: [t], allow: { subjects: [s-1], emails: ["*@example.com"], groups: [sre], scopes: [mcp:admin] } }]');
    expect(p.evaluate('t', caller({ subject: 's-1' })).allowed).toBe(true);
    expect(p.evaluate('t', caller({ email: 'a@example.com' })).allowed).toBe(true);
    expect(p.evaluate('t', caller({ groups: ['sre'] })).allowed).toBe(true);
    expect(p.evaluate('t', caller({ scopes: ['mcp:admin'] })).allowed).toBe(true);
    expect(p.evaluate('t', caller({ email: 'a@example.org', groups: ['dev'], scopes: ['mcp:read'] })).allowed).toBe(false);
  });

  it('"*" stands for every tool', () => {
    const p = yaml(`
rules:
  - tools: [whoami]
    allow: { subjects: [nobody] }
  - tools: ["*"]
    allow: { scopes: [mcp:admin] }
`);
    const admin = caller({ scopes: ['mcp:admin'] });
    expect(p.evaluate('whoami', admin)).toEqual({ allowed: true, rule: 1 });
    expect(p.evaluate('a_tool_added_later', admin)).toEqual({ allowed: true, rule: 1 });
    expect(p.evaluate('whoami', caller()).allowed).toBe(false);
  });

  it('returns the first rule that allows, in file order', () => {
    const p = yaml(`
rules:
  - tools: [get_checklist]
    allow: { groups: [sre] }
  - tools: [get_checklist, list_checklists]
    allow: { any: true }
`);
    expect(p.evaluate('get_checklist', caller({ groups: ['sre'] }))).toEqual({ allowed: true, rule: 0 });
    expect(p.evaluate('get_checklist', caller())).toEqual({ allowed: true, rule: 1 });
  });

  it('restricts a rule to its issuers, whatever else matches', () => {
    const p = yaml(`
rules:
  - tools: ["*"]
    allow:
      emails: ["*@example.com"]
      any: true
      issuers: ["${ISSUER}"]
`);
    expect(p.evaluate('whoami', caller({ email: 'a@example.com' })).allowed).toBe(true);
    expect(p.evaluate('whoami', caller({ email: 'a@example.com', issuer: OTHER_ISSUER })).allowed).toBe(false);
    expect(p.evaluate('whoami', caller({ issuer: `${ISSUER}/` })).allowed).toBe(false);
  });

  it('denies a tool that no rule allows, with a reason for people', () => {
    const p = yaml('rules: [{ tools: [whoami], allow: { any: true } }, { tools: [get_checklist], allow: { groups: [sre] } }]');
    expect(p.evaluate('get_checklist', caller({ email: 'alice@example.com' }))).toEqual({
      allowed: false,
      reason: 'no rule of /etc/seed/policy.yaml allows get_checklist for alice@example.com',
    });
    expect(p.evaluate('list_checklists', caller({ subject: 'abc-123' }))).toEqual({
      allowed: false,
      reason: 'no rule of /etc/seed/policy.yaml allows list_checklists for subject abc-123',
    });
    // A tool name comes from the client: no line breaks into the log.
    const odd = p.evaluate('x\nforged log line', caller());
    expect(odd.allowed).toBe(false);
    expect(odd.allowed === false && odd.reason).not.toContain('\n');
  });

  it('denies everything with an empty rule list', () => {
    const p = yaml('rules: []');
    expect(p.ruleCount).toBe(0);
    expect(p.evaluate('whoami', caller({ scopes: ['mcp:admin'] })).allowed).toBe(false);
  });

  it('tells where it came from, when, and how many rules it has', () => {
    const before = Date.now();
    const p = yaml('rules: [{ tools: [a], allow: { any: true } }, { tools: [b], allow: { any: true } }]', 'inline');
    expect(p).toMatchObject({ source: 'inline', ruleCount: 2 });
    expect(p.loadedAt).toBeGreaterThanOrEqual(before);
    expect(Object.isFrozen(p)).toBe(true);
  });
});

describe('parsePolicy', () => {
  const sample = {
    rules: [
      { tools: ['whoami', 'seed_ping'], allow: { any: true } },
      { tools: ['get_checklist'], allow: { groups: ['sre'], emails: ['*@example.com'] } },
      { tools: ['*'], allow: { scopes: ['mcp:admin'], issuers: [ISSUER] } },
    ],
  };

  it('reads the same policy from YAML and from JSON', () => {
    const fromJson = parsePolicy(JSON.stringify(sample, null, 2), 'json', 'policy.json');
    const fromYaml = parsePolicy(
      `# comments are fine in YAML
rules:
  - tools: [whoami, seed_ping]
    allow: { any: true }
  - tools: [get_checklist]
    allow:
      groups: [sre]
      emails: ["*@example.com"]
  - tools: ["*"]
    allow:
      scopes: [mcp:admin]
      issuers: ["${ISSUER}"]
`,
      'yaml',
      'policy.yaml',
    );
    const callers = [
      caller(),
      caller({ groups: ['sre'] }),
      caller({ email: 'x@example.com' }),
      caller({ scopes: ['mcp:admin'] }),
      caller({ scopes: ['mcp:admin'], issuer: OTHER_ISSUER }),
    ];
    for (const p of [fromJson, fromYaml]) expect(p.ruleCount).toBe(3);
    for (const tool of ['whoami', 'get_checklist', 'get_process']) {
      for (const c of callers) {
        expect(fromYaml.evaluate(tool, c).allowed, `${tool} ${JSON.stringify(c)}`).toBe(fromJson.evaluate(tool, c).allowed);
      }
    }
    expect(fromJson.evaluate('get_process', caller({ scopes: ['mcp:admin'] }))).toEqual({ allowed: true, rule: 2 });
  });

  it('lists every problem of a YAML file at once, each with its place, and names the file', () => {
    const err = policyError(() =>
      yaml(`rules:
  - tools: [whoami, "get_*"]
    allow: { any: false, grups: [sre] }
  - tools: []
    allow:
      emails: ["*@*.example.com", "alice"]
      scopes: []
  - tools: ["*"]
    allow: { issuers: ["${ISSUER}"] }
  - allow: { subjects: [42] }
extra: true
`),
    );
    expect(err.message.split('\n')[0]).toBe('could not load the tool policy /etc/seed/policy.yaml: 11 problems');
    expect(problems(err)).toEqual([
      'rules[0].tools[1] (line 2): "get_*" is not a tool name (no spaces; "*" alone means every tool, no other wildcards)',
      'rules[0].allow.any (line 3): can only be true (everyone who passed authentication); remove it otherwise',
      'rules[0].allow.grups (line 3): unknown key',
      'rules[1].tools (line 4): must list at least one tool',
      'rules[1].allow.emails[0] (line 6): "*@*.example.com" is neither an email address nor a "*@domain" pattern',
      'rules[1].allow.emails[1] (line 6): "alice" is neither an email address nor a "*@domain" pattern',
      'rules[1].allow.scopes (line 7): must list at least one scope',
      'rules[2].allow (line 9): allows nobody: give at least one of any, subjects, emails, groups or scopes',
      'rules[3].tools (line 10): is required',
      'rules[3].allow.subjects[0] (line 10): must be a string, got number 42',
      'extra (line 11): unknown key',
    ]);
    expect(err.hint).toBeTruthy();
  });

  it('lists every problem of a JSON file at once', () => {
    const err = policyError(() =>
      parsePolicy(
        JSON.stringify({ rules: [{ tools: 'whoami', allow: { any: true } }, { tools: ['a'], allow: { groups: 'sre' } }, { tools: ['b'] }] }, null, 2),
        'json',
        '/etc/seed/policy.json',
      ),
    );
    expect(err.message).toMatch(/^could not load the tool policy \/etc\/seed\/policy\.json: 3 problems\n/);
    expect(problems(err)).toEqual([
      'rules[0].tools (line 4): must be a list of tools',
      'rules[1].allow.groups (line 14): must be a list of groups',
      'rules[2].allow (line 17): is required',
    ]);
  });

  it('reports syntax errors with their line, and duplicate keys even in JSON', () => {
    const yamlErr = policyError(() => yaml('rules:\n  - tools: [whoami\n  allow: { any: true }\n'));
    expect(problems(yamlErr)[0]).toMatch(/^line 3, column \d+: /);

    const dup = policyError(() => yaml('rules:\n  - tools: [a]\n    allow: { subjects: [x] }\n    allow: { any: true }\n'));
    expect(problems(dup)).toEqual(['line 4, column 5: duplicate key']);

    const jsonDup = policyError(() => parsePolicy('{"rules": [{"tools": ["a"],\n "allow": {"subjects": ["x"]},\n "allow": {"any": true}}]}', 'json', 'p.json'));
    expect(problems(jsonDup)).toEqual(['line 3, column 2: duplicate key']);

    const bad = policyError(() => parsePolicy('{"rules": [\n  {"tools": ["a"],}\n]}', 'json', 'p.json'));
    expect(problems(bad)[0]).toMatch(/^not valid JSON: .*line 2/);
  });

  it('refuses an empty file, and one that is not a mapping of rules', () => {
    expect(problems(policyError(() => yaml('')))).toEqual(['the file is empty; it needs a "rules" list']);
    expect(problems(policyError(() => yaml('- tools: [a]')))).toEqual(['the file (line 1): must be a mapping with a "rules" list']);
    expect(problems(policyError(() => yaml('rules: yes')))).toEqual(['rules (line 1): must be a list of rules']);
  });

  it('accepts the example in examples/', () => {
    const path = resolve(import.meta.dirname, '../examples/tool-policy.yaml');
    const p = parsePolicy(readFileSync(path, 'utf8'), 'yaml', path);
    expect(p.ruleCount).toBe(5);
    expect(p.evaluate('whoami', caller()).allowed).toBe(true);
    // Gateway mode: `server:` rules are about one child's tools, and only them.
    expect(p.evaluate('search', caller({ groups: ['engineering'] }), 'docs')).toEqual({ allowed: true, rule: 3 });
    expect(p.evaluate('search', caller({ groups: ['engineering'], issuer: OTHER_ISSUER }), 'docs').allowed).toBe(false);
    expect(p.evaluate('delete_page', caller({ groups: ['engineering'] }), 'docs').allowed).toBe(false);
    expect(p.evaluate('search', caller({ groups: ['engineering'] })).allowed).toBe(false);
    expect(p.evaluate('create_ticket', caller({ scopes: ['tickets.read'] }), 'tickets')).toEqual({ allowed: true, rule: 4 });
    expect(p.evaluate('create_ticket', caller(), 'tickets').allowed).toBe(false);
    // The administrators' "*" is about seed-mcp's own tools: no child tool without a server: rule.
    expect(p.evaluate('search', caller({ scopes: ['mcp:admin'] }), 'status').allowed).toBe(false);
    expect(p.evaluate('get_checklist', caller({ email: 'a@example.com' })).allowed).toBe(true);
    expect(p.evaluate('get_checklist', caller({ email: 'a@example.com', issuer: OTHER_ISSUER })).allowed).toBe(false);
    expect(p.evaluate('get_checklist', caller({ email: 'a@example.org' })).allowed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Files and reloads

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'seed-mcp-policy-'));
  dirs.push(dir);
  return dir;
}

interface LogEntry {
  level: string;
  msg: string;
  fields: Record<string, unknown> | undefined;
}
function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void entries.push({ level, msg, fields });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), prepare: (level, msg, fields) => () => at(level)(msg, fields) };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ALLOW_ALL = 'rules:\n  - tools: ["*"]\n    allow: { any: true }\n';
const WHOAMI_ONLY = 'rules:\n  - tools: [whoami]\n    allow: { any: true }\n';
const TWO_RULES = 'rules:\n  - tools: [whoami]\n    allow: { any: true }\n  - tools: [get_checklist]\n    allow: { groups: [sre] }\n';

describe('loadPolicyFile', () => {
  it('reads YAML and JSON by extension', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'a.yml'), WHOAMI_ONLY);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ rules: [{ tools: ['whoami'], allow: { any: true } }] }));
    for (const name of ['a.yml', 'b.json']) {
      const p = await loadPolicyFile(join(dir, name));
      expect(p.source).toBe(join(dir, name));
      expect(p.evaluate('whoami', caller()).allowed).toBe(true);
      expect(p.evaluate('get_checklist', caller()).allowed).toBe(false);
    }
  });

  it('names the file when it is missing, of an unknown kind or broken', async () => {
    const dir = newDir();
    const missing = join(dir, 'missing.yaml');
    await expect(loadPolicyFile(missing)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `could not load the tool policy ${missing}: there is no such file`,
    });
    writeFileSync(join(dir, 'policy.toml'), 'rules = []');
    await expect(loadPolicyFile(join(dir, 'policy.toml'))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/policy\.toml: its name must end in \.yaml, \.yml or \.json$/),
    });
    writeFileSync(join(dir, 'broken.json'), '{"rules": [{"tools": []}]}');
    await expect(loadPolicyFile(join(dir, 'broken.json'))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining(`could not load the tool policy ${join(dir, 'broken.json')}: 2 problems`),
    });
  });
});

describe('watchPolicy', () => {
  const open: PolicyWatcher[] = [];
  afterEach(() => open.splice(0).forEach((w) => w.close()));

  async function start(text: string, options: { debounceMs?: number } = {}) {
    const dir = newDir();
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, text);
    const logger = recordingLogger();
    const changes: ToolPolicy[] = [];
    const watcher = await watchPolicy(path, { logger, onChange: (p) => changes.push(p), debounceMs: options.debounceMs ?? 50 });
    open.push(watcher);
    return { dir, path, logger, changes, watcher };
  }
  const logged = (logger: { entries: LogEntry[] }, msg: string) => logger.entries.filter((e) => e.msg === msg);

  it('refuses to start with a broken policy, and leaves nothing behind', async () => {
    const dir = newDir();
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, 'rules: [{ tools: [], allow: {} }]');
    const listeners = process.listenerCount('SIGHUP');
    await expect(watchPolicy(path, { logger: recordingLogger() })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining(`could not load the tool policy ${path}: 2 problems`),
    });
    expect(process.listenerCount('SIGHUP')).toBe(listeners);
  });

  it('reloads when the file is written', async () => {
    const { path, logger, changes, watcher } = await start(WHOAMI_ONLY);
    expect(logged(logger, 'policy_loaded')[0]?.fields).toMatchObject({ source: path, ruleCount: 1 });
    expect(watcher.current().evaluate('get_checklist', caller({ groups: ['sre'] })).allowed).toBe(false);

    writeFileSync(path, TWO_RULES);
    await until('the reload', () => changes.length === 1);
    expect(watcher.current()).toBe(changes[0]);
    expect(watcher.current().evaluate('get_checklist', caller({ groups: ['sre'] }))).toEqual({ allowed: true, rule: 1 });
    expect(logged(logger, 'policy_reloaded')).toEqual([{ level: 'info', msg: 'policy_reloaded', fields: { source: path, ruleCount: 2, trigger: 'file change' } }]);
  });

  it('reloads when an editor renames a new version over the file', async () => {
    const { dir, path, changes, watcher } = await start(WHOAMI_ONLY);
    const temp = join(dir, '.policy.yaml.tmp');
    writeFileSync(temp, TWO_RULES);
    renameSync(temp, path);
    await until('the reload', () => changes.length === 1);
    expect(watcher.current().ruleCount).toBe(2);
  });

  it('ignores other files in the directory', async () => {
    const { dir, changes } = await start(WHOAMI_ONLY);
    writeFileSync(join(dir, 'other.yaml'), 'not: a policy');
    await sleep(300);
    expect(changes).toEqual([]);
  });

  it('reloads on SIGHUP', async () => {
    // A debounce longer than the test: only SIGHUP can reload it.
    const { path, logger, changes, watcher } = await start(WHOAMI_ONLY, { debounceMs: 60_000 });
    writeFileSync(path, ALLOW_ALL);
    process.emit('SIGHUP', 'SIGHUP');
    await until('the reload', () => changes.length === 1);
    expect(watcher.current().evaluate('get_checklist', caller()).allowed).toBe(true);
    expect(logged(logger, 'policy_reloaded')[0]?.fields).toMatchObject({ ruleCount: 1, trigger: 'SIGHUP' });
  });

  it('keeps the last good policy when an edit is broken, and takes the next good one', async () => {
    const { path, logger, changes, watcher } = await start(TWO_RULES);
    const good = watcher.current();

    writeFileSync(path, 'rules:\n  - tools: ["*"]\n    allow: { evryone: true }\n');
    // An event between truncate and write may have read an empty file first: wait for this one.
    const failures = () => logged(logger, 'policy_reload_failed');
    await until('the failed reload', () => failures().some((e) => String(e.fields?.error).includes('evryone')));
    const failure = failures().find((e) => String(e.fields?.error).includes('evryone'))!;
    expect(failure.level).toBe('error');
    expect(failure.fields).toMatchObject({ source: path, trigger: 'file change', kept: { ruleCount: 2 } });
    expect(failure.fields?.error).toContain(`could not load the tool policy ${path}: 2 problems`);
    expect(failure.fields?.error).toContain('rules[0].allow.evryone (line 3): unknown key');
    expect(watcher.current()).toBe(good);
    // Not opened up: the broken file's "*" did not come into force.
    expect(watcher.current().evaluate('get_process', caller()).allowed).toBe(false);
    expect(watcher.current().evaluate('whoami', caller()).allowed).toBe(true);

    // SIGHUP and an explicit reload fail the same way, and keep it too.
    process.emit('SIGHUP', 'SIGHUP');
    await until('the failed SIGHUP reload', () => failures().some((e) => e.fields?.trigger === 'SIGHUP'));
    await expect(watcher.reload()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(watcher.current()).toBe(good);
    expect(changes).toEqual([]);

    writeFileSync(path, ALLOW_ALL);
    await until('the reload', () => changes.length === 1);
    expect(watcher.current().evaluate('get_process', caller()).allowed).toBe(true);
  });

  it('keeps the last good policy when the file disappears', async () => {
    const { path, logger, watcher } = await start(TWO_RULES);
    const good = watcher.current();
    rmSync(path);
    await until('the failed reload', () => logged(logger, 'policy_reload_failed').length > 0);
    expect(logged(logger, 'policy_reload_failed')[0]?.fields?.error).toBe(`could not load the tool policy ${path}: there is no such file`);
    expect(watcher.current()).toBe(good);
  });

  it('reloads on request', async () => {
    const { path, logger, changes, watcher } = await start(WHOAMI_ONLY, { debounceMs: 60_000 });
    writeFileSync(path, TWO_RULES);
    await watcher.reload();
    expect(watcher.current().ruleCount).toBe(2);
    expect(changes).toHaveLength(1);
    expect(logged(logger, 'policy_reloaded')[0]?.fields).toMatchObject({ trigger: 'reload' });
  });

  it('stops watching and listening for SIGHUP on close()', async () => {
    const listeners = process.listenerCount('SIGHUP');
    const { path, logger, changes, watcher } = await start(WHOAMI_ONLY);
    expect(process.listenerCount('SIGHUP')).toBe(listeners + 1);
    const before = watcher.current();

    watcher.close();
    expect(process.listenerCount('SIGHUP')).toBe(listeners);
    writeFileSync(path, ALLOW_ALL);
    process.emit('SIGHUP', 'SIGHUP');
    await sleep(300);
    expect(changes).toEqual([]);
    expect(watcher.current()).toBe(before);
    expect(logger.entries.map((e) => e.msg)).toEqual(['policy_loaded']);
  });
});
