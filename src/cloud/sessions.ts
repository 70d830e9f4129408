import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/server';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';

interface Session {
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
  /** Test seams. */
  now?: () => number;
  sweepMs?: number;
}

export type SessionOutcome = 'handled' | 'full' | 'not-found';

/**
 * Sessions for `initialize`-era clients (the 2025 Streamable HTTP binding): one MCP server and
 * transport per session, bound to the principal that opened it, closed after `ttlSec` idle, and at
 * most `max` at once. 2026-07-28 clients need none: they go to the stateless handler.
 */
export function createSessions(options: SessionOptions) {
  const now = options.now ?? Date.now;
  const sessions = new Map<string, Session>();
  const { logger, metrics } = options;

  async function close(id: string, status: 'closed' | 'expired' | 'evicted'): Promise<void> {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    metrics?.sessionClosed(status);
    await s.transport.close().catch(() => {});
    await s.server.close().catch(() => {});
  }

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
          sessions.set(id, { transport, server, owner, lastSeen: now() });
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
      await s.transport.handleRequest(req, res, body);
      return 'handled';
    },
    async closeAll(): Promise<void> {
      clearInterval(sweep);
      await Promise.all([...sessions.keys()].map((id) => close(id, 'evicted')));
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
