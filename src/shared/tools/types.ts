import type { CallToolResult, Tool } from '@modelcontextprotocol/server';

/** Who is calling a tool: claims from the validated token, never the token itself. */
export interface Caller {
  subject: string;
  issuer: string;
  email?: string;
  name?: string;
  scopes: string[];
  /** Access token expiry, seconds since the epoch. */
  expiresAt?: number;
  clientId?: string;
  /** Group or role claims, where the IdP sent them. */
  groups?: string[];
}

/** What a tool handler gets besides its arguments. */
export interface ToolContext {
  mode: 'local' | 'cloud';
  server: { name: string; version: string };
  /**
   * Resolves the caller; rejects with a {@link ToolError} when there is none. With
   * `signIn: false` no sign-in is started for that (a status check must not open a browser).
   */
  caller(options?: { signIn?: boolean }): Promise<Caller>;
  signal: AbortSignal;
}

/** A tool failure whose message is meant for the person (and the model) reading the result. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

/** One tool: a JSON Schema for its input and a handler. One tool per file. */
export interface ToolDefinition {
  name: string;
  title?: string;
  description: string;
  inputSchema: Tool['inputSchema'];
  /** Scopes a cloud-mode caller needs; local mode trusts the signed-in user. */
  requiredScopes?: string[];
  annotations?: { readOnlyHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  handler(args: Record<string, unknown>, ctx: ToolContext): Promise<CallToolResult>;
}

/** A text result with structured content, the shape both protocol eras accept. */
export function jsonResult(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

/** A tool error result: `isError` so that the model sees it and can tell the person. */
export function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}
