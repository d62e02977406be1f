import crypto from 'node:crypto';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { completeBatchIfDone } from '../batches/batch-completion.js';
import type { Db, Tx } from '../db/client.js';
import {
  accounts,
  batches,
  type CallAttempt,
  type CallEventRow,
  type CallRow,
  type CallTurnRow,
  callEvents,
  calls,
  callTurns,
  doNotCall,
  type TurnLatency,
  usageCounters,
  webhookDeliveries,
} from '../db/schema.js';
import { transcriptOf, webhookPayload } from './call-view.js';
import { retryDecision } from './retry-policy.js';
import {
  type CallStatus,
  canTransition,
  isTerminal,
  RETRYING_EVENT,
  type TerminalStatus,
  webhookEventFor,
} from './status.js';

export type Clock = () => Date;

/** Fields a transition may set together with the status (the terminal one carries the results). */
export interface TransitionPatch {
  summary?: string | null;
  extracted?: Record<string, unknown> | null;
  recordingFile?: string | null;
  /** The callee asked not to be called again: the number goes on the account's do-not-call list. */
  optOut?: boolean;
}

export type TransitionResult = { ok: true; call: CallRow } | { ok: false; call: CallRow | null };

export interface NewTurn {
  speaker: 'agent' | 'callee';
  text: string;
  startMs: number;
  endMs: number;
  interrupted?: boolean;
  latency?: TurnLatency | null;
}

/**
 * The only writer of call status. Each transition is one transaction that checks legality against the
 * locked row, records the event, and writes the webhook outbox row, so a status change and its
 * webhook can never be separated.
 */
export class CallStore {
  /**
   * Told after each stored turn, note and transition commits (live event streams wake on it). Must not
   * block or throw: it runs on the call's write path.
   */
  onWrite?: (w: { callId: string; accountId: string }) => void;

  constructor(
    private readonly db: Db,
    private readonly publicBaseUrl: string,
    private readonly now: Clock = () => new Date(),
  ) {}

  async get(callId: string, accountId?: string): Promise<CallRow | null> {
    const where = accountId
      ? and(eq(calls.id, callId), eq(calls.accountId, accountId))
      : eq(calls.id, callId);
    const [row] = await this.db.select().from(calls).where(where).limit(1);
    return row ?? null;
  }

  /** The call's events (status changes, and notes such as why it failed), oldest first. */
  events(callId: string): Promise<CallEventRow[]> {
    return this.db.select().from(callEvents).where(eq(callEvents.callId, callId)).orderBy(asc(callEvents.id));
  }

  turns(callId: string, db: Db | Tx = this.db): Promise<CallTurnRow[]> {
    // In conversation order: turns reported together may be numbered in either order.
    return db
      .select()
      .from(callTurns)
      .where(eq(callTurns.callId, callId))
      .orderBy(asc(callTurns.startMs), asc(callTurns.seq));
  }

  /**
   * Appends a turn with the next sequence number. The call row is locked first, so turns reported at the
   * same moment (a held callee turn and the agent turn that followed it) get distinct numbers instead of
   * one of them failing on the unique (call_id, seq) index.
   */
  async addTurn(callId: string, turn: NewTurn): Promise<void> {
    const accountId = await this.db.transaction(async (tx) => {
      const [locked] = await tx
        .select({ accountId: calls.accountId })
        .from(calls)
        .where(eq(calls.id, callId))
        .for('update');
      await tx.insert(callTurns).values({
        callId,
        seq: sql`(select coalesce(max(${callTurns.seq}), 0) + 1 from ${callTurns} where ${callTurns.callId} = ${callId})`,
        speaker: turn.speaker,
        text: turn.text,
        startMs: Math.max(0, Math.round(turn.startMs)),
        endMs: Math.max(0, Math.round(turn.endMs)),
        interrupted: turn.interrupted ?? false,
        latency: turn.latency ?? null,
      });
      return locked?.accountId;
    });
    if (accountId) this.wrote(callId, accountId);
  }

  /**
   * The first event of a call (null → queued), written in the transaction that inserts the call, so
   * its history and the account's live stream start when it is placed, not when it is dialed. The
   * caller locked a row first (the account), which the account stream's watermark relies on.
   */
  async recordPlaced(tx: Tx, callId: string, at: Date): Promise<void> {
    await tx.insert(callEvents).values({ callId, fromStatus: null, toStatus: 'queued', reason: null, at });
  }

  /** Wakes live streams once a write made in another's transaction (placing a call) has committed. */
  wrote(callId: string, accountId: string): void {
    try {
      this.onWrite?.({ callId, accountId });
    } catch {
      // A listener's failure is its own; the write is stored.
    }
  }

  /**
   * Records when the line went down, before the post-call work (summary, extraction) ends the call:
   * `endedAt` and `durationSeconds` count the call itself, and a reader sees at once that the line is down.
   * Changes nothing once a hangup time is recorded or the call has ended.
   */
  async markLineDown(callId: string, at: Date): Promise<void> {
    await this.db
      .update(calls)
      .set({ endedAt: at })
      .where(
        and(eq(calls.id, callId), isNull(calls.endedAt), inArray(calls.status, ['dialing', 'in_progress'])),
      );
  }

  /**
   * Records an event that changes no status (why a PBX request failed, say): from and to are both the
   * call's current status, so its events read in order as its history. Nothing for a call that is gone.
   */
  async note(callId: string, reason: string, at: Date = this.now()): Promise<void> {
    const accountId = await this.db.transaction(async (tx) => {
      const [cur] = await tx
        .select({ status: calls.status, accountId: calls.accountId })
        .from(calls)
        .where(eq(calls.id, callId))
        .for('update');
      if (!cur) return undefined;
      await tx
        .insert(callEvents)
        .values({ callId, fromStatus: cur.status, toStatus: cur.status, reason, at });
      return cur.accountId;
    });
    if (accountId) this.wrote(callId, accountId);
  }

  /**
   * Moves a call to `to` if the state machine allows it from the current status; otherwise changes nothing.
   * A terminal transition takes its end time from the recorded hangup (`markLineDown`), else from
   * `opts.endedAt` (when the runner ended the call; the write may come much later, after an outage),
   * else from now.
   */
  async transition(
    callId: string,
    to: CallStatus,
    opts: {
      reason?: string | null;
      patch?: TransitionPatch;
      /** When it happened, if earlier than this write (a write retried through an outage); now by default. */
      at?: Date;
      endedAt?: Date;
      /** Only from this status (e.g. fail a queued call but never one a worker began dialing meanwhile). */
      onlyFrom?: CallStatus;
      /**
       * Only while the call is on this attempt: a report about an attempt that was retried meanwhile
       * (a write retried through an outage after it had in fact been stored) must not touch the next one.
       */
      attempt?: number;
    } = {},
  ): Promise<TransitionResult> {
    const res = await this.transact(callId, to, opts);
    if (res.ok) this.wrote(callId, res.call.accountId);
    return res;
  }

  private transact(
    callId: string,
    to: CallStatus,
    opts: Parameters<CallStore['transition']>[2] & {},
  ): Promise<TransitionResult> {
    return this.db.transaction(async (tx) => {
      // An end may complete the call's batch: its row is locked before the call's, the order a batch's
      // cancel takes them in too, so the two never wait on each other.
      let ctx: EndContext | null = null;
      if (isTerminal(to)) ctx = await this.endContext(tx, callId);
      const [cur] = await tx.select().from(calls).where(eq(calls.id, callId)).for('update');
      if (!cur) return { ok: false, call: null };
      if (!canTransition(cur.status as CallStatus, to)) return { ok: false, call: cur };
      if (opts.onlyFrom && cur.status !== opts.onlyFrom) return { ok: false, call: cur };
      if (opts.attempt !== undefined && cur.attempt !== opts.attempt) return { ok: false, call: cur };
      const at = opts.at ?? this.now();
      const { optOut, ...fields } = opts.patch ?? {};
      const set: Partial<typeof calls.$inferInsert> = { status: to, ...fields };
      if (optOut) set.optOut = true;
      if (to === 'dialing') set.dialedAt = at;
      // Never placed: unclaimed and undialed again, for any worker.
      // The hangup time of that attempt goes too, or the next attempt's end would take it.
      if (to === 'queued')
        Object.assign(set, { workerId: null, claimedAt: null, dialedAt: null, endedAt: null });
      if (to === 'in_progress') set.startedAt = at;
      let turns: CallTurnRow[] = [];
      let endedAt = at;
      if (isTerminal(to)) {
        endedAt = cur.endedAt ?? opts.endedAt ?? at;
        const reason = opts.reason ?? null;
        // Answer to hangup only: the summary written after the line went down is not call time.
        const durationSeconds = cur.startedAt
          ? Math.max(0, Math.round((endedAt.getTime() - cur.startedAt.getTime()) / 1000))
          : 0;
        const nextAttemptAt = this.retryAt(cur, to, reason, endedAt, optOut === true, ctx);
        if (nextAttemptAt) {
          const call = await this.retry(tx, cur, set, {
            to,
            reason,
            at,
            endedAt,
            durationSeconds,
            nextAttemptAt,
          });
          return { ok: true, call };
        }
        set.endedAt = endedAt;
        set.endedReason = reason;
        set.durationSeconds = durationSeconds;
        turns = await this.turns(callId, tx);
        set.transcript = transcriptOf(turns);
      }
      const [call] = await tx.update(calls).set(set).where(eq(calls.id, callId)).returning();
      await tx
        .insert(callEvents)
        .values({ callId, fromStatus: cur.status, toStatus: to, reason: opts.reason ?? null, at });
      if (optOut) await this.optOut(tx, call, at);
      if (isTerminal(to) && call.durationSeconds) {
        await countUsage(tx, call.accountId, endedAt, { callSeconds: call.durationSeconds });
      }
      const event = webhookEventFor(to);
      if (event && call.webhookUrl) {
        await this.outbox(tx, call, event, at, webhookPayloadFor(event, at, call, turns, this.publicBaseUrl));
      }
      if (isTerminal(to) && call.batchId) {
        await completeBatchIfDone(tx, call.batchId, at, this.publicBaseUrl);
      }
      return { ok: true, call };
    });
  }

  /**
   * What an end needs to know besides the call: its batch (locked, see `transact`) and whether its
   * account was disabled. Read before the call's row is locked; a call's batch never changes.
   */
  private async endContext(tx: Tx, callId: string): Promise<EndContext | null> {
    const [ref] = await tx
      .select({ batchId: calls.batchId, accountDisabledAt: accounts.disabledAt })
      .from(calls)
      .innerJoin(accounts, eq(accounts.id, calls.accountId))
      .where(eq(calls.id, callId))
      .limit(1);
    if (!ref) return null;
    let batchStatus: string | null = null;
    if (ref.batchId) {
      const [b] = await tx
        .select({ status: batches.status })
        .from(batches)
        .where(eq(batches.id, ref.batchId))
        // Share: a cancel (for update) waits for ends in flight and they for it, but ends of one batch do
        // not wait for each other. Exactly one batch.completed is the completion check's own lock (a
        // per-batch advisory lock; it takes the row for update only when no call of the batch is live,
        // which no other end in flight can be).
        .for('share');
      batchStatus = b?.status ?? null;
    }
    return { batchStatus, accountDisabled: ref.accountDisabledAt !== null };
  }

  /**
   * When the next attempt may dial if this end is retried, else null. Only an attempt that dialed is
   * retried, under the call's policy (`retryDecision`), never after an opt-out, past `expiresAt`, in a
   * canceled batch or for a disabled account.
   */
  private retryAt(
    cur: CallRow,
    to: TerminalStatus,
    reason: string | null,
    endedAt: Date,
    optingOut: boolean,
    ctx: EndContext | null,
  ): Date | null {
    const policy = cur.retryPolicy;
    if (!policy || !cur.dialedAt || optingOut || cur.optOut) return null;
    if (!retryDecision(policy, to, reason, cur.attempt)) return null;
    if (!ctx || ctx.accountDisabled || ctx.batchStatus === 'canceled') return null;
    const next = new Date(endedAt.getTime() + policy.delaySeconds * 1000);
    if (cur.expiresAt && next.getTime() >= cur.expiresAt.getTime()) return null;
    return next;
  }

  /**
   * The end of a retried attempt: the attempt goes into `attempts`, and the call is queued for the next
   * one (`scheduledFor` after the policy's delay; the worker also waits for the calling window). Its
   * events read `…→ <status>` as a note (`attempt_ended: …`), then `<status> → queued` with reason
   * `retry`: no terminal status is recorded, so live streams stay open for the next attempt. The
   * attempt's call time and the new attempt count as usage; `call.retrying` (webhook attempt = the one
   * that ended) says how it ended and when the next may dial.
   */
  private async retry(
    tx: Tx,
    cur: CallRow,
    set: Partial<typeof calls.$inferInsert>,
    end: {
      to: TerminalStatus;
      reason: string | null;
      at: Date;
      endedAt: Date;
      durationSeconds: number;
      nextAttemptAt: Date;
    },
  ): Promise<CallRow> {
    const ended: CallAttempt = {
      attempt: cur.attempt,
      dialedAt: cur.dialedAt?.toISOString() ?? null,
      startedAt: cur.startedAt?.toISOString() ?? null,
      endedAt: end.endedAt.toISOString(),
      status: end.to,
      endedReason: end.reason,
      durationSeconds: end.durationSeconds,
    };
    const [call] = await tx
      .update(calls)
      .set({
        ...set,
        status: 'queued',
        attempt: cur.attempt + 1,
        attempts: [...(cur.attempts ?? []), ended],
        scheduledFor: end.nextAttemptAt,
        workerId: null,
        claimedAt: null,
        dialedAt: null,
        startedAt: null,
        endedAt: null,
        endedReason: null,
        durationSeconds: null,
      })
      .where(eq(calls.id, cur.id))
      .returning();
    const outcome = end.reason ? `${end.to}/${end.reason}` : end.to;
    await tx.insert(callEvents).values([
      {
        callId: cur.id,
        fromStatus: cur.status,
        toStatus: cur.status,
        reason: `attempt_ended: attempt ${cur.attempt} of ${cur.retryPolicy?.maxAttempts}, ${outcome}`,
        at: end.at,
      },
      { callId: cur.id, fromStatus: cur.status, toStatus: 'queued', reason: 'retry', at: end.at },
    ]);
    await countUsage(tx, call.accountId, end.endedAt, { callSeconds: end.durationSeconds });
    await countUsage(tx, call.accountId, end.at, { calls: 1 });
    if (call.webhookUrl) {
      // The payload describes the attempt that ended, as the call's row read at that end.
      const asEnded: CallRow = {
        ...call,
        status: end.to,
        endedReason: end.reason,
        dialedAt: cur.dialedAt,
        startedAt: cur.startedAt,
        endedAt: end.endedAt,
        durationSeconds: end.durationSeconds,
        attempt: cur.attempt,
        attempts: cur.attempts ?? [],
      };
      const turns = await this.turns(cur.id, tx);
      await this.outbox(
        tx,
        asEnded,
        RETRYING_EVENT,
        end.at,
        webhookPayloadFor(RETRYING_EVENT, end.at, asEnded, turns, this.publicBaseUrl, end.nextAttemptAt),
      );
    }
    return call;
  }

  /** The callee asked not to be called again: the number goes on the account's do-not-call list. */
  private async optOut(tx: Tx, call: CallRow, at: Date): Promise<void> {
    await tx
      .insert(doNotCall)
      .values({
        accountId: call.accountId,
        number: call.toNumber,
        source: 'opt_out',
        callId: call.id,
        createdAt: at,
      })
      .onConflictDoNothing();
  }

  /** A call webhook into the outbox; `attempt` is the call's attempt the event is about. */
  private async outbox(
    tx: Tx,
    call: CallRow,
    event: string,
    at: Date,
    payload: { eventId: string } & Record<string, unknown>,
  ): Promise<void> {
    await tx
      .insert(webhookDeliveries)
      .values({
        id: payload.eventId,
        accountId: call.accountId,
        callId: call.id,
        attempt: call.attempt,
        event,
        url: call.webhookUrl as string,
        payload,
        nextAttemptAt: at,
      })
      .onConflictDoNothing();
  }
}

interface EndContext {
  /** The call's batch's status (its row locked for this transaction); null: no batch. */
  batchStatus: string | null;
  accountDisabled: boolean;
}

function webhookPayloadFor(
  event: string,
  at: Date,
  call: CallRow,
  turns: readonly CallTurnRow[],
  publicBaseUrl: string,
  nextAttemptAt?: Date,
) {
  return webhookPayload(event, crypto.randomUUID(), at, call, turns, publicBaseUrl, { nextAttemptAt });
}

/** Adds to the account's usage of the UTC day of `at`. */
async function countUsage(
  tx: Tx,
  accountId: string,
  at: Date,
  add: { calls?: number; callSeconds?: number },
): Promise<void> {
  const callsAdded = add.calls ?? 0;
  const secondsAdded = add.callSeconds ?? 0;
  if (callsAdded === 0 && secondsAdded === 0) return;
  await tx
    .insert(usageCounters)
    .values({ accountId, day: at.toISOString().slice(0, 10), calls: callsAdded, callSeconds: secondsAdded })
    .onConflictDoUpdate({
      target: [usageCounters.accountId, usageCounters.day],
      set: {
        calls: sql`${usageCounters.calls} + ${callsAdded}`,
        callSeconds: sql`${usageCounters.callSeconds} + ${secondsAdded}`,
      },
    });
}
