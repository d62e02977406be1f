import { describe, expect, it } from 'vitest';
import {
  ALL_DAYS,
  type CallingRules,
  type CallWindow,
  callWindowSchema,
  isCallable,
  nextCallableAt,
  parseQuietHours,
  parseWindowSpec,
  type QuietHours,
} from './call-window.js';

const at = (iso: string) => new Date(iso);
const rules = (
  zones: string[],
  window: CallWindow | string,
  quiet: QuietHours | null = null,
): CallingRules => ({
  zones,
  window: typeof window === 'string' ? parseWindowSpec(window) : window,
  quiet,
});
const next = (from: string, r: CallingRules, horizonDays?: number) =>
  nextCallableAt(at(from), r, horizonDays)?.toISOString() ?? null;

describe('parseWindowSpec', () => {
  it('reads a range, with every day when none are listed', () => {
    expect(parseWindowSpec('09:00-20:00')).toEqual({ start: '09:00', end: '20:00', days: [...ALL_DAYS] });
    expect(parseWindowSpec(' 22:00-02:00 fri,sat ')).toEqual({
      start: '22:00',
      end: '02:00',
      days: ['fri', 'sat'],
    });
  });
  it('reads "always" as the whole of every day', () => {
    expect(parseWindowSpec('always')).toEqual({ start: '00:00', end: '00:00', days: [...ALL_DAYS] });
  });
  it('refuses bad times, unknown or repeated days and extra words', () => {
    for (const bad of [
      '24:00-01:00',
      '09:60-10:00',
      '9:00-20:00',
      '09:00-20:00 mon,mon',
      '09:00-20:00 funday',
      '09:00-20:00 mon x',
      'nine',
    ]) {
      expect(() => parseWindowSpec(bad), bad).toThrow();
    }
  });
  it('hands out a fresh days array each time (callers may keep and change it)', () => {
    const first = parseWindowSpec('always');
    first.days.pop();
    expect(parseWindowSpec('always').days).toHaveLength(7);
  });
});

describe('parseQuietHours', () => {
  it('is null when unset or blank', () => {
    expect(parseQuietHours()).toBeNull();
    expect(parseQuietHours('  ')).toBeNull();
  });
  it('reads a range, which may cross midnight', () => {
    expect(parseQuietHours('21:00-08:00')).toEqual({ start: '21:00', end: '08:00' });
  });
  it('refuses anything else', () => {
    expect(() => parseQuietHours('21:00')).toThrow(/quiet hours/);
    expect(() => parseQuietHours('21:00-25:00')).toThrow(/quiet hours/);
  });
});

describe('callWindowSchema', () => {
  it('fills every day when days are left out', () => {
    expect(callWindowSchema.parse({ start: '09:00', end: '17:30' })).toEqual({
      start: '09:00',
      end: '17:30',
      days: [...ALL_DAYS],
    });
  });
  it('accepts 00:00 and 23:59 and a day subset', () => {
    expect(callWindowSchema.parse({ start: '23:59', end: '00:00', days: ['sat', 'sun'] }).days).toEqual([
      'sat',
      'sun',
    ]);
  });
  it.each([
    [{ start: '9:00', end: '17:00' }, 'start'],
    [{ start: '09:00', end: '24:00' }, 'end'],
    [{ start: '09:00', end: '17:00', days: [] }, 'days'],
    [{ start: '09:00', end: '17:00', days: ['mon', 'mon'] }, 'days'],
    [{ start: '09:00', end: '17:00', days: ['Monday'] }, 'days'],
    [{ start: '09:00', end: '17:00', timezone: 'UTC' }, ''],
  ])('refuses %j at %s', (input, path) => {
    const result = callWindowSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0].path[0] ?? '').toBe(path);
  });
});

describe('isCallable across time zones', () => {
  const day = '09:00-20:00';
  it('reads each zone on its own wall clock', () => {
    // Monday 15 June 2026, 13:30 UTC: 09:30 New York, 06:30 Los Angeles, 14:30 London, 23:30 Sydney.
    const morning = at('2026-06-15T13:30:00Z');
    expect(isCallable(morning, rules(['America/New_York'], day))).toBe(true);
    expect(isCallable(morning, rules(['America/Los_Angeles'], day))).toBe(false);
    expect(isCallable(morning, rules(['Europe/London'], day))).toBe(true);
    expect(isCallable(morning, rules(['Australia/Sydney'], day))).toBe(false);
    // 23:30 UTC: 19:30 New York, 16:30 Los Angeles, 00:30 London, 09:30 Sydney.
    const evening = at('2026-06-15T23:30:00Z');
    expect(isCallable(evening, rules(['America/New_York'], day))).toBe(true);
    expect(isCallable(evening, rules(['America/Los_Angeles'], day))).toBe(true);
    expect(isCallable(evening, rules(['Europe/London'], day))).toBe(false);
    expect(isCallable(evening, rules(['Australia/Sydney'], day))).toBe(true);
  });
  it('opens at start and closes at end (exclusive), to the minute', () => {
    const ny = rules(['America/New_York'], day);
    expect(isCallable(at('2026-06-15T12:59:59Z'), ny)).toBe(false);
    expect(isCallable(at('2026-06-15T13:00:00Z'), ny)).toBe(true);
    expect(isCallable(at('2026-06-15T23:59:59Z'), ny)).toBe(true);
    expect(isCallable(at('2026-06-16T00:00:00Z'), ny)).toBe(false);
  });
  it('refuses rules without a zone and an invalid date', () => {
    expect(() => isCallable(at('2026-06-15T13:00:00Z'), rules([], day))).toThrow(/no time zone/);
    expect(() => isCallable(new Date(Number.NaN), rules(['UTC'], day))).toThrow(RangeError);
  });
});

describe('DST changes', () => {
  const ny = rules(['America/New_York'], '09:00-20:00');
  it('US spring forward (8 March 2026): 09:00 is 14:00 UTC on Saturday, 13:00 UTC on Sunday', () => {
    expect(isCallable(at('2026-03-07T13:59:00Z'), ny)).toBe(false);
    expect(isCallable(at('2026-03-07T14:00:00Z'), ny)).toBe(true);
    expect(next('2026-03-08T01:00:00Z', ny)).toBe('2026-03-08T13:00:00.000Z');
    expect(isCallable(at('2026-03-08T12:59:00Z'), ny)).toBe(false);
  });
  it('US fall back (1 November 2026): Sunday 09:00 is 14:00 UTC', () => {
    expect(next('2026-11-01T02:00:00Z', ny)).toBe('2026-11-01T14:00:00.000Z');
    expect(isCallable(at('2026-11-01T13:59:00Z'), ny)).toBe(false);
  });
  it('Europe (29 March and 25 October 2026)', () => {
    const london = rules(['Europe/London'], '09:00-20:00');
    expect(next('2026-03-28T21:00:00Z', london)).toBe('2026-03-29T08:00:00.000Z');
    expect(next('2026-10-24T20:00:00Z', london)).toBe('2026-10-25T09:00:00.000Z');
  });
  it('Australia (5 April and 4 October 2026)', () => {
    const sydney = rules(['Australia/Sydney'], '09:00-20:00');
    // Saturday 21:00 AEDT; Sunday 09:00 is AEST (+10).
    expect(next('2026-04-04T10:00:00Z', sydney)).toBe('2026-04-04T23:00:00.000Z');
    // Saturday 20:00 AEST; Sunday 09:00 is AEDT (+11).
    expect(next('2026-10-03T10:00:00Z', sydney)).toBe('2026-10-03T22:00:00.000Z');
  });
  it('an opening the clocks skip opens at the first minute that exists after it', () => {
    // 02:30 does not exist in New York on 8 March 2026: 01:59 EST is followed by 03:00 EDT (07:00 UTC).
    const skipped = rules(['America/New_York'], { start: '02:30', end: '05:00', days: ['sun'] });
    expect(isCallable(at('2026-03-08T06:59:00Z'), skipped)).toBe(false);
    expect(next('2026-03-08T05:00:00Z', skipped)).toBe('2026-03-08T07:00:00.000Z');
  });
  it('an hour the clocks repeat is callable both times', () => {
    // 01:00-01:30 on 1 November 2026 happens in EDT (05:00 UTC) and again in EST (06:00 UTC).
    const repeated = rules(['America/New_York'], { start: '01:00', end: '01:30', days: ['sun'] });
    expect(next('2026-11-01T04:00:00Z', repeated)).toBe('2026-11-01T05:00:00.000Z');
    expect(next('2026-11-01T05:30:00Z', repeated)).toBe('2026-11-01T06:00:00.000Z');
    expect(isCallable(at('2026-11-01T06:30:00Z'), repeated)).toBe(false);
    // An opening inside the repeated hour, away from the change itself: 01:30 EDT, then 01:30 EST.
    const late = rules(['America/New_York'], { start: '01:30', end: '01:45', days: ['sun'] });
    expect(next('2026-11-01T05:00:00Z', late)).toBe('2026-11-01T05:30:00.000Z');
    expect(next('2026-11-01T05:45:00Z', late)).toBe('2026-11-01T06:30:00.000Z');
  });
  it('clocks falling back into a window reopen it at the change itself', () => {
    // 00:30-01:30: at 01:30 EDT (05:30 UTC) it closes; at 06:00 UTC the clock reads 01:00 EST, inside again.
    const window = rules(['America/New_York'], { start: '00:30', end: '01:30', days: ['sun'] });
    expect(isCallable(at('2026-11-01T05:30:00Z'), window)).toBe(false);
    expect(next('2026-11-01T05:30:00Z', window)).toBe('2026-11-01T06:00:00.000Z');
  });
});

describe('windows and days', () => {
  it('a window crossing midnight belongs to the day it started', () => {
    const friday = rules(['America/New_York'], { start: '22:00', end: '02:00', days: ['fri'] });
    expect(isCallable(at('2026-06-20T02:00:00Z'), friday)).toBe(true); // Fri 22:00
    expect(isCallable(at('2026-06-20T05:59:00Z'), friday)).toBe(true); // Sat 01:59
    expect(isCallable(at('2026-06-20T06:00:00Z'), friday)).toBe(false); // Sat 02:00
    expect(isCallable(at('2026-06-19T03:00:00Z'), friday)).toBe(false); // Thu 23:00: Thursday is not listed
    expect(isCallable(at('2026-06-19T05:00:00Z'), friday)).toBe(false); // Fri 01:00 belongs to Thursday
    expect(isCallable(at('2026-06-21T03:00:00Z'), friday)).toBe(false); // Sat 23:00
    expect(next('2026-06-15T12:00:00Z', friday)).toBe('2026-06-20T02:00:00.000Z');
  });
  it('keeps to the listed days', () => {
    const monWed = rules(['America/New_York'], '09:00-17:00 mon,wed');
    expect(next('2026-06-16T14:00:00Z', monWed)).toBe('2026-06-17T13:00:00.000Z'); // Tue → Wed 09:00
    expect(next('2026-06-17T21:00:00Z', monWed)).toBe('2026-06-22T13:00:00.000Z'); // Wed 17:00 → Mon
  });
  it('an all-day window covers listed days from midnight to midnight', () => {
    const saturday = rules(['Europe/London'], { start: '10:00', end: '10:00', days: ['sat'] });
    expect(isCallable(at('2026-06-19T22:59:00Z'), saturday)).toBe(false); // Fri 23:59 BST
    expect(next('2026-06-19T12:00:00Z', saturday)).toBe('2026-06-19T23:00:00.000Z'); // Sat 00:00 BST
    expect(isCallable(at('2026-06-20T22:59:00Z'), saturday)).toBe(true); // Sat 23:59
    expect(isCallable(at('2026-06-20T23:00:00Z'), saturday)).toBe(false); // Sun 00:00
  });
});

describe('quiet hours', () => {
  it('override the window, even "always"', () => {
    const quiet = rules(['America/New_York'], 'always', { start: '21:00', end: '08:00' });
    expect(isCallable(at('2026-06-16T02:00:00Z'), quiet)).toBe(false); // 22:00
    expect(next('2026-06-16T02:00:00Z', quiet)).toBe('2026-06-16T12:00:00.000Z'); // 08:00
    expect(isCallable(at('2026-06-16T00:59:00Z'), quiet)).toBe(true); // 20:59
    expect(isCallable(at('2026-06-16T01:00:00Z'), quiet)).toBe(false); // 21:00
  });
  it('cut both ends of a wider window', () => {
    const r = rules(['Europe/London'], '07:00-22:00', { start: '21:00', end: '08:00' });
    expect(isCallable(at('2026-06-16T06:30:00Z'), r)).toBe(false); // 07:30 BST
    expect(next('2026-06-16T06:30:00Z', r)).toBe('2026-06-16T07:00:00.000Z');
    expect(isCallable(at('2026-06-16T19:59:00Z'), r)).toBe(true); // 20:59
    expect(isCallable(at('2026-06-16T20:00:00Z'), r)).toBe(false); // 21:00
  });
  it('covering the whole window leave nothing', () => {
    expect(
      next('2026-06-16T00:00:00Z', rules(['UTC'], '09:00-17:00', { start: '08:00', end: '18:00' })),
    ).toBeNull();
    expect(
      next('2026-06-16T00:00:00Z', rules(['UTC'], 'always', { start: '00:00', end: '00:00' })),
    ).toBeNull();
  });
});

describe('a number in several zones', () => {
  it('+1 907 (Anchorage and Adak): only when both allow it', () => {
    // June: Anchorage is UTC-8, Adak UTC-9. 09:00-20:00 in both is 18:00-04:00 UTC.
    const alaska = rules(['America/Anchorage', 'America/Adak'], '09:00-20:00');
    expect(isCallable(at('2026-06-15T17:30:00Z'), rules(['America/Anchorage'], '09:00-20:00'))).toBe(true);
    expect(isCallable(at('2026-06-15T17:30:00Z'), alaska)).toBe(false); // 08:30 in Adak
    expect(next('2026-06-15T16:00:00Z', alaska)).toBe('2026-06-15T18:00:00.000Z');
    expect(isCallable(at('2026-06-16T03:59:00Z'), alaska)).toBe(true);
    expect(isCallable(at('2026-06-16T04:00:00Z'), alaska)).toBe(false); // 20:00 in Anchorage
  });
  it('+61 8 (Adelaide and Perth), with and without Adelaide on summer time', () => {
    const sa = rules(['Australia/Adelaide', 'Australia/Perth'], '09:00-20:00');
    // June: Adelaide +9:30, Perth +8 → 01:00-10:30 UTC.
    expect(isCallable(at('2026-06-15T00:30:00Z'), sa)).toBe(false);
    expect(isCallable(at('2026-06-15T10:29:00Z'), sa)).toBe(true);
    expect(isCallable(at('2026-06-15T10:30:00Z'), sa)).toBe(false);
    expect(next('2026-06-15T10:30:00Z', sa)).toBe('2026-06-16T01:00:00.000Z');
    // January: Adelaide +10:30 → closes at 09:30 UTC.
    expect(isCallable(at('2026-01-15T09:29:00Z'), sa)).toBe(true);
    expect(isCallable(at('2026-01-15T09:30:00Z'), sa)).toBe(false);
  });
  it('zones too far apart never share a window', () => {
    // Kiritimati (+14) and Pago Pago (-11) are 25 hours apart: their 09:00-10:00 never meet.
    expect(
      next('2026-06-15T00:00:00Z', rules(['Pacific/Kiritimati', 'Pacific/Pago_Pago'], '09:00-10:00')),
    ).toBeNull();
  });
});

describe('nextCallableAt', () => {
  const ny = rules(['America/New_York'], '09:00-20:00');
  it('returns the very instant when it is callable already', () => {
    expect(next('2026-06-15T13:30:27.123Z', ny)).toBe('2026-06-15T13:30:27.123Z');
  });
  it('returns the opening minute when not', () => {
    expect(next('2026-06-15T12:59:30Z', ny)).toBe('2026-06-15T13:00:00.000Z');
  });
  it('looks no further than the horizon', () => {
    const saturday = rules(['America/New_York'], '09:00-20:00 sat');
    expect(next('2026-06-15T14:00:00Z', saturday, 3)).toBeNull(); // Monday, 3 days
    expect(next('2026-06-15T14:00:00Z', saturday, 7)).toBe('2026-06-20T13:00:00.000Z');
    expect(next('2026-06-15T14:00:00Z', saturday)).toBe('2026-06-20T13:00:00.000Z');
  });
});
