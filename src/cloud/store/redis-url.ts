/**
 * `REDIS_URL` taken apart: standalone (`redis://`, `rediss://`), Sentinel
 * (`redis+sentinel://h1,h2/master`) and Cluster (`redis+cluster://h1,h2`), credentials
 * percent-decoded, and a description without them for logs.
 */

export interface RedisNode {
  host: string;
  port: number;
}

interface Credentials {
  username?: string;
  password?: string;
  /** `rediss…`: TLS to every node. */
  tls: boolean;
  /** The URL without credentials, for logs. */
  description: string;
}

/** What a `REDIS_URL` names. */
export type RedisTarget = Credentials &
  ({ kind: 'standalone'; node: RedisNode; db: number } | { kind: 'sentinel'; sentinels: RedisNode[]; name: string; db: number } | { kind: 'cluster'; nodes: RedisNode[] });

/**
 * Parses a `REDIS_URL`:
 *
 * - `redis://[user:pass@]host[:6379][/db]`, `rediss://…` for TLS;
 * - `redis+sentinel://[user:pass@]h1[:26379],h2[:26379]/master-name[/db]` (credentials are the
 *   master's; the sentinels are reached without);
 * - `redis+cluster://[user:pass@]h1[:6379],h2[:6379]` (seed nodes; a cluster has only db 0).
 *
 * The userinfo ends at the **last** `@` (as config redaction reads it), so a password may hold
 * unencoded `@`, `#` or `/`; it is then percent-decoded (`%40` is `@`). Userinfo without a colon is
 * a password (`redis://secret@host`, the pre-ACL form). IPv6 hosts go in brackets. Errors never
 * quote the URL: it may hold a password.
 *
 * @example
 * ```ts
 * parseRedisUrl('redis+sentinel://:s3cr%40t@10.0.0.1,10.0.0.2:26380/mymaster/2');
 * // { kind: 'sentinel', sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26380 }],
 * //   name: 'mymaster', db: 2, password: 's3cr@t', tls: false, description: 'redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster/2' }
 * ```
 */
export function parseRedisUrl(url: string): RedisTarget {
  const fail = (why: string): never => {
    throw new Error(`could not parse REDIS_URL: ${why}`);
  };
  const m = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(.*)$/is.exec(url.trim());
  if (!m) return fail('it must start with redis://, rediss://, redis+sentinel:// or redis+cluster://');
  const scheme = (m[1] as string).toLowerCase();
  const kind = (m[2]?.toLowerCase() ?? 'standalone') as RedisTarget['kind'];
  const after = m[3] as string;
  const at = after.lastIndexOf('@');
  const userinfo = at >= 0 ? after.slice(0, at) : undefined;
  const rest = at >= 0 ? after.slice(at + 1) : after;
  if (/[?#]/.test(rest)) fail('query parameters and fragments are not supported');

  const slash = rest.indexOf('/');
  const hostList = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1).replace(/\/+$/, '') : '';
  const defaultPort = kind === 'sentinel' ? 26379 : 6379;
  const nodes = hostList.split(',').map((h) => parseNode(h, defaultPort, fail));
  if (kind === 'standalone' && nodes.length !== 1) fail('a redis:// URL names one host; use redis+sentinel:// or redis+cluster:// for several');

  const credentials: Credentials = { tls: scheme === 'rediss', description: '' };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const username = colon >= 0 ? percentDecode(userinfo.slice(0, colon)) : '';
    const password = percentDecode(colon >= 0 ? userinfo.slice(colon + 1) : userinfo);
    if (username) credentials.username = username;
    if (password) credentials.password = password;
  }
  const scheme2 = kind === 'standalone' ? scheme : `${scheme}+${kind}`;
  const hosts = nodes.map(formatNode).join(',');
  const db = (segment: string | undefined): number => {
    if (segment === undefined || segment === '') return 0;
    if (!/^\d{1,5}$/.test(segment)) fail('the database must be a number');
    return Number(segment);
  };

  if (kind === 'sentinel') {
    const [nameSegment, dbSegment, ...extra] = path.split('/');
    const name = percentDecode(nameSegment ?? '');
    if (!name) fail('a redis+sentinel:// URL names its master after the hosts: redis+sentinel://h1:26379,h2:26379/mymaster');
    if (extra.length > 0) fail('a redis+sentinel:// URL has at most /master-name/db after the hosts');
    const n = db(dbSegment);
    return { ...credentials, kind, sentinels: nodes, name, db: n, description: `${scheme2}://${hosts}/${name}/${n}` };
  }
  if (kind === 'cluster') {
    if (path !== '' && path !== '0') fail('a Redis Cluster has only database 0');
    return { ...credentials, kind, nodes, description: `${scheme2}://${hosts}` };
  }
  if (path.includes('/')) fail('a redis:// URL has at most /db after the host');
  const n = db(path);
  return { ...credentials, kind: 'standalone', node: nodes[0] as RedisNode, db: n, description: `${scheme2}://${hosts}/${n}` };
}

function parseNode(text: string, defaultPort: number, fail: (why: string) => never): RedisNode {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]/\s]+))(?::(\d{1,5}))?$/i.exec(text.trim());
  if (!m) return fail('every host must be host, host:port or [ipv6]:port');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) fail('a port must be between 1 and 65535');
  return { host: (m[1] ?? m[2]) as string, port };
}

const formatNode = (n: RedisNode): string => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`);

/** Percent-decodes, keeping a stray `%` (a password like `50%off`) as it is. */
function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
