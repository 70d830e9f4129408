import type {
  CallToolRequestParams,
  CallToolResult,
  GetPromptRequestParams,
  GetPromptResult,
  ListPromptsResult,
  ListResourceTemplatesResult,
  ListResourcesResult,
  ListToolsResult,
  ReadResourceRequestParams,
  ReadResourceResult,
} from '@modelcontextprotocol/server';
import type { Caller } from '../tools/types.js';

/**
 * Who a proxied request is for, when the upstream needs to know (the cloud gateway: tenancy,
 * policy, a token exchanged on the caller's behalf). The local bridge has one user and ignores it.
 */
export interface UpstreamContext {
  caller: Caller;
  /** The caller's own access token; an upstream must never forward it. */
  token?: string;
  /** The audiences of the caller's token. */
  audience?: readonly string[];
}

/**
 * A remote MCP server whose tools, resources and prompts a seed-mcp server offers as its own.
 * Failures reject with a `ToolError` whose message says what to do.
 */
export interface UpstreamProxy {
  listTools(cursor?: string, signal?: AbortSignal, context?: UpstreamContext): Promise<ListToolsResult>;
  callTool(params: CallToolRequestParams, signal?: AbortSignal, context?: UpstreamContext): Promise<CallToolResult>;
  listResources(cursor?: string, signal?: AbortSignal, context?: UpstreamContext): Promise<ListResourcesResult>;
  listResourceTemplates(cursor?: string, signal?: AbortSignal, context?: UpstreamContext): Promise<ListResourceTemplatesResult>;
  readResource(params: ReadResourceRequestParams, signal?: AbortSignal, context?: UpstreamContext): Promise<ReadResourceResult>;
  listPrompts(cursor?: string, signal?: AbortSignal, context?: UpstreamContext): Promise<ListPromptsResult>;
  getPrompt(params: GetPromptRequestParams, signal?: AbortSignal, context?: UpstreamContext): Promise<GetPromptResult>;
  close(): Promise<void>;
}
