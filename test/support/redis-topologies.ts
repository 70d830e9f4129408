/**
 * Real Redis topologies for tests, all redis-server processes on 127.0.0.1, each set in a temp dir
 * of its own, on free ports, without persistence (`--save '' --appendonly no`):
 *
 * - {@link startSentinelSet}: one master, one replica, three sentinels (quorum 2);
 * - {@link startCluster}: three masters, each with one replica (`redis-cli --cluster create
 *   --cluster-replicas 1`), `cluster-node-timeout` 2000 ms, so killing a master promotes its replica.
 *
 * `stop()` kills every process and removes the dir, whatever state the set is in; a set that fails
 * to start is stopped before the error is thrown. Missing redis-server / redis-cli is an error,
 * never a skip.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** Resolves the binary on PATH, or throws saying how to install it. */
function binary(name: 'redis-server' | 'redis-cli'): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || fail();
  } catch {
    return fail();
  }
  function fail(): never {
    throw new Error(`${name} is missing: the Redis topology tests start real Sentinel and Cluster sets (apt-get install redis-server, which brings redis-cli)`);
  }
}

/**
 * A free port whose cluster bus port (+10000) is free too, both below Linux's ephemeral range
 * (32768+), where a reconnect to a dead port can, rarely, connect to itself.
 */
async function freePortPair(taken: Set<number>): Promise<number> {
  const listens = (port: number) =>
    new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, HOST, () => probe.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 2700);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await listens(port)) && (await listens(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error('could not find free ports for redis-server');
}

export interface RedisProcess {
  port: number;
  role: string;
  child: ChildProcess;
  /** What it was started with, for {@link ProcessSet.restart}. */
  args: string[];
}

/** What every set has: its processes, a way to kill one as a crash, and a teardown. */
class ProcessSet {
  readonly dir: string;
  readonly processes: RedisProcess[] = [];
  readonly ports = new Set<number>();
  readonly server = binary('redis-server');
  readonly cli = binary('redis-cli');

  constructor(kind: string) {
    this.dir = mkdtempSync(join(tmpdir(), `seed-mcp-${kind}-`));
  }

  spawn(port: number, role: string, args: string[]): RedisProcess {
    const child = spawn(this.server, args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('exit', (code, signal) => {
      if (code !== 0 && code !== null && signal === null) process.stderr.write(`redis-server ${role} on ${port} exited with ${code}: ${stderr}\n`);
    });
    const p = { port, role, child, args };
    this.processes.push(p);
    return p;
  }

  /** The process on `port` that is running now. */
  live(port: number): RedisProcess {
    const p = this.processes.find((x) => x.port === port && x.child.exitCode === null && x.child.signalCode === null);
    if (!p) throw new Error(`no redis-server is running on ${port}`);
    return p;
  }

  /** Starts a killed node again, as it was started first (a restarted pod) plus `extra`; resolves once it answers. */
  async restart(port: number, extra: string[] = []): Promise<void> {
    const first = this.processes.find((x) => x.port === port);
    const last = this.processes.filter((x) => x.port === port).at(-1);
    if (!first || !last) throw new Error(`no redis-server was started on ${port}`);
    if (last.child.exitCode === null && last.child.signalCode === null) throw new Error(`redis-server on ${port} is still running`);
    this.spawn(port, first.role, [...first.args, ...extra]);
    await this.answers(port);
  }

  /** SIGSTOP: the process stays, its sockets open, but it answers and reads nothing until {@link resume}. */
  pause(port: number): void {
    this.live(port).child.kill('SIGSTOP');
  }

  resume(port: number): void {
    this.live(port).child.kill('SIGCONT');
  }

  /** SIGKILL, as a crash (nothing flushed, nothing handed over). */
  async kill(port: number): Promise<void> {
    for (const p of this.processes.filter((x) => x.port === port)) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      // A paused process dies of SIGKILL too; SIGCONT first only so that nothing is left stopped.
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
      await once(p.child, 'exit');
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => this.kill(p.port)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  client(port: number): Redis {
    const c = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
    c.on('error', () => {});
    return c;
  }

  /** Runs `command` on the node at `port`, with a fresh connection. */
  async call(port: number, ...command: [string, ...Array<string | number>]): Promise<unknown> {
    const c = this.client(port);
    try {
      await c.connect();
      return await c.call(...command);
    } finally {
      c.disconnect();
    }
  }

  /** Polls until `check` is true, failing with `what` past `timeoutMs`. */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        if (await check()) return;
      } catch (err) {
        last = err;
      }
      for (const p of this.processes) {
        if (p.child.exitCode !== null && p.child.exitCode !== 0) throw new Error(`redis-server ${p.role} on port ${p.port} exited with ${p.child.exitCode}`);
      }
      if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async answers(port: number): Promise<void> {
    await this.until(`redis-server on ${port} answering`, async () => (await this.call(port, 'PING')) === 'PONG', 10_000);
  }
}

const info = (text: unknown, field: string): string | undefined => new RegExp(`^${field}:(.*)$`, 'm').exec(String(text))?.[1]?.trim();
const common = ['--bind', HOST, '--save', '', '--appendonly', 'no'];

export interface SentinelSet {
  /** `redis+sentinel://127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/mymaster` */
  readonly url: string;
  readonly name: string;
  readonly sentinelPorts: number[];
  /** The master's port as the sentinels see it now. */
  masterPort(): Promise<number>;
  /** SIGKILLs the current master; resolves with its port. */
  killMaster(): Promise<number>;
  /** Resolves once the sentinels name a master other than `oldPort` and it answers as master. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /** The data node that is not the master now (the replica, or the old master once it is back). */
  otherNode(): Promise<number>;
  /**
   * Starts a killed node again as a replica of the current master, as Sentinel deployments'
   * start scripts do (the sentinels would convert a node that comes back as a master only 8 s later).
   */
  restart(port: number): Promise<void>;
  /** Resolves once the current master has a replica online and in sync. */
  waitForReplica(timeoutMs?: number): Promise<void>;
  /** SIGSTOP / SIGCONT of a node. */
  pause(port: number): void;
  resume(port: number): void;
  /** Runs a command on the node at `port`. */
  call(port: number, ...command: [string, ...Array<string | number>]): Promise<unknown>;
  stop(): Promise<void>;
}

/** One master, one replica, three sentinels (quorum 2, down-after 1000 ms, failover-timeout 3000 ms). */
export async function startSentinelSet(): Promise<SentinelSet> {
  const set = new ProcessSet('sentinel');
  const name = 'mymaster';
  try {
    const master = await freePortPair(set.ports);
    const replica = await freePortPair(set.ports);
    const sentinels = [await freePortPair(set.ports), await freePortPair(set.ports), await freePortPair(set.ports)];
    set.spawn(master, 'master', ['--port', String(master), ...common]);
    set.spawn(replica, 'replica', ['--port', String(replica), ...common, '--replicaof', HOST, String(master)]);
    await Promise.all([set.answers(master), set.answers(replica)]);
    await set.until(
      'the replica in sync',
      async () =>
        info(await set.call(replica, 'INFO', 'replication'), 'master_link_status') === 'up' &&
        /^slave0:.*state=online/m.test(String(await set.call(master, 'INFO', 'replication'))),
    );
    for (const port of sentinels) {
      const file = join(set.dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${set.dir}`,
          `sentinel monitor ${name} ${HOST} ${master} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 3000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      set.spawn(port, 'sentinel', [file, '--sentinel']);
    }
    await Promise.all(sentinels.map((p) => set.answers(p)));
    // A failover needs the sentinels to know each other (hello messages) and the replica.
    for (const port of sentinels) {
      await set.until(`sentinel ${port} seeing the replica and the two other sentinels`, async () => {
        const m = (await set.call(port, 'SENTINEL', 'MASTER', name)) as string[];
        const field = (f: string) => Number(m[m.indexOf(f) + 1]);
        return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
      });
    }
    const masterPort = async () => {
      for (const port of sentinels) {
        try {
          const addr = (await set.call(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
          return Number(addr[1]);
        } catch {
          // This sentinel may be the one that is down: ask the next.
        }
      }
      throw new Error('no sentinel answers');
    };
    return {
      url: `redis+sentinel://${sentinels.map((p) => `${HOST}:${p}`).join(',')}/${name}`,
      name,
      sentinelPorts: sentinels,
      masterPort,
      async killMaster() {
        const port = await masterPort();
        await set.kill(port);
        return port;
      },
      async waitForFailover(oldPort, timeoutMs = 20_000) {
        let now = oldPort;
        await set.until(
          'the sentinels failing the master over',
          async () => {
            now = await masterPort();
            return now !== oldPort && info(await set.call(now, 'INFO', 'replication'), 'role') === 'master';
          },
          timeoutMs,
        );
        return now;
      },
      async otherNode() {
        const now = await masterPort();
        const other = [master, replica].find((p) => p !== now);
        if (other === undefined) throw new Error('no data node other than the master');
        return other;
      },
      async restart(port) {
        const now = await masterPort();
        if (now === port) throw new Error(`${port} is still the master`);
        // The first start's own --replicaof (the replica's) is overridden by the later one.
        await set.restart(port, ['--replicaof', HOST, String(now)]);
      },
      async waitForReplica(timeoutMs = 20_000) {
        await set.until(
          'the master having a replica in sync',
          async () => {
            const m = await masterPort();
            const replication = String(await set.call(m, 'INFO', 'replication'));
            const other = [master, replica].find((p) => p !== m) as number;
            return /^slave\d+:.*state=online/m.test(replication) && info(await set.call(other, 'INFO', 'replication'), 'master_link_status') === 'up';
          },
          timeoutMs,
        );
      },
      pause: (port) => set.pause(port),
      resume: (port) => set.resume(port),
      call: (port, ...command) => set.call(port, ...command),
      stop: () => set.stop(),
    };
  } catch (err) {
    await set.stop();
    throw err;
  }
}

export interface ClusterSet {
  /** `redis+cluster://127.0.0.1:p1,…` (every node, masters and replicas). */
  readonly url: string;
  readonly ports: number[];
  /** The ports of the nodes that are masters now (asked of a live node). */
  masters(): Promise<number[]>;
  /** SIGKILLs the node at `port`. */
  kill(port: number): Promise<void>;
  /** Resolves once every live node says cluster_state:ok and no master is `deadPort`. */
  waitForFailover(deadPort: number, timeoutMs?: number): Promise<void>;
  /** Starts a killed node again (its nodes.conf kept): it rejoins as a replica of the master that replaced it. */
  restart(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** Three masters and three replicas, `cluster-node-timeout` 2000 ms. */
export async function startCluster(): Promise<ClusterSet> {
  const set = new ProcessSet('cluster');
  try {
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) ports.push(await freePortPair(set.ports));
    for (const port of ports) {
      set.spawn(port, 'cluster node', [
        '--port',
        String(port),
        ...common,
        '--dir',
        set.dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
      ]);
    }
    await Promise.all(ports.map((p) => set.answers(p)));
    await run(set.cli, ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
    const live = () => set.processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null).map((p) => p.port);
    const nodes = async () => {
      const text = String(await set.call(live()[0] as number, 'CLUSTER', 'NODES'));
      return text
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map((f) => ({ port: Number(/:(\d+)@/.exec(f[1] as string)?.[1]), flags: (f[2] as string).split(','), link: f[7] }));
    };
    const allOk = async () => {
      for (const port of live()) if (info(await set.call(port, 'CLUSTER', 'INFO'), 'cluster_state') !== 'ok') return false;
      return true;
    };
    await set.until('the cluster forming (3 masters, 3 replicas, state ok)', async () => {
      const all = await nodes();
      const masters = all.filter((n) => n.flags.includes('master') && !n.flags.includes('fail')).length;
      const replicas = all.filter((n) => n.flags.includes('slave') && !n.flags.includes('fail')).length;
      if (masters !== 3 || replicas !== 3 || !(await allOk())) return false;
      // Every replica synced, so that a failover has a replica to promote.
      for (const n of all.filter((x) => x.flags.includes('slave'))) {
        if (info(await set.call(n.port, 'INFO', 'replication'), 'master_link_status') !== 'up') return false;
      }
      // And online on its master's side (after a diskless sync, only from its first ACK, up to 1 s
      // later): until then the master does not count it for WAIT.
      for (const n of all.filter((x) => x.flags.includes('master'))) {
        if (!/^slave0:.*state=online/m.test(String(await set.call(n.port, 'INFO', 'replication')))) return false;
      }
      return true;
    });
    const masters = async () =>
      (await nodes()).filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && !n.flags.includes('fail?') && n.link === 'connected').map((n) => n.port);
    return {
      url: `redis+cluster://${ports.map((p) => `${HOST}:${p}`).join(',')}`,
      ports,
      masters,
      kill: (port) => set.kill(port),
      async waitForFailover(deadPort, timeoutMs = 20_000) {
        await set.until(
          'the cluster promoting a replica',
          async () => {
            const m = await masters();
            return m.length === 3 && !m.includes(deadPort) && (await allOk());
          },
          timeoutMs,
        );
      },
      restart: (port) => set.restart(port),
      stop: () => set.stop(),
    };
  } catch (err) {
    await set.stop();
    throw err;
  }
}
