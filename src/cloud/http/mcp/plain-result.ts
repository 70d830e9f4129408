import type { CallToolResult } from '@modelcontextprotocol/server';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Whether the SDK's `tools/call` result validation (`initialize` era) hands `result` back as it is:
 * `content` of text items with nothing else, an optional boolean `isError` and object
 * `structuredContent`, nothing more. Anything else (images, annotations, `_meta`, no `content`…)
 * is normalised or refused by the SDK, so it goes through it. The fast path and the gateway's
 * direct child calls answer only such results themselves.
 */
export function isPlainToolResult(result: unknown): result is CallToolResult {
  if (!isObject(result) || !Array.isArray(result.content)) return false;
  for (const key in result) if (key !== 'content' && key !== 'isError' && key !== 'structuredContent') return false;
  if (result.isError !== undefined && typeof result.isError !== 'boolean') return false;
  if (result.structuredContent !== undefined && !isObject(result.structuredContent)) return false;
  for (const item of result.content as unknown[]) {
    if (!isObject(item) || item.type !== 'text' || typeof item.text !== 'string') return false;
    for (const key in item) if (key !== 'type' && key !== 'text') return false;
  }
  return true;
}
