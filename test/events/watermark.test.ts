import { describe, expect, it } from 'vitest';
import { Watermark } from '../../src/events/account-feed.js';

describe('the account stream’s watermark', () => {
  it('moves over ids read in a row, and stops below an id not seen yet', () => {
    const w = new Watermark(10);
    w.mark(11);
    w.mark(13);
    w.mark(14);
    expect(w.value).toBe(11);
    expect(w.hasGaps).toBe(true);
    expect(w.top).toBe(14);
    expect(w.missing(100)).toEqual([12]);
    // The late row arrives: everything up to the highest is now sent.
    w.mark(12);
    expect(w.value).toBe(14);
    expect(w.hasGaps).toBe(false);
    w.mark(9);
    expect(w.value).toBe(14);
  });

  it('passes a gap only once every transaction open when it was seen has ended', () => {
    const w = new Watermark(0);
    w.mark(2);
    w.addPending(2, ['700', '701'], 0);
    expect(w.takeSettled(new Set(['701']), 1)).toEqual([]);
    expect(w.value).toBe(0);
    const settled = w.takeSettled(new Set(), 2);
    expect(settled).toEqual([2]);
    for (const b of settled) w.settle(b);
    // Id 1 was rolled back: the watermark moves on past it.
    expect(w.value).toBe(2);
    expect(w.hasGaps).toBe(false);
  });

  it('stops waiting for a transaction open for minutes, and bounds what it remembers', () => {
    const w = new Watermark(0);
    w.mark(5);
    w.addPending(5, ['42'], 0);
    expect(w.takeSettled(new Set(['42']), 60_000)).toEqual([]);
    expect(w.takeSettled(new Set(['42']), 6 * 60_000)).toEqual([5]);

    const big = new Watermark(0);
    for (let id = 2; id <= 6002; id++) big.mark(id);
    expect(big.trim()).toBe(true);
    expect(big.value).toBeGreaterThan(1);
    expect(big.missing(10)).toEqual([]);
  });
});
