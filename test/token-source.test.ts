/** The token source's in-memory set: one store read for many calls, a fresh read after invalidate(). */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../src/shared/logger.js';
import { resolveLocalSettings } from '../src/local/settings.js';
import { createTokenSource, mintedTokenSource, refreshMarginOf, REFRESH_MARGIN_SEC } from '../src/local/token-source.js';
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

describe('refresh margin (issue #14)', () => {
  const lived = (obtainedAt: number, lifetime: number): StoredTokens => ({ ...valid('t'), obtainedAt, expiresAt: obtainedAt + lifetime });

  it('is a quarter of the lifetime, capped at 60 s', () => {
    expect(refreshMarginOf(lived(1000, 20))).toBe(5);
    expect(refreshMarginOf(lived(1000, 200))).toBe(50);
    expect(refreshMarginOf(lived(1000, 3600))).toBe(REFRESH_MARGIN_SEC);
    expect(refreshMarginOf({ ...valid('t'), expiresAt: undefined })).toBe(REFRESH_MARGIN_SEC);
  });

  it('refreshes a short-lived token only when under a quarter of its life is left, not on every call', async () => {
    let now = 1_000_000;
    const store = createMemoryStore();
    // A refresh would take the lock in the config dir, then fail to reach the IdP.
    const settings = resolveLocalSettings({}, { SEED_MCP_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'seed-mcp-margin-')) }, {});
    await store.set('default', { ...lived(now, 20), accessToken: 'at-0' });
    const source = createTokenSource(settings, { store, logger: silentLogger, now: () => now * 1000 });
    // 14 s of a 20 s token: no refresh is due (5 s left is the margin), however many calls.
    for (let t = 0; t <= 14; t++) {
      now = 1_000_000 + t;
      for (let i = 0; i < 10; i++) expect((await source.get()).accessToken).toBe('at-0');
    }
  });

  it('mints a short-lived token once per three quarters of its life, not on every call', async () => {
    let now = 1_000_000;
    let mints = 0;
    const source = mintedTokenSource(
      async () => ({ ...lived(now, 20), accessToken: `minted-${++mints}` }),
      () => now,
    );
    for (let t = 0; t <= 14; t++) {
      now = 1_000_000 + t;
      for (let i = 0; i < 10; i++) await source.get();
    }
    expect(mints).toBe(1);
    now = 1_000_000 + 16; // 4 s left: under a quarter
    expect((await source.get()).accessToken).toBe('minted-2');
    expect((await source.get()).accessToken).toBe('minted-2');
    expect(mints).toBe(2);
  });
});
