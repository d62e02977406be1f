import { sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client.js';
import { trunkDials } from '../db/schema.js';
import type { Logger } from '../logger.js';

/**
 * Cross-worker pacing of originates on the SIP trunk (TRUNK_MAX_CPS), coordinated in PostgreSQL:
 * every worker of the database counts the same `trunk_dials` rows under one advisory lock.
 *
 * A dial counts from `acquire` (its row's `started_at`, taken under the lock) until `window` seconds
 * after `done()` (its `done_at`). `acquire` inserts a row only while fewer than `limit` rows count:
 *   - maxCps ≥ 1: limit = floor(maxCps) per window of 1 s (a fractional part is dropped: 2.5 paces
 *     as 2, so no 1-second window ever holds more than 2.5);
 *   - maxCps < 1: limit = 1 per window of 1/maxCps s (0.5 → one dial per 2 s).
 *
 * Why no window of `window` seconds can hold more than `limit` originate timestamps at the PBX:
 * a dial's originate reaches the PBX after its acquire returned (the request is sent only then) and
 * before its `done()` (called once the request answered or failed), so its PBX time p lies in
 * [a, e] where a = started_at and e = done_at. Suppose limit + 1 dials had p in some [t, t + window).
 * Take the one with the latest acquire, a*. Every other one i acquired before it (acquires are
 * serialised by the lock, each commits before the next reads) and has e_i ≥ p_i ≥ t > p* - window
 * ≥ a* - window: at a* it was either in flight (done_at null) or done less than `window` ago, so it
 * was counted, limit rows counted, and the last acquire would have been refused. Contradiction.
 * One clock decides: `clock_timestamp()` of the database, so workers on skewed hosts still agree;
 * a `done_at` written late (a slow round trip) only counts the dial longer.
 *
 * Where the bound does not hold: a dial in flight for longer than `staleSeconds` (its worker died
 * before `done()`, or an originate request outlived that bound) stops counting, so a worker that
 * crashed between acquire and done blocks one slot for at most that long, not forever.
 */
export interface DialSlot {
  /** The originate returned (or will never be sent): the slot frees `window` seconds from now. Idempotent, never throws. */
  done(): Promise<void>;
}

export interface TrunkPacer {
  /**
   * Waits until a dial may start on the trunk and counts it. Rejects with `signal.reason` once the
   * signal aborts (cancel, shutdown); the wait ends at once then.
   */
  acquire(callId: string, signal?: AbortSignal): Promise<DialSlot>;
  /** Dials at most per window, and the window in seconds. */
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface TrunkPacerOptions {
  db: Db;
  maxCps: number;
  workerId: string;
  logger?: Logger;
  /** An in-flight dial older than this stops counting (its worker presumably died); 30 s by default. */
  staleSeconds?: number;
}

/** pg_advisory_xact_lock key of the trunk's dial counter ("trunkcps" in ASCII). */
const TRUNK_LOCK_KEY = 0x7472_756e_6b63_7073n;
/** Rows are deleted this long after they stopped counting. */
const KEEP_SECONDS = 60;
const CLEANUP_EVERY_MS = 30_000;

interface Waiter {
  callId: string;
  signal: AbortSignal | undefined;
  resolve: (slot: DialSlot) => void;
  reject: (err: unknown) => void;
  settled: boolean;
  onAbort: () => void;
}

type Attempt = { ok: true; id: number } | { ok: false; waitMs: number };

export function pacing(maxCps: number): { limit: number; windowSeconds: number } {
  if (!(maxCps > 0)) throw new Error(`TRUNK_MAX_CPS must be positive, got ${maxCps}`);
  return maxCps >= 1
    ? { limit: Math.floor(maxCps), windowSeconds: 1 }
    : { limit: 1, windowSeconds: 1 / maxCps };
}

export function createTrunkPacer(opts: TrunkPacerOptions): TrunkPacer {
  const { db, workerId } = opts;
  const { limit, windowSeconds } = pacing(opts.maxCps);
  const staleSeconds = opts.staleSeconds ?? 30;
  // Waiters of this process line up here; only the head asks the database, so a worker with many
  // calls waiting adds one query per freed slot, not one per waiting call.
  const queue: Waiter[] = [];
  let pumping = false;
  let wakeHead: (() => void) | null = null;
  let lastCleanupAt = 0;

  async function attempt(callId: string): Promise<Attempt> {
    const cleanup = Date.now() - lastCleanupAt >= CLEANUP_EVERY_MS;
    const res = await db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${TRUNK_LOCK_KEY.toString()}::bigint)`);
      // clock_timestamp(), not now(): now() is when the transaction began, before the lock wait.
      // The started_at bound keeps the count on the index; a row older than it counts no more anyway
      // (in flight: stale; done: it was in flight longer than the stale bound).
      const [c] = rowsOf<{ n: number; frees_in_ms: number | null }>(
        await tx.execute(sql`
          with counted as (
            select ${trunkDials.startedAt} as started_at, ${trunkDials.doneAt} as done_at
            from ${trunkDials}
            where ${trunkDials.startedAt} > clock_timestamp() - make_interval(secs => ${staleSeconds + windowSeconds})
              and ((${trunkDials.doneAt} is null
                    and ${trunkDials.startedAt} > clock_timestamp() - make_interval(secs => ${staleSeconds}))
                   or ${trunkDials.doneAt} > clock_timestamp() - make_interval(secs => ${windowSeconds}))
          )
          select count(*)::int as n,
            -- When the first counted dial stops counting: a done one window after its done_at; one
            -- still in flight no earlier than a window from now, nor later than when it turns stale.
            extract(epoch from min(least(
              coalesce(done_at, clock_timestamp()) + make_interval(secs => ${windowSeconds}),
              case when done_at is null then started_at + make_interval(secs => ${staleSeconds}) end
            )) - clock_timestamp()) * 1000 as frees_in_ms
          from counted`),
      );
      if (Number(c.n) >= limit)
        return { ok: false as const, waitMs: Math.max(1, Number(c.frees_in_ms ?? 1)) };
      const [row] = rowsOf<{ id: number }>(
        await tx.execute(sql`
          insert into ${trunkDials} (call_id, worker_id, started_at)
          values (${callId}, ${workerId}, clock_timestamp()) returning id`),
      );
      if (cleanup) {
        await tx.execute(sql`
          delete from ${trunkDials}
          where ${trunkDials.startedAt} < clock_timestamp() - make_interval(secs => ${staleSeconds + windowSeconds + KEEP_SECONDS})`);
      }
      return { ok: true as const, id: Number(row.id) };
    });
    if (cleanup && res.ok) lastCleanupAt = Date.now();
    return res;
  }

  function slotFor(id: number): DialSlot {
    let p: Promise<void> | null = null;
    return {
      done() {
        if (!p)
          p = db
            .update(trunkDials)
            .set({ doneAt: sql`clock_timestamp()` })
            .where(sql`${trunkDials.id} = ${id} and ${trunkDials.doneAt} is null`)
            .then(
              () => undefined,
              // Unrecorded, the dial counts until it turns stale: slower pacing, never faster.
              (err) => opts.logger?.warn({ err, dialId: id }, 'could not record the end of a trunk dial'),
            );
        return p;
      },
    };
  }

  /** Waits `ms`, ended early when the head waiter aborts (then the next one takes over). */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeHead = null;
        resolve();
      }
      wakeHead = done;
    });
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    let failures = 0;
    try {
      while (queue.length > 0) {
        const head = queue[0];
        if (head.settled) {
          queue.shift();
          continue;
        }
        let res: Attempt;
        try {
          res = await attempt(head.callId);
          failures = 0;
        } catch (err) {
          // The database is unreachable or refused: the calls wait (queued) rather than fail.
          failures++;
          if (failures === 1 || failures % 10 === 0)
            opts.logger?.warn(
              { err, attempt: failures },
              'trunk pacing could not reach the database; retrying',
            );
          res = { ok: false, waitMs: Math.min(10_000, 200 * 2 ** Math.min(failures - 1, 10)) };
        }
        if (res.ok) {
          const slot = slotFor(res.id);
          if (head.settled) {
            // Aborted while its row went in: nothing will be dialed, but the row counts as a dial.
            void slot.done();
          } else {
            head.settled = true;
            head.signal?.removeEventListener('abort', head.onAbort);
            head.resolve(slot);
          }
          queue.shift();
          continue;
        }
        if (!head.settled) {
          opts.logger?.debug(
            { callId: head.callId, waitMs: Math.round(res.waitMs) },
            'trunk at its dial rate; waiting',
          );
          await pause(res.waitMs);
        }
      }
    } finally {
      pumping = false;
    }
  }

  return {
    limit,
    windowSeconds,
    acquire(callId, signal) {
      return new Promise<DialSlot>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const w: Waiter = {
          callId,
          signal,
          resolve,
          reject,
          settled: false,
          onAbort: () => {
            if (w.settled) return;
            w.settled = true;
            reject(signal?.reason);
            const i = queue.indexOf(w);
            if (i === 0) wakeHead?.();
            else if (i > 0) queue.splice(i, 1);
          },
        };
        signal?.addEventListener('abort', w.onAbort, { once: true });
        queue.push(w);
        void pump();
      });
    },
  };
}
