/** The circuit breaker on a clock the test moves by hand. */
import { describe, expect, it } from 'vitest';
import { createBreaker, type BreakerOptions } from '../src/cloud/store/breaker.js';
import { isStoreUnavailable, type BreakerState } from '../src/cloud/store/types.js';

function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

function setup(options: Partial<BreakerOptions> = {}) {
  const clock = fakeClock();
  const states: BreakerState[] = [];
  let failures = 0;
  const breaker = createBreaker({
    name: 'redis',
    failureThreshold: 3,
    openMs: 1000,
    now: clock.now,
    onStateChange: (s) => states.push(s),
    onFailure: () => void (failures += 1),
    ...options,
  });
  return { breaker, clock, states, failures: () => failures };
}

const ok = () => Promise.resolve('ok');
const boom = () => Promise.reject(new Error('boom'));
/** A call that stays pending until the test settles it. */
function deferred() {
  let resolve!: (v: string) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { fn: () => promise, resolve, reject };
}

describe('createBreaker', () => {
  it('runs calls while closed and passes results and errors through', async () => {
    const { breaker } = setup();
    await expect(breaker.run(ok)).resolves.toBe('ok');
    await expect(breaker.run(boom)).rejects.toThrow('boom');
    expect(breaker.state()).toBe('closed');
  });

  it('opens after failureThreshold consecutive failures and then rejects at once without calling', async () => {
    const { breaker, states, failures } = setup();
    for (let i = 0; i < 3; i++) await expect(breaker.run(boom)).rejects.toThrow('boom');
    expect(breaker.state()).toBe('open');
    expect(states).toEqual(['open']);
    expect(failures()).toBe(3);
    let called = false;
    const err = await breaker
      .run(async () => {
        called = true;
        return 'x';
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(isStoreUnavailable(err)).toBe(true);
    expect((err as Error).message).toMatch(/redis circuit breaker open/);
  });

  it('counts only consecutive failures: a success in between starts the count again', async () => {
    const { breaker } = setup();
    await breaker.run(boom).catch(() => {});
    await breaker.run(boom).catch(() => {});
    await breaker.run(ok);
    await breaker.run(boom).catch(() => {});
    await breaker.run(boom).catch(() => {});
    expect(breaker.state()).toBe('closed');
    await breaker.run(boom).catch(() => {});
    expect(breaker.state()).toBe('open');
  });

  it('stays open for openMs, then lets one trial through: success closes it', async () => {
    const { breaker, clock, states } = setup();
    for (let i = 0; i < 3; i++) await breaker.run(boom).catch(() => {});
    clock.advance(999);
    await expect(breaker.run(ok)).rejects.toThrow(/circuit breaker open/);
    clock.advance(1);
    expect(breaker.state()).toBe('half-open');
    await expect(breaker.run(ok)).resolves.toBe('ok');
    expect(breaker.state()).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('reopens for another openMs when the trial fails', async () => {
    const { breaker, clock, states } = setup();
    for (let i = 0; i < 3; i++) await breaker.run(boom).catch(() => {});
    clock.advance(1000);
    await expect(breaker.run(boom)).rejects.toThrow('boom');
    expect(breaker.state()).toBe('open');
    clock.advance(999);
    await expect(breaker.run(ok)).rejects.toThrow(/circuit breaker open/);
    clock.advance(1);
    await expect(breaker.run(ok)).resolves.toBe('ok');
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('lets only one trial through at a time: concurrent calls are refused fast', async () => {
    const { breaker, clock } = setup();
    for (let i = 0; i < 3; i++) await breaker.run(boom).catch(() => {});
    clock.advance(1000);
    const trial = deferred();
    const first = breaker.run(trial.fn);
    let called = false;
    await expect(
      breaker.run(async () => {
        called = true;
        return 'second';
      }),
    ).rejects.toThrow(/trial call is running/);
    expect(called).toBe(false);
    trial.resolve('first');
    await expect(first).resolves.toBe('first');
    expect(breaker.state()).toBe('closed');
    await expect(breaker.run(ok)).resolves.toBe('ok');
  });

  it('does not extend the open period for calls that began before it opened', async () => {
    const { breaker, clock } = setup();
    const slow = [deferred(), deferred(), deferred()];
    const pending = slow.map((d) => breaker.run(d.fn).catch(() => {}));
    for (let i = 0; i < 3; i++) await breaker.run(boom).catch(() => {});
    expect(breaker.state()).toBe('open');
    clock.advance(600);
    slow.forEach((d) => d.reject(new Error('late')));
    await Promise.all(pending);
    clock.advance(400);
    expect(breaker.state()).toBe('half-open');
  });

  it('ignores rejections that isFailure says are not the backend’s', async () => {
    const { breaker, failures } = setup({ isFailure: (err) => !(err instanceof TypeError) });
    for (let i = 0; i < 5; i++) await breaker.run(() => Promise.reject(new TypeError('caller'))).catch(() => {});
    expect(breaker.state()).toBe('closed');
    expect(failures()).toBe(0);
  });

  it('refuses a threshold or open period that is not a positive integer', () => {
    expect(() => createBreaker({ name: 'x', failureThreshold: 0 })).toThrow(RangeError);
    expect(() => createBreaker({ name: 'x', openMs: 1.5 })).toThrow(RangeError);
  });

  it('makes no trial while canTrial says the backend cannot answer yet, and reset() closes it at once', async () => {
    let connected = false;
    const { breaker, clock, states, failures } = setup({ canTrial: () => connected });
    for (let i = 0; i < 3; i++) await expect(breaker.run(boom)).rejects.toThrow('boom');
    expect(breaker.state()).toBe('open');
    clock.advance(5_000);
    // Still reconnecting: no trial (which would fail and reopen the breaker), it stays open.
    expect(breaker.state()).toBe('open');
    await expect(breaker.run(ok)).rejects.toSatisfy(isStoreUnavailable);
    expect(failures()).toBe(3);
    // Connected again: closed at once, every call goes through.
    connected = true;
    breaker.reset();
    expect(breaker.state()).toBe('closed');
    await expect(breaker.run(ok)).resolves.toBe('ok');
    expect(states).toEqual(['open', 'closed']);
    // Or, without a reset, the next trial once connected.
    for (let i = 0; i < 3; i++) await expect(breaker.run(boom)).rejects.toThrow('boom');
    clock.advance(1_000);
    expect(breaker.state()).toBe('half-open');
    await expect(breaker.run(ok)).resolves.toBe('ok');
    expect(breaker.state()).toBe('closed');
  });
});
