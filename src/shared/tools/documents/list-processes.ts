import type { ToolDefinition } from '../types.js';
import type { DocumentLibrary } from './library.js';
import { listDocumentsTool } from './list-documents.js';

/** `list_processes`: id, title, description, last update and size of every process. */
export function listProcessesTool(library: DocumentLibrary): ToolDefinition {
  return listDocumentsTool(library, {
    kind: 'process',
    name: 'list_processes',
    title: 'List processes',
    description:
      'Lists the documented processes: id, title, short description, last update and size. Call get_process with an id to read one, or search_processes to find one by topic.',
    scope: 'process.read',
    key: 'processes',
  });
}
