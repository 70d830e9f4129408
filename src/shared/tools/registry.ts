import { seedPing } from './seed-ping.js';
import type { ToolDefinition } from './types.js';
import { whoami } from './whoami.js';

/** The tools every seed-mcp server offers, in both modes. */
export function builtinTools(): ToolDefinition[] {
  return [seedPing, whoami];
}
