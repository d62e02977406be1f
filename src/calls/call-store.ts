import crypto from 'node:crypto';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.js';
import {
  type CallEventRow,
  type CallRow,
  type CallTurnRow,
  callEvents,
  calls,
  callTurns,
  type TurnLatency,
  usageCounters,
  webhookDeliveries,
} from '../db/schema.js';
import { transcriptOf, webhookPayload } from './call-view.js';
import { type CallStatus, canTransition, isTerminal, webhookEventFor } from './status.js';

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
      const [cur] = await tx.select().from(calls).where(eq(calls.id, callId)).for('update');
      if (!cur) return { ok: false, call: null };
      if (!canTransition(cur.status as CallStatus, to)) return { ok: false, call: cur };
      if (opts.onlyFrom && cur.status !== opts.onlyFrom) return { ok: false, call: cur };
      const at = opts.at ?? this.now();
      const set: Partial<typeof calls.$inferInsert> = { status: to, ...opts.patch };
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
        set.endedAt = endedAt;
        set.endedReason = opts.reason ?? null;
        // Answer to hangup only: the summary written after the line went down is not call time.
        set.durationSeconds = cur.startedAt
          ? Math.max(0, Math.round((endedAt.getTime() - cur.startedAt.getTime()) / 1000))
          : 0;
        turns = await this.turns(callId, tx);
        set.transcript = transcriptOf(turns);
      }
      const [call] = await tx.update(calls).set(set).where(eq(calls.id, callId)).returning();
      await tx
        .insert(callEvents)
        .values({ callId, fromStatus: cur.status, toStatus: to, reason: opts.reason ?? null, at });
      if (isTerminal(to) && call.durationSeconds) {
        await tx
          .insert(usageCounters)
          .values({
            accountId: call.accountId,
            day: endedAt.toISOString().slice(0, 10),
            callSeconds: call.durationSeconds,
          })
          .onConflictDoUpdate({
            target: [usageCounters.accountId, usageCounters.day],
            set: { callSeconds: sql`${usageCounters.callSeconds} + ${call.durationSeconds}` },
          });
      }
      const event = webhookEventFor(to);
      if (event && call.webhookUrl) {
        const eventId = crypto.randomUUID();
        await tx
          .insert(webhookDeliveries)
          .values({
            id: eventId,
            accountId: call.accountId,
            callId,
            event,
            url: call.webhookUrl,
            payload: webhookPayload(event, eventId, at, call, turns, this.publicBaseUrl),
            nextAttemptAt: at,
          })
          .onConflictDoNothing();
      }
      return { ok: true, call };
    });
  }
}
