import type { CallAttempt, CallEventRow, CallRow, CallTurnRow, TurnLatency } from '../db/schema.js';

/** The public shape of one turn (`turns[]` on a call). */
export interface TurnView {
  speaker: 'agent' | 'callee';
  text: string;
  startMs: number;
  endMs: number;
  interrupted: boolean;
  latency: TurnLatency | null;
}

export function turnView(t: CallTurnRow): TurnView {
  return {
    speaker: t.speaker,
    text: t.text,
    startMs: t.startMs,
    endMs: t.endMs,
    interrupted: t.interrupted,
    latency: t.latency ?? null,
  };
}

/**
 * The public shape of one event of a call (`events[]`, an extension): a status change, or an event
 * that changes no status (`from` = `to`), such as why the call failed (`ari_request_failed: …`).
 */
export interface CallEventView {
  at: string;
  from: string | null;
  to: string;
  reason: string | null;
}

export function callEventView(e: CallEventRow): CallEventView {
  return { at: e.at.toISOString(), from: e.fromStatus ?? null, to: e.toStatus, reason: e.reason ?? null };
}

/** `Agent: ...` / `Callee: ...`, one line a turn, as the spec asks. */
export function transcriptOf(turns: readonly { speaker: 'agent' | 'callee'; text: string }[]): string | null {
  if (turns.length === 0) return null;
  return turns.map((t) => `${t.speaker === 'agent' ? 'Agent' : 'Callee'}: ${t.text}`).join('\n');
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function recordingUrlOf(call: CallRow, publicBaseUrl: string): string | null {
  return call.recordingFile ? `${publicBaseUrl}/v1/agent/calls/${call.id}/recording` : null;
}

/**
 * The call's attempts, oldest first: those that ended and were retried (stored in `attempts`), then
 * the current one once it has dialed (still running, or the call's last). An attempt that never
 * dialed (the call is queued for it, or it ended before dialing: expired, canceled, do-not-call) is
 * not listed.
 */
export function attemptsOf(call: CallRow): CallAttempt[] {
  const done = call.attempts ?? [];
  if (!call.dialedAt) return [...done];
  return [
    ...done,
    {
      attempt: call.attempt,
      dialedAt: iso(call.dialedAt),
      startedAt: iso(call.startedAt),
      endedAt: iso(call.endedAt),
      status: call.status,
      endedReason: call.endedReason ?? null,
      durationSeconds: call.durationSeconds ?? null,
    },
  ];
}

/** Scheduling, retries and opt-out: the same fields in the call view and in every call webhook. */
function outboundFields(call: CallRow) {
  return {
    attempt: call.attempt,
    attempts: attemptsOf(call),
    scheduledFor: iso(call.scheduledFor),
    startAt: iso(call.startAt),
    expiresAt: iso(call.expiresAt),
    callWindow: call.callWindow ?? null,
    timeZones: call.timeZones ?? null,
    retryPolicy: call.retryPolicy ?? null,
    batchId: call.batchId ?? null,
    optOut: call.optOut,
  };
}

/** `GET /v1/agent/calls/{id}`. */
export function callView(
  call: CallRow,
  turns: readonly CallTurnRow[],
  publicBaseUrl: string,
  events: readonly CallEventRow[] = [],
) {
  const tv = turns.map(turnView);
  return {
    id: call.id,
    callId: call.id,
    status: call.status,
    to: call.toNumber,
    callerId: call.callerId,
    objective: call.objective,
    context: call.context ?? null,
    fields: call.fields,
    language: call.language,
    voice: call.voice ?? null,
    metadata: call.metadata ?? null,
    webhookUrl: call.webhookUrl ?? null,
    maxDurationSeconds: call.maxDurationSeconds,
    voicemail: call.voicemail,
    transfer: call.transfer ?? null,
    summary: call.summary ?? null,
    extracted: call.extracted ?? null,
    transcript: call.transcript ?? transcriptOf(tv),
    turns: tv,
    recordingUrl: recordingUrlOf(call, publicBaseUrl),
    endedReason: call.endedReason ?? null,
    createdAt: call.createdAt.toISOString(),
    dialedAt: iso(call.dialedAt),
    startedAt: iso(call.startedAt),
    endedAt: iso(call.endedAt),
    durationSeconds: call.durationSeconds ?? null,
    ...outboundFields(call),
    events: events.map(callEventView),
  };
}
export type CallView = ReturnType<typeof callView>;

/** One item of `GET /v1/agent/calls`. */
export function callListItem(call: CallRow) {
  return {
    callId: call.id,
    status: call.status,
    to: call.toNumber,
    objective: call.objective,
    createdAt: call.createdAt.toISOString(),
    endedAt: iso(call.endedAt),
  };
}

/**
 * The webhook body of the spec; `timestamp` is when the event happened, not when it is sent.
 * `call.retrying` describes the attempt that ended (its status, endedReason and times, `attempt` its
 * number; pass that attempt's row) and adds `nextAttemptAt`.
 */
export function webhookPayload(
  event: string,
  eventId: string,
  at: Date,
  call: CallRow,
  turns: readonly CallTurnRow[],
  publicBaseUrl: string,
  extra: { nextAttemptAt?: Date } = {},
) {
  return {
    event,
    eventId,
    timestamp: at.toISOString(),
    callId: call.id,
    status: call.status,
    to: call.toNumber,
    objective: call.objective,
    metadata: call.metadata ?? null,
    startedAt: iso(call.startedAt),
    endedAt: iso(call.endedAt),
    summary: call.summary ?? null,
    extracted: call.extracted ?? null,
    transcript: call.transcript ?? transcriptOf(turns),
    recordingUrl: recordingUrlOf(call, publicBaseUrl),
    endedReason: call.endedReason ?? null,
    ...outboundFields(call),
    ...(extra.nextAttemptAt ? { nextAttemptAt: extra.nextAttemptAt.toISOString() } : {}),
  };
}
