import { jsonResult, ToolError, type ToolDefinition } from '../types.js';
import { documentIdArg, type DocumentLibrary } from './library.js';

/** `get_process`: one process by id, with its full Markdown text. */
export function getProcessTool(library: DocumentLibrary): ToolDefinition {
  if (library.kind !== 'process') throw new TypeError('get_process needs a process library');
  return {
    name: 'get_process',
    title: 'Get a process',
    description:
      'Returns one process by its id (as listed by list_processes or found by search_processes): title, description, last update and the full Markdown text.',
    inputSchema: {
      type: 'object',
      properties: {
        id: {
          type: 'string',
          minLength: 1,
          maxLength: 512,
          description: 'The process id from list_processes or search_processes, e.g. "change-management".',
        },
      },
      required: ['id'],
      additionalProperties: false,
    },
    requiredScopes: ['process.read'],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      const id = documentIdArg(args, 'get_process', 'list_processes');
      const doc = await library.get(id);
      // Never echo the id back: it may be a path, and the answer must not look like one was tried.
      if (!doc) throw new ToolError('get_process: no process has that id. Call list_processes (or search_processes) for the ids of the available processes.');
      const result = jsonResult({ ...doc });
      result.content.push({ type: 'text', text: doc.content });
      return result;
    },
  };
}
