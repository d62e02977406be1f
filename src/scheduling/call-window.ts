/**
 * Calling hours: when a call may ring, in the callee's local time. Pure functions of the time they
 * are given (callers inject their clock), so the worker, placement and tests agree to the minute.
 */
import { z } from '@hono/zod-openapi';
import type { CallWindow } from '../db/schema.js';
import { DAY_MS, instantsOfWall, MINUTE_MS, transitionsIn, wallAt } from './zone-clock.js';

export type { CallWindow };
export type Day = CallWindow['days'][number];

/** Monday first, the order `days` lists are written and stored in. */
const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const satisfies readonly Day[];
export const ALL_DAYS: readonly Day[] = DAY_NAMES;

/** Deployment-wide hours when nothing rings (QUIET_HOURS), callee-local; may cross midnight. */
export type QuietHours = { start: string; end: string };

/** Everything that decides whether a call may ring at a given time. */
export interface CallingRules {
  /** IANA zones the callee may be in; the call may ring only when every one of them allows it. */
  zones: string[];
  window: CallWindow;
  quiet: QuietHours | null;
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const HHMM_MESSAGE = 'must be a time "HH:MM" from 00:00 to 23:59';
const hhmm = z.string().regex(HHMM, HHMM_MESSAGE);
const unique = (days: readonly string[]) => new Set(days).size === days.length;

export const callWindowSchema = z
  .object({
    start: hhmm.openapi({ description: 'Opening time, callee-local, 24 h "HH:MM".', example: '09:00' }),
    end: hhmm.openapi({
      description:
        'Closing time (exclusive), callee-local. Before `start`: the window crosses midnight and the hours after midnight belong to the day it started. Equal to `start`: the whole of each listed day (00:00-24:00).',
      example: '20:00',
    }),
    days: z
      .array(z.enum(DAY_NAMES))
      .min(1, 'must name at least one day')
      .refine(unique, 'must not name a day twice')
      .default(() => [...DAY_NAMES])
      .openapi({
        description: 'Days a window may start on (callee-local), each at most once. Default: every day.',
        uniqueItems: true,
        example: ['mon', 'tue', 'wed', 'thu', 'fri'],
      }),
  })
  .strict()
  .openapi('CallWindow', {
    description:
      "Calling hours in the callee's local time (from the number; where the number's zone is ambiguous, only hours allowed in every candidate zone). A default, not legal advice.",
    example: { start: '09:00', end: '20:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
  });

function parseRange(range: string, what: string): { start: string; end: string } {
  const match = /^(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(range);
  if (!match || !HHMM.test(match[1]) || !HHMM.test(match[2])) {
    throw new Error(
      `${what} must be "HH:MM-HH:MM" with times from 00:00 to 23:59, not ${JSON.stringify(range)}`,
    );
  }
  return { start: match[1], end: match[2] };
}

/** DEFAULT_CALL_WINDOW's form: "always", or "HH:MM-HH:MM" optionally followed by " mon,tue,...". */
export function parseWindowSpec(spec: string): CallWindow {
  const text = spec.trim();
  if (text === 'always') return { start: '00:00', end: '00:00', days: [...DAY_NAMES] };
  const [range, dayList, ...rest] = text.split(/\s+/);
  if (rest.length > 0)
    throw new Error(`a calling window has one time range and one day list, not ${JSON.stringify(spec)}`);
  const { start, end } = parseRange(range, 'a calling window');
  if (dayList === undefined) return { start, end, days: [...DAY_NAMES] };
  const days = dayList.split(',');
  for (const day of days) {
    if (!(DAY_NAMES as readonly string[]).includes(day)) {
      throw new Error(`unknown day ${JSON.stringify(day)} in calling window ${JSON.stringify(spec)}`);
    }
  }
  if (!unique(days)) throw new Error(`calling window ${JSON.stringify(spec)} names a day twice`);
  return { start, end, days: days as Day[] };
}

/** QUIET_HOURS: unset or blank means none; "HH:MM-HH:MM" otherwise (equal times: the whole day). */
export function parseQuietHours(spec?: string): QuietHours | null {
  const text = spec?.trim();
  if (!text) return null;
  return parseRange(text, 'quiet hours');
}

/** Rules in minutes of the day and a day bitmask, converted once per question instead of per zone. */
type Compiled = {
  zones: string[];
  start: number;
  end: number;
  /** Bit i set: the window may start on day i (0 = Monday). */
  days: number;
  quiet: { start: number; end: number } | null;
};

const minutesOf = (time: string) => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5));

function compile(rules: CallingRules): Compiled {
  if (rules.zones.length === 0) throw new Error('calling rules name no time zone');
  let days = 0;
  for (const day of rules.window.days) days |= 1 << DAY_NAMES.indexOf(day);
  return {
    zones: rules.zones,
    start: minutesOf(rules.window.start),
    end: minutesOf(rules.window.end),
    days,
    quiet: rules.quiet && { start: minutesOf(rules.quiet.start), end: minutesOf(rules.quiet.end) },
  };
}

/** Day of week of a wall value, 0 = Monday. */
const weekdayOf = (wall: number) => (new Date(wall).getUTCDay() + 6) % 7;
const dayStartOf = (wall: number) => Math.floor(wall / DAY_MS) * DAY_MS;

function inWindow(rules: Compiled, day: number, minute: number): boolean {
  const listed = (d: number) => (rules.days & (1 << d)) !== 0;
  if (rules.start === rules.end) return listed(day);
  if (rules.start < rules.end) return listed(day) && minute >= rules.start && minute < rules.end;
  // Crosses midnight: the evening part starts today, the small hours continue yesterday's window.
  return (listed(day) && minute >= rules.start) || (listed((day + 6) % 7) && minute < rules.end);
}

function inQuiet(quiet: Compiled['quiet'], minute: number): boolean {
  if (!quiet) return false;
  if (quiet.start === quiet.end) return true;
  if (quiet.start < quiet.end) return minute >= quiet.start && minute < quiet.end;
  return minute >= quiet.start || minute < quiet.end;
}

function callableAt(ms: number, rules: Compiled): boolean {
  for (const zone of rules.zones) {
    const wall = wallAt(ms, zone);
    const minute = Math.floor((wall - dayStartOf(wall)) / MINUTE_MS);
    if (!inWindow(rules, weekdayOf(wall), minute) || inQuiet(rules.quiet, minute)) return false;
  }
  return true;
}

function instantOf(at: Date): number {
  const ms = at.getTime();
  if (Number.isNaN(ms)) throw new RangeError('invalid date');
  return ms;
}

/** Inside the window and outside quiet hours in every zone of the callee (the conservative reading). */
export function isCallable(at: Date, rules: CallingRules): boolean {
  return callableAt(instantOf(at), compile(rules));
}

/**
 * Instants in (from, to] where some zone may turn callable: a window opening (midnight for an
 * all-day window) on a listed day, the end of quiet hours, and an offset change (which covers
 * an opening the clocks skip, and clocks falling back into the window). The earliest callable
 * time after a non-callable one is always one of these, so checking them alone is exact.
 */
function openingsIn(from: number, to: number, rules: Compiled): number[] {
  const openings: number[] = [];
  const add = (ms: number) => {
    if (ms > from && ms <= to) openings.push(ms);
  };
  for (const zone of rules.zones) {
    for (const ms of transitionsIn(from, to, zone)) add(ms);
    // A day either side: the local days that (from, to] touches, whatever the offset did.
    const last = dayStartOf(wallAt(to, zone)) + DAY_MS;
    for (let day = dayStartOf(wallAt(from, zone)) - DAY_MS; day <= last; day += DAY_MS) {
      if ((rules.days & (1 << weekdayOf(day))) !== 0) {
        const opening = rules.start === rules.end ? day : day + rules.start * MINUTE_MS;
        for (const ms of instantsOfWall(opening, zone)) add(ms);
      }
      if (rules.quiet && rules.quiet.start !== rules.quiet.end) {
        for (const ms of instantsOfWall(day + rules.quiet.end * MINUTE_MS, zone)) add(ms);
      }
    }
  }
  return openings.sort((x, y) => x - y);
}

/**
 * The earliest time at or after `from` when the call may ring (`from` itself when it may ring now),
 * exact to the minute; null when there is none within `horizonDays`. Walks the horizon a day at a
 * time and only looks at the openings, so a far answer costs a few dozen clock readings per day.
 */
export function nextCallableAt(from: Date, rules: CallingRules, horizonDays = 14): Date | null {
  const compiled = compile(rules);
  const start = instantOf(from);
  if (callableAt(start, compiled)) return new Date(start);
  const end = start + horizonDays * DAY_MS;
  for (let chunk = start; chunk < end; chunk += DAY_MS) {
    for (const ms of openingsIn(chunk, Math.min(chunk + DAY_MS, end), compiled)) {
      if (callableAt(ms, compiled)) return new Date(ms);
    }
  }
  return null;
}
