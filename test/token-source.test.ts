/** The token source's in-memory set: one store read for many calls, a fresh read after invalidate(). */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../src/shared/logger.js';
import { resolveLocalSettings } from '../src/local/settings.js';
import { createTokenSource } from '../src/local/token-source.js';
import { createMemoryStore } from '../src/local/token-store/memory.js';
import type { StoredTokens, TokenStore } from '../src/local/token-store/types.js';

const valid = (accessToken: string): StoredTokens => ({
  version: 1,
  issuer: 'https://idp.test',
  clientId: 'c',
  accessToken,
  tokenType: 'bearer',
  scope: 'openid',
  obtainedAt: 0,
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
});

describe('token source', () => {
  it('reads the store once for many calls, and again after invalidate()', async () => {
    const inner = createMemoryStore();
    let reads = 0;
    const store: TokenStore = { ...inner, kind: inner.kind, describe: inner.describe, get: (p) => (reads++, inner.get(p)), set: inner.set, delete: inner.delete };
    await inner.set('default', valid('first'));
    const settings = resolveLocalSettings({}, { SEED_MCP_CONFIG_DIR: '/nonexistent' }, {});
    const source = createTokenSource(settings, { store, logger: silentLogger });
    for (let i = 0; i < 100; i++) expect((await source.get()).accessToken).toBe('first');
    expect(reads).toBe(1);
    await inner.set('default', valid('second')); // e.g. a sign-in in this process
    expect((await source.get()).accessToken).toBe('first');
    source.invalidate();
    expect((await source.get()).accessToken).toBe('second');
    expect(reads).toBe(2);
  });
});
