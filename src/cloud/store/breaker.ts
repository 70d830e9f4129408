/**
 * A circuit breaker for calls to a backend that can go away (Redis): after a run of consecutive
 * failures it stops calling for a while and rejects at once, so that a dead backend costs a
 * request nothing instead of a command timeout each, and a struggling one gets room to recover.
 */
import type { BreakerState } from '../metrics.js';
import { StoreUnavailableError } from './types.js';

export interface BreakerOptions {
  /** Names the breaker in its errors (and, for the caller, in metrics). */
  name: string;
  /** Consecutive failures that open the breaker; default 5. */
  failureThreshold?: number;
  /** How long the breaker stays open before it lets one trial call through; default 5000 ms. */
  openMs?: number;
  /** Test seam: the clock, ms; default `Date.now`. */
  now?: () => number;
  /** Each change of state, the new state passed (for the `circuit_breaker_state` gauge and logs). */
  onStateChange?(state: BreakerState): void;
  /** Each failure counted (for `circuit_breaker_failures_total`). */
  onFailure?(): void;
  /**
   * Whether a rejection of `fn` counts as a failure of the backend; default every rejection. A
   * caller's own mistake (a value that is not JSON) should not open the breaker for everyone.
   */
  isFailure?(err: unknown): boolean;
  /**
   * Whether a trial call could succeed now; default always. Redis: only once the client is
   * connected again, so that a trial made while it still reconnects does not reopen the breaker for
   * another `openMs` (the breaker stays open until then, and {@link Breaker.reset} closes it).
   */
  canTrial?(): boolean;
  /** The error an open breaker rejects with; default {@link StoreUnavailableError} (the store's breakers). */
  refuse?(message: string): Error;
}

export interface Breaker {
  /**
   * Runs `fn` when the breaker allows it and passes its result or rejection through; rejects at
   * once with {@link StoreUnavailableError} when the breaker is open, or half-open with its one
   * trial call already running.
   */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The state now. An open breaker whose `openMs` has passed reports (and becomes) half-open here,
   * so that a readiness probe sees recovery without waiting for traffic to make the trial call.
   */
  state(): BreakerState;
  /** Closes the breaker now, as a successful trial would: the backend is known to be back (Redis: the client's `ready`). */
  reset(): void;
}

/**
 * Creates a breaker: closed, it runs every call and counts consecutive failures; at
 * `failureThreshold` it opens and rejects every call for `openMs`; then, half-open, it lets one
 * trial call through (concurrent calls are rejected), which closes it on success and reopens it on
 * failure.
 *
 * @example
 * ```ts
 * const breaker = createBreaker({ name: 'redis', onStateChange: (s) => metrics.circuitBreaker('redis', s) });
 * const value = await breaker.run(() => client.get(key));
 * ```
 */
export function createBreaker(options: BreakerOptions): Breaker {
  const { name } = options;
  const failureThreshold = positiveInteger('failureThreshold', options.failureThreshold ?? 5);
  const openMs = positiveInteger('openMs', options.openMs ?? 5000);
  const clock = options.now ?? Date.now;
  const isFailure = options.isFailure ?? (() => true);
  const canTrial = options.canTrial ?? (() => true);

  let current: BreakerState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let trialRunning = false;

  const enter = (next: BreakerState): void => {
    if (next === current) return;
    current = next;
    options.onStateChange?.(next);
  };
  const open = (): void => {
    openedAt = clock();
    failures = 0;
    enter('open');
  };
  const state = (): BreakerState => {
    if (current === 'open' && clock() - openedAt >= openMs && canTrial()) enter('half-open');
    return current;
  };
  const refuseWith = options.refuse ?? ((message: string) => new StoreUnavailableError(message));
  const refuse = (why: string) => Promise.reject(refuseWith(`${name} circuit breaker open: ${why}`));

  return {
    state,
    reset() {
      failures = 0;
      enter('closed');
    },
    async run<T>(fn: () => Promise<T>): Promise<T> {
      const now = state();
      if (now === 'open') return refuse(`calls refused for ${openMs} ms after ${failureThreshold} consecutive failures`);
      const trial = now === 'half-open';
      if (trial) {
        if (trialRunning) return refuse('a trial call is running');
        trialRunning = true;
      }
      try {
        const result = await fn();
        if (trial) enter('closed');
        if (current === 'closed') failures = 0;
        return result;
      } catch (err) {
        if (isFailure(err)) {
          options.onFailure?.();
          // A failed trial reopens at once; closed, it takes a run of failures. Calls that started
          // before the breaker opened and fail after must not push its reopening further out.
          if (trial) open();
          else if (current === 'closed' && ++failures >= failureThreshold) open();
        } else if (trial) {
          // The backend answered, if only with a refusal of this call: it is back.
          failures = 0;
          enter('closed');
        }
        throw err;
      } finally {
        if (trial) trialRunning = false;
      }
    },
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`could not configure the circuit breaker: ${name} must be a positive integer, got: ${value}`);
  return value;
}
