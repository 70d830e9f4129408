import { jsonResult, type ToolDefinition } from '../types.js';
import { checkToolArgs, type DocumentLibrary } from './library.js';

/** `list_processes`: id, title, description, last update and size of every process. */
export function listProcessesTool(library: DocumentLibrary): ToolDefinition {
  if (library.kind !== 'process') throw new TypeError('list_processes needs a process library');
  return {
    name: 'list_processes',
    title: 'List processes',
    description:
      'Lists the documented processes: id, title, short description, last update and size. Call get_process with an id to read one, or search_processes to find one by topic.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    requiredScopes: ['process.read'],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      checkToolArgs(args, [], 'list_processes');
      const processes = await library.list();
      return jsonResult({ count: processes.length, processes });
    },
  };
}
