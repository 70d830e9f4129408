import type { StoredTokens, TokenStore } from './types.js';
import { checkStoredTokens } from './validate.js';

/**
 * A token store that lives as long as the process: for tests, CI and `SEED_MCP_TOKEN_STORE=memory`
 * (sign in, use, forget). Each call returns a fresh store; nothing is shared between stores.
 *
 * @example
 * const store = createMemoryStore();
 * await store.set('work', tokens);
 */
export function createMemoryStore(): TokenStore {
  const byProfile = new Map<string, StoredTokens>();
  return {
    kind: 'memory',
    describe: () => 'process memory (gone when the process exits)',
    // Copies in and out, so a caller that edits its object does not edit the stored tokens, as
    // with the other stores.
    get: async (profile) => {
      const tokens = byProfile.get(profile);
      // Checked as the other stores check what they read: a partial set set by a caller is an error.
      return tokens === undefined ? undefined : checkStoredTokens(structuredClone(tokens), profile, 'process memory');
    },
    set: async (profile, tokens) => {
      byProfile.set(profile, structuredClone(tokens));
    },
    delete: async (profile) => byProfile.delete(profile),
  };
}
