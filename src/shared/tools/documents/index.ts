import type { ToolDefinition } from '../types.js';
import { getChecklistTool } from './get-checklist.js';
import { getProcessTool } from './get-process.js';
import { createDocumentLibrary } from './library.js';
import { listChecklistsTool } from './list-checklists.js';
import { listProcessesTool } from './list-processes.js';
import { searchProcessesTool } from './search-processes.js';

export interface DocumentToolsOptions {
  /** `CHECKLIST_DIR`: adds `list_checklists` and `get_checklist`. */
  checklistDir?: string;
  /** `PROCESS_DIR`: adds `list_processes`, `get_process` and `search_processes`. */
  processDir?: string;
}

/**
 * The document tools for the directories that are set (an empty string counts as unset). The
 * directories are read on each call, so one that is missing now fails the call, not the start-up.
 */
export function documentTools(options: DocumentToolsOptions): ToolDefinition[] {
  const tools: ToolDefinition[] = [];
  if (options.checklistDir) {
    const checklists = createDocumentLibrary(options.checklistDir, 'checklist');
    tools.push(listChecklistsTool(checklists), getChecklistTool(checklists));
  }
  if (options.processDir) {
    const processes = createDocumentLibrary(options.processDir, 'process');
    tools.push(listProcessesTool(processes), getProcessTool(processes), searchProcessesTool(processes));
  }
  return tools;
}
