import { jsonResult, ToolError, type ToolDefinition } from '../types.js';
import { documentIdArg, type DocumentKind, type DocumentLibrary } from './library.js';

/** What differs between `get_checklist` and `get_process`. */
export interface GetDocumentSpec {
  kind: DocumentKind;
  name: string;
  title: string;
  description: string;
  idDescription: string;
  scope: string;
  /** The tool that lists the ids, named in errors. */
  listTool: string;
  /** The error for an unknown id. It never echoes the id: it may be a path, and must not look tried. */
  notFound: string;
}

/** A tool returning one document by id: its metadata as structured content, its Markdown as text. */
export function getDocumentTool(library: DocumentLibrary, spec: GetDocumentSpec): ToolDefinition {
  if (library.kind !== spec.kind) throw new TypeError(`${spec.name} needs a ${spec.kind} library`);
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: {
      type: 'object',
      properties: { id: { type: 'string', minLength: 1, maxLength: 512, description: spec.idDescription } },
      required: ['id'],
      additionalProperties: false,
    },
    requiredScopes: [spec.scope],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      const doc = await library.get(documentIdArg(args, spec.name, spec.listTool));
      if (!doc) throw new ToolError(spec.notFound);
      const result = jsonResult({ ...doc });
      result.content.push({ type: 'text', text: doc.content });
      return result;
    },
  };
}
