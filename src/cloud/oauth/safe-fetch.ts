/**
 * Fetching a URL that a client chose (a client ID metadata document) without letting the client
 * use this server to reach its own network (SSRF):
 *
 * - the host name is resolved ONCE, and every address it resolves to must be a public unicast
 *   one: loopback, private (RFC 1918), link-local, unique-local, carrier-grade NAT, "this network",
 *   multicast, reserved and documentation ranges are refused, as are the cloud metadata addresses
 *   (169.254.169.254, fd00:ec2::254, 100.100.100.200) and IPv6 forms that embed a refused IPv4
 *   address (`::ffff:127.0.0.1`, `::127.0.0.1`, NAT64 `64:ff9b::7f00:1`, 6to4, Teredo);
 * - the connection goes to that checked address and nowhere else: the agent's `lookup` answers
 *   with it, so a second DNS answer (DNS rebinding) is never asked for. TLS still checks the
 *   certificate against the host name (SNI and verification use the URL's host);
 * - an operator may allow a host anyway (`FETCH_ALLOWED_HOSTS`: `host` for any port, `host:port`
 *   for one); its address is still resolved once and pinned.
 *
 * A literal IP address in the URL is checked the same way, without DNS.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { Agent } from 'undici';

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses; {@link resolveWithDns} unless a test passes its own. */
export type ResolveHost = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system resolver (getaddrinfo, as connections use), all addresses in its order. */
export const resolveWithDns: ResolveHost = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** A fetch that must not go ahead; the message says why, for the server log only. */
export class FetchRefusedError extends Error {
  override readonly name = 'FetchRefusedError';
}

type Range = readonly [network: string, prefix: number, why: string];

const V4_REFUSED: readonly Range[] = [
  ['0.0.0.0', 8, '"this network" (0.0.0.0/8)'],
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['100.100.100.200', 32, 'cloud metadata'],
  ['100.64.0.0', 10, 'carrier-grade NAT (100.64.0.0/10)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.169.254', 32, 'cloud metadata'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'IETF protocol assignments (192.0.0.0/24)'],
  ['192.0.2.0', 24, 'documentation (TEST-NET-1)'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['198.18.0.0', 15, 'benchmarking (198.18.0.0/15)'],
  ['198.51.100.0', 24, 'documentation (TEST-NET-2)'],
  ['203.0.113.0', 24, 'documentation (TEST-NET-3)'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved (240.0.0.0/4)'],
];

const V6_REFUSED: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::', 96, 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::', 48, 'local-use NAT64'],
  ['100::', 64, 'discard-only'],
  ['2001:db8::', 32, 'documentation'],
  ['fd00:ec2::254', 128, 'cloud metadata'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

/** One BlockList per rule, so that the log can say which rule refused an address. */
const rules = (ranges: readonly Range[], type: 'ipv4' | 'ipv6') =>
  ranges.map(([network, prefix, why]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    return { list, why };
  });
const V4_RULES = rules(V4_REFUSED, 'ipv4');
const V6_RULES = rules(V6_REFUSED, 'ipv6');

/** The eight 16-bit groups of a valid IPv6 address (an embedded dotted IPv4 tail included). */
function hextets(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const b = dotted[1]!.split('.').map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const left = parse(head);
  const right = [...parse(rest), ...tail];
  if (rest === undefined) return [...left, ...tail];
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/**
 * The IPv4 addresses an IPv6 address stands for, by the forms that carry one: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64
 * (`64:ff9b::/96`), 6to4 (`2002::/16`) and Teredo (`2001::/32`, server and obfuscated client).
 */
function embeddedV4(h: readonly number[]): string[] {
  const zeros = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && h[5] === 0xffff) return [v4(h[6]!, h[7]!)];
  if (zeros(0, 6)) return [v4(h[6]!, h[7]!)];
  if (zeros(0, 4) && h[4] === 0xffff && h[5] === 0) return [v4(h[6]!, h[7]!)];
  if (h[0] === 0x64 && h[1] === 0xff9b && zeros(2, 6)) return [v4(h[6]!, h[7]!)];
  if (h[0] === 0x2002) return [v4(h[1]!, h[2]!)];
  if (h[0] === 0x2001 && h[1] === 0) return [v4(h[2]!, h[3]!), v4(h[6]! ^ 0xffff, h[7]! ^ 0xffff)];
  return [];
}

/**
 * Why `address` (an IP address, IPv6 without brackets) may not be fetched from; undefined for a
 * public unicast address. Anything that is not an IP address is refused.
 */
export function refusedAddressReason(address: string): string | undefined {
  const ip = address.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) names no other address
  const family = isIP(ip);
  if (family === 4) return V4_RULES.find((r) => r.list.check(ip, 'ipv4'))?.why;
  if (family !== 6) return 'not an IP address';
  const own = V6_RULES.find((r) => r.list.check(ip, 'ipv6'))?.why;
  if (own) return own;
  for (const inner of embeddedV4(hextets(ip))) {
    const why = refusedAddressReason(inner);
    if (why) return `${why}, embedded in IPv6`;
  }
  return undefined;
}

/** Whether `url`'s host is in `allowed` (`host`: any port; `host:port`: that port), as FETCH_ALLOWED_HOSTS lists them. */
export function hostAllowed(url: URL, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return false;
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  return allowed.includes(host) || allowed.includes(`${host}:${port}`);
}

export interface ResolveTargetOptions {
  /** FETCH_ALLOWED_HOSTS. */
  allowedHosts: readonly string[];
  resolve: ResolveHost;
}

/**
 * The one address a fetch of `url` may connect to: its literal IP, or the first address its host
 * resolves to (resolved once). {@link FetchRefusedError} when it does not resolve, or when any
 * address is refused ({@link refusedAddressReason}) and the host is not allowed.
 */
export async function resolveTarget(url: URL, options: ResolveTargetOptions): Promise<ResolvedAddress> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await options.resolve(host);
    } catch (err) {
      throw new FetchRefusedError(`${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (addresses.length === 0) throw new FetchRefusedError(`${host} resolves to no address`);
  }
  const allowed = hostAllowed(url, options.allowedHosts);
  for (const { address } of addresses) {
    if (!isIP(address)) throw new FetchRefusedError(`${host} resolves to ${address}, which is not an IP address`);
    const why = allowed ? undefined : refusedAddressReason(address);
    if (why) throw new FetchRefusedError(`${literal ? address : `${host} resolves to ${address}`}: ${why}, refused unless FETCH_ALLOWED_HOSTS names the host`);
  }
  return addresses[0]!;
}

/**
 * An agent whose connections all go to `target`, whatever host name the request names: the host
 * name stays the TLS server name, so the certificate is checked against it. `tls` adds options of
 * the TLS connection (a test's private CA).
 */
export async function pinnedAgent(target: ResolvedAddress, tls: { ca?: string | string[] } = {}): Promise<Agent> {
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  // Loaded on the first document fetch, not at start-up: most servers never fetch one.
  const { Agent } = await import('undici');
  return new Agent({ connect: { ...tls, lookup } });
}

/** undici's fetch: the one that honours the pinned agent as `dispatcher` (loaded when first used). */
export const pinnedFetch: typeof fetch = async (input, init) => ((await import('undici')).fetch as unknown as typeof fetch)(input, init);

/** `promise`, or the signal's reason once it aborts (a DNS lookup cannot itself be cancelled). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
