import type { ListCallsQuery } from '../../calls/call-service.js';
import { ACTIVE_STATUSES, CALL_STATUSES } from '../../calls/status.js';
import type { CallRow } from '../../db/schema.js';

/** The calls list's filters as the form sends them (query string), kept as typed for re-rendering. */
export interface CallListFilters {
  /** '' (all), 'live' (queued, dialing, in progress) or one status. */
  status: string;
  /** Part of the destination number. */
  q: string;
  /** UTC days, YYYY-MM-DD, both inclusive; '' when open. */
  from: string;
  to: string;
  cursor: string;
}

export const LIVE_FILTER = 'live';
export const PAGE_SIZE = 25;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A YYYY-MM-DD that names a real day (Date.parse would roll 2026-02-31 over into March). */
function dayStart(day: string): Date | null {
  if (!DAY.test(day)) return null;
  const d = new Date(`${day}T00:00:00.000Z`);
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== day ? null : d;
}

export interface ParsedListFilters {
  filters: CallListFilters;
  /** What the service should query; absent when a filter is invalid (the page shows `problems`). */
  query: ListCallsQuery | null;
  /** Field name → message, shown next to that input. */
  problems: Record<string, string>;
}

/** Reads and checks the list's query string; an unusable value is reported, never silently dropped. */
export function parseListFilters(params: URLSearchParams): ParsedListFilters {
  const filters: CallListFilters = {
    status: (params.get('status') ?? '').trim(),
    q: (params.get('q') ?? '').trim(),
    from: (params.get('from') ?? '').trim(),
    to: (params.get('to') ?? '').trim(),
    cursor: (params.get('cursor') ?? '').trim(),
  };
  const problems: Record<string, string> = {};
  const query: ListCallsQuery = { limit: PAGE_SIZE };
  if (filters.status === LIVE_FILTER) query.status = ACTIVE_STATUSES.join(',');
  else if ((CALL_STATUSES as readonly string[]).includes(filters.status)) query.status = filters.status;
  else if (filters.status) problems.status = 'is not a call status';
  if (filters.q) {
    // People type numbers with spaces, dashes and brackets; stored numbers are E.164.
    const digits = filters.q.replace(/[\s().-]/g, '');
    if (!/^\+?\d{1,16}$/.test(digits)) problems.q = 'must be digits of a phone number';
    else query.toContains = digits;
  }
  if (filters.from) {
    const d = dayStart(filters.from);
    if (d) query.createdFrom = d;
    else problems.from = 'must be a date (YYYY-MM-DD)';
  }
  if (filters.to) {
    const d = dayStart(filters.to);
    if (d) query.createdBefore = new Date(d.getTime() + 86_400_000);
    else problems.to = 'must be a date (YYYY-MM-DD)';
  }
  if (query.createdFrom && query.createdBefore && query.createdFrom >= query.createdBefore) {
    problems.to = 'must not be before the start date';
  }
  if (filters.cursor) query.cursor = filters.cursor;
  return { filters, query: Object.keys(problems).length ? null : query, problems };
}

/** Whether a call belongs on the list's first page under `query` (a live update deciding to prepend it). */
export function callMatchesQuery(call: CallRow, query: ListCallsQuery): boolean {
  if (query.status && !query.status.split(',').includes(call.status)) return false;
  if (query.toContains && !call.toNumber.includes(query.toContains)) return false;
  if (query.createdFrom && call.createdAt < query.createdFrom) return false;
  if (query.createdBefore && call.createdAt >= query.createdBefore) return false;
  return true;
}

/** The list's URL for these filters (empty ones left out), optionally at another cursor. */
export function listHref(filters: CallListFilters, cursor?: string): string {
  const p = new URLSearchParams();
  for (const k of ['status', 'q', 'from', 'to'] as const) if (filters[k]) p.set(k, filters[k]);
  if (cursor) p.set('cursor', cursor);
  const qs = p.toString();
  return qs ? `/calls?${qs}` : '/calls';
}
