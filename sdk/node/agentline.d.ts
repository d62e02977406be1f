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
  /** Calling hours in the callee's local time; default: the account's, else the deployment's (09:00–20:00 every day). */
  callWindow?: CallWindowInput;
  /** Not dialled before this time (ISO 8601 with an offset). */
  startAt?: string;
  /** Not dialled after this time: the call ends failed / expired (ISO 8601 with an offset). */
  expiresAt?: string;
  /** Retry policy of this call; default: the account's, else none. */
  retry?: RetryPolicyInput;
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/**
 * Calling hours in the callee's local time. `end` before `start` crosses midnight (the hours after
 * midnight belong to the day the window started); `end` equal to `start` is all day; `days` are the
 * days a window may start on.
 */
export interface CallWindow {
  /** "HH:MM", 24 h. */
  start: string;
  /** "HH:MM", 24 h. */
  end: string;
  days: Weekday[];
}

/** Which attempt ends are retried, how often and after how long. */
export interface RetryPolicy {
  /** Attempts in all, including the first: 1–10. */
  maxAttempts: number;
  /** Wait after an attempt ends before the next may dial: 60–86,400 s. */
  delaySeconds: number;
  /** Outcomes that retry, as "status" or "status/endedReason"; never "declined/rejected". */
  on: string[];
}

/** A calling window as sent: `days` defaults to every day. */
export type CallWindowInput = Omit<CallWindow, 'days'> & { days?: Weekday[] };

/** A retry policy as sent: `on` defaults to ["no_answer", "declined/busy", "failed/network_error"]. */
export type RetryPolicyInput = Omit<RetryPolicy, 'on'> & { on?: string[] };

/** One attempt of a call. */
export interface CallAttempt {
  attempt: number;
  dialedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  status: string;
  endedReason: string | null;
  durationSeconds: number | null;
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
  /** The current attempt, from 1. */
  attempt: number;
  /** Every attempt that dialed, oldest first: the finished, retried ones, then the current one once it dialed. */
  attempts: CallAttempt[];
  /** Earliest time the next attempt may dial; null: as soon as a worker is free. */
  scheduledFor: string | null;
  startAt: string | null;
  expiresAt: string | null;
  /** The call's own window (null: the account's or the deployment's applies). */
  callWindow: CallWindow | null;
  /** IANA time zones of the callee's number; the window must be open in every one of them. */
  timeZones: string[] | null;
  /** The policy resolved when the call was placed; null: no retries. */
  retryPolicy: RetryPolicy | null;
  batchId: string | null;
  /** The callee asked not to be called again; the number is now on the account's do-not-call list. */
  optOut: boolean;
}

export interface CallListItem {
  callId: string;
  status: CallStatus;
  to: string;
  objective: string;
  createdAt: string;
  endedAt: string | null;
}

export type BatchStatus = 'running' | 'paused' | 'canceled' | 'completed';

/** The call fields a batch row shares; `{{variable}}` placeholders in objective, context, voicemail.message and transfer.when. */
export type BatchTemplate = Omit<PlaceCallParams, 'to' | 'callWindow' | 'startAt' | 'expiresAt' | 'retry'>;

export interface BatchRow {
  to: string;
  variables?: Record<string, string | number | boolean>;
  metadata?: Record<string, unknown>;
}

export interface CreateBatchOptions {
  name?: string;
  template: BatchTemplate;
  /** At most this many of the batch's calls dial or talk at once (1–1,000). */
  concurrency?: number;
  callWindow?: CallWindowInput;
  startAt?: string;
  expiresAt?: string;
  retry?: RetryPolicyInput;
  metadata?: Record<string, unknown>;
}

export type CreateBatchParams = CreateBatchOptions &
  ({ rows: BatchRow[]; csv?: never } | { csv: string; rows?: never });

export interface BatchRefusal {
  /** 1-based row number (CSV: the data rows, header excluded). */
  row: number;
  to: string | null;
  code: string;
  message: string;
  details?: unknown;
}

export interface CreateBatchResult {
  batchId: string;
  status: BatchStatus;
  totalRows: number;
  acceptedRows: number;
  refusedRows: number;
  accepted: { row: number; callId: string }[];
  refused: BatchRefusal[];
}

export interface BatchCounts {
  queued: number;
  dialing: number;
  in_progress: number;
  completed: number;
  no_answer: number;
  voicemail: number;
  declined: number;
  failed: number;
}

export interface BatchSummary {
  batchId: string;
  id: string;
  name: string | null;
  status: BatchStatus;
  concurrency: number | null;
  /** Where batch.completed goes (the template's webhookUrl). */
  webhookUrl: string | null;
  createdAt: string;
  pausedAt: string | null;
  canceledAt: string | null;
  /** Set when every call of the batch has ended (also on a canceled batch). */
  completedAt: string | null;
  metadata: Record<string, unknown> | null;
  totalRows: number;
  acceptedRows: number;
  refusedRows: number;
  counts: BatchCounts;
  progress: { ended: number; total: number };
  [key: string]: unknown;
}

export interface BatchCall {
  row: number;
  callId: string;
  to: string;
  status: CallStatus;
  endedReason: string | null;
  attempt: number;
  scheduledFor: string | null;
}

export interface Batch extends BatchSummary {
  refused: BatchRefusal[];
  calls: BatchCall[];
  nextCursor: string | null;
}

/** The body of the `batch.completed` webhook, sent once when the batch's last call ended. */
export interface BatchCompletedEvent {
  event: 'batch.completed';
  eventId: string;
  timestamp: string;
  batchId: string;
  name: string | null;
  /** completed, or canceled for a canceled batch. */
  status: BatchStatus;
  totalRows: number;
  acceptedRows: number;
  refusedRows: number;
  counts: BatchCounts;
  metadata: Record<string, unknown> | null;
  completedAt: string;
}

export type DoNotCallSource = 'api' | 'cli' | 'import' | 'opt_out' | 'dashboard';

export interface DoNotCallEntry {
  number: string;
  source: DoNotCallSource;
  note: string | null;
  callId: string | null;
  createdAt: string;
}

export interface DoNotCallAddResult {
  /** Numbers that were not on the list and now are. */
  added: number;
  /** Numbers already on the list (or given twice); they keep their first source, note and time. */
  alreadyListed: number;
  /** Values that are no valid number (the first 1,000); `index` in `numbers` (0-based), or `line` of the CSV (1-based). */
  invalid: { index?: number; line?: number; value: string; code: string; message: string }[];
  /** Every invalid value, also those past the first 1,000 listed. */
  invalidCount: number;
}

export interface DoNotCallCheck {
  number: string;
  listed: boolean;
  list: 'account' | 'deployment' | null;
  /** The account list's entry (null when only the deployment's list holds the number, or none). */
  source: DoNotCallSource | null;
  note: string | null;
  callId: string | null;
  createdAt: string | null;
}

export interface AccountSettings {
  /** The account's own default; null: the deployment's applies. */
  callWindow: CallWindow | null;
  /** The account's own default; null: no retries. */
  retryPolicy: RetryPolicy | null;
  /** What a call of this account that sets neither gets. */
  effective: { callWindow: CallWindow; retryPolicy: RetryPolicy | null };
  /** The operator's rules: DEFAULT_CALL_WINDOW and QUIET_HOURS (null: none). */
  deployment: { defaultCallWindow: CallWindow; quietHours: { start: string; end: string } | null };
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
  ): Promise<{
    callId: string;
    status: 'queued';
    /** When it will dial at the earliest (startAt or the next opening of its calling hours); null: now. */
    scheduledFor: string | null;
  }>;
  getCall(callId: string): Promise<Call>;
  listCalls(query?: {
    limit?: number;
    cursor?: string;
    status?: CallStatus;
  }): Promise<{ calls: CallListItem[]; nextCursor: string | null }>;
  cancelCall(callId: string): Promise<Call>;
  /** Places a batch; refused rows are listed in the answer, all rows refused throws invalid_request (422). */
  createBatch(params: CreateBatchParams, options?: { idempotencyKey?: string }): Promise<CreateBatchResult>;
  /** Places a batch from CSV text (header row; `to`; variables; `metadata.<key>`), sent as JSON `csv`. */
  createBatchFromCsv(
    csvText: string,
    batchOptions: CreateBatchOptions,
    options?: { idempotencyKey?: string },
  ): Promise<CreateBatchResult>;
  getBatch(batchId: string, query?: { limit?: number; cursor?: string }): Promise<Batch>;
  listBatches(query?: { limit?: number; cursor?: string }): Promise<{
    batches: BatchSummary[];
    nextCursor: string | null;
  }>;
  pauseBatch(batchId: string): Promise<BatchSummary>;
  resumeBatch(batchId: string): Promise<BatchSummary>;
  cancelBatch(batchId: string): Promise<BatchSummary>;
  /** The results as CSV text, one row per call. */
  batchResultsCsv(batchId: string): Promise<string>;
  /** Every call of the batch, in row order, fetching `pageSize` (default 100) per request. */
  iterateBatchCalls(
    batchId: string,
    options?: { pageSize?: number },
  ): AsyncGenerator<BatchCall, void, undefined>;
  /**
   * Polls until every call of the batch has ended (`completedAt` set) and returns the batch.
   * Throws AgentlineError 'timeout' after `timeoutSeconds` (default 3600); polls every `intervalSeconds` (default 10).
   */
  waitForBatch(
    batchId: string,
    options?: { timeoutSeconds?: number; intervalSeconds?: number; limit?: number; signal?: AbortSignal },
  ): Promise<Batch>;
  addDoNotCall(numbers: string[], options?: { note?: string }): Promise<DoNotCallAddResult>;
  /** CSV text: the first column, or the column `number`. */
  importDoNotCallCsv(csvText: string): Promise<DoNotCallAddResult>;
  removeDoNotCall(number: string): Promise<void>;
  checkDoNotCall(number: string): Promise<DoNotCallCheck>;
  listDoNotCall(query?: { limit?: number; cursor?: string }): Promise<{
    numbers: DoNotCallEntry[];
    nextCursor: string | null;
  }>;
  getSettings(): Promise<AccountSettings>;
  /** A field left out stays; null clears it (the deployment's default applies). */
  updateSettings(patch: {
    callWindow?: CallWindowInput | null;
    retryPolicy?: RetryPolicyInput | null;
  }): Promise<AccountSettings>;
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
  /** A JSON request; the answer parsed (null for an empty one). */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any>;
  /** A request whose body and answer are text. */
  requestText(
    method: string,
    path: string,
    options?: { body?: string; contentType?: string; accept?: string; headers?: Record<string, string> },
  ): Promise<string>;
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
