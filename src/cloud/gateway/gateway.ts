/**
 * Gateway mode: the children of `UPSTREAMS_FILE` behind seed-mcp cloud. Each child is served at
 * `/mcp/<name>` ({@link Gateway.child}) and, aggregated with seed-mcp's own tools, on `/mcp`
 * ({@link Gateway.aggregate}: tools and prompts as `<name>_<tool>`, resources under their own
 * URIs). Before a child is called, the caller must pass the child's tenancy (allowed issuers,
 * audiences), its scopes and the tool policy (`server: <name>` rules; no rule = deny); each
 * decision is audited. A reload of the file starts new children, stops removed ones and restarts
 * changed ones.
 */
import { ProtocolError, ProtocolErrorCode, type CallToolResult, type Prompt, type Resource, type Tool } from '@modelcontextprotocol/server';
import type { Logger } from '../../shared/logger.js';
import type { UpstreamContext, UpstreamProxy } from '../../shared/mcp/upstream.js';
import { ToolError, type Caller } from '../../shared/tools/types.js';
import type { Metrics } from '../metrics.js';
import type { ToolPolicy } from '../policy.js';
import { bounded, endSpan, startSpan } from '../tracing.js';
import { createChild, type Child, type ChildCall, type ChildHealth, type ResourceTemplate } from './child.js';
import { createChildCredential, type ChildCredential } from './credentials.js';
import { createKeepAliveFetch } from './keepalive-fetch.js';
import type { ChildSpec, UpstreamsConfig } from './types.js';

export interface GatewayDeps {
  logger: Logger;
  metrics?: Metrics;
  version: string;
  /** `TOOL_POLICY_FILE`, when set: `server:` rules decide, no rule = deny. Absent: tenancy and scopes alone. */
  policy?: { current(): ToolPolicy };
  /** `AUTH_REQUIRED`: without it there is no caller to check (everyone is anonymous). */
  authRequired: boolean;
  /** Test seams. */
  fetch?: typeof fetch;
  credential?: (child: ChildSpec) => ChildCredential;
  child?: Partial<Pick<Parameters<typeof createChild>[1], 'listTtlMs' | 'breaker' | 'restartDelayMs'>>;
}

export interface Gateway {
  /** The children's tools, resources and prompts for `/mcp`, next to seed-mcp's own tools. */
  readonly aggregate: UpstreamProxy;
  /** One child's view for `/mcp/<name>`; undefined when no child has that name. */
  child(name: string): UpstreamProxy | undefined;
  /** The spec of a child, for its protected-resource metadata. */
  spec(name: string): ChildSpec | undefined;
  names(): string[];
  /** Each child's state, for readiness. */
  health(): ChildHealth[];
  /** Puts a new upstreams file in force. */
  update(config: UpstreamsConfig): void;
  close(): Promise<void>;
}

const ANONYMOUS: Caller = { subject: 'anonymous', issuer: 'none', scopes: [] };
const SEPARATOR = '_';

export type ChildAccess = { allowed: true; rule?: number } | { allowed: false; code: 'ACCESS_DENIED' | 'INSUFFICIENT_SCOPE'; reason: string; missing?: string[] };

/**
 * Whether `caller` may use `child` (and its `tool`, when given): tenancy, then the child's scopes,
 * then the policy's `server:` rules for the tool.
 */
export function childAccess(spec: ChildSpec, context: UpstreamContext | undefined, tool: string | undefined, deps: Pick<GatewayDeps, 'policy' | 'authRequired'>): ChildAccess {
  if (!deps.authRequired) return { allowed: true };
  const caller = context?.caller ?? ANONYMOUS;
  if (spec.allowedIssuers && !spec.allowedIssuers.includes(caller.issuer)) {
    return { allowed: false, code: 'ACCESS_DENIED', reason: `the MCP server "${spec.name}" does not accept tokens issued by ${caller.issuer}` };
  }
  if (spec.audiences && !spec.audiences.some((a) => context?.audience?.includes(a))) {
    return { allowed: false, code: 'ACCESS_DENIED', reason: `the MCP server "${spec.name}" needs a token for ${spec.audiences.join(' or ')}` };
  }
  const missing = spec.scopes.filter((s) => !caller.scopes.includes(s));
  if (missing.length > 0) return { allowed: false, code: 'INSUFFICIENT_SCOPE', reason: `the MCP server "${spec.name}" needs the scopes: ${missing.join(' ')}`, missing };
  if (tool === undefined) return { allowed: true };
  const decision = deps.policy?.current().evaluate(tool, caller, spec.name);
  if (decision && !decision.allowed) return { allowed: false, code: 'ACCESS_DENIED', reason: decision.reason };
  return decision ? { allowed: true, rule: decision.rule } : { allowed: true };
}

export function createGateway(initial: UpstreamsConfig, deps: GatewayDeps): Gateway {
  const { logger, metrics } = deps;
  const children = new Map<string, { child: Child; key: string }>();
  // The children's MCP traffic on kept-alive node:http(s) sockets: Node's fetch costs several times more per request.
  const childHttp = deps.fetch ? undefined : createKeepAliveFetch();

  function start(spec: ChildSpec): Child {
    const credential =
      deps.credential?.(spec) ??
      createChildCredential(spec.name, spec.auth, {
        logger,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        onMint: (result) => metrics?.childTokenMint(spec.name, result),
      });
    return createChild(spec, {
      credential,
      logger,
      ...(metrics ? { metrics } : {}),
      clientInfo: { name: 'seed-mcp-gateway', version: deps.version },
      fetch: deps.fetch ?? childHttp!,
      ...deps.child,
    });
  }

  function update(config: UpstreamsConfig): void {
    const wanted = new Map(config.children.map((spec) => [spec.name, spec]));
    for (const [name, entry] of children) {
      const spec = wanted.get(name);
      if (spec && JSON.stringify(spec) === entry.key) continue;
      children.delete(name);
      void entry.child.close();
      logger.info('child_stopped', { event: 'child_stopped', child: name, reason: spec ? 'changed' : 'removed' });
    }
    for (const [name, spec] of wanted) {
      if (children.has(name)) continue;
      children.set(name, { child: start(spec), key: JSON.stringify(spec) });
      logger.info('child_added', { event: 'child_added', child: name, target: spec.url ?? `stdio ${spec.command![0]}` });
    }
  }
  update(initial);

  const callOf = (context: UpstreamContext | undefined, signal?: AbortSignal): ChildCall => ({
    caller: context?.caller ?? ANONYMOUS,
    ...(context?.token ? { callerToken: context.token } : {}),
    ...(signal ? { signal } : {}),
  });

  /** Decides, audits, counts a refusal, and throws what the caller reads when the decision is no. */
  function authorize(child: Child, context: UpstreamContext | undefined, tool: string): void {
    const span = startSpan('policy.decide');
    const access = childAccess(child.spec, context, tool, deps);
    if (span) {
      endSpan(span, {
        'mcp.child': child.name,
        'mcp.tool.name': bounded(tool),
        'policy.allowed': access.allowed,
        ...(access.allowed && access.rule !== undefined ? { 'policy.rule': access.rule } : {}),
        ...(access.allowed ? {} : { 'policy.code': access.code }),
      });
    }
    const caller = context?.caller ?? ANONYMOUS;
    logger.info('gateway_decision', {
      event: 'gateway_decision',
      child: child.name,
      tool,
      subject: caller.subject,
      issuer: caller.issuer,
      allowed: access.allowed,
      ...(access.allowed ? (access.rule !== undefined ? { rule: access.rule } : {}) : { code: access.code, reason: access.reason }),
    });
    if (access.allowed) return;
    metrics?.childRequest(child.name, 'denied', 0);
    throw new ToolError(`${access.reason}${access.code === 'INSUFFICIENT_SCOPE' ? '; sign in again asking for them' : ''}`);
  }

  /** Whether the caller may see the child at all (tenancy and scopes), for lists. */
  const visible = (child: Child, context: UpstreamContext | undefined) => childAccess(child.spec, context, undefined, deps).allowed;
  const mayCall = (child: Child, context: UpstreamContext | undefined, tool: string) => childAccess(child.spec, context, tool, deps).allowed;

  /** Every visible child's items, gathered in parallel; a child that is down is left out (and logged by it). */
  async function gather<T>(
    context: UpstreamContext | undefined,
    signal: AbortSignal | undefined,
    list: (c: Child, call: ChildCall) => Promise<T[]>,
  ): Promise<Array<{ child: Child; items: T[] }>> {
    const call = callOf(context, signal);
    const all = [...children.values()].map((e) => e.child).filter((c) => visible(c, context));
    const settled = await Promise.allSettled(all.map(async (child) => ({ child, items: await list(child, call) })));
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  function split(prefixed: string): { child: Child; name: string } | undefined {
    const i = prefixed.indexOf(SEPARATOR);
    if (i <= 0) return undefined;
    const entry = children.get(prefixed.slice(0, i));
    return entry ? { child: entry.child, name: prefixed.slice(i + 1) } : undefined;
  }

  const unknown = (what: string, name: string) => new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown ${what}: ${name}`);
  /** Resource URIs listed last, to the child that listed them. */
  const resourceOwners = new Map<string, string>();

  async function callChildTool(
    child: Child,
    tool: string,
    args: Record<string, unknown> | undefined,
    signal: AbortSignal | undefined,
    context: UpstreamContext | undefined,
  ): Promise<CallToolResult> {
    authorize(child, context, tool);
    return child.callTool(tool, args, callOf(context, signal));
  }

  const aggregate: UpstreamProxy = {
    async listTools(cursor, signal, context) {
      if (cursor) return { tools: [] };
      const lists = await gather(context, signal, (c, call) => c.tools(call));
      const tools: Tool[] = lists.flatMap(({ child, items }) =>
        items.filter((t) => mayCall(child, context, t.name)).map((t) => ({ ...t, name: `${child.name}${SEPARATOR}${t.name}`, title: t.title ?? t.name })),
      );
      return { tools };
    },
    async callTool(params, signal, context) {
      const target = split(params.name);
      if (!target) throw unknown('tool', params.name);
      return callChildTool(target.child, target.name, params.arguments as Record<string, unknown> | undefined, signal, context);
    },
    async listResources(cursor, signal, context) {
      if (cursor) return { resources: [] };
      const lists = await gather(context, signal, (c, call) => c.resources(call));
      const resources: Resource[] = [];
      for (const { child, items } of lists) {
        for (const r of items) {
          resourceOwners.set(r.uri, child.name);
          resources.push(r);
        }
      }
      return { resources };
    },
    async listResourceTemplates(cursor, signal, context) {
      if (cursor) return { resourceTemplates: [] };
      const lists = await gather(context, signal, (c, call) => c.resourceTemplates(call));
      const resourceTemplates: ResourceTemplate[] = lists.flatMap(({ items }) => items);
      return { resourceTemplates };
    },
    async readResource(params, signal, context) {
      let owner = resourceOwners.get(params.uri);
      if (!owner) {
        await aggregate.listResources(undefined, signal, context);
        owner = resourceOwners.get(params.uri);
      }
      const entry = owner ? children.get(owner) : undefined;
      if (!entry || !visible(entry.child, context)) throw unknown('resource', params.uri);
      return entry.child.readResource(params.uri, callOf(context, signal));
    },
    async listPrompts(cursor, signal, context) {
      if (cursor) return { prompts: [] };
      const lists = await gather(context, signal, (c, call) => c.prompts(call));
      const prompts: Prompt[] = lists.flatMap(({ child, items }) => items.map((p) => ({ ...p, name: `${child.name}${SEPARATOR}${p.name}` })));
      return { prompts };
    },
    async getPrompt(params, signal, context) {
      const target = split(params.name);
      if (!target || !visible(target.child, context)) throw unknown('prompt', params.name);
      return target.child.getPrompt(target.name, params.arguments, callOf(context, signal));
    },
    async close() {},
  };

  /** One child as its own MCP server: no renaming. */
  function single(name: string): UpstreamProxy | undefined {
    if (!children.has(name)) return undefined;
    const current = () => {
      const entry = children.get(name);
      if (!entry) throw new ToolError(`the MCP server "${name}" is no longer configured`);
      return entry.child;
    };
    const guard = (context: UpstreamContext | undefined) => {
      const child = current();
      const access = childAccess(child.spec, context, undefined, deps);
      if (!access.allowed) throw new ToolError(access.reason);
      return child;
    };
    return {
      async listTools(cursor, signal, context) {
        if (cursor) return { tools: [] };
        const child = guard(context);
        return { tools: (await child.tools(callOf(context, signal))).filter((t) => mayCall(child, context, t.name)) };
      },
      callTool: (params, signal, context) => callChildTool(current(), params.name, params.arguments as Record<string, unknown> | undefined, signal, context),
      async listResources(cursor, signal, context) {
        return { resources: cursor ? [] : await guard(context).resources(callOf(context, signal)) };
      },
      async listResourceTemplates(cursor, signal, context) {
        return { resourceTemplates: cursor ? [] : await guard(context).resourceTemplates(callOf(context, signal)) };
      },
      readResource: async (params, signal, context) => guard(context).readResource(params.uri, callOf(context, signal)),
      async listPrompts(cursor, signal, context) {
        return { prompts: cursor ? [] : await guard(context).prompts(callOf(context, signal)) };
      },
      getPrompt: async (params, signal, context) => guard(context).getPrompt(params.name, params.arguments, callOf(context, signal)),
      async close() {},
    };
  }

  return {
    aggregate,
    child: single,
    spec: (name) => children.get(name)?.child.spec,
    names: () => [...children.keys()],
    health: () => [...children.values()].map((e) => e.child.health()),
    update,
    async close() {
      const all = [...children.values()];
      children.clear();
      await Promise.allSettled(all.map((e) => e.child.close()));
      childHttp?.close();
    },
  };
}
