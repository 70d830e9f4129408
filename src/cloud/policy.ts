/**
 * Per-tool authorization (`TOOL_POLICY_FILE`, see README "In a container" and docs/configuration.md): which authenticated
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
 * Gateway mode: a rule with `server: <child>` is about that child's tools, named as the child names
 * them (`tools: [search]` for `docs_search` on `/mcp`); a rule without `server` is about seed-mcp's
 * own tools only. No rule for a child's tool denies it.
 *
 * Emails compare case-insensitively; `"*@example.com"` matches `x@example.com`, but neither
 * `x@sub.example.com` nor `x@example.com.attacker.org`. Everything else compares exactly.
 * Email and group claims are only as trustworthy as the IdP that issued them: with several allowed
 * issuers, pin such rules to the issuers whose claims you trust with `issuers`.
 */
import { z } from 'zod';
import type { Caller } from '../shared/tools/types.js';
import { parseConfigText, readConfigText, watchConfigFile, type FileFormat, type FileWatcher, type WatchedFile, type WatchOptions } from './config-file.js';

/** The outcome of {@link ToolPolicy.evaluate}. `rule` is the 0-based index into `rules`. */
export type PolicyDecision = { allowed: true; rule: number } | { allowed: false; reason: string };

/** A loaded, validated policy. Immutable: a reload makes a new one. */
export interface ToolPolicy {
  /**
   * Whether `caller` may call `tool`. The reason of a denial is meant for people ("no rule of
   * /etc/seed/policy.yaml allows get_checklist for alice@example.com") and names no token.
   */
  evaluate(tool: string, caller: Caller, server?: string): PolicyDecision;
  /** Where the policy came from, as given (a file path). */
  readonly source: string;
  /** When it was parsed, milliseconds since the epoch. */
  readonly loadedAt: number;
  readonly ruleCount: number;
}

/** How a policy file is written. */
export type PolicyFormat = FileFormat;

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
  /** Gateway mode: the rule is about this child's tools (their own names); absent = seed-mcp's own tools. */
  server: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/, { error: 'must be a child name from UPSTREAMS_FILE ([a-z0-9-]+)' })
    .optional(),
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
  return parseConfigText(text, format, source, POLICY_FILE.kind, fileSchema, (value) => compile(value.rules, source));
}

// ---------------------------------------------------------------------------------------------
// Evaluation

interface Rule {
  server: string | undefined;
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
  const rules: Rule[] = specs.map(({ tools, allow, server }) => {
    const emails = (allow.emails ?? []).map((e) => e.toLowerCase());
    return {
      server,
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
    evaluate(tool: string, caller: Caller, server?: string): PolicyDecision {
      const index = rules.findIndex((rule) => rule.server === server && (rule.tools.has(tool) || rule.tools.has('*')) && matches(rule, caller));
      if (index >= 0) return { allowed: true, rule: index };
      const what = server === undefined ? printable(tool) : `${printable(tool)} of ${printable(server)}`;
      return { allowed: false, reason: `no rule of ${source} allows ${what} for ${who(caller)}` };
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

const POLICY_FILE: WatchedFile<ToolPolicy> = {
  kind: {
    what: 'the tool policy',
    hint: 'fix the problems above; examples/tool-policy.yaml shows the format',
    empty: 'the file is empty; it needs a "rules" list',
    variable: 'TOOL_POLICY_FILE',
  },
  parse: (text, format, source) => parsePolicy(text, format, source),
  eventPrefix: 'policy',
  summary: (policy) => ({ ruleCount: policy.ruleCount }),
  loadedAt: (policy) => policy.loadedAt,
};

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
  const { text, format } = await readConfigText(path, POLICY_FILE.kind);
  return parsePolicy(text, format, path);
}

export type WatchPolicyOptions = WatchOptions<ToolPolicy>;
export type PolicyWatcher = FileWatcher<ToolPolicy>;

/**
 * Loads the policy file, then keeps it current: reloads on SIGHUP and when the file changes. A
 * broken edit is logged (`policy_reload_failed`) and the last good policy stays in force; never
 * does a failure open every tool or stop the server. Each reload logs `policy_reloaded`.
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
export function watchPolicy(path: string, options: WatchPolicyOptions): Promise<PolicyWatcher> {
  return watchConfigFile(path, POLICY_FILE, options);
}
