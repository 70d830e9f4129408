import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * The Redis the tests share: REDIS_URL, else 127.0.0.1:6379 (which .ci/run starts when none
 * answers). Throws, never skips, when it does not answer.
 */
export async function redisUrlForTests(): Promise<string> {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2_000, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(
      `no Redis answers at ${url.replace(/\/\/[^@]*@/, '//')} (${(err as Error).message}): start one with \`redis-server --daemonize yes --port 6379 --save ''\` or set REDIS_URL`,
    );
  } finally {
    client.disconnect();
  }
  return url;
}

/** A redis-server of a test's own, to stop and start at will. */
export interface DedicatedRedis {
  readonly port: number;
  /** `redis://:password@127.0.0.1:port` (percent-encoded). */
  url(password?: string): string;
  /** The running server process, for signals (SIGSTOP/SIGCONT). */
  process(): ChildProcess | undefined;
  /** (Re)starts it on the same port, resolving once it answers. */
  start(password?: string): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
}

const REDIS_SERVER = '/usr/bin/redis-server';

/**
 * A free port below Linux's ephemeral range (32768+): reconnecting to a dead port inside that range
 * can, rarely, connect the socket to itself (TCP self-connect) and look like a server.
 */
async function lowFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    const probe = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(candidate, '127.0.0.1', () => resolve(true));
    });
    if (!ok) continue;
    probe.close();
    await once(probe, 'close');
    return candidate;
  }
  throw new Error('could not find a free port for redis-server');
}

/** A dedicated redis-server with `password` (none when empty); fails loudly when the binary is missing. */
export async function dedicatedRedis(password = ''): Promise<DedicatedRedis> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: this test starts its own redis-server (apt-get install redis-server)`);
  const port = await lowFreePort();
  let child: ChildProcess | undefined;
  let current = password;
  const self: DedicatedRedis = {
    port,
    url: (p = current) => `redis://${p ? `:${encodeURIComponent(p)}@` : ''}127.0.0.1:${port}`,
    process: () => child,
    async start(p = current) {
      current = p;
      const started = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(p ? ['--requirepass', p] : [])], {
        stdio: 'ignore',
      });
      child = started;
      const deadline = Date.now() + 5000;
      for (;;) {
        if (started.exitCode !== null) throw new Error(`redis-server exited with ${started.exitCode} before answering on port ${port}`);
        const probe = new Redis({ port, host: '127.0.0.1', ...(p ? { password: p } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        probe.on('error', () => {});
        try {
          await probe.connect();
          await probe.ping();
          return;
        } catch {
          if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 5 s`);
          await new Promise((r) => setTimeout(r, 25));
        } finally {
          probe.disconnect();
        }
      }
    },
    async kill() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      running.kill('SIGKILL');
      await once(running, 'exit');
    },
  };
  await self.start();
  return self;
}
