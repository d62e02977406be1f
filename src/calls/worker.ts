import crypto from 'node:crypto';
import os from 'node:os';
import { and, eq, inArray, isNotNull, isNull, ne, notInArray, sql } from 'drizzle-orm';
import type { CapacitySnapshot, WorkerCapacity } from '../capacity/worker-capacity.js';
import type { Config } from '../config.js';
import { type Db, rowsOf } from '../db/client.js';
import { type CallRow, calls, workers } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { type DialVerdict, WorkerCallControl } from './call-control.js';
import type { AbortCause, CallRunner } from './call-runner.js';
import type { CallStore } from './call-store.js';
import { effectiveCaps } from './caps.js';
import type { DialGate, GateResult } from './dial-gate.js';
import { retryUntilStored } from './retry-until-stored.js';
import { isTerminal } from './status.js';
import type { TrunkPacer } from './trunk-pacer.js';

export interface CallWorkerDeps {
  db: Db;
  store: CallStore;
  runner: CallRunner;
  logger: Logger;
  /** Calls this worker runs at once at most (with `capacity`, the ceiling above it). */
  concurrency: number;
  /**
   * How many calls this machine carries now at the voice quality aimed for (WORKER_CONCURRENCY=auto:
   * measured engines, live load, late replies; src/capacity). A full worker claims nothing: the calls
   * wait in `queued` for it or another worker. Without it, `concurrency` alone bounds the claims.
   */
  capacity?: WorkerCapacity;
  /** How often the queue is polled when nobody calls `wake()`. */
  pollMs: number;
  /** A worker whose heartbeat is older than this is presumed dead and its calls are recovered. */
  staleSeconds: number;
  /** False while the PBX is unreachable: the worker then claims nothing and leaves calls queued. */
  canClaim?: () => boolean;
  clock?: () => Date;
  workerId?: string;
  /** How often running calls are checked for a cancel made elsewhere; 250 ms by default. */
  cancelPollMs?: number;
  /** At stop, how long ends that cannot be stored (database down) are still retried; 30 s by default. */
  endGraceMs?: number;
  /**
   * Told after each status change this worker makes (its calls' progress, and worker_lost ends), so
   * the composition root can wake the webhook deliverer instead of waiting for its next poll.
   */
  onTransition?: (call: CallRow) => void;
  /**
   * Limits that hold at dial time across every worker of the database: the account's concurrent-call
   * cap (its override, else CAP_CONCURRENT_CALLS) and TRUNK_MAX_CHANNELS. Without it only batch
   * concurrency limits what is claimed.
   */
  limits?: Pick<
    Config,
    | 'CAP_CALLS_PER_MINUTE'
    | 'CAP_CONCURRENT_CALLS'
    | 'CAP_CALLS_PER_DAY'
    | 'CAP_MINUTES_PER_MONTH'
    | 'TRUNK_MAX_CHANNELS'
  >;
  /** Decides, for each claimed call before it dials: dial, end it (expired, do-not-call), or defer it (calling hours). */
  gate?: DialGate;
  /** TRUNK_MAX_CPS across workers: each call's `dialing` waits for a trunk slot (see trunk-pacer.ts). */
  pacer?: TrunkPacer;
}

/** pg_advisory_xact_lock key that serialises claims across workers ("claimcal" in ASCII). */
const CLAIM_LOCK_KEY = 0x636c_6169_6d63_616cn;
/** A claimed call whose gate failed (a data or database error) is tried again this much later. */
const GATE_FAILURE_DELAY_MS = 60_000;

export interface RecoveryResult {
  /** Never-dialed calls of lost workers put back in the queue. */
  requeued: number;
  /** Dialed calls of lost workers that this worker ended as failed/worker_lost. */
  failed: number;
}

export interface CallWorker {
  readonly id: string;
  start(): Promise<void>;
  /** Stops claiming, lets running calls finish for up to `drainMs`, then aborts the rest ('shutdown'). */
  stop(opts?: { drainMs?: number }): Promise<void>;
  /** Polls the queue now (the API calls it after storing a call in the same process). */
  wake(): void;
  /** Ids of the calls this worker is running. */
  activeCalls(): string[];
  /** How full this worker is now: what its heartbeat stores and /metrics exports. */
  capacity(): CapacitySnapshot;
  /** Recovers the calls of workers that stopped heartbeating; runs on start and periodically. */
  recover(): Promise<RecoveryResult>;
  /** What a stop in progress is waiting for (null before stop()): named when a stop takes long. */
  stopPhase(): string | null;
}

interface Running {
  ctl: WorkerCallControl;
  done: Promise<void>;
}

/** A worker id unique across hosts and restarts (the composition root shares it with the trunk pacer). */
export function newWorkerId(): string {
  return `${os.hostname()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** At stop, how long runners still get once their calls were released. */
const RELEASED_RUNNER_WAIT_MS = 10_000;

export function createCallWorker(deps: CallWorkerDeps): CallWorker {
  const { db, store, runner, concurrency, pollMs, staleSeconds } = deps;
  const id = deps.workerId ?? newWorkerId();
  const log = deps.logger.child({ workerId: id });
  const clock = deps.clock ?? (() => new Date());
  const canClaim = deps.canClaim ?? (() => true);
  const cancelPollMs = deps.cancelPollMs ?? 250;
  const endGraceMs = deps.endGraceMs ?? 30_000;
  const heartbeatMs = Math.max(1000, Math.floor((staleSeconds * 1000) / 3));
  const recoveryEveryMs = Math.max(1000, Math.floor((staleSeconds * 1000) / 2));

  const running = new Map<string, Running>();
  let started = false;
  let stopping = false;
  let pollTimer: NodeJS.Timeout | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  let watchTimer: NodeJS.Timeout | null = null;
  let tickInFlight: Promise<void> | null = null;
  let tickAgain = false;
  let watchInFlight: Promise<void> | null = null;
  let heartbeatInFlight: Promise<void> | null = null;
  let stopPromise: Promise<void> | null = null;
  // What shutdown() is waiting for, for the log of a stop that takes long.
  let stopPhase: string | null = null;
  let lastRecoveryAt = 0;
  let claiming = false;
  let lastHeartbeatFailureAt: number | null = null;
  let heartbeatsStopped = false;
  let heartbeatAgain = false;

  /** The calls this worker may carry now: `concurrency`, lowered by the measured capacity. */
  function snapshot(): CapacitySnapshot {
    const live = running.size;
    const measured = deps.capacity?.snapshot(live);
    if (measured && measured.capacity <= concurrency) return measured;
    return {
      capacity: concurrency,
      liveCalls: live,
      full: live >= concurrency,
      limitedBy: 'configured',
      estimate: measured?.estimate ?? null,
      otherLoadCores: measured?.otherLoadCores ?? 0,
      lateReplies: measured?.lateReplies ?? 0,
    };
  }

  /** The heartbeat's report of how full this worker is, for /readyz across the deployment. */
  function load() {
    const s = snapshot();
    return { capacity: s.capacity, liveCalls: s.liveCalls, limitedBy: s.limitedBy };
  }

  async function register(): Promise<void> {
    // The database's clock decides liveness, so workers on hosts with skewed clocks still agree.
    const now = load();
    await db
      .insert(workers)
      .values({ id, hostname: os.hostname(), pid: process.pid, startedAt: clock(), ...now })
      .onConflictDoUpdate({ target: workers.id, set: { heartbeatAt: sql`now()`, ...now } });
  }

  /**
   * A heartbeat now, and one more after it when asked again meanwhile: a call starting or ending
   * shows in the row at once, not a third of the stale period later.
   */
  function beat(): void {
    if (heartbeatsStopped) return;
    if (heartbeatInFlight) {
      heartbeatAgain = true;
      return;
    }
    heartbeatInFlight = heartbeat().finally(() => {
      heartbeatInFlight = null;
      if (heartbeatAgain) {
        heartbeatAgain = false;
        beat();
      }
    });
  }

  async function heartbeat(): Promise<void> {
    try {
      const rows = await db
        .update(workers)
        .set({ heartbeatAt: sql`now()`, ...load() })
        .where(eq(workers.id, id))
        .returning({ id: workers.id });
      if (rows.length === 0) {
        // Another worker presumed this one dead (e.g. the event loop stalled) and removed the row.
        log.warn('worker row was removed by recovery; registering again');
        await register();
      }
    } catch (err) {
      lastHeartbeatFailureAt = Date.now();
      log.error({ err }, 'worker heartbeat failed');
    }
  }

  /**
   * After an outage every worker's heartbeat is stale, though they all live: judge others lost only
   * once the database has answered this worker's heartbeats for a whole stale period, so theirs had
   * time to resume too.
   */
  function canJudgeOthers(): boolean {
    return lastHeartbeatFailureAt === null || Date.now() - lastHeartbeatFailureAt >= staleSeconds * 1000;
  }

  /** Ids of workers whose heartbeat is recent: every other worker_id on a call belongs to a lost worker. */
  function liveWorkerIds() {
    return db
      .select({ id: workers.id })
      .from(workers)
      .where(sql`${workers.heartbeatAt} >= now() - make_interval(secs => ${staleSeconds})`);
  }

  async function recover(): Promise<RecoveryResult> {
    const judge = canJudgeOthers();
    // Queued calls of a lost worker were never dialed: anyone may run them. Requeueing is idempotent,
    // and claims use SKIP LOCKED, so racing recoverers still hand each call to one worker. This
    // worker's own calls are never "lost" to itself (its row may be stale right after an outage).
    const requeued = !judge
      ? []
      : await db
          .update(calls)
          .set({ workerId: null, claimedAt: null })
          .where(
            and(
              eq(calls.status, 'queued'),
              isNotNull(calls.workerId),
              ne(calls.workerId, id),
              notInArray(calls.workerId, liveWorkerIds()),
            ),
          )
          .returning({ id: calls.id });

    // A dialed call of a lost worker may have reached a phone; redialing could ring someone twice.
    // The store's transition locks the row and refuses a second end, so concurrent recoveries end it once.
    const orphaned = !judge
      ? []
      : await db
          .select({ id: calls.id, attempt: calls.attempt })
          .from(calls)
          .where(
            and(
              inArray(calls.status, ['dialing', 'in_progress']),
              isNotNull(calls.workerId),
              ne(calls.workerId, id),
              notInArray(calls.workerId, liveWorkerIds()),
            ),
          );
    // This worker's heartbeat vouches only for the calls it runs. A call that names it but is not
    // running here (its runner gave up on the database and left) is lost all the same. Skipped while a
    // claim is in flight: a claimed call is not in `running` until the claim returns.
    if (!claiming) {
      const held = [...running.keys()];
      const unheld = await db
        .select({ id: calls.id, status: calls.status, attempt: calls.attempt })
        .from(calls)
        .where(
          and(
            eq(calls.workerId, id),
            inArray(calls.status, ['queued', 'dialing', 'in_progress']),
            held.length ? notInArray(calls.id, held) : undefined,
          ),
        );
      const stillUnheld = unheld.filter((c) => !running.has(c.id));
      const queued = stillUnheld.filter((c) => c.status === 'queued').map((c) => c.id);
      if (queued.length) {
        await unclaim(queued);
        requeued.push(...queued.map((q) => ({ id: q })));
        log.warn({ count: queued.length }, 'requeued undialed calls this worker no longer runs');
      }
      orphaned.push(
        ...stillUnheld.filter((c) => c.status !== 'queued').map((c) => ({ id: c.id, attempt: c.attempt })),
      );
    }
    let failed = 0;
    for (const { id: callId, attempt } of orphaned) {
      // Only the attempt found orphaned: had it ended and been retried meanwhile, the next one is not lost.
      const res = await store.transition(callId, 'failed', { reason: 'worker_lost', attempt });
      if (res.ok) {
        failed++;
        notify(res.call);
        log.warn({ callId }, 'call of a lost worker ended as failed/worker_lost');
      }
    }
    if (judge)
      await db
        .delete(workers)
        .where(
          and(
            sql`${workers.heartbeatAt} < now() - make_interval(secs => ${staleSeconds})`,
            sql`${workers.id} <> ${id}`,
          ),
        );
    if (requeued.length > 0) log.info({ count: requeued.length }, 'requeued calls of lost workers');
    lastRecoveryAt = Date.now();
    return { requeued: requeued.length, failed };
  }

  function notify(call: CallRow): void {
    try {
      deps.onTransition?.(call);
    } catch (err) {
      log.error({ err, callId: call.id }, 'transition listener threw');
    }
  }

  /**
   * Calls that hold a line or a claim: dialing, in progress, or claimed and not yet dialing. Written as
   * the predicate of calls_live_idx (migration 0005), so counting them reads that small index.
   */
  const liveCalls = sql`(${calls.status} in ('dialing', 'in_progress') or (${calls.status} = 'queued' and ${calls.workerId} is not null))`;

  /**
   * Claims up to `n` due calls, fairly across accounts, within every concurrency limit.
   *
   * - Due: queued, unclaimed, `scheduled_for` null or passed (by the injected clock), and not a row
   *   of a batch that is not running (paused; a canceled batch's queued calls were ended).
   * - Fair share: the due calls are ranked within their account (by `scheduled_for` nulls first,
   *   then age, then batch row), the rank counted on from the account's calls already holding a line
   *   or a claim, and taken by that, then age: the account with the fewest calls going gets the next
   *   slot, so a batch of 10,000 rows does not hold up another account's single call, neither in one
   *   claim nor when slots free one at a time (a plain per-claim rank would hand each freed slot to the
   *   account whose next call is oldest, the batch's, again and again).
   * - Limits, counting calls that hold a line or a claim (dialing, in_progress, claimed queued): a
   *   batch's `concurrency`, the account's concurrent-call cap (with `limits`), TRUNK_MAX_CHANNELS
   *   (all accounts). A batch's calls are taken within the batch's free slots first, so the rows over
   *   its limit drop out before the account ranking (a full batch does not hide the account's other
   *   calls).
   *
   * Its cost does not grow with the queue: the calls are grouped (each running batch; each account's
   * single calls, found by a skip scan of calls_due_single_idx), each group yields at most as many of
   * its next due calls as it may start (`k`: the claim's size, the batch's and the account's free
   * slots), read in order from the front of calls_due_batch_idx / calls_due_single_idx (a batch's rows
   * by `batch_row`: its calls share `created_at`), and only those (groups × k rows) are ranked. The
   * limits count live calls through calls_live_idx, which holds only them.
   *
   * One short transaction. Claims of all workers are serialised by an advisory lock: the counts
   * above only grow through claims, so with claims in turn no limit can be raced past. Then two
   * statements, not `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`: the planner may
   * re-run that subquery per row, and rows the UPDATE already touched are then skipped as locked, so
   * it claims far more than n. (FOR UPDATE cannot go on the ranking query itself, which has window
   * functions: the chosen rows are locked by id, skipping any a transition holds, e.g. a cancel.)
   */
  async function claim(n: number): Promise<CallRow[]> {
    const now = clock();
    const limits = deps.limits;
    const accountCap = limits
      ? effectiveCaps(
          {
            capCallsPerMinute: null,
            capConcurrentCalls: null,
            capCallsPerDay: null,
            capMinutesPerMonth: null,
          },
          limits,
        ).concurrentCalls
      : null;
    const maxChannels = limits?.TRUNK_MAX_CHANNELS ?? null;
    return db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${CLAIM_LOCK_KEY.toString()}::bigint)`);
      let take = n;
      if (maxChannels !== null) {
        const [c] = rowsOf<{ n: number }>(
          await tx.execute(sql`select count(*)::int as n from ${calls} where ${liveCalls}`),
        );
        take = Math.min(take, maxChannels - Number(c.n));
      }
      if (take <= 0) return [];
      // effectiveCaps in SQL: the account's override, else the deployment default.
      const accountFree =
        accountCap === null
          ? sql`${take}::int`
          : sql`coalesce(a.cap_concurrent_calls, ${accountCap}::int) - coalesce(al.n, 0)`;
      const accountCapOk =
        accountCap === null
          ? sql`true`
          : sql`r.account_live + r.account_rank <= coalesce(r.account_cap, ${accountCap}::int)`;
      const due = sql`coalesce(c.scheduled_for, '-infinity'::timestamptz)`;
      const nowTs = sql`${now.toISOString()}::timestamptz`;
      const picked = rowsOf<{ id: string }>(
        await tx.execute(sql`
          with recursive single_accounts as (
            (select c.account_id from ${calls} c
              where c.status = 'queued' and c.worker_id is null and c.batch_id is null
              order by c.account_id limit 1)
            union all
            select (select c.account_id from ${calls} c
                where c.status = 'queued' and c.worker_id is null and c.batch_id is null
                  and c.account_id > s.account_id
                order by c.account_id limit 1)
            from single_accounts s where s.account_id is not null
          ),
          live as (select ${calls.accountId} as account_id, ${calls.batchId} as batch_id from ${calls} where ${liveCalls}),
          account_live as (select account_id, count(*)::int as n from live group by account_id),
          batch_live as (
            select batch_id, count(*)::int as n from live where batch_id is not null group by batch_id
          ),
          groups as (
            select b.id as batch_id, b.account_id,
              least(${take}::int, b.concurrency - coalesce(bl.n, 0)) as k
            from batches b left join batch_live bl on bl.batch_id = b.id
            where b.status = 'running'
            union all
            select null::uuid, s.account_id, ${take}::int from single_accounts s where s.account_id is not null
          ),
          capped as (
            select g.batch_id, g.account_id, least(g.k, ${accountFree}) as k,
              coalesce(al.n, 0) as account_live, a.cap_concurrent_calls as account_cap
            from groups g join accounts a on a.id = g.account_id
              left join account_live al on al.account_id = g.account_id
          ),
          candidates as (
            select x.*, g.account_live, g.account_cap from capped g cross join lateral (
              select c.id, c.account_id, c.scheduled_for, c.created_at, c.batch_row from ${calls} c
              where c.batch_id = g.batch_id
                and c.status = 'queued' and c.worker_id is null and c.batch_id is not null
                and ${due} <= ${nowTs}
              order by ${due}, c.batch_row
              limit g.k
            ) x
            where g.batch_id is not null and g.k > 0
            union all
            select x.*, g.account_live, g.account_cap from capped g cross join lateral (
              select c.id, c.account_id, c.scheduled_for, c.created_at, c.batch_row from ${calls} c
              where c.account_id = g.account_id
                and c.status = 'queued' and c.worker_id is null and c.batch_id is null
                and ${due} <= ${nowTs}
              order by ${due}, c.created_at
              limit g.k
            ) x
            where g.batch_id is null and g.k > 0
          ),
          ranked as (
            select c.*, row_number() over (
                partition by c.account_id order by ${due}, c.created_at, c.batch_row, c.id
              ) as account_rank
            from candidates c
          )
          select r.id from ranked r
          where ${accountCapOk}
          order by r.account_live + r.account_rank, r.created_at, r.batch_row, r.id
          limit ${take}`),
      );
      if (picked.length === 0) return [];
      const order = new Map(picked.map((p, i) => [p.id, i]));
      const locked = await tx
        .select({ id: calls.id })
        .from(calls)
        .where(and(inArray(calls.id, [...order.keys()]), eq(calls.status, 'queued'), isNull(calls.workerId)))
        .for('update', { skipLocked: true });
      if (locked.length === 0) return [];
      const rows = await tx
        .update(calls)
        .set({ workerId: id, claimedAt: now })
        .where(
          inArray(
            calls.id,
            locked.map((d) => d.id),
          ),
        )
        .returning();
      // Launched in the fair order (pacing serves this worker's calls first come, first served).
      return rows.sort((x, y) => (order.get(x.id) ?? 0) - (order.get(y.id) ?? 0));
    });
  }

  async function unclaim(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await db
      .update(calls)
      .set({ workerId: null, claimedAt: null })
      .where(and(inArray(calls.id, ids), eq(calls.workerId, id), eq(calls.status, 'queued')));
  }

  function launch(call: CallRow): void {
    const callLog = log.child({ callId: call.id });
    const gate = deps.gate;
    const ctl: WorkerCallControl = new WorkerCallControl(call, store, callLog, deps.onTransition, {
      pacer: deps.pacer,
      // The wait for a trunk slot can outlast the gate's answer: asked again once the slot is taken.
      beforeDial: gate && deps.pacer ? () => passGate(gate, ctl, callLog) : null,
    });
    const done = (async () => {
      if (gate && (await passGate(gate, ctl, callLog)) !== 'dial') return;
      let runError: unknown = null;
      try {
        await runner.run(ctl);
      } catch (err) {
        runError = err;
      }
      // The runner is done: no originate of this call is in flight any more.
      ctl.closeDialSlot();
      try {
        await settle(ctl, runError, callLog);
      } catch (err) {
        callLog.error({ err }, 'could not settle the call after its runner finished');
      }
    })().finally(() => {
      running.delete(call.id);
      beat();
      if (!stopping) wake();
    });
    running.set(call.id, { ctl, done });
    beat();
    ensureWatch();
  }

  /**
   * Asks the gate about a claimed call: `dial` it, or it was `ended` (expired, do-not-call) through
   * the store, as any end (event, webhook), or `requeued`: put back in the queue unclaimed with
   * `scheduledFor` at its next callable time. A gate that fails (the database, a number whose zones
   * cannot be told) defers the call a minute rather than dialing it unchecked or failing it.
   */
  async function passGate(gate: DialGate, ctl: WorkerCallControl, callLog: Logger): Promise<DialVerdict> {
    const call = ctl.call;
    let verdict: GateResult;
    try {
      verdict = await gate.check(call);
    } catch (err) {
      callLog.error({ err }, 'the dial gate failed; the call waits in the queue');
      verdict = { action: 'defer', until: new Date(clock().getTime() + GATE_FAILURE_DELAY_MS) };
    }
    const stored = <T>(op: () => Promise<T>) =>
      retryUntilStored(op, {
        signal: ctl.giveUpSignal,
        onError: (err, attempt) => {
          if (attempt === 1 || attempt % 10 === 0)
            callLog.warn({ err, attempt }, 'could not store the dial gate decision yet; retrying');
        },
      });
    try {
      if (verdict.action === 'dial') return 'dial';
      if (verdict.action === 'end') {
        const res = await stored(() =>
          store.transition(call.id, 'failed', { reason: verdict.reason, onlyFrom: 'queued' }),
        );
        if (res.ok) {
          notify(res.call);
          callLog.info({ reason: verdict.reason }, 'queued call ended before dialing');
          return 'ended';
        }
        if (res.call && res.call.status === 'queued') {
          await stored(() => unclaim([call.id]));
          return 'requeued';
        }
        return 'ended';
      }
      await stored(() =>
        db
          .update(calls)
          .set({ workerId: null, claimedAt: null, scheduledFor: verdict.until })
          .where(and(eq(calls.id, call.id), eq(calls.workerId, id), eq(calls.status, 'queued'))),
      );
      callLog.info({ scheduledFor: verdict.until.toISOString() }, 'outside its calling hours; deferred');
      return 'requeued';
    } catch (err) {
      // Only a release (this worker gave the call up at stop) ends the retries; recovery takes over.
      callLog.error({ err }, 'could not store the dial gate decision');
      return 'requeued';
    }
  }

  /**
   * Makes sure the call ends even when the runner threw or forgot to end it. Its writes are retried
   * until stored (a database outage only delays them), so the call leaves `running`, and with it this
   * worker's heartbeat, only once its fate is stored; `release` (at stop) is the one way out.
   */
  async function settle(ctl: WorkerCallControl, runError: unknown, callLog: Logger): Promise<void> {
    if (ctl.released) return;
    if (runError) callLog.error({ err: runError }, 'call runner threw');
    // The runner's end is still being stored (e.g. the database is down): wait for it.
    if (ctl.ended) await ctl.ended;
    if (ctl.settled || ctl.released) return;
    const stored = (op: () => Promise<unknown>) =>
      retryUntilStored(op, {
        signal: ctl.giveUpSignal,
        onError: (err, attempt) => {
          if (attempt === 1 || attempt % 10 === 0)
            callLog.warn({ err, attempt }, 'could not settle the call yet; retrying');
        },
      });
    const cur = (await stored(() => store.get(ctl.call.id))) as CallRow | null;
    if (!cur || isTerminal(cur.status)) return;
    if (cur.status === 'queued' && !runError) {
      // Never dialed (`dialing` is stored before anything rings): nobody was called, so any worker may
      // run it. A claimed call left queued would otherwise wait for this worker forever.
      await stored(() => unclaim([cur.id]));
      callLog.info({ reason: ctl.signal.reason ?? null }, 'call returned to the queue undialed');
      return;
    }
    if (!runError) callLog.error('call runner returned without ending the call');
    await ctl.end({ status: 'failed', endedReason: 'internal_error' });
  }

  async function tick(): Promise<void> {
    try {
      if (stopping) return;
      if (Date.now() - lastRecoveryAt >= recoveryEveryMs) {
        try {
          await recover();
        } catch (err) {
          // Recovery is housekeeping: a failed round must not stop this worker from claiming.
          lastRecoveryAt = Date.now();
          log.error({ err }, 'recovery of lost workers failed');
        }
      }
      // A full worker claims nothing: the calls wait in `queued` for a slot here or another worker.
      const live = running.size;
      const free = Math.min(concurrency, deps.capacity?.limit(live) ?? concurrency) - live;
      if (stopping || free <= 0 || !canClaim()) return;
      claiming = true;
      let claimed: CallRow[];
      try {
        claimed = await claim(free);
        if (stopping) {
          // stop() began while the claim ran: nothing was dialed, so the calls go back to the queue.
          await unclaim(claimed.map((c) => c.id));
          return;
        }
        for (const call of claimed) launch(call);
      } finally {
        claiming = false;
      }
      if (claimed.length === free) tickAgain = true;
    } catch (err) {
      log.error({ err }, 'worker poll failed');
    }
  }

  function schedule(delayMs: number): void {
    if (stopping) return;
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = setTimeout(runTick, delayMs);
  }

  function runTick(): void {
    pollTimer = null;
    if (stopping || tickInFlight) return;
    tickInFlight = tick().finally(() => {
      tickInFlight = null;
      if (tickAgain) {
        tickAgain = false;
        schedule(0);
      } else {
        schedule(pollMs);
      }
    });
  }

  function wake(): void {
    if (!started || stopping) return;
    if (tickInFlight) tickAgain = true;
    else schedule(0);
  }

  function ensureWatch(): void {
    if (watchTimer) return;
    watchTimer = setInterval(() => {
      if (watchInFlight) return;
      watchInFlight = watch().finally(() => {
        watchInFlight = null;
      });
    }, cancelPollMs);
  }

  /** One query for all running calls: a call ended elsewhere (API cancel) or taken away is aborted. */
  async function watch(): Promise<void> {
    const ids = [...running.keys()];
    if (ids.length === 0) {
      if (watchTimer) clearInterval(watchTimer);
      watchTimer = null;
      return;
    }
    try {
      const rows = await db
        .select({ id: calls.id, status: calls.status, workerId: calls.workerId })
        .from(calls)
        .where(inArray(calls.id, ids));
      const seen = new Map(rows.map((r) => [r.id, r]));
      for (const callId of ids) {
        const entry = running.get(callId);
        if (!entry || entry.ctl.settled || entry.ctl.ending || entry.ctl.released) continue;
        const row = seen.get(callId);
        if (!row || isTerminal(row.status)) {
          log.info({ callId, status: row?.status ?? null }, 'call ended elsewhere; aborting its runner');
          entry.ctl.markEndedElsewhere();
        } else if (row.workerId !== id) {
          log.warn({ callId, owner: row.workerId }, 'call was taken away from this worker; releasing it');
          entry.ctl.release();
        }
      }
    } catch (err) {
      log.error({ err }, 'cancel watch failed');
    }
  }

  async function waitForRunning(ms: number): Promise<void> {
    if (running.size === 0 || ms <= 0) return;
    let timer: NodeJS.Timeout | null = null;
    const all = Promise.all([...running.values()].map((r) => r.done));
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    if (timer) clearTimeout(timer);
  }

  return {
    id,
    async start() {
      if (started) return;
      started = true;
      await register();
      heartbeatTimer = setInterval(() => {
        if (!heartbeatInFlight) beat();
      }, heartbeatMs);
      log.info({ concurrency }, 'call worker started');
      runTick();
    },
    stop(opts = {}) {
      // A second stop() (e.g. SIGTERM during a drain) waits for the first one instead of returning early.
      if (!stopPromise) stopPromise = shutdown(opts.drainMs ?? 0);
      return stopPromise;
    },
    wake,
    activeCalls: () => [...running.keys()],
    capacity: snapshot,
    recover,
    stopPhase: () => (stopPhase === null ? null : `${stopPhase} (${running.size} calls running)`),
  };

  async function shutdown(drainMs: number): Promise<void> {
    stopping = true;
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    stopPhase = 'waiting for the claim in flight';
    await tickInFlight;
    stopPhase = 'draining live calls';
    await waitForRunning(drainMs);
    const cause: AbortCause = 'shutdown';
    for (const r of running.values()) r.ctl.abort(cause);
    // Ends still waiting for an unreachable database get a grace period; then this worker gives them
    // up, and recovery by another worker ends them once this worker's heartbeat is stale.
    stopPhase = 'ending the calls left';
    await waitForRunning(endGraceMs);
    for (const r of running.values()) {
      if (!r.ctl.settled)
        log.error({ callId: r.ctl.call.id }, 'stopping with the call end unstored; recovery will end it');
      r.ctl.release();
    }
    // A released runner touches nothing more, so the worker need not wait for it forever: one that does
    // not return (a controller stuck on an event that never came) must not keep the process from exiting.
    stopPhase = 'waiting for released call runners';
    await waitForRunning(RELEASED_RUNNER_WAIT_MS);
    for (const r of running.values()) {
      log.error(
        { callId: r.ctl.call.id, settled: r.ctl.settled },
        'a call runner did not return after its call was released; stopping without it',
      );
    }
    if (watchTimer) clearInterval(watchTimer);
    watchTimer = null;
    stopPhase = 'waiting for the cancel watch in flight';
    await watchInFlight;
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    heartbeatTimer = null;
    heartbeatsStopped = true;
    // A heartbeat in flight could register the row again after it is deleted.
    stopPhase = 'waiting for the heartbeat in flight';
    await heartbeatInFlight;
    stopPhase = 'removing the worker row';
    if (started) {
      try {
        await db.delete(workers).where(eq(workers.id, id));
      } catch (err) {
        log.error({ err }, 'could not remove the worker row');
      }
    }
    stopPhase = 'stopped';
    log.info('call worker stopped');
  }
}
