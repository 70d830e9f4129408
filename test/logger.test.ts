import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/shared/logger.js';

describe('logger.prepare', () => {
  it('writes the same JSON line as a plain call, with the time of each call, redacted once', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
    const fields = { event: 'token_validated', subject: 'alice', issuer: 'https://idp', note: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlc2lnbmF0dXJl' };
    logger.info('token_validated', fields);
    const emit = logger.prepare('info', 'token_validated', fields);
    emit();
    await new Promise((r) => setTimeout(r, 5));
    emit();
    const [plain, first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(first!)).toEqual(Object.keys(plain!));
    expect({ ...first, time: 0 }).toEqual({ ...plain, time: 0 });
    expect(String(plain!.note)).not.toContain('eyJ');
    expect(Date.parse(String(second!.time))).toBeGreaterThan(Date.parse(String(first!.time)));
  });

  it('honours the level and the pretty format', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', format: 'pretty', write: (l) => lines.push(l) });
    logger.prepare('info', 'token_validated', { subject: 'alice' })();
    logger.prepare('warn', 'cloud_auth_failed', { code: 'TOKEN_EXPIRED' })();
    expect(lines).toEqual(['seed-mcp warn: cloud_auth_failed {"code":"TOKEN_EXPIRED"}']);
  });
});
