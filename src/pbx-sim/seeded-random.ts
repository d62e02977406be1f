/**
 * A small seeded pseudo-random source for the simulated PBX. Real Asterisk's timing varies (events
 * come from other threads, after the HTTP answer); the simulator reproduces that with random delays,
 * and a seed makes a failing run repeatable: the same seed gives the same sequence of numbers.
 *
 * The generator is mulberry32 (32-bit state, good enough spread for delays and coin flips, not for
 * cryptography). Each kind of randomness takes its own `fork`, so drawing more numbers for one
 * purpose (a chaos mode, say) does not shift the numbers another purpose gets from the same seed.
 */
export interface SeededRandom {
  /** The seed this source was made from (log it: it reproduces the run). */
  readonly seed: number;
  /** A number in [0, 1). */
  next(): number;
  /** A number in [min, max). */
  between(min: number, max: number): number;
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** True with probability `p` (0–1). */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** An independent source derived from this one's seed and `label` (not from its position). */
  fork(label: string): SeededRandom;
}

/** A seed from text or a number: any integer or string maps to a 32-bit unsigned seed. */
export function seedFrom(value: number | string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value) >>> 0;
  return hash32(String(value));
}

/** A fresh random seed, for runs that did not ask for one (log it, so the run can be repeated). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

export function createSeededRandom(seedValue: number | string): SeededRandom {
  const seed = seedFrom(seedValue);
  let state = seed;
  const next = (): number => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random: SeededRandom = {
    seed,
    next,
    between: (min, max) => min + (max - min) * next(),
    int: (min, max) => {
      const lo = Math.ceil(Math.min(min, max));
      const hi = Math.floor(Math.max(min, max));
      return lo + Math.floor(next() * (hi - lo + 1));
    },
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)];
    },
    fork: (label) => createSeededRandom(hash32(`${seed}:${label}`)),
  };
  return random;
}

/** FNV-1a, 32 bits: spreads similar labels ("a", "b") to unrelated seeds. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
