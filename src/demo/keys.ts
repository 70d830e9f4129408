import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the demo IdP signs with: kept in the data dir so that its tokens survive a restart. */
export interface DemoKeys {
  /** Private JWKs (RS256), as oidc-provider's `jwks.keys` takes them. */
  jwks: { keys: Array<JsonWebKey & { kid: string }> };
  /** Keys that sign the IdP's session cookies: a browser session survives a restart too. */
  cookieKeys: string[];
}

/** Name of the key file in the data dir. */
export const KEYS_FILE = 'idp-keys.json';

function generate(): DemoKeys {
  const kid = `demo-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return { jwks: { keys: [{ ...rsa, kid, use: 'sig', alg: 'RS256' }] }, cookieKeys: [randomBytes(32).toString('base64url')] };
}

function isKeys(value: unknown): value is DemoKeys {
  const v = value as DemoKeys | undefined;
  return (
    Array.isArray(v?.jwks?.keys) &&
    v.jwks.keys.length > 0 &&
    v.jwks.keys.every((k) => k && typeof k === 'object' && k.kty === 'RSA' && typeof k.d === 'string' && typeof k.kid === 'string') &&
    Array.isArray(v.cookieKeys) &&
    v.cookieKeys.length > 0 &&
    v.cookieKeys.every((k) => typeof k === 'string' && k.length >= 32)
  );
}

/**
 * Reads the demo IdP's keys from `dataDir`, or makes new ones there (file 0600, directory 0700
 * when it is created). A file that is unreadable or not in the expected shape is replaced: these
 * are a demo's throwaway keys, and the only cost is signing in again.
 */
export async function loadOrCreateKeys(dataDir: string): Promise<{ keys: DemoKeys; created: boolean; path: string }> {
  const path = join(dataDir, KEYS_FILE);
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (isKeys(parsed)) return { keys: parsed, created: false, path };
  } catch {
    // Absent or broken: new keys below.
  }
  const keys = generate();
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return { keys, created: true, path };
}
