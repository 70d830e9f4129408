import { jsonResult, type ToolDefinition } from '../types.js';
import { checkToolArgs, type DocumentLibrary } from './library.js';

/** `list_checklists`: id, title, description, last update and size of every checklist. */
export function listChecklistsTool(library: DocumentLibrary): ToolDefinition {
  if (library.kind !== 'checklist') throw new TypeError('list_checklists needs a checklist library');
  return {
    name: 'list_checklists',
    title: 'List checklists',
    description:
      'Lists the available checklists: id, title, short description, last update and size. Call get_checklist with an id to read one.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    requiredScopes: ['checklist.list'],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      checkToolArgs(args, [], 'list_checklists');
      const checklists = await library.list();
      return jsonResult({ count: checklists.length, checklists });
    },
  };
}
