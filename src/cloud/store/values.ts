/** What both store adapters do to a value and a TTL before storing them. */

/** The JSON form of a value to store; a value without one (undefined, a function) is refused. */
export function toJson(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('could not store the value: it has no JSON form');
  return json;
}

/** A TTL in whole ms; zero, negative or not a number is refused. */
export function ttl(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`could not store the value: the TTL must be a positive number of ms, got: ${ms}`);
  return Math.ceil(ms);
}
