import { SeedError } from '../../shared/errors.js';
import { createFileStore, tokensDir } from './file.js';
import { createKeychainStore, probeKeychain, type KeychainEntryFactory } from './keychain.js';
import { createMemoryStore } from './memory.js';
import type { TokenStore } from './types.js';

/** Values of `SEED_MCP_TOKEN_STORE`: `auto` picks the keychain when it answers, else the file. */
export const TOKEN_STORE_CHOICES = ['auto', 'keychain', 'file', 'memory'] as const;
export type TokenStoreChoice = (typeof TOKEN_STORE_CHOICES)[number];

/** Options of {@link openTokenStore}. */
export interface OpenTokenStoreOptions {
  kind: TokenStoreChoice;
  /** The config dir; the file store keeps `<configDir>/tokens/<profile>.json`. */
  configDir: string;
  /** Keychain timeout per operation, and for the probe; default 3000 ms. */
  timeoutMs?: number;
  /** Says the one thing a person should know (the `auto` fallback); written to stderr by the caller. */
  warn: (message: string) => void;
  /** Says what a store fixed on its own (a token file readable by others, made 0600); to stderr. */
  notice?: (message: string) => void;
  /** Test seam passed to the keychain store and probe. */
  entryFactory?: KeychainEntryFactory;
}

/**
 * Opens the token store that `kind` asks for. `auto` probes the OS keychain and, when it does not
 * answer, falls back to the 0600 file store and says so once through `warn`, as `gh` does: tokens in
 * a file are fine on a personal machine, but a person should know where they are.
 *
 * Rejects with `TOKEN_STORE_FAILED` when `keychain` is forced and unavailable, and with
 * `CONFIG_INVALID` for an unknown kind.
 *
 * @example
 * const store = await openTokenStore({
 *   kind: settings.tokenStore,
 *   configDir: settings.configDir,
 *   warn: (message) => process.stderr.write(`warning: ${message}\n`),
 * });
 */
export async function openTokenStore(options: OpenTokenStoreOptions): Promise<TokenStore> {
  const keychainOptions = { timeoutMs: options.timeoutMs, entryFactory: options.entryFactory };
  // The kind may come straight from the environment: check it at run time too.
  const kind: string = options.kind;
  switch (kind) {
    case 'memory':
      return createMemoryStore();
    case 'file':
      return createFileStore({ dir: options.configDir, notice: options.notice });
    case 'keychain': {
      const probe = await probeKeychain(keychainOptions);
      if (!probe.ok) {
        throw new SeedError('TOKEN_STORE_FAILED', `could not reach the OS keychain: ${probe.reason}`, {
          hint: 'start and unlock a keyring daemon (`seed-mcp doctor` checks it), or set SEED_MCP_TOKEN_STORE=file (or auto) to keep tokens in a 0600 file',
        });
      }
      return createKeychainStore(keychainOptions);
    }
    case 'auto': {
      const probe = await probeKeychain(keychainOptions);
      if (probe.ok) return createKeychainStore(keychainOptions);
      options.warn(
        `OS keychain not available (${probe.reason}); storing tokens in ${tokensDir(options.configDir)} (mode 0600). ` +
          'Set SEED_MCP_TOKEN_STORE=file to silence this or fix the keychain (see `seed-mcp doctor`).',
      );
      return createFileStore({ dir: options.configDir, notice: options.notice });
    }
    default:
      throw new SeedError('CONFIG_INVALID', `could not use token store "${kind}": it must be one of ${TOKEN_STORE_CHOICES.join(', ')}`, {
        hint: `set SEED_MCP_TOKEN_STORE to ${TOKEN_STORE_CHOICES.join(', ')}, or leave it unset for auto`,
      });
  }
}
