/**
 * Step 4 of the MCP endpoint: per-tool scopes and policy answered at the HTTP level, before the
 * message reaches an MCP server: 403 INSUFFICIENT_SCOPE naming every scope the tool needs (so the
 * client can ask for them), or 403 ACCESS_DENIED for a policy denial.
 */
import type { Caller, ToolDefinition } from '../../../shared/tools/types.js';
import { CloudError } from '../../errors.js';
import { toolAccess, type ToolAccessOptions } from '../../tool-access.js';
import { recordRefusal, type RefusalDeps } from './audit.js';

export interface ToolAccessStepDeps extends RefusalDeps {
  tools: ReadonlyMap<string, ToolDefinition>;
  access: ToolAccessOptions;
}

/** Throws the CloudError of the first `tools/call` in `message` (or batch) that `caller` may not make. */
export function checkToolAccess(deps: ToolAccessStepDeps, message: unknown, caller: Caller): void {
  for (const m of Array.isArray(message) ? message : [message]) {
    const call = m as { method?: unknown; params?: { name?: unknown } } | null;
    if (call?.method !== 'tools/call' || typeof call.params?.name !== 'string') continue;
    const tool = deps.tools.get(call.params.name);
    if (!tool) continue;
    const access = toolAccess(tool, caller, deps.access);
    if (access.allowed) continue;
    let err: CloudError;
    switch (access.code) {
      case 'INSUFFICIENT_SCOPE': {
        const scope = access.required.join(' ');
        err = new CloudError('INSUFFICIENT_SCOPE', `the tool ${tool.name} needs the scopes ${scope}`, { action: `sign in again asking for the scopes: ${scope}`, scope });
        break;
      }
      case 'ACCESS_DENIED':
        err = new CloudError('ACCESS_DENIED', `the tool policy does not allow ${tool.name} for this caller`, {
          action: `ask the server's operator for access to ${tool.name} (${access.reason})`,
        });
        break;
    }
    recordRefusal(deps, err, { subject: caller.subject, tool: tool.name });
    throw err;
  }
}
