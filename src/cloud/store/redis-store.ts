/**
 * The {@link SharedStore} of several replicas: Redis (`REDIS_URL`), standalone, behind Sentinel or
 * a Cluster. Built so that nothing waits on a Redis that is gone: commands fail at once while the
 * connection is down (no offline queue), time out after `commandTimeoutMs`, and go through a
 * circuit breaker, while the client reconnects in the background forever, with backoff.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { BreakerState, Metrics } from '../metrics.js';
import { createBreaker, type BreakerOptions } from './breaker.js';
import { StoreUnavailableError, type SetOptions, type SharedStore, type StoreHealth, type SubscribeHandlers, type Subscription, type WindowCount } from './types.js';
import { toJson, ttl } from './values.js';
import { parseRedisUrl, type RedisNode, type RedisTarget } from './redis-url.js';

export { parseRedisUrl, type RedisNode, type RedisTarget } from './redis-url.js';

/** Reconnection delay before attempt `attempt` (1, 2, …): 200 ms doubling to 5 s, with equal jitter. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(200 * 2 ** Math.min(Math.max(attempt - 1, 0), 10), 5000);
  // Jitter, so that replicas that lost Redis together do not all come back in the same instant.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** ioredis constructor arguments for `target`: exported for tests, which check what a URL becomes. */
export function redisClientOptions(
  target: RedisTarget,
  commandTimeoutMs: number,
): { kind: 'redis'; options: RedisOptions } | { kind: 'cluster'; nodes: RedisNode[]; options: ClusterOptions } {
  const connection: RedisOptions = {
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    // Fail at once while disconnected rather than queue: the breaker and the callers' fallbacks
    // decide, and no request waits for a Redis that may not come back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(5000, commandTimeoutMs),
    // A command whose caller has already seen it fail must not run later: a stale SET would
    // overwrite a newer value, a late GETDEL would swallow a one-time code.
    autoResendUnfulfilledCommands: false,
    autoResubscribe: true,
    lazyConnect: false,
    // A failed-over master answers READONLY: reconnect, which asks the sentinels again.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  if (target.kind === 'cluster') {
    return {
      kind: 'cluster',
      nodes: target.nodes,
      options: {
        enableOfflineQueue: false,
        enableReadyCheck: true,
        lazyConnect: false,
        clusterRetryStrategy: (times) => reconnectDelay(times),
        slotsRefreshTimeout: Math.max(1000, commandTimeoutMs),
        redisOptions: { ...connection, ...(target.tls ? { tls: {} } : {}) },
      },
    };
  }
  const withRetry: RedisOptions = { ...connection, retryStrategy: (times) => reconnectDelay(times) };
  if (target.kind === 'sentinel') {
    return {
      kind: 'redis',
      options: {
        ...withRetry,
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        sentinelCommandTimeout: commandTimeoutMs,
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      },
    };
  }
  const { host, port } = target.node;
  return {
    kind: 'redis',
    options: {
      ...withRetry,
      host,
      port,
      db: target.db,
      // SNI takes host names only (RFC 6066): Node warns when given an address.
      ...(target.tls ? { tls: isIP(host) ? {} : { servername: host } } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The store

export interface RedisStoreOptions {
  /** `REDIS_URL`; see {@link parseRedisUrl}. */
  url: string;
  /** Namespace of every key and channel (`REDIS_KEY_PREFIX`); default `seed-mcp:`. */
  prefix?: string;
  /** Longest wait for one command; default 1000 ms. */
  commandTimeoutMs?: number;
  metrics?: Metrics;
  logger?: Logger;
  /** The circuit breaker's settings (named `redis`); defaults 5 failures, 5000 ms open. */
  breaker?: Pick<BreakerOptions, 'failureThreshold' | 'openMs' | 'now'>;
  /**
   * Behind Sentinel or a Cluster, what a `replicated` set or a take that no replica acknowledges
   * in time (WAIT 1, `replicaWaitMs`) becomes (`REDIS_REPLICA_ACK`):
   * - `required` (the default): a failure, {@link StoreUnavailableError}: only what a replica
   *   has is reported done, so a failover never loses an acknowledged revocation and a code is
   *   redeemed at most once. While no replica answers, such writes are refused at once (one
   *   write a second tries again), and reads and plain writes go on;
   * - `best-effort`: done anyway, with a warning; a failover in that state can lose it.
   */
  replicaAck?: ReplicaAck;
  /**
   * How long a `replicated` set or a take waits for a replica's acknowledgement (WAIT 1):
   * default 200 ms (`required`), 20 ms (`best-effort`) (`REDIS_REPLICA_ACK_TIMEOUT_MS`). It holds
   * the connection that long when no replica answers, so keep it well under `commandTimeoutMs`.
   */
  replicaWaitMs?: number;
}

/** What a write that must survive a failover needs from the replicas; see {@link RedisStoreOptions.replicaAck}. */
export type ReplicaAck = 'required' | 'best-effort';

type Client = Redis | Cluster;
interface ConnectionState {
  everReady: boolean;
  up: boolean;
  /** Since when the connection has been down (or, before the first, since it was created), ms. */
  downSince: number;
  reconnectLogged: boolean;
  firstReady: Promise<void>;
}
type HitCommand = { seedMcpHit(key: string, windowMs: number): Promise<[number, number]> };

/** INCR, and a TTL only on the window's first hit (PEXPIRE NX, written so Redis 6 runs it too). */
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`;

const BATCH = 200;
const RECOVERING: ReadonlySet<string> = new Set(['wait', 'connecting', 'connect', 'reconnecting']);

/**
 * Creates a Redis store and starts connecting. Calls made before the first connection wait for
 * it up to `commandTimeoutMs`; after that, while the connection is down, they reject at once.
 *
 * @example
 * ```ts
 * const store = createRedisStore({ url: config.redisUrl, metrics, logger });
 * await store.set(STORE_KEYS.client('abc'), client, 86_400_000);
 * // on shutdown
 * await store.close();
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): SharedStore {
  const target = parseRedisUrl(options.url);
  const prefix = options.prefix ?? 'seed-mcp:';
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000;
  const logger = options.logger ?? silentLogger;
  const { metrics } = options;
  const openMs = options.breaker?.openMs ?? 5000;
  const secret = target.password;
  const scrub = (text: string): string => (secret ? text.split(secret).join('[REDACTED]') : text);
  const where = { redis: target.description };

  let closed = false;
  let lastError: string | undefined;
  let tripped = false;

  const breaker = createBreaker({
    name: 'redis',
    ...options.breaker,
    onStateChange(state: BreakerState) {
      metrics?.circuitBreaker('redis', state);
      // Told once per outage: during a long one the breaker goes half-open and back every openMs.
      if (state === 'open' && !tripped) {
        tripped = true;
        logger.warn('redis circuit breaker open: calls fail at once for a while', { ...where, openMs, lastError });
      } else if (state === 'closed') {
        tripped = false;
        logger.info('redis circuit breaker closed: calls go through again', where);
      } else {
        logger.debug(`redis circuit breaker ${state}`, where);
      }
    },
    onFailure: () => metrics?.circuitBreakerFailure('redis'),
    // No trial while the client reconnects: it would fail at once and reopen the breaker for
    // another openMs after Redis is back. The client's 'ready' closes the breaker instead.
    canTrial: () => client.status === 'ready',
  });
  metrics?.circuitBreaker('redis', 'closed');

  // A WAIT that no replica answers holds its connection for replicaWaitMs: after one, such writes
  // are refused at once (required) or go without WAIT (best-effort) for a while (a master whose
  // replica is gone, as after a failover until the old master comes back as a replica), then one
  // write (the probe) tries again. A new connection (maybe to a new master) tries at once.
  let noReplicaUntil = 0;

  const built = redisClientOptions(target, commandTimeoutMs);
  const client: Client = built.kind === 'cluster' ? new Cluster(built.nodes, built.options) : new Redis(built.options);
  client.defineCommand('seedMcpHit', { numberOfKeys: 1, lua: HIT_SCRIPT });
  // Connected (again): nothing is failing any more, so no request is refused for an outage that is over.
  const main = watch(client, 'connection', {
    ready: () => {
      noReplicaUntil = 0;
      breaker.reset();
    },
  });

  /** Tracks one connection's state and logs each change once, not per command. */
  function watch(conn: Client, label: string, hooks: { ready?(wasLost: boolean): void; lost?(): void }) {
    // One listener however many calls wait for the first connection.
    const firstReady = new Promise<void>((resolve) => conn.once('ready', () => resolve()));
    const state: ConnectionState = { everReady: false, up: false, downSince: Date.now(), reconnectLogged: false, firstReady };
    // Connection errors (ECONNREFUSED, auth, TLS) come with the close or reconnect that follows.
    let connectionError: string | undefined;
    conn.on('error', (err: Error) => {
      connectionError = scrub(err.message);
      lastError = connectionError;
    });
    conn.on('ready', () => {
      if (closed) return;
      const wasLost = state.everReady;
      if (wasLost) logger.info(`redis ${label} restored`, where);
      else logger.info(`redis ${label} ready`, where);
      state.everReady = true;
      state.up = true;
      state.reconnectLogged = false;
      connectionError = undefined;
      hooks.ready?.(wasLost);
    });
    conn.on('close', () => {
      if (closed || !state.up) return;
      state.up = false;
      state.downSince = Date.now();
      logger.warn(`redis ${label} lost`, { ...where, ...(connectionError ? { error: connectionError } : {}) });
      hooks.lost?.();
    });
    conn.on('reconnecting', (delayMs: unknown) => {
      if (closed || state.reconnectLogged) return;
      state.reconnectLogged = true;
      if (state.everReady) logger.info(`redis ${label} reconnecting`, { ...where, delayMs });
      else logger.warn(`could not connect to redis: retrying with backoff`, { ...where, error: connectionError });
    });
    return state;
  }

  /**
   * Resolves when `conn` can take a command. Only the first connection is waited for (briefly):
   * after that a connection that is down fails the call at once.
   */
  async function usable(conn: Client, state: ConnectionState): Promise<void> {
    if (conn.status === 'ready') return;
    // A cluster client passes through 'close' between seed nodes (one may be down) before its retry.
    const starting = RECOVERING.has(conn.status) || (conn instanceof Cluster && conn.status === 'close');
    if (state.everReady || !starting) throw new Error(`the connection is down (${conn.status})`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not connected within ${commandTimeoutMs} ms`)), commandTimeoutMs);
    });
    try {
      await Promise.race([state.firstReady, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One store operation: through the breaker, timed, its failure a {@link StoreUnavailableError}. */
  async function run<T>(op: string, metric: string, fn: () => Promise<T>, conn: Client = client, state = main): Promise<T> {
    if (closed) throw new Error('could not use the Redis store: it is closed');
    return breaker.run(async () => {
      const start = performance.now();
      try {
        await usable(conn, state);
        const result = await fn();
        metrics?.redisOperation(metric, 'success', (performance.now() - start) / 1000);
        return result;
      } catch (err) {
        metrics?.redisOperation(metric, 'failure', (performance.now() - start) / 1000);
        const why = scrub(err instanceof Error ? err.message : String(err));
        lastError = why;
        // No cause attached: ioredis errors carry the command's arguments (values, AUTH's password).
        throw new StoreUnavailableError(`could not run ${op} on Redis: ${why}`);
      }
    });
  }

  const k = (key: string) => prefix + key;

  // --- writes that must survive a failover (Sentinel, Cluster): Redis replicates asynchronously,
  // so an acknowledged write can be lost when its master dies before a replica has it. WAIT 1
  // closes that window: sent on the connection that carried the write, after its reply, it
  // returns once a replica has everything written on that connection so far. One WAIT covers
  // every write before it, so concurrent writers share one (group commit): at most one WAIT is in
  // flight per connection, never a queue of them.

  const hasReplicas = target.kind !== 'standalone';
  const replicaAck: ReplicaAck = options.replicaAck ?? 'required';
  const required = replicaAck === 'required';
  const replicaWaitMs = options.replicaWaitMs ?? (required ? 200 : 20);
  let unreplicatedLoggedAt = 0;
  let probing = false;
  // Required: refusals last until the next probe, so probe often; best-effort: writes go on meanwhile.
  const NO_REPLICA_RETRY_MS = required ? 1000 : 5000;
  let waitInFlight: Promise<number> | undefined;
  let waitNext: Promise<number> | undefined;

  /** WAIT 1 on every connection that takes writes (a cluster's masters); the fewest acks. */
  async function waitOnce(): Promise<number> {
    const nodes: Redis[] = client instanceof Cluster ? client.nodes('master').filter((n) => n.status === 'ready') : [client];
    const acks = await Promise.all(nodes.map((n) => n.wait(1, replicaWaitMs)));
    return acks.length === 0 ? 0 : Math.min(...acks);
  }

  /** A WAIT sent after the caller's write has been answered: the one in flight, if it was sent after, else the next. */
  function sharedWait(): Promise<number> {
    if (!waitInFlight) {
      const current: Promise<number> = waitOnce().finally(() => {
        if (waitInFlight === current) waitInFlight = undefined;
      });
      waitInFlight = current;
      // Sent now, so it covers the writes answered before this call; later callers wait for the next.
      return current;
    }
    waitNext ??= waitInFlight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        waitNext = undefined;
        return sharedWait();
      });
    return waitNext;
  }

  const unreplicated = (op: string, why: string) =>
    new StoreUnavailableError(
      `could not run ${op} on Redis: ${why}, so a failover could undo it (REDIS_REPLICA_ACK=required); it is refused until a replica answers: check the replicas' replication link (INFO replication)`,
    );

  /**
   * Runs `write` then, where there are replicas, waits for one to have it (WAIT 1); resolves with
   * the write's reply. Not acknowledged in time: a {@link StoreUnavailableError} when `required`,
   * which does not count against the circuit breaker (Redis answers; its replica does not).
   */
  async function replicatedWrite<T>(op: string, metric: string, write: () => Promise<T>): Promise<T> {
    if (!hasReplicas) return run(op, metric, write);
    const probe = noReplicaUntil !== 0 && Date.now() >= noReplicaUntil && !probing;
    if (noReplicaUntil !== 0 && !probe) {
      // Known to be without a replica: refused before writing, without a WAIT holding the connection.
      if (required) throw unreplicated(op, `no replica acknowledged a write within ${replicaWaitMs} ms lately`);
      return run(op, metric, write);
    }
    if (probe) probing = true;
    try {
      const { reply, acks } = await run(op, metric, async () => {
        const done = await write();
        // Done on the master; when whether a replica has it is unknown, not acknowledged (throws).
        return { reply: done, acks: await sharedWait() };
      });
      if (acks >= 1) {
        noReplicaUntil = 0;
        return reply;
      }
      noteUnreplicated(op);
      if (required) throw unreplicated(op, `no replica acknowledged it within ${replicaWaitMs} ms`);
      return reply;
    } finally {
      if (probe) probing = false;
    }
  }

  function noteUnreplicated(op: string): void {
    noReplicaUntil = Date.now() + NO_REPLICA_RETRY_MS;
    if (Date.now() - unreplicatedLoggedAt > 60_000) {
      unreplicatedLoggedAt = Date.now();
      if (required)
        logger.warn(
          'redis: no replica acknowledged a write in time; revocations and one-time takes (sign-in transactions, codes, refresh tokens) are refused (503) until one does',
          { ...where, op, replicaWaitMs },
        );
      else logger.warn('redis: no replica acknowledged a write in time; a failover now could lose recent writes', { ...where, op, replicaWaitMs });
    }
  }

  // --- publish/subscribe, on a connection of its own (a subscribed connection runs nothing else)

  let subscriber: { conn: Client; state: ConnectionState } | undefined;
  const handlersOf = new Map<string, Set<SubscribeHandlers>>();
  const everyHandler = () => [...handlersOf.values()].flatMap((set) => [...set]);
  const safely = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger.warn(`a redis subscriber failed on ${what}`, { error: err instanceof Error ? err.message : String(err) });
    }
  };

  function subscriberConnection(): { conn: Client; state: ConnectionState } {
    if (subscriber) return subscriber;
    const conn = client instanceof Cluster ? client.duplicate() : client.duplicate();
    conn.on('message', (channel: string, message: string) => {
      if (!channel.startsWith(prefix)) return;
      for (const h of handlersOf.get(channel.slice(prefix.length)) ?? []) safely('a message', () => h.message(message));
    });
    const state = watch(conn, 'subscriber connection', {
      lost: () => {
        for (const h of everyHandler()) if (h.lost) safely('lost', () => h.lost?.());
      },
      ready: (wasLost) => {
        if (!wasLost || handlersOf.size === 0) return;
        // ioredis resubscribes on its own, but only our SUBSCRIBE's reply says when that is in
        // force: a mirror reloaded before then could miss a message published in between.
        const channels = [...handlersOf.keys()].map(k);
        conn.subscribe(...channels).then(
          () => {
            for (const h of everyHandler()) if (h.resumed) safely('resumed', () => h.resumed?.());
          },
          // Dropped again: the next 'ready' tries again.
          (err: Error) => void (lastError = scrub(err.message)),
        );
      },
    });
    subscriber = { conn, state };
    return subscriber;
  }

  async function fetchValues(keys: string[]): Promise<Array<string | null>> {
    const out: Array<string | null> = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      // MGET across hash slots is refused by a cluster (CROSSSLOT): one GET per key there.
      const values = client instanceof Cluster ? await Promise.all(batch.map((key) => client.get(key))) : await client.mget(batch);
      out.push(...values);
    }
    return out;
  }

  return {
    backend: 'redis',
    async get<T>(key: string) {
      return parseValue<T>('get', await run('get', 'get', () => client.get(k(key))));
    },
    async set(key, value, ttlMs, setOptions?: SetOptions) {
      const json = toJson(value);
      const px = ttl(ttlMs);
      if (setOptions?.replicated) await replicatedWrite('set', 'set', () => client.set(k(key), json, 'PX', px));
      else await run('set', 'set', () => client.set(k(key), json, 'PX', px));
    },
    async add(key, value, ttlMs) {
      const json = toJson(value);
      const px = ttl(ttlMs);
      return (await run('add', 'set', () => client.set(k(key), json, 'PX', px, 'NX'))) === 'OK';
    },
    async take<T>(key: string) {
      return parseValue<T>('take', await replicatedWrite('take', 'getdel', () => client.getdel(k(key))));
    },
    async delete(key) {
      await run('delete', 'del', () => client.del(k(key)));
    },
    async hit(key, windowMs): Promise<WindowCount> {
      const px = ttl(windowMs);
      const [count, pttl] = await run('hit', 'eval', () => (client as unknown as HitCommand).seedMcpHit(k(key), px));
      return { count: Number(count), resetAt: Date.now() + Number(pttl) };
    },
    async entries<T>(callerPrefix: string) {
      const full = prefix + callerPrefix;
      const pairs = await run('entries', 'scan', async () => {
        const found = new Set<string>();
        // A cluster's keys are spread over its masters: each is scanned.
        const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', `${escapeGlob(full)}*`, 'COUNT', 500);
            cursor = next;
            for (const key of keys) found.add(key);
          } while (cursor !== '0');
        }
        const keys = [...found];
        const values = await fetchValues(keys);
        return keys.map((key, i) => [key, values[i] ?? null] as const);
      });
      const out: Array<[string, T]> = [];
      for (const [key, json] of pairs) {
        // Expired between SCAN and GET (null), or not written by a store (not JSON): not an entry.
        if (json === null) continue;
        try {
          out.push([key.slice(prefix.length), JSON.parse(json) as T]);
        } catch {
          logger.debug('skipped a redis key whose value is not JSON', where);
        }
      }
      return out;
    },
    async publish(channel, message) {
      await run('publish', 'publish', () => client.publish(k(channel), message));
    },
    async subscribe(channel, handlers): Promise<Subscription> {
      const { conn, state } = subscriberConnection();
      await run('subscribe', 'subscribe', () => conn.subscribe(k(channel)), conn, state);
      let set = handlersOf.get(channel);
      if (!set) handlersOf.set(channel, (set = new Set()));
      // A wrapper of its own, so that one handlers object subscribed twice is two subscriptions.
      const own: SubscribeHandlers = {
        message: (m) => handlers.message(m),
        lost: () => handlers.lost?.(),
        resumed: () => handlers.resumed?.(),
      };
      set.add(own);
      return {
        async close() {
          const current = handlersOf.get(channel);
          if (!current?.delete(own) || current.size > 0) return;
          handlersOf.delete(channel);
          if (closed) return;
          // Best effort: with no handler left, a message that still arrives is dropped anyway.
          await conn.unsubscribe(k(channel)).catch(() => undefined);
        },
      };
    },
    health(): StoreHealth {
      const state = breaker.state();
      const health = (status: StoreHealth['status']): StoreHealth => ({
        backend: 'redis',
        status,
        breaker: state,
        ...(lastError === undefined ? {} : { lastError }),
      });
      if (closed || state === 'open') return health('unavailable');
      if (client.status === 'ready') {
        const subscriberDown = subscriber !== undefined && subscriber.conn.status !== 'ready';
        return health(state === 'half-open' || subscriberDown ? 'degraded' : 'ok');
      }
      // Reconnecting counts as degraded for a while (a blip, a failover), then as unavailable.
      const recent = Date.now() - main.downSince < openMs;
      return health(RECOVERING.has(client.status) && recent ? 'degraded' : 'unavailable');
    },
    async close() {
      if (closed) return;
      closed = true;
      handlersOf.clear();
      await Promise.all([quit(client, commandTimeoutMs), subscriber && quit(subscriber.conn, commandTimeoutMs)]);
    },
  };
}

/** QUIT, waiting at most `ms` for Redis to answer, then drops the connection and its reconnecting. */
async function quit(conn: Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([conn.quit(), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } catch {
    // Down already: disconnect() below is all there is to do.
  } finally {
    clearTimeout(timer);
    conn.disconnect();
  }
}

/** Escapes Redis glob characters, so that a prefix matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function parseValue<T>(op: string, json: string | null): T | undefined {
  if (json === null) return undefined;
  try {
    return JSON.parse(json) as T;
  } catch {
    throw new Error(`could not ${op} the value: what Redis holds under the key is not JSON`);
  }
}
