import { asc, eq, gt, inArray, max, type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { type Db, rowsOf } from '../db/client.js';
import { type CallEventRow, type CallTurnRow, callEvents, calls, callTurns } from '../db/schema.js';
import { type Feed, type FeedRead, READ_BATCH } from './call-feed.js';
import {
  type Cursor,
  endedMessage,
  eventMessage,
  formatCursor,
  isTerminalEvent,
  mergeRows,
  type StreamMessage,
  turnMessage,
} from './messages.js';

/** Ids above the watermark kept in memory at most; past this the oldest gaps are given up. */
const MAX_MARKED = 5000;
/** Gap checks kept at most; older ones are merged (which only makes them more conservative). */
const MAX_PENDING = 32;
/** A transaction open this long is no writer of ours (they lock, insert and commit): stop waiting. */
const GIVE_UP_MS = 5 * 60_000;

/**
 * The resume point of one table in the account stream.
 *
 * Ids (bigserial) of different calls are written by concurrent transactions, which may commit out of
 * id order: a reader could see id 8 while id 7 is still uncommitted, and a cursor that moved past 8
 * would skip 7 forever. So the cursor is a watermark: every id at or below it was either sent or will
 * never appear. Rows above it are sent at once (nothing waits for the gap), remembered here, and the
 * watermark moves past a gap only once every transaction that was open when the gap was seen has
 * ended (pg_xact_status), then one more read ran, so a committed row in the gap was seen by that
 * read. Ids are handed out before the snapshot that sees a later id, and our writers take a row lock
 * (which gives them a transaction id) before inserting, so a gap's transaction is always in that
 * snapshot's list of open ones. A resume from a watermark left below a gap may repeat the messages
 * sent above it (at least once, never lost); clients may drop repeats by (callId, seq) for turns.
 */
export class Watermark {
  private marked = new Set<number>();
  private pending: { bound: number; xids: string[]; since: number }[] = [];

  constructor(public value: number) {}

  /** An id that was read: sent to this client, or another account's (never to be sent here). */
  mark(id: number): void {
    if (id <= this.value) return;
    this.marked.add(id);
    while (this.marked.delete(this.value + 1)) this.value++;
  }

  get hasGaps(): boolean {
    return this.marked.size > 0;
  }

  /** The highest id read above the watermark. */
  get top(): number {
    let top = this.value;
    for (const id of this.marked) if (id > top) top = id;
    return top;
  }

  /** Open transactions seen after a read left gaps: once they end, ids up to `bound` are settled. */
  addPending(bound: number, xids: string[], now: number): void {
    this.pending.push({ bound, xids, since: now });
    if (this.pending.length > MAX_PENDING) {
      const [a, b] = this.pending.splice(0, 2);
      this.pending.unshift({
        bound: Math.max(a.bound, b.bound),
        xids: [...new Set([...a.xids, ...b.xids])],
        since: Math.min(a.since, b.since),
      });
    }
  }

  /** Ids between the watermark and the highest one read that were never seen (at most `max`). */
  missing(max: number): number[] {
    const out: number[] = [];
    const top = this.top;
    for (let id = this.value + 1; id < top && out.length < max; id++) if (!this.marked.has(id)) out.push(id);
    return out;
  }

  /** Open-transaction lists waiting to end (for the caller to ask the database about). */
  get waitingXids(): string[] {
    return [...new Set(this.pending.flatMap((p) => p.xids))];
  }

  /** Which pending checks are settled now, given the transactions still open; returns their bounds. */
  takeSettled(stillOpen: ReadonlySet<string>, now: number): number[] {
    const settled: number[] = [];
    this.pending = this.pending.filter((p) => {
      const done = now - p.since > GIVE_UP_MS || p.xids.every((x) => !stillOpen.has(x));
      if (done) settled.push(p.bound);
      return !done;
    });
    return settled;
  }

  /** Everything up to `bound` is settled: a missing id there was rolled back or deleted. */
  settle(bound: number): void {
    if (bound <= this.value) return;
    this.value = bound;
    for (const id of this.marked) if (id <= bound) this.marked.delete(id);
    while (this.marked.delete(this.value + 1)) this.value++;
  }

  /** Memory bound: a client far behind a stuck gap gives the oldest ids up (logged by the caller). */
  trim(): boolean {
    if (this.marked.size <= MAX_MARKED) return false;
    const sorted = [...this.marked].sort((a, b) => a - b);
    this.settle(sorted[sorted.length - MAX_MARKED]);
    return true;
  }
}

type AccountRow<T> = { row: T; accountId: string };

/**
 * All calls of one account (or of every account: an instance admin's), from a cursor or from now.
 * Reads every account's new rows (only ids and the account are used for others), so the watermark
 * can tell a gap from another account's row.
 */
export class AccountFeed implements Feed {
  private constructor(
    private readonly db: Db,
    /** null: every account. */
    private readonly accountId: string | null,
    private readonly events: Watermark,
    private readonly turns: Watermark,
    private readonly publicBaseUrl: string,
    private readonly onTrim: () => void,
  ) {}

  static async open(opts: {
    db: Db;
    /** null: every account (an instance admin). */
    accountId: string | null;
    /** null: from now. */
    from: Cursor | null;
    publicBaseUrl: string;
    onTrim?: () => void;
  }): Promise<AccountFeed> {
    let from = opts.from;
    if (!from) {
      const [e] = await opts.db.select({ m: max(callEvents.id) }).from(callEvents);
      const [t] = await opts.db.select({ m: max(callTurns.id) }).from(callTurns);
      from = { events: Number(e?.m ?? 0), turns: Number(t?.m ?? 0) };
    }
    return new AccountFeed(
      opts.db,
      opts.accountId,
      new Watermark(from.events),
      new Watermark(from.turns),
      opts.publicBaseUrl,
      opts.onTrim ?? (() => {}),
    );
  }

  private cursor(): string {
    return formatCursor({ events: this.events.value, turns: this.turns.value });
  }

  async read(): Promise<FeedRead> {
    const now = Date.now();
    // Settled before this read: the read then sees whatever those transactions committed.
    const settledEvents = this.events.takeSettled(await this.stillOpen(this.events.waitingXids), now);
    const settledTurns = this.turns.takeSettled(await this.stillOpen(this.turns.waitingXids), now);

    // Rows already sent above the watermark are not read again: only its gaps, and what is past them.
    // Both tables in one snapshot: with two, a status and the turn after it could both commit between
    // the reads, and the turn would be sent first.
    const { eventRead, turnRead } = await this.db.transaction(
      async (tx) => ({
        eventRead: await readPast(this.events, (where) =>
          tx
            .select({ row: callEvents, accountId: calls.accountId })
            .from(callEvents)
            .innerJoin(calls, eq(calls.id, callEvents.callId))
            .where(where(callEvents.id))
            .orderBy(asc(callEvents.id)),
        ),
        turnRead: await readPast(this.turns, (where) =>
          tx
            .select({ row: callTurns, accountId: calls.accountId })
            .from(callTurns)
            .innerJoin(calls, eq(calls.id, callTurns.callId))
            .where(where(callTurns.id))
            .orderBy(asc(callTurns.id)),
        ),
      }),
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
    const eventRows: AccountRow<CallEventRow>[] = eventRead.rows;
    const turnRows: AccountRow<CallTurnRow>[] = turnRead.rows;

    // Other accounts' rows are settled at once; ours when sent, below.
    const mine = <T extends { id: number }>(rows: AccountRow<T>[], w: Watermark): T[] => {
      const out: T[] = [];
      for (const r of rows) {
        if (this.accountId === null || r.accountId === this.accountId) out.push(r.row);
        else w.mark(r.row.id);
      }
      return out;
    };
    const myEvents = mine(eventRows, this.events);
    const myTurns = mine(turnRows, this.turns);
    const terminalCalls = myEvents.filter(isTerminalEvent).map((e) => e.callId);
    const ended = new Map(
      terminalCalls.length === 0
        ? []
        : (await this.db.select().from(calls).where(inArray(calls.id, terminalCalls))).map((c) => [c.id, c]),
    );

    const messages: StreamMessage[] = [];
    for (const r of mergeRows(myEvents, myTurns)) {
      if (r.kind === 'turn') {
        this.turns.mark(r.row.id);
        messages.push({ ...turnMessage(r.row), id: this.cursor() });
        continue;
      }
      this.events.mark(r.row.id);
      if (!isTerminalEvent(r.row)) {
        messages.push({ ...eventMessage(r.row), id: this.cursor() });
        continue;
      }
      messages.push(eventMessage(r.row));
      const call = ended.get(r.row.callId);
      if (call) messages.push({ ...endedMessage(call, r.row, this.publicBaseUrl), id: this.cursor() });
    }

    settleUpTo(this.events, settledEvents, eventRead.seenUpTo, now);
    settleUpTo(this.turns, settledTurns, turnRead.seenUpTo, now);
    if (this.events.hasGaps || this.turns.hasGaps) {
      // Taken after the read: any transaction that could still fill a gap is open now or has ended.
      const open = await this.openTransactions();
      if (this.events.hasGaps) this.events.addPending(this.events.top, open, Date.now());
      if (this.turns.hasGaps) this.turns.addPending(this.turns.top, open, Date.now());
    }
    if (this.events.trim() || this.turns.trim()) this.onTrim();
    return { messages, done: false };
  }

  private async openTransactions(): Promise<string[]> {
    const res = await this.db.execute<{ xid: string }>(
      sql.raw('select pg_snapshot_xip(pg_current_snapshot())::text as xid'),
    );
    return rowsOf<{ xid: string }>(res).map((r) => r.xid);
  }

  private async stillOpen(xids: string[]): Promise<Set<string>> {
    // Digits only (they came from pg_snapshot_xip), so they can be written into the query as they are.
    const valid = xids.filter((x) => /^\d{1,20}$/.test(x));
    if (valid.length === 0) return new Set();
    const list = valid.map((x) => `'${x}'`).join(',');
    const res = await this.db.execute<{ xid: string }>(
      sql.raw(
        `select x::text as xid from unnest(array[${list}]::xid8[]) as x where pg_xact_status(x) = 'in progress'`,
      ),
    );
    return new Set(rowsOf<{ xid: string }>(res).map((r) => r.xid));
  }
}

/** Gap ids looked up again in one read, at most. */
const MAX_GAP_IDS = 1000;

/**
 * One table's rows this read must see: the ids still missing between the watermark and the highest id
 * sent (a late commit fills one), and a batch past that. `seenUpTo`: every id at or below it was looked
 * at by this read (Infinity when the read was not cut short).
 */
async function readPast<R extends { row: { id: number } }>(
  w: Watermark,
  query: (where: (id: AnyPgColumn) => SQL | undefined) => Promise<R[]> & { limit(n: number): Promise<R[]> },
): Promise<{ rows: R[]; seenUpTo: number }> {
  const top = w.top;
  const missing = w.missing(MAX_GAP_IDS);
  const late = missing.length > 0 ? await query((id) => inArray(id, missing)) : [];
  const fresh = await query((id) => gt(id, top)).limit(READ_BATCH);
  let seenUpTo = Number.POSITIVE_INFINITY;
  if (missing.length === MAX_GAP_IDS) seenUpTo = missing[missing.length - 1];
  else if (fresh.length === READ_BATCH) seenUpTo = fresh[fresh.length - 1].row.id;
  return { rows: [...late, ...fresh], seenUpTo };
}

/**
 * Settles what the read just covered. A read cut short saw nothing past `seenUpTo`: the rest of a
 * settled range waits for the next read (which then needs no further check).
 */
function settleUpTo(w: Watermark, bounds: number[], seenUpTo: number, now: number): void {
  for (const b of bounds) {
    if (b <= seenUpTo) {
      w.settle(b);
      continue;
    }
    w.settle(seenUpTo);
    w.addPending(b, [], now);
  }
}
