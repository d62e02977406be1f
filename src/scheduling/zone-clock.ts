/**
 * Wall clocks of IANA time zones, from Intl alone (no tz database of our own, so the runtime's
 * current rules apply, DST included). Times are epoch milliseconds; a "wall" value is the local
 * date and time read as if it were UTC, which makes day and minute arithmetic on it plain.
 */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** Building a formatter costs far more than using one; a batch asks about the same few zones. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    // Throws RangeError for a zone Intl does not know: a stored bad zone must not pass for callable.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** The zone's wall clock at `ms`, to the second, as Intl formats it (the slow, authoritative read). */
export function formattedWallAt(ms: number, zone: string): number {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of formatterFor(zone).formatToParts(ms)) {
    const value = Number(part.value);
    if (part.type === 'year') year = value;
    else if (part.type === 'month') month = value;
    else if (part.type === 'day') day = value;
    else if (part.type === 'hour') hour = value;
    else if (part.type === 'minute') minute = value;
    else if (part.type === 'second') second = value;
  }
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

const floorSecond = (ms: number) => Math.floor(ms / 1000) * 1000;
const formattedOffsetAt = (ms: number, zone: string) => formattedWallAt(ms, zone) - floorSecond(ms);

/**
 * A zone's offsets over one UTC day: at its start, at its end, and the instant it changes (tz
 * rules change a zone's offset at most a few times a year, never twice in a day).
 */
type DayOffsets = { start: number; end: number; change: number | null };

/**
 * formatToParts costs microseconds and a batch asks about the same zones and days thousands of
 * times, so offsets are read once per zone and UTC day. Bounded: cleared when it grows past a
 * few years' worth of days for a zone.
 */
const dayOffsets = new Map<string, Map<number, DayOffsets>>();
const DAYS_KEPT = 4096;

function offsetsOfDay(day: number, zone: string): DayOffsets {
  let days = dayOffsets.get(zone);
  if (!days) {
    days = new Map();
    dayOffsets.set(zone, days);
  }
  let offsets = days.get(day);
  if (!offsets) {
    if (days.size >= DAYS_KEPT) days.clear();
    const from = day * DAY_MS;
    const start = formattedOffsetAt(from, zone);
    const end = formattedOffsetAt(from + DAY_MS, zone);
    offsets = { start, end, change: start === end ? null : firstChange(from, from + DAY_MS, start, zone) };
    days.set(day, offsets);
  }
  return offsets;
}

/** Bisection to the second (the granularity of tz transitions) for the first instant in (from, to] off `first`. */
function firstChange(from: number, to: number, first: number, zone: string): number {
  let unchanged = from;
  let changed = to;
  while (changed - unchanged > 1000) {
    const middle = unchanged + Math.max(1000, Math.floor((changed - unchanged) / 2000) * 1000);
    if (formattedOffsetAt(middle, zone) === first) unchanged = middle;
    else changed = middle;
  }
  return changed;
}

/** Local minus UTC at `ms` (e.g. -4 h in New York in summer). */
export function offsetAt(ms: number, zone: string): number {
  const offsets = offsetsOfDay(Math.floor(ms / DAY_MS), zone);
  return offsets.change === null || ms < offsets.change ? offsets.start : offsets.end;
}

/** The zone's wall clock at `ms`, to the second, as local-read-as-UTC milliseconds. */
export function wallAt(ms: number, zone: string): number {
  return floorSecond(ms) + offsetAt(ms, zone);
}

/**
 * Every instant whose wall clock in `zone` reads `wall`: one normally, none when the clocks skip
 * it (spring forward), two when they repeat it (fall back), earliest first. Offsets are read a
 * day either side, where no transition near `wall` can interfere (real zones change at most
 * twice a year).
 */
export function instantsOfWall(wall: number, zone: string): number[] {
  const before = offsetAt(wall - DAY_MS, zone);
  const after = offsetAt(wall + DAY_MS, zone);
  const instants: number[] = [];
  for (const offset of before === after ? [before] : [before, after]) {
    const ms = wall - offset;
    if (offsetAt(ms, zone) === offset) instants.push(ms);
  }
  return instants.sort((x, y) => x - y);
}

/** Instants in (from, to] at which the zone's offset changes (none, usually). */
export function transitionsIn(from: number, to: number, zone: string): number[] {
  const changes: number[] = [];
  for (let day = Math.floor(from / DAY_MS); day <= Math.floor(to / DAY_MS); day++) {
    const { change } = offsetsOfDay(day, zone);
    if (change !== null && change > from && change <= to) changes.push(change);
  }
  return changes;
}
