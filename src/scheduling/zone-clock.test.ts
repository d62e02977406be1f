import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formattedWallAt, instantsOfWall, transitionsIn, wallAt } from './zone-clock.js';

const wall = (iso: string) => Date.parse(`${iso}Z`);
const iso = (ms: number) => new Date(ms).toISOString();

describe('zone clock', () => {
  it('the cached wall clock always matches what Intl formats', () => {
    const zones = [
      'America/New_York',
      'Europe/London',
      'Australia/Lord_Howe',
      'Pacific/Chatham',
      'Asia/Kathmandu',
      'America/Santiago',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2028, 0, 1) }),
        (zone, ms) => {
          expect(wallAt(ms, zone)).toBe(formattedWallAt(ms, zone));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('finds the instant of a change, to the second', () => {
    expect(
      transitionsIn(
        Date.parse('2026-03-08T00:00:00Z'),
        Date.parse('2026-03-09T00:00:00Z'),
        'America/New_York',
      ).map(iso),
    ).toEqual(['2026-03-08T07:00:00.000Z']);
    // Lord Howe moves by 30 minutes at 02:00 local (+10:30) → 15:30 UTC the day before.
    expect(
      transitionsIn(
        Date.parse('2026-10-03T00:00:00Z'),
        Date.parse('2026-10-04T00:00:00Z'),
        'Australia/Lord_Howe',
      ).map(iso),
    ).toEqual(['2026-10-03T15:30:00.000Z']);
    expect(
      transitionsIn(
        Date.parse('2026-06-01T00:00:00Z'),
        Date.parse('2026-06-02T00:00:00Z'),
        'America/New_York',
      ),
    ).toEqual([]);
  });

  it('maps a wall time to none, one or two instants', () => {
    expect(instantsOfWall(wall('2026-03-08T02:30:00'), 'America/New_York')).toEqual([]);
    expect(instantsOfWall(wall('2026-03-08T03:00:00'), 'America/New_York').map(iso)).toEqual([
      '2026-03-08T07:00:00.000Z',
    ]);
    expect(instantsOfWall(wall('2026-11-01T01:30:00'), 'America/New_York').map(iso)).toEqual([
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:30:00.000Z',
    ]);
    expect(instantsOfWall(wall('2026-06-15T09:00:00'), 'Australia/Sydney').map(iso)).toEqual([
      '2026-06-14T23:00:00.000Z',
    ]);
  });

  it('refuses a zone Intl does not know', () => {
    expect(() => wallAt(0, 'Mars/Olympus_Mons')).toThrow(RangeError);
  });
});
