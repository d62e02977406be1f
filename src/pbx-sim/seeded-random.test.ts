import { describe, expect, it } from 'vitest';
import { createSeededRandom, seedFrom } from './seeded-random.js';

describe('seeded random', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number | string) => {
      const r = createSeededRandom(seed);
      return Array.from({ length: 20 }, () => r.next());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw('chaos')).toEqual(draw('chaos'));
    expect(draw(42)).not.toEqual(draw(43));
    for (const v of draw(7)) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });

  it('keeps integers and ranges within their bounds and reaches both ends', () => {
    const r = createSeededRandom(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const n = r.int(0, 5);
      expect(Number.isInteger(n)).toBe(true);
      seen.add(n);
      const x = r.between(10, 50);
      expect(x).toBeGreaterThanOrEqual(10);
      expect(x).toBeLessThan(50);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.int(3, 3)).toBe(3);
    expect(() => r.pick([])).toThrow();
    expect(['a', 'b']).toContain(r.pick(['a', 'b']));
  });

  it('forks by label: independent of how much the parent drew, distinct per label', () => {
    const a = createSeededRandom(99);
    const b = createSeededRandom(99);
    for (let i = 0; i < 10; i++) b.next();
    const fa = a.fork('stasis');
    const fb = b.fork('stasis');
    expect(Array.from({ length: 5 }, () => fa.next())).toEqual(Array.from({ length: 5 }, () => fb.next()));
    const other = createSeededRandom(99).fork('chaos');
    expect(other.next()).not.toBe(createSeededRandom(99).fork('stasis').next());
  });

  it('maps any number or text to a 32-bit seed', () => {
    expect(seedFrom(-1)).toBe(0xffffffff);
    expect(seedFrom(3.9)).toBe(3);
    expect(seedFrom('x')).toBe(seedFrom('x'));
    expect(seedFrom(Number.NaN)).toBe(seedFrom('NaN'));
  });
});
