import { describe, expect, it } from 'vitest';
import { CHAOS_DEFAULTS, chaosFromEnv, createChaos, isNonEssential, OrderedDelays } from './chaos.js';

describe('chaos mode draws', () => {
  it('the same seed gives the same delays and verdicts per route, whatever other routes drew meanwhile', () => {
    const a = createChaos({ seed: 7, errorRate: 0.5 });
    const b = createChaos({ seed: 7, errorRate: 0.5 });
    const route = ['GET', '/channels/{channelId}/variable'] as const;
    const seqA = Array.from({ length: 40 }, () => a.failure(...route)?.status ?? 0);
    // b draws for other routes and events in between: its variable reads still get the same verdicts.
    const seqB = Array.from({ length: 40 }, () => {
      b.requestDelayMs('POST', '/channels', 'act');
      b.eventDelayMs('StasisStart');
      b.failure('GET', '/channels/{channelId}');
      return b.failure(...route)?.status ?? 0;
    });
    expect(seqB).toEqual(seqA);
    expect(seqA.some((s) => s === 0)).toBe(true);
    expect(seqA.some((s) => s >= 500)).toBe(true);
    const other = createChaos({ seed: 8, errorRate: 0.5 });
    expect(Array.from({ length: 40 }, () => other.failure(...route)?.status ?? 0)).not.toEqual(seqA);
  });

  it('essential requests never fail; non-essential ones fail at about errorRate with bodies Asterisk writes', () => {
    const chaos = createChaos({ seed: 1, errorRate: 0.3 });
    for (const [method, path] of [
      ['POST', '/channels'],
      ['DELETE', '/channels/{channelId}'],
      ['POST', '/channels/{channelId}/continue'],
      ['POST', '/channels/externalMedia'],
      ['POST', '/bridges'],
      ['POST', '/bridges/{bridgeId}/addChannel'],
      ['POST', '/bridges/{bridgeId}/record'],
      ['DELETE', '/bridges/{bridgeId}'],
      ['GET', '/recordings/stored/{recordingName}/file'],
      ['GET', '/asterisk/info'],
    ] as const) {
      expect(isNonEssential(method, path)).toBe(false);
      for (let i = 0; i < 200; i++) expect(chaos.failure(method, path)).toBeNull();
    }
    const failures = Array.from({ length: 2000 }, () =>
      chaos.failure('DELETE', '/recordings/stored/{recordingName}'),
    ).filter((f) => f !== null);
    expect(failures.length).toBeGreaterThan(2000 * 0.25);
    expect(failures.length).toBeLessThan(2000 * 0.35);
    expect(new Set(failures.map((f) => JSON.stringify(f)))).toEqual(
      new Set([
        JSON.stringify({ status: 500, body: { message: 'Delete failed' } }),
        JSON.stringify({ status: 503, body: { message: 'Asterisk not booted' } }),
      ]),
    );
    // A handler without a message of its own fails as res_ari's allocation failure does.
    const lookup = Array.from({ length: 200 }, () => chaos.failure('GET', '/channels/{channelId}')).find(
      (f) => f?.status === 500,
    );
    expect(lookup?.body).toEqual({ error: 'Allocation failed' });
  });

  it('delays stay within 0..maxDelayMs and use the whole range', () => {
    const chaos = createChaos({ seed: 3, maxDelayMs: 20 });
    const d = Array.from({ length: 500 }, () => chaos.eventDelayMs('Dial'));
    expect(Math.min(...d)).toBe(0);
    expect(Math.max(...d)).toBe(20);
    expect(createChaos({ seed: 3, maxDelayMs: 0 }).requestDelayMs('GET', '/channels', 'answer')).toBe(0);
  });

  it('reads its options from the environment, and names a malformed variable', () => {
    expect(chaosFromEnv({})).toBeUndefined();
    expect(chaosFromEnv({ PBX_SIM_CHAOS_SEED: '42' })).toEqual({
      seed: 42,
      maxDelayMs: undefined,
      errorRate: undefined,
    });
    expect(
      chaosFromEnv({
        PBX_SIM_CHAOS_SEED: '5',
        PBX_SIM_CHAOS_MAX_DELAY_MS: '120',
        PBX_SIM_CHAOS_ERROR_RATE: '0.5',
      }),
    ).toEqual({ seed: 5, maxDelayMs: 120, errorRate: 0.5 });
    // Text (a CI run id) is hashed into a seed.
    expect(chaosFromEnv({ PBX_SIM_CHAOS_SEED: 'run-881' })?.seed).toBeTypeOf('number');
    expect(() => chaosFromEnv({ PBX_SIM_CHAOS_SEED: '1', PBX_SIM_CHAOS_ERROR_RATE: '2' })).toThrow(
      /PBX_SIM_CHAOS_ERROR_RATE/,
    );
    expect(createChaos({ seed: 1 })).toMatchObject({ seed: 1, ...CHAOS_DEFAULTS });
    expect(() => createChaos({ seed: 1, errorRate: -0.1 })).toThrow(/errorRate/);
  });
});

describe('OrderedDelays', () => {
  it('keeps the order within a key and lets different keys pass each other', async () => {
    const errors: unknown[] = [];
    const q = new OrderedDelays((e) => errors.push(e));
    const got: string[] = [];
    let pending = 4;
    let done!: () => void;
    const all = new Promise<void>((r) => {
      done = r;
    });
    const push = (key: string, ms: number, what: string) =>
      q.push(key, ms, () => {
        got.push(what);
        if (--pending === 0) done();
      });
    push('a', 60, 'a1');
    push('a', 0, 'a2'); // later in the same key: waits for a1
    push('b', 0, 'b1'); // another key: passes a1
    push('a', 0, 'a3');
    await all;
    expect(got.indexOf('b1')).toBe(0);
    expect(got.filter((g) => g.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(errors).toEqual([]);
  });

  it('flush delivers what is pending at once, in order; clear drops it; neither leaves a timer', () => {
    const q = new OrderedDelays(() => undefined);
    const got: string[] = [];
    q.push('a', 10_000, () => got.push('a1'));
    q.push('a', 0, () => got.push('a2'));
    q.push('b', 10_000, () => {
      throw new Error('a failing delivery does not stop the others');
    });
    q.push('c', 10_000, () => got.push('c1'));
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    q.flush();
    expect(got).toEqual(['a1', 'a2', 'c1']);
    expect(timers()).toBe(before - 3);
    q.push('a', 10_000, () => got.push('late'));
    q.clear();
    expect(timers()).toBe(before - 3);
    expect(got).toEqual(['a1', 'a2', 'c1']);
  });
});
