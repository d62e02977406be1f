import { describe, expect, it } from 'vitest';
import { createSpeedWatch } from './speed-watch.js';

describe('speed watch', () => {
  it('says once when the median of the recent replies is too slow', () => {
    const slow: number[] = [];
    const w = createSpeedWatch({ minTokensPerSecond: 15, onSlow: (t) => slow.push(t) });
    // 11 tokens after the first in 1 s: 10 tokens/s.
    w.record(11, 1000);
    w.record(11, 1000);
    expect(w.tokensPerSecond()).toBeNull();
    expect(slow).toEqual([]);
    w.record(21, 1000);
    expect(w.tokensPerSecond()).toBe(10);
    expect(slow).toEqual([10]);
    w.record(11, 1000);
    expect(slow).toEqual([10]);
  });

  it('stays quiet for a fast model, and one slow reply among fast ones does not count', () => {
    const slow: number[] = [];
    const w = createSpeedWatch({ minTokensPerSecond: 15, onSlow: (t) => slow.push(t) });
    w.record(31, 1000);
    w.record(5, 1000);
    w.record(31, 1000);
    expect(w.tokensPerSecond()).toBe(30);
    expect(slow).toEqual([]);
  });

  it('ignores replies too short to time', () => {
    const slow: number[] = [];
    const w = createSpeedWatch({ minTokensPerSecond: 15, onSlow: (t) => slow.push(t) });
    for (let i = 0; i < 5; i++) w.record(2, 1000);
    expect(w.tokensPerSecond()).toBeNull();
    expect(slow).toEqual([]);
  });
});
