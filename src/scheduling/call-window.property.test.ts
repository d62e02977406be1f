import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALL_DAYS, type CallingRules, isCallable, nextCallableAt } from './call-window.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

// Zones with DST both ways, half- and quarter-hour offsets, a 30-minute DST (Lord Howe) and none.
const ZONES = [
  'America/New_York',
  'America/Los_Angeles',
  'America/Adak',
  'America/St_Johns',
  'Europe/London',
  'Australia/Sydney',
  'Australia/Adelaide',
  'Australia/Perth',
  'Australia/Lord_Howe',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'UTC',
];
// Transition days of 2026 (US, Europe, Australia, New Zealand/Chatham) and their neighbours get
// extra weight, plus times near the usual transition hours.
const TRANSITION_DAYS = [
  '2026-03-08',
  '2026-11-01',
  '2026-03-29',
  '2026-10-25',
  '2026-04-05',
  '2026-10-04',
  '2026-09-27',
];

const hhmm = fc
  .oneof(fc.integer({ min: 0, max: 1439 }), fc.constantFrom(0, 30, 60, 90, 120, 150, 180, 1410))
  .map((m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`);

const rulesArb: fc.Arbitrary<CallingRules> = fc.record({
  zones: fc.uniqueArray(fc.constantFrom(...ZONES), { minLength: 1, maxLength: 3 }),
  window: fc.record({
    start: hhmm,
    end: hhmm,
    days: fc.subarray([...ALL_DAYS], { minLength: 1 }),
  }),
  quiet: fc.option(fc.record({ start: hhmm, end: hhmm }), { nil: null }),
});

const fromArb = fc.oneof(
  fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
  fc
    .tuple(fc.constantFrom(...TRANSITION_DAYS), fc.integer({ min: -2 * DAY, max: 2 * DAY }))
    .map(([day, shift]) => Date.parse(`${day}T00:00:00Z`) + shift),
);

/** The definition, by brute force: `from`, then every minute up to the horizon. */
function firstCallableByScan(from: number, rules: CallingRules, horizonDays: number): number | null {
  if (isCallable(new Date(from), rules)) return from;
  for (let t = Math.floor(from / MINUTE) * MINUTE + MINUTE; t <= from + horizonDays * DAY; t += MINUTE) {
    if (isCallable(new Date(t), rules)) return t;
  }
  return null;
}

describe('nextCallableAt properties', () => {
  it('equals a minute-by-minute scan (3-day horizon)', () => {
    fc.assert(
      fc.property(rulesArb, fromArb, (rules, from) => {
        const found = nextCallableAt(new Date(from), rules, 3);
        expect(found?.getTime() ?? null).toBe(firstCallableByScan(from, rules, 3));
      }),
      { numRuns: 150 },
    );
  });

  it('equals the scan around clock changes, with windows and quiet hours in the changing hours', () => {
    // Clocks change between 00:00 and 03:00 local: openings, closings and quiet hours placed there
    // meet skipped and repeated times far more often than uniform ones do.
    const nightTime = fc
      .integer({ min: 0, max: 16 })
      .map((q) => `${String(Math.floor(q / 4)).padStart(2, '0')}:${String((q % 4) * 15).padStart(2, '0')}`);
    const nightRules: fc.Arbitrary<CallingRules> = fc.record({
      zones: fc.uniqueArray(
        fc.constantFrom('America/New_York', 'Europe/London', 'Australia/Sydney', 'Australia/Lord_Howe'),
        {
          minLength: 1,
          maxLength: 2,
        },
      ),
      window: fc.record({
        start: nightTime,
        end: nightTime,
        days: fc.subarray([...ALL_DAYS], { minLength: 1 }),
      }),
      quiet: fc.option(fc.record({ start: nightTime, end: nightTime }), { nil: null }),
    });
    const nearChange = fc
      .tuple(fc.constantFrom(...TRANSITION_DAYS), fc.integer({ min: -DAY, max: DAY }))
      .map(([day, shift]) => Date.parse(`${day}T00:00:00Z`) + shift);
    fc.assert(
      fc.property(nightRules, nearChange, (rules, from) => {
        const found = nextCallableAt(new Date(from), rules, 2);
        expect(found?.getTime() ?? null).toBe(firstCallableByScan(from, rules, 2));
      }),
      { numRuns: 400 },
    );
  });

  it('is callable, nothing sampled before it is, and a callable `from` is its own answer', () => {
    fc.assert(
      fc.property(
        rulesArb,
        fromArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        (rules, from, samples) => {
          const found = nextCallableAt(new Date(from), rules);
          if (isCallable(new Date(from), rules)) expect(found?.getTime()).toBe(from);
          if (found === null) return;
          expect(isCallable(found, rules)).toBe(true);
          // The minute just before it, and random instants between `from` and it.
          const before = [
            found.getTime() - MINUTE,
            ...samples.map((s) => from + s * (found.getTime() - from)),
          ];
          for (const t of before) {
            if (t >= from && t < found.getTime()) expect(isCallable(new Date(t), rules)).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
