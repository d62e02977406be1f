export type CallStatus =
  | 'queued'
  | 'dialing'
  | 'in_progress'
  | 'completed'
  | 'no_answer'
  | 'voicemail'
  | 'declined'
  | 'failed';

export interface CallField {
  name: string;
  type?: 'string' | 'boolean' | 'number';
  description?: string;
}

export interface PlaceCallParams {
  to: string;
  objective: string;
  context?: string;
  fields?: CallField[];
  webhookUrl?: string;
  callerId?: string;
  language?: string;
  voice?: string;
  maxDurationSeconds?: number;
  voicemail?: { action: 'hangup' } | { action: 'leave_message'; message: string };
  /** Extension: a person the agent may hand the call to (E.164 number or sip: URI). */
  transfer?: Transfer;
  metadata?: Record<string, unknown>;
}

export interface Transfer {
  to: string;
  /** Default 'cold'. */
  mode?: 'cold' | 'warm';
  /** When to transfer, in plain words; default: when the callee asks for a person. */
  when?: string;
}

export interface Turn {
  speaker: 'agent' | 'callee';
  text: string;
  startMs: number;
  endMs: number;
  interrupted: boolean;
  latency?: Record<string, number | null> | null;
}

/** One event of a call: a status change, or (from = to) a note such as why the call failed. */
export interface CallEvent {
  at: string;
  from: string | null;
  to: string;
  reason: string | null;
}

export interface Call {
  id: string;
  callId: string;
  status: CallStatus;
  to: string;
  callerId: string;
  objective: string;
  context: string | null;
  fields: CallField[];
  language: string;
  voice: string | null;
  metadata: Record<string, unknown> | null;
  webhookUrl: string | null;
  maxDurationSeconds: number;
  voicemail: { action: 'hangup' } | { action: 'leave_message'; message: string };
  /** The transfer target the call was placed with; a call handed over ends with endedReason 'transferred'. */
  transfer: { to: string; mode: 'cold' | 'warm'; when: string } | null;
  summary: string | null;
  extracted: Record<string, unknown> | null;
  transcript: string | null;
  turns: Turn[];
  recordingUrl: string | null;
  endedReason: string | null;
  createdAt: string;
  dialedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  /** The call's history, oldest first (extension). */
  events: CallEvent[];
}

export interface CallListItem {
  callId: string;
  status: CallStatus;
  to: string;
  objective: string;
  createdAt: string;
  endedAt: string | null;
}

export class AgentlineError extends Error {
  constructor(code: string, message: string, status: number, details?: unknown);
  readonly code: string;
  readonly status: number;
  readonly details?: unknown;
}

export class Client {
  constructor(
    apiKey: string,
    baseUrl?: string,
    options?: { fetch?: typeof fetch; requestTimeoutMs?: number },
  );
  placeCall(
    params: PlaceCallParams,
    options?: { idempotencyKey?: string },
  ): Promise<{ callId: string; status: 'queued' }>;
  getCall(callId: string): Promise<Call>;
  listCalls(query?: {
    limit?: number;
    cursor?: string;
    status?: CallStatus;
  }): Promise<{ calls: CallListItem[]; nextCursor: string | null }>;
  cancelCall(callId: string): Promise<Call>;
  /**
   * Waits for a terminal status: follows the call's event stream (returns as soon as the call ends) and
   * polls every `intervalSeconds` where the server has no event stream or `stream` is false.
   * Throws AgentlineError code 'timeout' when `timeoutSeconds` (default 180) runs out.
   */
  waitForCall(
    callId: string,
    options?: {
      timeoutSeconds?: number;
      intervalSeconds?: number;
      /** false: poll only, never open the event stream. */
      stream?: boolean;
      /** While the stream is open, still poll this often (default 30), in case a proxy holds the stream back. */
      streamPollSeconds?: number;
      signal?: AbortSignal;
    },
  ): Promise<Call>;
  /**
   * One call's live events: its history from the start (or after `lastEventId`), then live, ending after
   * `ended`. Reconnects with Last-Event-ID when the connection drops. `break` or `signal` closes it.
   */
  callEvents(callId: string, options?: EventStreamOptions): AsyncGenerator<CallStreamEvent, void, undefined>;
  /** Every call of the account, from now (or after `lastEventId`); never ends by itself. */
  accountEvents(options?: EventStreamOptions): AsyncGenerator<CallStreamEvent, void, undefined>;
  /** The AgentlineError for a non-2xx answer with this body. */
  errorFromResponse(status: number, bodyText: string): AgentlineError;
}

export interface EventStreamOptions {
  /** Resume after this event id (the `id` of the last event handled). */
  lastEventId?: string;
  /** Aborting it closes the connection; the pending `next()` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Reconnect when no byte (not even the server's heartbeat) arrived for this long; default 45,000. */
  idleTimeoutMs?: number;
  /** Ceiling of the backoff between failed reconnects (at least the server's `retry:`); default 30,000. */
  maxBackoffMs?: number;
}

interface StreamEventBase<T extends string, D> {
  type: T;
  /** The resume cursor; null on messages that are not resumable (partials, the terminal status). */
  id: string | null;
  data: D;
}

export type CallStreamEvent =
  | StreamEventBase<
      'status',
      { callId: string; from: CallStatus | null; to: CallStatus; reason: string | null; at: string }
    >
  | StreamEventBase<'note', { callId: string; status: CallStatus; reason: string | null; at: string }>
  | StreamEventBase<
      'turn',
      {
        callId: string;
        seq: number;
        speaker: 'agent' | 'callee';
        text: string;
        startMs: number;
        endMs: number;
        interrupted: boolean;
        latency: Record<string, number | null> | null;
        at: string;
      }
    >
  | StreamEventBase<'partial', { callId: string; speaker: 'callee'; text: string; at: string }>
  | StreamEventBase<
      'ended',
      {
        callId: string;
        status: CallStatus;
        endedReason: string | null;
        summary: string | null;
        extracted: Record<string, unknown> | null;
        durationSeconds: number | null;
        recordingUrl: string | null;
        at: string;
      }
    >;

export function verifyWebhook(
  rawBody: string | Uint8Array,
  signatureHeader: string,
  secret: string,
  toleranceSeconds?: number,
): boolean;
