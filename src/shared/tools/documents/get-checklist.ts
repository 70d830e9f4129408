import type { ToolDefinition } from '../types.js';
import { getDocumentTool } from './get-document.js';
import type { DocumentLibrary } from './library.js';

/** `get_checklist`: one checklist by id, with its full Markdown text. */
export function getChecklistTool(library: DocumentLibrary): ToolDefinition {
  return getDocumentTool(library, {
    kind: 'checklist',
    name: 'get_checklist',
    title: 'Get a checklist',
    description: 'Returns one checklist by its id (as listed by list_checklists): title, description, last update and the full Markdown text.',
    idDescription: 'The checklist id from list_checklists, e.g. "production-deploy" or "security/incident-response".',
    scope: 'checklist.read',
    listTool: 'list_checklists',
    notFound: 'get_checklist: no checklist has that id. Call list_checklists for the ids of the available checklists.',
  });
}
