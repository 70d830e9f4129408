/**
 * A workaround for a leak in Node 20's `AbortSignal.any()` (issue #14: `serve` grew 4 MiB a
 * minute under load). Each call adds a WeakRef to the composite signal into every source signal's
 * internal `kDependantSignals` set, and Node 20 never removes it, even after the composite is
 * collected (Node 22 added a cleanup registry). The MCP SDK's Streamable HTTP client transport
 * calls `AbortSignal.any([its own long-lived signal, the request's signal])` for every request, so
 * the set of the transport's signal gains one entry per upstream call for the life of the
 * connection: 60,000 a minute at 1,000 calls/s, with the Set's rehashing on top.
 *
 * {@link pruneDeadDependants} drops the entries whose composite is gone, which is what later Node
 * versions do by themselves; where the internal set is not there (another Node) it does nothing.
 */

import { types } from 'node:util';

let dependantsKey: symbol | undefined;

/** The set, which Node builds from its own primordials: `instanceof Set` is false, hence `types.isSet`. */
function dependantsOf(signal: AbortSignal): Set<unknown> | undefined {
  const key = keyOf(signal);
  const set: unknown = key ? (signal as unknown as Record<symbol, unknown>)[key] : undefined;
  return types.isSet(set) ? (set as Set<unknown>) : undefined;
}

const isWeakRef = (v: unknown): v is WeakRef<object> => Object.prototype.toString.call(v) === '[object WeakRef]';

function keyOf(signal: AbortSignal): symbol | undefined {
  // The symbol is Node's own, private; it appears on a signal once AbortSignal.any() used it.
  dependantsKey ??= Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  return dependantsKey;
}

/**
 * Removes from `signal`'s internal set of dependent signals the ones already collected; returns how
 * many. Cheap: the set holds at most the requests since the last prune.
 */
export function pruneDeadDependants(signal: AbortSignal | undefined): number {
  const set = signal && dependantsOf(signal);
  if (!set) return 0;
  let removed = 0;
  // Set.prototype's methods work on any Set, whatever its prototype chain.
  for (const ref of Set.prototype.values.call(set)) {
    if (isWeakRef(ref) && WeakRef.prototype.deref.call(ref) === undefined) {
      Set.prototype.delete.call(set, ref);
      removed += 1;
    }
  }
  return removed;
}

/** How many dependent signals `signal` holds (live or collected); for tests. */
export function dependantCount(signal: AbortSignal): number {
  const set = dependantsOf(signal);
  return set ? Reflect.get(Set.prototype, 'size', set) : 0;
}
