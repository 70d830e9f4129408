/**
 * Whether a caller may call one of seed-mcp's tools: the tool's scopes (when tokens are required)
 * and the tool policy. One check, asked by the HTTP layer (to answer 403 before a message reaches
 * an MCP server) and by the MCP server itself (so a tool is safe however it is reached).
 */
import type { Caller, ToolDefinition } from '../shared/tools/types.js';
import type { ToolPolicy } from './policy.js';

export interface ToolAccessOptions {
  /** `AUTH_REQUIRED`: without it, scopes are not checked (the caller is anonymous). */
  authRequired: boolean;
  /** `TOOL_POLICY_FILE` rules, reloaded by their watcher; absent = scopes alone decide. */
  policy?: { current(): ToolPolicy };
}

export type ToolAccess =
  | { allowed: true }
  | { allowed: false; code: 'INSUFFICIENT_SCOPE'; required: readonly string[]; missing: readonly string[] }
  | { allowed: false; code: 'ACCESS_DENIED'; reason: string };

const ALLOWED: ToolAccess = { allowed: true };

/** The decision for `caller` calling `tool`: scopes first, then the policy. */
export function toolAccess(tool: ToolDefinition, caller: Caller, options: ToolAccessOptions): ToolAccess {
  if (options.authRequired && tool.requiredScopes) {
    const missing = tool.requiredScopes.filter((s) => !caller.scopes.includes(s));
    if (missing.length > 0) return { allowed: false, code: 'INSUFFICIENT_SCOPE', required: tool.requiredScopes, missing };
  }
  const decision = options.policy?.current().evaluate(tool.name, caller);
  if (decision && !decision.allowed) return { allowed: false, code: 'ACCESS_DENIED', reason: decision.reason };
  return ALLOWED;
}
