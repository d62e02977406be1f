import { and, asc, eq, gt, inArray, lte, ne } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../calls/status.js';
import type { Db } from '../db/client.js';
import { callEvents, calls, callTurns } from '../db/schema.js';
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

/** Rows of each table read at once: a reader behind by more catches up over several reads. */
export const READ_BATCH = 200;

export interface FeedRead {
  messages: StreamMessage[];
  /** Nothing more will come (per-call: `ended` was sent). */
  done: boolean;
}

export interface Feed {
  read(): Promise<FeedRead>;
}

/**
 * One call's history, then what comes next. Every write of a call (turn, note, transition) first
 * locks its row (CallStore), so within one call ids are handed out in commit order: a plain
 * `id > cursor` per table never skips a row that commits later.
 */
export class CallFeed implements Feed {
  private cursor: Cursor;
  private finished = false;
  private readOnce = false;

  constructor(
    private readonly db: Db,
    private readonly callId: string,
    from: Cursor,
    private readonly publicBaseUrl: string,
  ) {
    this.cursor = { ...from };
  }

  async read(): Promise<FeedRead> {
    if (this.finished) return { messages: [], done: true };
    // Both tables in one snapshot: with two, a status and the turn after it could both commit between
    // the reads, and the turn would be sent first (and under another id than a later reader gets).
    const { events, turns } = await this.db.transaction(
      async (tx) => ({
        events: await tx
          .select()
          .from(callEvents)
          .where(and(eq(callEvents.callId, this.callId), gt(callEvents.id, this.cursor.events)))
          .orderBy(asc(callEvents.id))
          .limit(READ_BATCH),
        turns: await tx
          .select()
          .from(callTurns)
          .where(and(eq(callTurns.callId, this.callId), gt(callTurns.id, this.cursor.turns)))
          .orderBy(asc(callTurns.id))
          .limit(READ_BATCH),
      }),
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
    let rows = mergeRows(events, turns);
    const terminalAt = rows.findIndex((r) => r.kind === 'event' && isTerminalEvent(r.row));
    // More turns than one read holds: the end waits until they are all sent.
    if (terminalAt >= 0 && turns.length === READ_BATCH) rows = rows.slice(0, terminalAt);

    const messages: StreamMessage[] = [];
    for (const r of rows) {
      if (r.kind === 'turn') {
        this.cursor.turns = r.row.id;
        messages.push({ ...turnMessage(r.row), id: formatCursor(this.cursor) });
        continue;
      }
      this.cursor.events = r.row.id;
      if (!isTerminalEvent(r.row)) {
        messages.push({ ...eventMessage(r.row), id: formatCursor(this.cursor) });
        continue;
      }
      const [call] = await this.db.select().from(calls).where(eq(calls.id, this.callId)).limit(1);
      // The terminal status has no id: `ended` carries it, so a resume between the two repeats both.
      messages.push(eventMessage(r.row));
      if (call)
        messages.push({ ...endedMessage(call, r.row, this.publicBaseUrl), id: formatCursor(this.cursor) });
      this.finished = true;
      return { messages, done: true };
    }
    const firstRead = !this.readOnce;
    this.readOnce = true;
    // Later reads would have met the terminal event among the rows.
    if (firstRead && messages.length === 0 && (await this.endedBeforeCursor())) {
      this.finished = true;
      return { messages, done: true };
    }
    return { messages, done: false };
  }

  /** A resume from `ended`'s own id: the call is over and everything was sent. */
  private async endedBeforeCursor(): Promise<boolean> {
    const [terminal] = await this.db
      .select({ id: callEvents.id })
      .from(callEvents)
      .where(
        and(
          eq(callEvents.callId, this.callId),
          lte(callEvents.id, this.cursor.events),
          ne(callEvents.fromStatus, callEvents.toStatus),
          inArray(callEvents.toStatus, [...TERMINAL_STATUSES]),
        ),
      )
      .limit(1);
    return terminal !== undefined;
  }
}
