import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ExpiringMap } from '../shared/expiring-map.js';

/** The storage interface oidc-provider asks of an adapter, one instance per model name. */
export interface ProviderAdapter {
  upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Record<string, unknown> | undefined>;
  findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined>;
  findByUid(uid: string): Promise<Record<string, unknown> | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

interface Entry {
  model: string;
  payload: Record<string, unknown>;
}

/** An entry in the file. */
interface SavedEntry extends Entry {
  /** Epoch milliseconds; absent = no expiry. */
  expiresAt?: number;
}

export interface FileAdapterStore {
  /** The `adapter` factory for oidc-provider's configuration. */
  adapter(model: string): ProviderAdapter;
  /** Writes pending changes now (at shutdown). */
  flush(): void;
}

/**
 * oidc-provider's state — sessions, grants, refresh tokens, device codes — in one JSON file
 * (0600), so that a restarted demo still knows the refresh tokens it issued. One file and linear
 * scans are plenty for one demo user; a real IdP needs a real database. It also keeps
 * oidc-provider from printing its "development-only in-memory adapter" warning.
 */
export function createFileAdapterStore(path: string, options: { now?: () => number; onError?: (err: Error) => void } = {}): FileAdapterStore {
  const now = options.now ?? Date.now;
  const entries = new ExpiringMap<string, Entry>({ now });
  try {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as Record<string, SavedEntry>;
    for (const [key, entry] of Object.entries(saved)) {
      if (entry && typeof entry.model === 'string' && entry.payload && typeof entry.payload === 'object') {
        entries.setUntil(key, { model: entry.model, payload: entry.payload }, typeof entry.expiresAt === 'number' ? entry.expiresAt : Infinity);
      }
    }
  } catch {
    // No state yet, or a broken file: start empty (people sign in again).
  }

  let timer: NodeJS.Timeout | undefined;
  const write = () => {
    timer = undefined;
    entries.sweep();
    const saved = Array.from(entries.entries(), (e): [string, SavedEntry] => [e.key, Number.isFinite(e.expiresAt) ? { ...e.value, expiresAt: e.expiresAt } : e.value]);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(saved)), { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, path);
    } catch (err) {
      options.onError?.(err as Error);
    }
  };
  // Several upserts arrive per request: one write for all of them.
  const schedule = () => {
    timer ??= setTimeout(write, 100).unref();
  };

  // Copies, so that nothing outside changes what is stored without an upsert.
  const copy = (entry: Entry | undefined) => (entry ? structuredClone(entry.payload) : undefined);
  const scan = (model: string, match: (payload: Record<string, unknown>) => boolean) => {
    for (const { value } of entries.entries()) if (value.model === model && match(value.payload)) return value;
    return undefined;
  };

  return {
    adapter(model: string): ProviderAdapter {
      const keyOf = (id: string) => `${model}:${id}`;
      return {
        async upsert(id, payload, expiresIn) {
          entries.set(keyOf(id), { model, payload: structuredClone(payload) }, typeof expiresIn === 'number' ? expiresIn * 1000 : undefined);
          schedule();
        },
        async find(id) {
          return copy(entries.get(keyOf(id)));
        },
        async findByUserCode(userCode) {
          return copy(scan(model, (p) => p.userCode === userCode));
        },
        async findByUid(uid) {
          return copy(scan(model, (p) => p.uid === uid));
        },
        async consume(id) {
          const entry = entries.get(keyOf(id));
          if (entry) {
            entry.payload.consumed = Math.floor(now() / 1000);
            schedule();
          }
        },
        async destroy(id) {
          if (entries.delete(keyOf(id))) schedule();
        },
        async revokeByGrantId(grantId) {
          for (const { key, value } of entries.entries()) if (value.model === model && value.payload.grantId === grantId) entries.delete(key);
          schedule();
        },
      };
    },
    flush() {
      if (!timer) return;
      clearTimeout(timer);
      write();
    },
  };
}
