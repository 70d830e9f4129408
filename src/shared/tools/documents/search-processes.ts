import { jsonResult, ToolError, type ToolDefinition } from '../types.js';
import { checkToolArgs, describeType, type DocumentLibrary } from './library.js';

/** `search_processes`: processes whose title and text contain every term of a query, best first. */
export function searchProcessesTool(library: DocumentLibrary): ToolDefinition {
  if (library.kind !== 'process') throw new TypeError('search_processes needs a process library');
  return {
    name: 'search_processes',
    title: 'Search processes',
    description:
      'Finds processes containing every word of the query (case-insensitive, in the title or the text), best match first, each with a snippet around the first match. Call get_process with a result id to read it.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', minLength: 1, maxLength: 200, description: 'Words to look for, e.g. "access review quarterly".' },
        limit: { type: 'integer', minimum: 1, maximum: 50, default: 10, description: 'At most this many results (default 10).' },
      },
      required: ['query'],
      additionalProperties: false,
    },
    requiredScopes: ['process.search'],
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler(args) {
      const { query, limit } = checkToolArgs(args, ['query', 'limit'], 'search_processes');
      if (query === undefined) throw new ToolError('search_processes: the argument "query" is required.');
      if (typeof query !== 'string') throw new ToolError(`search_processes: "query" must be a string, not ${describeType(query)}.`);
      if (query.length === 0 || query.length > 200) throw new ToolError('search_processes: "query" must be 1 to 200 characters long.');
      if (query.trim() === '') throw new ToolError('search_processes: "query" must contain at least one word to search for.');
      // An absent optional argument may arrive as null from some clients.
      if (limit !== undefined && limit !== null && !(typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= 50)) {
        throw new ToolError(`search_processes: "limit" must be an integer from 1 to 50, not ${typeof limit === 'number' ? String(limit) : describeType(limit)}.`);
      }
      const results = await library.search(query, { limit: typeof limit === 'number' ? limit : 10 });
      return jsonResult({ query, count: results.length, results });
    },
  };
}
