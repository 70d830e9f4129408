import { jsonResult, ToolError, type ToolDefinition } from '../types.js';
import { documentIdArg, type DocumentLibrary } from './library.js';

/** `get_checklist`: one checklist by id, with its full Markdown text. */
export function getChecklistTool(library: DocumentLibrary): ToolDefinition {
  if (library.kind !== 'checklist') throw new TypeError('get_checklist needs a checklist library');
  return {
    name: 'get_checklist',
    title: 'Get a checklist',
    description:
      'Returns one checklist by its id (as listed by list_checklists): title, description, last update and the full Markdown text.',
    inputSchema: {
      type: 'object',
      properties: {
        id: {
          type: 'string',
          minLength: 1,
          maxLength: 512,
          description: 'The checklist id from list_checklists, e.g. "production-deploy" or "security/incident-response".',
        },
      },
      required: ['id'],
      additionalProperties: false,
    },
    requiredScopes: ['checklist.read'],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      const id = documentIdArg(args, 'get_checklist', 'list_checklists');
      const doc = await library.get(id);
      // Never echo the id back: it may be a path, and the answer must not look like one was tried.
      if (!doc) throw new ToolError('get_checklist: no checklist has that id. Call list_checklists for the ids of the available checklists.');
      const result = jsonResult({ ...doc });
      result.content.push({ type: 'text', text: doc.content });
      return result;
    },
  };
}
