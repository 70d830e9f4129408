import { jsonResult, type ToolDefinition } from '../types.js';
import { checkToolArgs, type DocumentKind, type DocumentLibrary } from './library.js';

/** What differs between `list_checklists` and `list_processes`. */
export interface ListDocumentsSpec {
  kind: DocumentKind;
  name: string;
  title: string;
  description: string;
  scope: string;
  /** The key of the list in the result, e.g. `checklists`. */
  key: string;
}

/** A tool listing every document of a library: id, title, description, last update, size. */
export function listDocumentsTool(library: DocumentLibrary, spec: ListDocumentsSpec): ToolDefinition {
  if (library.kind !== spec.kind) throw new TypeError(`${spec.name} needs a ${spec.kind} library`);
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    requiredScopes: [spec.scope],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      checkToolArgs(args, [], spec.name);
      const documents = await library.list();
      return jsonResult({ count: documents.length, [spec.key]: documents });
    },
  };
}
