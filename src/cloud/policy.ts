/**
 * Per-tool authorization (`TOOL_POLICY_FILE`, see DESIGN.md, "Tool policy"): which authenticated
 * callers may call which tool. Once a policy is loaded, a tool that no rule allows is denied.
 *
 * The file is YAML (`.yaml`, `.yml`) or JSON (`.json`); `examples/tool-policy.yaml` is a
 * commented example.
 *
 * ```yaml
 * rules:
 *   - tools: [whoami, seed_ping]     # tool names; "*" = every tool
 *     description: anyone may check their sign-in   # optional, for the people reading the file
 *     allow: { any: true }           # everyone who passed authentication
 *   - tools: [get_checklist, list_checklists]
 *     allow:
 *       groups: [sre, platform]      # any of these in the groups/roles claim (exact, case-sensitive)
 *       emails: ["*@example.com"]    # exact address, or "*@domain" for that domain (not subdomains)
 *   - tools: ["*"]
 *     allow:
 *       subjects: [admin-user-id]    # the token's `sub`, exactly
 *       scopes: [mcp:admin]          # the token must carry ALL of these scopes
 *       issuers: ["https://login.example.com"]  # restricts the whole rule to these `iss` values
 * ```
 *
 * A rule matches a caller when it lists the tool (or `"*"`) and ANY of its allow criteria matches:
 * `subjects`, `emails`, `groups`, `scopes` (all present) or `any: true`. `issuers` is not a
 * criterion of its own: when present, the rule applies only to callers whose issuer it lists.
 * Rules are tried in order; the first that matches allows the call. `rules: []` denies every tool.
 *
 * Emails compare case-insensitively; `"*@example.com"` matches `x@example.com`, but neither
 * `x@sub.example.com` nor `x@example.com.attacker.org`. Everything else compares exactly.
 * Email and group claims are only as trustworthy as the IdP that issued them: with several allowed
 * issuers, pin such rules to the issuers whose claims you trust with `issuers`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { SeedError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Caller } from '../shared/tools/types.js';

/** The outcome of {@link ToolPolicy.evaluate}. `rule` is the 0-based index into `rules`. */
export type PolicyDecision = { allowed: true; rule: number } | { allowed: false; reason: string };

/** A loaded, validated policy. Immutable: a reload makes a new one. */
export interface ToolPolicy {
  /**
   * Whether `caller` may call `tool`. The reason of a denial is meant for people ("no rule of
   * /etc/seed/policy.yaml allows get_checklist for alice@example.com") and names no token.
   */
  evaluate(tool: string, caller: Caller): PolicyDecision;
  /** Where the policy came from, as given (a file path). */
  readonly source: string;
  /** When it was parsed, milliseconds since the epoch. */
  readonly loadedAt: number;
  readonly ruleCount: number;
}

/** How a policy file is written. */
export type PolicyFormat = 'yaml' | 'json';

// ---------------------------------------------------------------------------------------------
// The file format

const list = (what: string) => z.array(z.string().min(1, `must not be empty`), { error: `must be a list of ${what}` }).min(1, `must list at least one ${what.replace(/s$/, '')}`);

const TOOL = /^[^\s*]{1,128}$/;
const EMAIL = /^[^\s@*]+@[^\s@*.][^\s@*]*$/;
const DOMAIN_WILDCARD = /^\*@[^\s@*.][^\s@*]*$/;

const allowSchema = z
  .strictObject({
    any: z.literal(true, { error: 'can only be true (everyone who passed authentication); remove it otherwise' }).optional(),
    subjects: list('subjects').optional(),
    emails: list('emails')
      .check((ctx) => {
        ctx.value.forEach((email, i) => {
          if (email && (!(EMAIL.test(email) || DOMAIN_WILDCARD.test(email)) || email.endsWith('.'))) {
            ctx.issues.push({
              code: 'custom',
              input: email,
              path: [i],
              message: `${JSON.stringify(email)} is neither an email address nor a "*@domain" pattern`,
            });
          }
        });
      })
      .optional(),
    groups: list('groups').optional(),
    scopes: list('scopes').optional(),
    issuers: list('issuers').optional(),
  })
  .check((ctx) => {
    const a = ctx.value;
    if (a.any === undefined && !a.subjects && !a.emails && !a.groups && !a.scopes) {
      ctx.issues.push({
        code: 'custom',
        input: a,
        message: 'allows nobody: give at least one of any, subjects, emails, groups or scopes',
      });
    }
  });

const ruleSchema = z.strictObject({
  tools: list('tools').check((ctx) => {
    ctx.value.forEach((tool, i) => {
      if (tool && tool !== '*' && !TOOL.test(tool)) {
        ctx.issues.push({
          code: 'custom',
          input: tool,
          path: [i],
          message: `${JSON.stringify(tool)} is not a tool name (no spaces; "*" alone means every tool, no other wildcards)`,
        });
      }
    });
  }),
  description: z.string().optional(),
  allow: allowSchema,
});

const fileSchema = z.strictObject({ rules: z.array(ruleSchema, { error: 'must be a list of rules' }) }, { error: 'must be a mapping with a "rules" list' });

type RuleSpec = z.infer<typeof ruleSchema>;

// ---------------------------------------------------------------------------------------------
// Parsing, every problem at once

/**
 * Parses and validates a policy.
 *
 * @param source Where the text came from; it names the policy in errors and denial reasons.
 * @throws SeedError `CONFIG_INVALID` whose message is `could not load the tool policy <source>: …`
 *   followed by one `\n  - <location>: <problem>` line per problem, every problem at once.
 *
 * @example
 * ```ts
 * const policy = parsePolicy('rules: [{ tools: ["*"], allow: { any: true } }]', 'yaml', 'inline');
 * policy.evaluate('whoami', caller); // { allowed: true, rule: 0 }
 * ```
 */
export function parsePolicy(text: string, format: PolicyFormat, source: string): ToolPolicy {
  const src = text.replace(/^\uFEFF/, '');
  const problems: string[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };

  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(src);
    } catch (err) {
      // V8 says where as "at position 51"; people count lines.
      const message = (err as Error).message.replace(/ at position (\d+)(?: \(line \d+ column \d+\))?/, (_m, pos: string) => ` at ${at(Number(pos))}`);
      problems.push(`not valid JSON: ${message}`);
    }
    // JSON.parse keeps the last of two equal keys without a word; a silently dropped `allow` is
    // not something an access policy should do.
    if (problems.length === 0) {
      for (const e of doc.errors) if (e.code === 'DUPLICATE_KEY') problems.push(`${at(e.pos[0])}: duplicate key`);
    }
  } else {
    for (const e of [...doc.errors, ...doc.warnings]) problems.push(`${at(e.pos[0])}: ${yamlMessage(e.code, e.message)}`);
    if (problems.length === 0) {
      try {
        value = doc.toJS();
      } catch (err) {
        problems.push(`not valid YAML: ${(err as Error).message}`);
      }
    }
  }

  if (problems.length === 0) {
    if (value === null || value === undefined) {
      problems.push('the file is empty; it needs a "rules" list');
    } else {
      const result = fileSchema.safeParse(value, { reportInput: true });
      if (result.success) return compile(result.data.rules, source);
      const offsetOf = (path: PropertyKey[]): number | undefined => {
        for (let n = path.length; n >= 0; n--) {
          const node = doc.getIn(path.slice(0, n) as unknown[], true);
          if (isNode(node) && node.range) return node.range[0];
        }
        return undefined;
      };
      const found: Array<{ offset: number; text: string }> = [];
      for (const issue of result.error.issues) {
        const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
        for (const path of paths) {
          const offset = offsetOf(path);
          const line = offset === undefined ? '' : ` (line ${lines.linePos(offset).line})`;
          found.push({ offset: offset ?? 0, text: `${where(path)}${line}: ${issueMessage(issue)}` });
        }
      }
      // In file order, which is how people fix them; sort is stable for problems on one line.
      problems.push(...found.sort((a, b) => a.offset - b.offset).map((p) => p.text));
    }
  }

  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  throw new SeedError('CONFIG_INVALID', `could not load the tool policy ${source}: ${count}${problems.map((p) => `\n  - ${p}`).join('')}`, {
    hint: 'fix the problems above; examples/tool-policy.yaml shows the format',
  });
}

/** `rules[1].allow.emails[0]`, the way the file reads. */
function where(path: PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  return out || 'the file';
}

function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return 'unknown key';
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'string') return `must be a string, got ${describe(issue.input)}`;
      if (!issue.message.startsWith('Invalid input')) return issue.message;
      return `must be ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}, got ${describe(issue.input)}`;
    default:
      return issue.message;
  }
}

function describe(input: unknown): string {
  if (input === null) return 'nothing';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return `${typeof input} ${JSON.stringify(input)}`;
}

function yamlMessage(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'duplicate key';
  if (code === 'MULTIPLE_DOCS') return 'the file holds several YAML documents; a policy is one';
  return message;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

interface Rule {
  tools: Set<string>;
  any: boolean;
  subjects: Set<string>;
  emails: Set<string>;
  domains: Set<string>;
  groups: Set<string>;
  scopes: string[] | undefined;
  issuers: Set<string> | undefined;
}

function compile(specs: RuleSpec[], source: string): ToolPolicy {
  const rules: Rule[] = specs.map(({ tools, allow }) => {
    const emails = (allow.emails ?? []).map((e) => e.toLowerCase());
    return {
      tools: new Set(tools),
      any: allow.any === true,
      subjects: new Set(allow.subjects),
      emails: new Set(emails.filter((e) => !e.startsWith('*@'))),
      domains: new Set(emails.filter((e) => e.startsWith('*@')).map((e) => e.slice(2))),
      groups: new Set(allow.groups),
      scopes: allow.scopes,
      issuers: allow.issuers && new Set(allow.issuers),
    };
  });
  return Object.freeze({
    source,
    loadedAt: Date.now(),
    ruleCount: rules.length,
    evaluate(tool: string, caller: Caller): PolicyDecision {
      const index = rules.findIndex((rule) => (rule.tools.has(tool) || rule.tools.has('*')) && matches(rule, caller));
      if (index >= 0) return { allowed: true, rule: index };
      return { allowed: false, reason: `no rule of ${source} allows ${printable(tool)} for ${who(caller)}` };
    },
  });
}

function matches(rule: Rule, caller: Caller): boolean {
  if (rule.issuers && !rule.issuers.has(caller.issuer)) return false;
  if (rule.any || rule.subjects.has(caller.subject)) return true;
  if (caller.email) {
    const email = caller.email.toLowerCase();
    const at = email.lastIndexOf('@');
    if (rule.emails.has(email) || (at > 0 && rule.domains.has(email.slice(at + 1)))) return true;
  }
  if (caller.groups?.some((g) => rule.groups.has(g))) return true;
  return rule.scopes !== undefined && rule.scopes.every((s) => caller.scopes.includes(s));
}

/** Who the caller is, for a person: the email when there is one, else the subject. */
function who(caller: Caller): string {
  return caller.email ? printable(caller.email) : `subject ${printable(caller.subject)}`;
}

/** Claims and tool names come from outside: no control characters, no novels in a log line. */
function printable(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

// ---------------------------------------------------------------------------------------------
// Files and reloads

function formatOf(path: string): PolicyFormat | undefined {
  const ext = extname(path).toLowerCase();
  return ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
}

async function readPolicyText(path: string): Promise<{ text: string; format: PolicyFormat }> {
  const format = formatOf(path);
  if (!format) {
    throw new SeedError('CONFIG_INVALID', `could not load the tool policy ${path}: its name must end in .yaml, .yml or .json`, {
      hint: 'the extension says whether the file is YAML or JSON',
    });
  }
  try {
    return { text: await readFile(path, 'utf8'), format };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'there is no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new SeedError('CONFIG_INVALID', `could not load the tool policy ${path}: ${why}`, { hint: 'check TOOL_POLICY_FILE', cause: err });
  }
}

/**
 * Reads and parses a policy file; the extension (`.yaml`, `.yml`, `.json`) says which format.
 *
 * @throws SeedError `CONFIG_INVALID`, as {@link parsePolicy}, also when the file cannot be read.
 *
 * @example
 * ```ts
 * const policy = await loadPolicyFile('/etc/seed/policy.yaml');
 * ```
 */
export async function loadPolicyFile(path: string): Promise<ToolPolicy> {
  const { text, format } = await readPolicyText(path);
  return parsePolicy(text, format, path);
}

export interface WatchPolicyOptions {
  logger: Logger;
  /** Called with each policy a reload puts in force (not with the first). */
  onChange?: (policy: ToolPolicy) => void;
  /** How long the file must be quiet before a reload: editors write in several steps. 200 ms. */
  debounceMs?: number;
}

export interface PolicyWatcher {
  /** The policy in force: the last one that loaded. */
  current(): ToolPolicy;
  /**
   * Loads the file again now. Rejects with the `CONFIG_INVALID` error when it is broken, and the
   * last good policy stays in force.
   */
  reload(): Promise<void>;
  /** Stops watching the file and listening for SIGHUP. */
  close(): void;
}

type Trigger = 'SIGHUP' | 'file change' | 'reload';

/**
 * Loads the policy file, then keeps it current: reloads on SIGHUP and when the file changes. A
 * broken edit is logged (`policy_reload_failed`) and the last good policy stays in force; never
 * does a failure open every tool or stop the server. Each reload logs `policy_reloaded`.
 *
 * The file's directory is watched, not the file, because editors and config-management tools
 * replace a file by renaming another over it; events for other names are ignored, except
 * Kubernetes' `..data`, which a mounted ConfigMap swaps on update.
 *
 * @returns Once the first load succeeded; rejects when it did not: the server must not start with a
 *   broken policy.
 *
 * @example
 * ```ts
 * const policy = await watchPolicy(config.toolPolicyFile, { logger });
 * const decision = policy.current().evaluate(tool.name, caller);
 * // at shutdown
 * policy.close();
 * ```
 */
export async function watchPolicy(path: string, options: WatchPolicyOptions): Promise<PolicyWatcher> {
  const { logger, onChange, debounceMs = 200 } = options;
  const first = await readPolicyText(path);
  let policy = parsePolicy(first.text, first.format, path);
  let lastText = first.text;
  let lastFailed = false;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  logger.info('policy_loaded', { source: path, ruleCount: policy.ruleCount });

  const load = async (trigger: Trigger): Promise<void> => {
    let next: ToolPolicy;
    try {
      const { text, format } = await readPolicyText(path);
      // Our own read, or a touch, can raise an event; a reload without a change is only noise.
      if (trigger === 'file change' && text === lastText && !lastFailed) return;
      lastText = text;
      next = parsePolicy(text, format, path);
    } catch (err) {
      lastFailed = true;
      throw err;
    }
    lastFailed = false;
    if (closed && trigger !== 'reload') return;
    policy = next;
    logger.info('policy_reloaded', { source: path, ruleCount: next.ruleCount, trigger });
    try {
      onChange?.(next);
    } catch (err) {
      logger.error('policy_on_change_failed', { source: path, error: (err as Error).message });
    }
  };

  // One load at a time: a slow read finishing last must not put an older text in force.
  const enqueue = (trigger: Trigger): Promise<void> => {
    const run = queue.then(() => load(trigger));
    queue = run.catch(() => undefined);
    return run;
  };

  const background = (trigger: Trigger): void => {
    if (closed) return;
    enqueue(trigger).catch((err: unknown) => {
      logger.error('policy_reload_failed', {
        source: path,
        trigger,
        error: err instanceof Error ? err.message : String(err),
        kept: { loadedAt: new Date(policy.loadedAt).toISOString(), ruleCount: policy.ruleCount },
      });
    });
  };

  const onSighup = (): void => background('SIGHUP');
  process.on('SIGHUP', onSighup);

  const name = basename(path);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
      if (filename !== null && filename !== name && filename !== '..data') return;
      clearTimeout(timer);
      timer = setTimeout(() => background('file change'), debounceMs);
      timer.unref();
    });
    watcher.on('error', (err) => {
      logger.warn('policy_watch_failed', { source: path, error: err.message, hint: 'send SIGHUP to reload the policy' });
    });
  } catch (err) {
    // Out of inotify watches, say: the policy is good, only automatic reloads are lost.
    logger.warn('policy_watch_failed', { source: path, error: (err as Error).message, hint: 'send SIGHUP to reload the policy' });
  }

  return {
    current: () => policy,
    reload: () => enqueue('reload'),
    close() {
      closed = true;
      clearTimeout(timer);
      process.off('SIGHUP', onSighup);
      watcher?.close();
    },
  };
}
