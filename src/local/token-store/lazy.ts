import type { StoredTokens, TokenStore, TokenStoreKind } from './types.js';

/**
 * A token store opened on first use, so that `serve` answers `initialize` before it probes the
 * keychain (a D-Bus round trip) or reads a file.
 */
export function lazyTokenStore(open: () => Promise<TokenStore>): TokenStore {
  let store: Promise<TokenStore> | undefined;
  let opened: TokenStore | undefined;
  const get = () => (store ??= open().then((s) => (opened = s)));
  return {
    get kind(): TokenStoreKind {
      return opened?.kind ?? 'keychain';
    },
    describe: (profile) => opened?.describe(profile) ?? `token store of profile ${profile}`,
    get: async (profile): Promise<StoredTokens | undefined> => (await get()).get(profile),
    set: async (profile, tokens) => (await get()).set(profile, tokens),
    delete: async (profile) => (await get()).delete(profile),
  };
}
