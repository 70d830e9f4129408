import type { ToolDefinition } from '../types.js';
import { getDocumentTool } from './get-document.js';
import type { DocumentLibrary } from './library.js';

/** `get_process`: one process by id, with its full Markdown text. */
export function getProcessTool(library: DocumentLibrary): ToolDefinition {
  return getDocumentTool(library, {
    kind: 'process',
    name: 'get_process',
    title: 'Get a process',
    description: 'Returns one process by its id (as listed by list_processes or found by search_processes): title, description, last update and the full Markdown text.',
    idDescription: 'The process id from list_processes or search_processes, e.g. "change-management".',
    scope: 'process.read',
    listTool: 'list_processes',
    notFound: 'get_process: no process has that id. Call list_processes (or search_processes) for the ids of the available processes.',
  });
}
