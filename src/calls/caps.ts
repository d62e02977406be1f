import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Config } from '../config.js';
import { rowsOf, type Tx } from '../db/client.js';
import { type AccountRow, calls, usageCounters } from '../db/schema.js';
import { CallError } from './errors.js';
import { ACTIVE_STATUSES } from './status.js';

export interface CapLimits {
  callsPerMinute: number;
  concurrentCalls: number;
  callsPerDay: number;
  minutesPerMonth: number;
}

const WINDOW_MS = 60_000;

export function effectiveCaps(
  account: Pick<
    AccountRow,
    'capCallsPerMinute' | 'capConcurrentCalls' | 'capCallsPerDay' | 'capMinutesPerMonth'
  >,
  config: Pick<
    Config,
    'CAP_CALLS_PER_MINUTE' | 'CAP_CONCURRENT_CALLS' | 'CAP_CALLS_PER_DAY' | 'CAP_MINUTES_PER_MONTH'
  >,
): CapLimits {
  return {
    callsPerMinute: account.capCallsPerMinute ?? config.CAP_CALLS_PER_MINUTE,
    concurrentCalls: account.capConcurrentCalls ?? config.CAP_CONCURRENT_CALLS,
    callsPerDay: account.capCallsPerDay ?? config.CAP_CALLS_PER_DAY,
    minutesPerMonth: account.capMinutesPerMonth ?? config.CAP_MINUTES_PER_MONTH,
  };
}

const utcDay = (d: Date) => d.toISOString().slice(0, 10);
const utcMonthStart = (d: Date) => `${d.toISOString().slice(0, 7)}-01`;

export interface EnforceCapsOptions {
  /**
   * Whether the new call meets the concurrent cap: false for a call placed for later (it holds no line
   * until it is due, and the worker keeps the account's cap at dial time). Default true.
   */
  concurrent?: boolean;
}

/**
 * Checks every cap of the account for one more call. The concurrent cap counts the account's calls
 * that hold or are about to take a line: dialing and live ones, and queued ones due now; calls of
 * batches (bounded by their batch's concurrency and the worker's cap at dial time) and calls waiting
 * for a later time (startAt, calling hours, a retry's delay) do not count. The per-minute cap counts
 * single calls only: a batch's rows, created in one request, would otherwise hold it for a minute
 * (a batch meets the daily and monthly caps; the worker paces its calls).
 *
 * Must run inside the create transaction after the account row is locked (`for update`): the lock
 * serialises creators of one account across all API processes, so counts cannot be raced past a cap.
 * Throws `rate_limited` or `usage_cap_reached`; `details.cap` says which.
 */
export async function enforceCaps(
  tx: Tx,
  accountId: string,
  caps: CapLimits,
  now: Date,
  opts: EnforceCapsOptions = {},
): Promise<void> {
  const since = new Date(now.getTime() - WINDOW_MS);
  // One round trip for all four counts: this runs while the account row is locked.
  const [u] = rowsOf<{ recent: number; active: number; today: number; month_seconds: number }>(
    await tx.execute(sql`select
      (select count(*) from ${calls} where ${calls.accountId} = ${accountId}
         and ${calls.batchId} is null
         and ${calls.createdAt} > ${since.toISOString()}::timestamptz)::int as recent,
      (select count(*) from ${calls} where ${calls.accountId} = ${accountId}
         and ${calls.status} in (${sql.join(
           ACTIVE_STATUSES.map((s) => sql`${s}`),
           sql`, `,
         )})
         and ${calls.batchId} is null
         and (${calls.status} <> 'queued' or ${calls.scheduledFor} is null
              or ${calls.scheduledFor} <= ${now.toISOString()}::timestamptz))::int as active,
      (select coalesce(sum(${usageCounters.calls}), 0) from ${usageCounters}
         where ${usageCounters.accountId} = ${accountId} and ${usageCounters.day} = ${utcDay(now)})::int as today,
      (select coalesce(sum(${usageCounters.callSeconds}), 0) from ${usageCounters}
         where ${usageCounters.accountId} = ${accountId}
           and ${usageCounters.day} >= ${utcMonthStart(now)})::float8 as month_seconds`),
  );
  const recent = Number(u.recent);
  if (recent >= caps.callsPerMinute) {
    // The slot frees when the call that pushes the count over the cap leaves the 60 s window.
    const [blocker] = await tx
      .select({ createdAt: calls.createdAt })
      .from(calls)
      .where(and(eq(calls.accountId, accountId), isNull(calls.batchId), gt(calls.createdAt, since)))
      .orderBy(asc(calls.createdAt))
      .offset(recent - caps.callsPerMinute)
      .limit(1);
    const freesAt = (blocker?.createdAt.getTime() ?? now.getTime()) + WINDOW_MS;
    const retryAfter = Math.max(1, Math.ceil((freesAt - now.getTime()) / 1000));
    throw new CallError(
      'rate_limited',
      `At most ${caps.callsPerMinute} calls a minute may be placed; retry in ${retryAfter} s.`,
      { cap: 'calls_per_minute', limit: caps.callsPerMinute, retryAfterSeconds: retryAfter },
      retryAfter,
    );
  }
  if (opts.concurrent !== false && Number(u.active) >= caps.concurrentCalls) {
    throw new CallError(
      'usage_cap_reached',
      `At most ${caps.concurrentCalls} calls may be active at once; wait for one to end.`,
      { cap: 'concurrent_calls', limit: caps.concurrentCalls },
    );
  }
  if (Number(u.today) >= caps.callsPerDay) {
    throw new CallError(
      'usage_cap_reached',
      `The daily cap of ${caps.callsPerDay} calls is used up; it resets at 00:00 UTC.`,
      { cap: 'calls_per_day', limit: caps.callsPerDay },
    );
  }
  const usedSeconds = Number(u.month_seconds);
  if (usedSeconds >= caps.minutesPerMonth * 60) {
    throw new CallError(
      'usage_cap_reached',
      `The monthly cap of ${caps.minutesPerMonth} call minutes is used up; it resets on the 1st (UTC).`,
      { cap: 'minutes_per_month', limit: caps.minutesPerMonth, usedMinutes: Math.floor(usedSeconds / 60) },
    );
  }
}

/** Counts one created call against today's cap (same transaction as the insert). */
export async function countCreatedCall(tx: Tx, accountId: string, now: Date): Promise<void> {
  await tx
    .insert(usageCounters)
    .values({ accountId, day: utcDay(now), calls: 1 })
    .onConflictDoUpdate({
      target: [usageCounters.accountId, usageCounters.day],
      set: { calls: sql`${usageCounters.calls} + 1` },
    });
}
