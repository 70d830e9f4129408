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

/**
 * A remote MCP server whose tools, resources and prompts a seed-mcp server offers as its own.
 * Failures reject with a `ToolError` whose message says what to do.
 */
export interface UpstreamProxy {
  listTools(cursor?: string, signal?: AbortSignal): Promise<ListToolsResult>;
  callTool(params: CallToolRequestParams, signal?: AbortSignal): Promise<CallToolResult>;
  listResources(cursor?: string, signal?: AbortSignal): Promise<ListResourcesResult>;
  listResourceTemplates(cursor?: string, signal?: AbortSignal): Promise<ListResourceTemplatesResult>;
  readResource(params: ReadResourceRequestParams, signal?: AbortSignal): Promise<ReadResourceResult>;
  listPrompts(cursor?: string, signal?: AbortSignal): Promise<ListPromptsResult>;
  getPrompt(params: GetPromptRequestParams, signal?: AbortSignal): Promise<GetPromptResult>;
  close(): Promise<void>;
}
