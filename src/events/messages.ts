import { recordingUrlOf } from '../calls/call-view.js';
import { isTerminal } from '../calls/status.js';
import type { CallEventRow, CallRow, CallTurnRow } from '../db/schema.js';

/**
 * The wire format of the live event streams (see /v1/agent/calls/{id}/events in the OpenAPI text):
 * `id: <cursor>` on durable messages only, `event: <type>`, `data: <one-line JSON>`.
 */
export type EventType = 'status' | 'note' | 'turn' | 'partial' | 'ended';

export interface StreamMessage {
  event: EventType;
  data: Record<string, unknown> & { callId: string; at: string };
  /** The cursor to resume after this message; absent on messages that are not resumable. */
  id?: string;
}

/** Position in both tables: every call_events row with id ≤ events and call_turns row with id ≤ turns. */
export interface Cursor {
  events: number;
  turns: number;
}

export const START: Cursor = { events: 0, turns: 0 };

export function formatCursor(c: Cursor): string {
  return `${c.events}.${c.turns}`;
}

/** `<lastCallEventId>.<lastTurnId>`, both non-negative integers; null when malformed. */
export function parseCursor(raw: string): Cursor | null {
  const m = /^(\d{1,18})\.(\d{1,18})$/.exec(raw.trim());
  if (!m) return null;
  const events = Number(m[1]);
  const turns = Number(m[2]);
  if (!Number.isSafeInteger(events) || !Number.isSafeInteger(turns)) return null;
  return { events, turns };
}

/** One SSE message. JSON.stringify escapes CR and LF, so data is always a single line. */
export function encodeMessage(m: StreamMessage): string {
  const id = m.id === undefined ? '' : `id: ${m.id}\n`;
  return `${id}event: ${m.event}\ndata: ${JSON.stringify(m.data)}\n\n`;
}

/** A status change (`status`) or an event that changes none (`note`, from = to). */
export function eventMessage(e: CallEventRow): StreamMessage {
  const at = e.at.toISOString();
  if (e.fromStatus === e.toStatus) {
    return { event: 'note', data: { callId: e.callId, status: e.toStatus, reason: e.reason ?? null, at } };
  }
  return {
    event: 'status',
    data: { callId: e.callId, from: e.fromStatus ?? null, to: e.toStatus, reason: e.reason ?? null, at },
  };
}

export function isTerminalEvent(e: CallEventRow): boolean {
  return e.fromStatus !== e.toStatus && isTerminal(e.toStatus as never);
}

export function turnMessage(t: CallTurnRow): StreamMessage {
  return {
    event: 'turn',
    data: {
      callId: t.callId,
      seq: t.seq,
      speaker: t.speaker,
      text: t.text,
      startMs: t.startMs,
      endMs: t.endMs,
      interrupted: t.interrupted,
      latency: t.latency ?? null,
      at: t.createdAt.toISOString(),
    },
  };
}

/** The call's results, sent after its terminal `status` (which carries no id: this one carries it). */
export function endedMessage(call: CallRow, terminal: CallEventRow, publicBaseUrl: string): StreamMessage {
  return {
    event: 'ended',
    data: {
      callId: call.id,
      status: call.status,
      endedReason: call.endedReason ?? null,
      summary: call.summary ?? null,
      extracted: call.extracted ?? null,
      durationSeconds: call.durationSeconds ?? null,
      recordingUrl: recordingUrlOf(call, publicBaseUrl),
      at: terminal.at.toISOString(),
    },
  };
}

export function partialMessage(callId: string, text: string, at: Date): StreamMessage {
  return { event: 'partial', data: { callId, speaker: 'callee', text, at: at.toISOString() } };
}

export type FeedRow = { kind: 'event'; row: CallEventRow } | { kind: 'turn'; row: CallTurnRow };

/**
 * Events and turns in the order they happened, each table kept in id order (a cursor must never pass
 * an id that was not sent yet). A terminal status waits for every turn read with it, so `ended` comes
 * after the call's last turn.
 */
export function mergeRows(events: readonly CallEventRow[], turns: readonly CallTurnRow[]): FeedRow[] {
  const out: FeedRow[] = [];
  let i = 0;
  let j = 0;
  while (i < events.length || j < turns.length) {
    const e = events[i];
    const t = turns[j];
    const takeEvent =
      e !== undefined &&
      (t === undefined || (!isTerminalEvent(e) && e.at.getTime() <= t.createdAt.getTime()));
    if (takeEvent) {
      out.push({ kind: 'event', row: e });
      i++;
    } else {
      out.push({ kind: 'turn', row: t! });
      j++;
    }
  }
  return out;
}
