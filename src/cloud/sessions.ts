import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/server';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from './metrics.js';
import type { SharedStore } from './store/types.js';
import { STORE_CHANNELS, STORE_KEYS } from './store/keys.js';

interface Session {
  /** When the shared record's TTL was last renewed. */
  recordTouched: number;
  transport: { handleRequest(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void>; close(): Promise<void> };
  server: Server;
  /** issuer + subject of whoever opened it: nobody else may use it. */
  owner: string;
  lastSeen: number;
}

export interface SessionOptions {
  ttlSec: number;
  max: number;
  factory: () => Server;
  logger: Logger;
  metrics?: Metrics;
  /**
   * Where session records live for the other replicas (Redis): a request naming a session opened
   * elsewhere is still answered when the record says it belongs to the same principal.
   */
  store?: SharedStore;
  /** Test seams. */
  now?: () => number;
  sweepMs?: number;
  /** How often records the store could not take are tried again; default 1000 ms. */
  recordRetryMs?: number;
}

export type SessionOutcome = 'handled' | 'full' | 'not-found';

/** What the shared store keeps of a session: whose it is. */
interface SessionRecord {
  owner: string;
}

/** How often a request refreshes its session record's TTL, at most. */
const RECORD_TOUCH_MS = 60_000;

/**
 * Sessions for `initialize`-era clients (the 2025 Streamable HTTP binding): one MCP server and
 * transport per session, bound to the principal that opened it, closed after `ttlSec` idle, and at
 * most `max` at once. 2026-07-28 clients need none: they go to the stateless handler.
 */
export function createSessions(options: SessionOptions) {
  const now = options.now ?? Date.now;
  const sessions = new Map<string, Session>();
  const { logger, metrics, store } = options;
  const ttlMs = options.ttlSec * 1000;
  // The record is a convenience for other replicas: its trouble never fails this replica's session.
  // One the store could not take (Redis down) is written, or deleted, later: tried again every
  // recordRetryMs until the store answers, so that a session opened during an outage is found by
  // the other replicas, and one closed during it is not, once Redis is back.
  const pending = new Map<string, { owner: string } | 'delete'>();
  const writeRecord = (id: string, owner: string) => {
    if (!store) return;
    pending.delete(id);
    store.set(STORE_KEYS.session(id), { owner } satisfies SessionRecord, ttlMs).catch((err: Error) => {
      logger.debug(`could not store a session record, trying again: ${err.message}`);
      if (sessions.has(id) && !pending.has(id)) pending.set(id, { owner });
    });
  };
  const deleteRecord = (id: string) => {
    if (!store) return;
    pending.delete(id);
    store.delete(STORE_KEYS.session(id)).catch(() => {
      // Bounded: past it, records of closed sessions are left to expire with their TTL.
      if (pending.size < options.max * 2) pending.set(id, 'delete');
    });
  };
  let retrying = false;
  const retry = setInterval(() => {
    if (!store || pending.size === 0 || retrying) return;
    retrying = true;
    void (async () => {
      for (const [id, todo] of [...pending]) {
        try {
          if (todo === 'delete') await store.delete(STORE_KEYS.session(id));
          else if (sessions.has(id)) await store.set(STORE_KEYS.session(id), todo satisfies SessionRecord, ttlMs);
        } catch {
          // Still down: the rest waits for the next round.
          return;
        }
        // Unless something newer about it came meanwhile.
        if (pending.get(id) === todo) pending.delete(id);
      }
      logger.debug('session records stored again after the store was unavailable');
    })().finally(() => (retrying = false));
  }, options.recordRetryMs ?? 1000);
  retry.unref();

  async function close(id: string, status: 'closed' | 'expired' | 'evicted'): Promise<void> {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    metrics?.sessionClosed(status);
    deleteRecord(id);
    await s.transport.close().catch(() => {});
    await s.server.close().catch(() => {});
  }

  const subscription = store
    ?.subscribe(STORE_CHANNELS.sessionClosed, {
      message: (id) => void close(id, 'closed'),
      // Back after an outage, maybe a Redis restarted empty: every record of this replica is written again.
      resumed: () => {
        for (const [id, s] of sessions) if (!pending.has(id)) pending.set(id, { owner: s.owner });
      },
    })
    .catch((err: Error) => {
      logger.debug(`could not subscribe to session closings: ${err.message}`);
      return undefined;
    });

  const sweep = setInterval(() => {
    const deadline = now() - options.ttlSec * 1000;
    for (const [id, s] of sessions) {
      if (s.lastSeen < deadline) {
        logger.debug('session expired', { event: 'session_expired' });
        void close(id, 'expired');
      }
    }
  }, options.sweepMs ?? 30_000);
  sweep.unref();

  return {
    size: () => sessions.size,
    max: options.max,
    /** Opens a session for an `initialize` request and answers it. */
    async open(req: IncomingMessage, res: ServerResponse, body: unknown, owner: string): Promise<SessionOutcome> {
      if (sessions.size >= options.max) return 'full';
      const { NodeStreamableHTTPServerTransport } = await import('@modelcontextprotocol/node');
      const server = options.factory();
      let created: string | undefined;
      const transport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          created = id;
          sessions.set(id, { transport, server, owner, lastSeen: now(), recordTouched: now() });
          writeRecord(id, owner);
          metrics?.sessionOpened();
        },
        onsessionclosed: (id) => {
          void close(id, 'closed');
        },
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
      if (!created) await server.close().catch(() => {});
      return 'handled';
    },
    /** Serves a request that names a session; `not-found` when unknown, expired or someone else's. */
    async handle(id: string, req: IncomingMessage, res: ServerResponse, body: unknown, owner: string): Promise<SessionOutcome> {
      const s = sessions.get(id);
      if (!s || s.owner !== owner) return 'not-found';
      s.lastSeen = now();
      if (s.lastSeen - s.recordTouched > RECORD_TOUCH_MS) {
        s.recordTouched = s.lastSeen;
        writeRecord(id, owner);
      }
      await s.transport.handleRequest(req, res, body);
      return 'handled';
    },
    /**
     * Whether `id` is a live session of `owner` opened on another replica (its record in the
     * shared store); false without a store, or when the store cannot answer.
     */
    async ownedElsewhere(id: string, owner: string): Promise<boolean> {
      if (!store || sessions.has(id)) return false;
      const record = await store.get<SessionRecord>(STORE_KEYS.session(id)).catch(() => undefined);
      return record?.owner === owner;
    },
    /** Ends a session opened on another replica (DELETE): its record goes, and that replica closes it. */
    async forget(id: string): Promise<void> {
      await store?.delete(STORE_KEYS.session(id));
      await store?.publish(STORE_CHANNELS.sessionClosed, id).catch(() => {});
    },
    async closeAll(): Promise<void> {
      clearInterval(sweep);
      clearInterval(retry);
      await (await subscription)?.close().catch(() => {});
      await Promise.all([...sessions.keys()].map((id) => close(id, 'evicted')));
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
