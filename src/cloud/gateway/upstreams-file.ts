/**
 * `UPSTREAMS_FILE`: the children of gateway mode (README, "Gateway: `UPSTREAMS_FILE`"), YAML or JSON,
 * validated with every problem at once and reloaded on change like the tool policy.
 *
 * ```yaml
 * upstreams:
 *   - name: docs                      # [a-z0-9-]+; served at /mcp/docs and as docs_<tool> on /mcp
 *     url: http://docs-mcp:8080/mcp   # Streamable HTTP, either protocol era; or:
 *     # command: ["node", "server.js"] # stdio child, spawned and restarted by the gateway
 *     headers: { X-Team: platform }   # optional
 *     timeout_ms: 30000               # optional
 *     auth:                           # the gateway's credential toward this child; never the caller's token
 *       type: client_credentials      # | token_exchange | static | none
 *       issuer: https://idp.example.com
 *       client_id: mcp-gateway
 *       client_secret_file: /run/secrets/gw   # or private_key_file
 *       audience: https://docs-mcp            # and/or resource, scopes: [..]
 *     allowed_issuers: [https://idp.example.com]   # optional per-child tenant restriction
 *     scopes: [docs.read]                           # optional: scopes a caller needs for this child
 * ```
 */
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import { parseConfigText, readConfigText, watchConfigFile, type FileFormat, type FileWatcher, type WatchedFile } from '../config-file.js';
import type { ChildAuthSpec, ChildSpec, UpstreamsConfig } from './types.js';

/** Child names: path segments and tool-name prefixes (`<name>_<tool>`), so no `_`. */
export const CHILD_NAME = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
export const DEFAULT_CHILD_TIMEOUT_MS = 30_000;

const url = (what: string) =>
  z.string({ error: `must be the ${what} URL` }).refine(
    (v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'https:' || u.protocol === 'http:';
      } catch {
        return false;
      }
    },
    { error: `must be an http(s) URL (the ${what})` },
  );
const names = (what: string) => z.array(z.string().min(1, 'must not be empty'), { error: `must be a list of ${what}` });

const clientSchema = {
  issuer: url('authorization server issuer'),
  client_id: z.string({ error: "must be the gateway's client id at that issuer" }).min(1),
  client_secret_file: z.string().min(1).optional(),
  private_key_file: z.string().min(1).optional(),
  audience: z.string().min(1).optional(),
  resource: z.string().min(1).optional(),
  scopes: names('scopes').optional(),
};

const authSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({ type: z.literal('static'), token_file: z.string({ error: 'must name the file holding the bearer token' }).min(1) }),
    z.strictObject({ type: z.literal('client_credentials'), ...clientSchema }),
    z.strictObject({ type: z.literal('token_exchange'), ...clientSchema }),
  ],
  { error: 'type must be one of client_credentials, token_exchange, static, none' },
);

const childSchema = z.strictObject({
  name: z
    .string({ error: 'is required: [a-z0-9-]+' })
    .regex(CHILD_NAME, { error: 'must be lower-case letters, digits and dashes (no "_": it separates child and tool on /mcp), 64 at most' }),
  url: url('child MCP endpoint').optional(),
  command: z.array(z.string().min(1), { error: 'must be a list: the program and its arguments' }).min(1, 'must name the program').optional(),
  env: z.record(z.string(), z.string(), { error: 'must be a mapping of names to strings' }).optional(),
  cwd: z.string().min(1).optional(),
  headers: z.record(z.string(), z.string(), { error: 'must be a mapping of header names to strings' }).optional(),
  timeout_ms: z.number({ error: 'must be a number of milliseconds' }).int().min(100, 'must be at least 100').max(600_000, 'must be at most 600000').optional(),
  auth: authSchema.optional(),
  allowed_issuers: names('issuers').min(1, 'must list at least one issuer').optional(),
  audiences: names('audiences').min(1, 'must list at least one audience').optional(),
  scopes: names('scopes').optional(),
});

const fileSchema = z.strictObject({ upstreams: z.array(childSchema, { error: 'must be a list of MCP servers' }) }, { error: 'must be a mapping with an "upstreams" list' });

type ChildInput = z.infer<typeof childSchema>;

export interface UpstreamsContext {
  /** ALLOWED_ISSUERS: a child may narrow them, never add to them. */
  allowedIssuers: readonly string[];
  /** Relative file paths in the file are resolved against this directory (the file's). */
  baseDir: string;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the gateway sets itself, or that would smuggle requests. */
const RESERVED_HEADERS = new Set(['authorization', 'host', 'content-length', 'transfer-encoding', 'connection', 'mcp-session-id', 'mcp-protocol-version']);

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function compileAuth(input: ChildInput['auth'], at: string, ctx: UpstreamsContext, problems: string[]): ChildAuthSpec {
  if (!input || input.type === 'none') return { type: 'none' };
  const file = (key: string, value: string) => {
    const path = resolve(ctx.baseDir, value);
    if (!readable(path)) problems.push(`${at}.auth.${key}: cannot read ${path}`);
    return path;
  };
  if (input.type === 'static') return { type: 'static', tokenFile: file('token_file', input.token_file) };
  if (!input.client_secret_file === !input.private_key_file) {
    problems.push(`${at}.auth: give exactly one of client_secret_file and private_key_file`);
  }
  return {
    type: input.type,
    issuer: input.issuer,
    clientId: input.client_id,
    ...(input.client_secret_file ? { clientSecretFile: file('client_secret_file', input.client_secret_file) } : {}),
    ...(input.private_key_file ? { privateKeyFile: file('private_key_file', input.private_key_file) } : {}),
    ...(input.audience ? { audience: input.audience } : {}),
    ...(input.resource ? { resource: input.resource } : {}),
    ...(input.scopes ? { scopes: input.scopes } : {}),
  };
}

function compile(children: ChildInput[], source: string, ctx: UpstreamsContext): UpstreamsConfig | { problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  const specs = children.map((c, i): ChildSpec => {
    const at = `upstreams[${i}]`;
    if (seen.has(c.name)) problems.push(`${at}.name: "${c.name}" is used twice`);
    seen.add(c.name);
    if (!c.url === !c.command) problems.push(`${at}: give exactly one of url (Streamable HTTP) and command (stdio)`);
    if (c.command && c.auth && c.auth.type !== 'none') problems.push(`${at}.auth: a stdio child gets no bearer token; remove auth (or use type: none)`);
    if (c.url && (c.env || c.cwd)) problems.push(`${at}: env and cwd are for stdio children (command)`);
    for (const name of Object.keys(c.headers ?? {})) {
      if (!HEADER_NAME.test(name)) problems.push(`${at}.headers: "${name}" is not a header name`);
      else if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push(`${at}.headers.${name}: the gateway sets this header itself`);
    }
    for (const issuer of c.allowed_issuers ?? []) {
      if (!ctx.allowedIssuers.includes(issuer))
        problems.push(`${at}.allowed_issuers: ${issuer} is not in ALLOWED_ISSUERS (a child may narrow the allowed issuers, not add to them)`);
    }
    return {
      name: c.name,
      ...(c.url ? { url: c.url } : {}),
      ...(c.command ? { command: c.command } : {}),
      ...(c.env ? { env: c.env } : {}),
      ...(c.cwd ? { cwd: resolve(ctx.baseDir, c.cwd) } : {}),
      headers: c.headers ?? {},
      timeoutMs: c.timeout_ms ?? DEFAULT_CHILD_TIMEOUT_MS,
      auth: compileAuth(c.auth, at, ctx, problems),
      ...(c.allowed_issuers ? { allowedIssuers: c.allowed_issuers } : {}),
      ...(c.audiences ? { audiences: c.audiences } : {}),
      scopes: c.scopes ?? [],
    };
  });
  if (problems.length > 0) return { problems };
  return { source, loadedAt: Date.now(), children: specs };
}

const KIND = {
  what: 'the upstreams file',
  hint: 'fix the problems above; README "Gateway" shows a complete UPSTREAMS_FILE',
  empty: 'the file is empty; it needs an "upstreams" list',
  variable: 'UPSTREAMS_FILE',
};

/**
 * Parses and validates an upstreams file.
 *
 * @throws SeedError `CONFIG_INVALID` listing every problem with its place in the file.
 */
export function parseUpstreams(text: string, format: FileFormat, source: string, ctx: UpstreamsContext): UpstreamsConfig {
  return parseConfigText(text, format, source, KIND, fileSchema, (value) => compile(value.upstreams, source, ctx));
}

/** Reads and parses an upstreams file. */
export async function loadUpstreamsFile(path: string, ctx: Omit<UpstreamsContext, 'baseDir'>): Promise<UpstreamsConfig> {
  const { text, format } = await readConfigText(path, KIND);
  return parseUpstreams(text, format, path, { ...ctx, baseDir: resolve(path, '..') });
}

/** Loads the upstreams file and keeps it current (SIGHUP, file changes); a broken edit keeps the last good one. */
export function watchUpstreams(
  path: string,
  ctx: Omit<UpstreamsContext, 'baseDir'>,
  options: { logger: Logger; onChange?: (c: UpstreamsConfig) => void },
): Promise<FileWatcher<UpstreamsConfig>> {
  const file: WatchedFile<UpstreamsConfig> = {
    kind: KIND,
    parse: (text, format, source) => parseUpstreams(text, format, source, { ...ctx, baseDir: resolve(path, '..') }),
    eventPrefix: 'upstreams',
    summary: (c) => ({ children: c.children.map((x) => x.name) }),
    loadedAt: (c) => c.loadedAt,
  };
  return watchConfigFile(path, file, options);
}
