import type { ToolDefinition } from '../types.js';
import type { DocumentLibrary } from './library.js';
import { listDocumentsTool } from './list-documents.js';

/** `list_checklists`: id, title, description, last update and size of every checklist. */
export function listChecklistsTool(library: DocumentLibrary): ToolDefinition {
  return listDocumentsTool(library, {
    kind: 'checklist',
    name: 'list_checklists',
    title: 'List checklists',
    description: 'Lists the available checklists: id, title, short description, last update and size. Call get_checklist with an id to read one.',
    scope: 'checklist.list',
    key: 'checklists',
  });
}
