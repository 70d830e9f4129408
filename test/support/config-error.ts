import { expect } from 'vitest';
import { SeedError } from '../../src/shared/errors.js';

/** The CONFIG_INVALID error `fn` throws; fails the test when it throws nothing or something else. */
export function configError(fn: () => unknown): SeedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SeedError);
    expect((err as SeedError).code).toBe('CONFIG_INVALID');
    return err as SeedError;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

/** The `  - ` lines of a CONFIG_INVALID message. */
export const problems = (err: SeedError): string[] =>
  err.message
    .split('\n')
    .slice(1)
    .map((l) => l.replace(/^ {2}- /, ''));
