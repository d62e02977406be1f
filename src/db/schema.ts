import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const accounts = pgTable('accounts', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** AES-256-GCM ciphertext of the whsec_ secret; it must be recoverable to sign, so it is encrypted, not hashed. */
  webhookSecretEnc: text('webhook_secret_enc'),
  /** Per-account overrides of the deployment's cap defaults; null means the default. */
  capCallsPerMinute: integer('cap_calls_per_minute'),
  capConcurrentCalls: integer('cap_concurrent_calls'),
  capCallsPerDay: integer('cap_calls_per_day'),
  capMinutesPerMonth: integer('cap_minutes_per_month'),
  createdAt: ts('created_at').notNull().defaultNow(),
  /** Set by an instance admin: the account's keys and users stop working and its queued calls fail. */
  disabledAt: ts('disabled_at'),
  disabledReason: text('disabled_reason'),
  /** The account's calling hours in the callee's local time; null: the deployment's DEFAULT_CALL_WINDOW. */
  callWindow: jsonb('call_window').$type<CallWindow | null>(),
  /** The account's default retry policy; null: no retries unless a call or batch asks. */
  retryPolicy: jsonb('retry_policy').$type<RetryPolicy | null>(),
});

/** People who sign in to the dashboard; each belongs to one account. */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** Stored lower-cased; unique across the deployment, so sign-in needs only the email. */
    email: text('email').notNull(),
    /** `scrypt$N$r$p$salt$hash` (base64); null until the one-time sign-in link sets a password. */
    passwordHash: text('password_hash'),
    role: text('role').$type<'owner' | 'viewer'>().notNull().default('viewer'),
    /** Sees every account and edits caps; set only by the CLI. */
    instanceAdmin: boolean('instance_admin').notNull().default(false),
    /** Consecutive failed sign-ins; reset by a success. */
    failedSignIns: integer('failed_sign_ins').notNull().default(0),
    lockedUntil: ts('locked_until'),
    /** SHA-256 hex of a one-time sign-in token, and when it stops working. */
    signInTokenHash: text('sign_in_token_hash'),
    signInTokenExpiresAt: ts('sign_in_token_expires_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastSignInAt: ts('last_sign_in_at'),
    disabledAt: ts('disabled_at'),
  },
  (t) => [
    uniqueIndex('users_email_uq').on(t.email),
    uniqueIndex('users_sign_in_token_uq').on(t.signInTokenHash),
  ],
);

/** Dashboard sign-ins; the cookie holds a random token whose SHA-256 is the id. */
export const userSessions = pgTable(
  'user_sessions',
  {
    /** SHA-256 hex of the cookie's token. */
    id: text('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The CSRF token of this session's forms (random, not secret from the session's owner). */
    csrfToken: text('csrf_token').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('user_sessions_user_idx').on(t.userId)],
);

/** Instance-admin API keys (adm_…), minted by the CLI; they reach /v1/admin only. */
export const adminKeys = pgTable(
  'admin_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    keyHash: text('key_hash').notNull(),
    prefix: text('prefix').notNull(),
    label: text('label'),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [uniqueIndex('admin_keys_hash_uq').on(t.keyHash)],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** SHA-256 hex of the whole key; keys are 32 random bytes, so a fast hash is enough. */
    keyHash: text('key_hash').notNull(),
    /** The first characters, kept to let operators recognise and revoke a key. */
    prefix: text('prefix').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [uniqueIndex('api_keys_hash_uq').on(t.keyHash), index('api_keys_prefix_idx').on(t.prefix)],
);

export const phoneNumbers = pgTable(
  'phone_numbers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    number: text('number').notNull(),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('phone_numbers_number_uq').on(t.number),
    uniqueIndex('phone_numbers_one_default_uq').on(t.accountId).where(sql`${t.isDefault}`),
  ],
);

/** A set of calls placed from one template; its rows are calls with `batch_id`. */
export const batches = pgTable(
  'batches',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    name: text('name'),
    /** running → completed; paused ↔ running; canceled (its queued calls were failed/canceled). */
    status: text('status').$type<BatchStatus>().notNull().default('running'),
    /** The shared call template as accepted (with its `{{variable}}` placeholders). */
    template: jsonb('template').$type<Record<string, unknown>>().notNull(),
    /** At most this many of the batch's calls dial or talk at once; null: no batch limit. */
    concurrency: integer('concurrency'),
    /** `batch.completed` goes here (the template's webhookUrl). */
    webhookUrl: text('webhook_url'),
    metadata: jsonb('metadata').$type<Record<string, unknown> | null>(),
    totalRows: integer('total_rows').notNull(),
    acceptedRows: integer('accepted_rows').notNull(),
    /** Rows refused at acceptance: `[{ row, to, code, message, details }]`. */
    refused: jsonb('refused').$type<BatchRefusal[]>().notNull().default([]),
    createdAt: ts('created_at').notNull().defaultNow(),
    pausedAt: ts('paused_at'),
    canceledAt: ts('canceled_at'),
    completedAt: ts('completed_at'),
  },
  (t) => [
    index('batches_account_created_idx').on(t.accountId, t.createdAt, t.id),
    /** The worker's claim starts from the running batches. */
    index('batches_running_idx').on(t.accountId).where(sql`${t.status} = 'running'`),
  ],
);

/** Numbers an account must never call; checked at placement and again before each dial. */
export const doNotCall = pgTable(
  'do_not_call',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** E.164. */
    number: text('number').notNull(),
    /** api, cli, import, opt_out, dashboard. */
    source: text('source').notNull(),
    /** The call in which the callee opted out (source opt_out). */
    callId: uuid('call_id'),
    note: text('note'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.number] })],
);

/**
 * Originates on the trunk, shared by every worker of the database: a dial is counted from when it
 * starts until a second after its originate returned (`done_at`), which is how TRUNK_MAX_CPS holds
 * across workers (see src/calls/trunk-pacer.ts).
 */
export const trunkDials = pgTable(
  'trunk_dials',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    callId: uuid('call_id'),
    workerId: text('worker_id').notNull(),
    startedAt: ts('started_at').notNull(),
    /** When its originate returned; null while it is in flight. */
    doneAt: ts('done_at'),
  },
  (t) => [index('trunk_dials_started_idx').on(t.startedAt)],
);

export const calls = pgTable(
  'calls',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    status: text('status').notNull().default('queued'),
    toNumber: text('to_number').notNull(),
    callerId: text('caller_id').notNull(),
    objective: text('objective').notNull(),
    context: text('context'),
    fields: jsonb('fields').$type<CallField[]>().notNull().default([]),
    language: text('language').notNull(),
    voice: text('voice'),
    metadata: jsonb('metadata').$type<Record<string, unknown> | null>(),
    webhookUrl: text('webhook_url'),
    maxDurationSeconds: integer('max_duration_seconds').notNull().default(600),
    voicemail: jsonb('voicemail').$type<VoicemailOption>().notNull().default({ action: 'hangup' }),
    /** A person the agent may hand the call to (extension); null: the call has no transfer target. */
    transfer: jsonb('transfer').$type<TransferOption | null>(),
    summary: text('summary'),
    extracted: jsonb('extracted').$type<Record<string, unknown> | null>(),
    transcript: text('transcript'),
    /** File name under RECORDINGS_DIR; the API serves it, never the path. */
    recordingFile: text('recording_file'),
    /**
     * The call's recording is still on the PBX under this name: it could not be fetched when the call
     * ended (Asterisk was down or restarting). Fetched, stored and deleted there after the reconnect.
     */
    pbxRecording: text('pbx_recording'),
    endedReason: text('ended_reason'),
    createdAt: ts('created_at').notNull().defaultNow(),
    dialedAt: ts('dialed_at'),
    startedAt: ts('started_at'),
    endedAt: ts('ended_at'),
    durationSeconds: integer('duration_seconds'),
    /** The worker that claimed the call; null while it waits in the queue. */
    workerId: text('worker_id'),
    claimedAt: ts('claimed_at'),
    /** The batch this call is a row of (null: placed on its own). */
    batchId: uuid('batch_id').references(() => batches.id, { onDelete: 'set null' }),
    /** The row's 1-based index in its batch. */
    batchRow: integer('batch_row'),
    /** As the client asked (`startAt`): not dialled before. */
    startAt: ts('start_at'),
    /** Not dialled by then: the call ends as failed/expired. */
    expiresAt: ts('expires_at'),
    /**
     * The earliest time the next attempt may dial (startAt, the calling window's next opening, a
     * retry's delay); null: now. The worker claims only calls that are due.
     */
    scheduledFor: ts('scheduled_for'),
    /** The call's own calling hours (from the call or its batch); null: the account's, else the deployment's. */
    callWindow: jsonb('call_window').$type<CallWindow | null>(),
    /** IANA zones the callee may be in, from the number at placement (several where it is ambiguous). */
    timeZones: jsonb('time_zones').$type<string[] | null>(),
    /** The retry policy in force (call, else batch, else account, resolved at placement); null: none. */
    retryPolicy: jsonb('retry_policy').$type<RetryPolicy | null>(),
    /** The attempt in progress or last made, from 1. */
    attempt: integer('attempt').notNull().default(1),
    /** Attempts that ended and were retried, oldest first (the current one is the row itself). */
    attempts: jsonb('attempts').$type<CallAttempt[]>().notNull().default([]),
    /** The callee asked not to be called again; the number went on the account's do-not-call list. */
    optOut: boolean('opt_out').notNull().default(false),
  },
  (t) => [
    index('calls_account_created_idx').on(t.accountId, t.createdAt, t.id),
    index('calls_queue_idx')
      .on(t.scheduledFor, t.createdAt)
      .where(sql`${t.status} = 'queued' and ${t.workerId} is null`),
    index('calls_batch_idx').on(t.batchId, t.batchRow).where(sql`${t.batchId} is not null`),
    index('calls_active_idx').on(t.accountId).where(sql`${t.status} in ('queued', 'dialing', 'in_progress')`),
    index('calls_pbx_recording_idx').on(t.id).where(sql`${t.pbxRecording} is not null`),
    // The worker's claim (src/calls/worker.ts): each group's next due calls in claim order, read from
    // the front of the index whatever the queue's length (null scheduled_for = due now, first).
    index('calls_due_batch_idx')
      .on(t.batchId, sql`coalesce("scheduled_for", '-infinity'::timestamptz)`, t.batchRow)
      .where(sql`${t.status} = 'queued' and ${t.workerId} is null and ${t.batchId} is not null`),
    index('calls_due_single_idx')
      .on(t.accountId, sql`coalesce("scheduled_for", '-infinity'::timestamptz)`, t.createdAt)
      .where(sql`${t.status} = 'queued' and ${t.workerId} is null and ${t.batchId} is null`),
    // Calls holding a line or a claim (at most the workers' concurrency): the claim's limits count them.
    index('calls_live_idx')
      .on(t.accountId, t.batchId)
      .where(
        sql`${t.status} in ('dialing', 'in_progress') or (${t.status} = 'queued' and ${t.workerId} is not null)`,
      ),
    // A batch's calls not yet ended: whether the batch is done, without counting its ended calls.
    index('calls_batch_active_idx')
      .on(t.batchId)
      .where(sql`${t.batchId} is not null and ${t.status} in ('queued', 'dialing', 'in_progress')`),
  ],
);

export const callTurns = pgTable(
  'call_turns',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    callId: uuid('call_id')
      .notNull()
      .references(() => calls.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    speaker: text('speaker').$type<'agent' | 'callee'>().notNull(),
    text: text('text').notNull(),
    startMs: integer('start_ms').notNull(),
    endMs: integer('end_ms').notNull(),
    interrupted: boolean('interrupted').notNull().default(false),
    latency: jsonb('latency').$type<TurnLatency | null>(),
    /** When the turn was stored: the time its live event carries. */
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('call_turns_call_seq_uq').on(t.callId, t.seq)],
);

export const callEvents = pgTable(
  'call_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    callId: uuid('call_id')
      .notNull()
      .references(() => calls.id, { onDelete: 'cascade' }),
    fromStatus: text('from_status'),
    toStatus: text('to_status').notNull(),
    reason: text('reason'),
    at: ts('at').notNull().defaultNow(),
  },
  (t) => [index('call_events_call_idx').on(t.callId, t.id)],
);

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    /** Also the payload's eventId: every retry of one event carries the same id. */
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** Null for a batch's event (`batch.completed`). */
    callId: uuid('call_id').references(() => calls.id, { onDelete: 'cascade' }),
    batchId: uuid('batch_id').references(() => batches.id, { onDelete: 'cascade' }),
    /** The call's attempt this event is about (1 for calls without retries and for batch events). */
    attempt: integer('attempt').notNull().default(1),
    event: text('event').notNull(),
    url: text('url').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    /** pending → delivered, or → dead once the retry window is over. */
    status: text('status').$type<'pending' | 'delivered' | 'dead'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    lastStatusCode: integer('last_status_code'),
    createdAt: ts('created_at').notNull().defaultNow(),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    uniqueIndex('webhook_deliveries_call_event_uq').on(t.callId, t.event, t.attempt),
    uniqueIndex('webhook_deliveries_batch_event_uq').on(t.batchId, t.event).where(sql`${t.callId} is null`),
  ],
);

/** Each try of a webhook delivery: when, how long, and what the receiver answered (the call page lists them). */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    /** 1 for the first try of the delivery. */
    attempt: integer('attempt').notNull(),
    attemptedAt: ts('attempted_at').notNull().defaultNow(),
    durationMs: integer('duration_ms').notNull(),
    /** The receiver's HTTP status; null when no response came (refused, timed out, blocked address). */
    statusCode: integer('status_code'),
    /** Why the try failed, in words; null for a 2xx. */
    error: text('error'),
    /** The start of the receiver's response body (at most 512 characters), for the operator. */
    responseExcerpt: text('response_excerpt'),
  },
  (t) => [uniqueIndex('webhook_attempts_delivery_attempt_uq').on(t.deliveryId, t.attempt)],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    statusCode: integer('status_code').notNull(),
    response: jsonb('response').$type<Record<string, unknown>>().notNull(),
    callId: uuid('call_id'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.key] })],
);

export const usageCounters = pgTable(
  'usage_counters',
  {
    accountId: uuid('account_id')
      .notNull()
      .references(() => accounts.id, { onDelete: 'cascade' }),
    /** UTC day. */
    day: date('day', { mode: 'string' }).notNull(),
    calls: integer('calls').notNull().default(0),
    callSeconds: integer('call_seconds').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.day] })],
);

export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: ts('started_at').notNull().defaultNow(),
  heartbeatAt: ts('heartbeat_at').notNull().defaultNow(),
  /**
   * Calls this worker would carry now at the voice quality it aims for (WORKER_CONCURRENCY, or with
   * `auto` what its engines measured at start and its live load allow); written with each heartbeat.
   * While it measures its engines: what it accepts meanwhile, with limited_by `measuring`. Null only for a
   * worker older than this column.
   */
  capacity: integer('capacity'),
  /** Calls it carried at its last heartbeat. */
  liveCalls: integer('live_calls').notNull().default(0),
  /** What bounds its capacity now (e.g. `dialogue`, `cpu`, `configured`), for /readyz and the dashboard. */
  limitedBy: text('limited_by'),
});

export type CallField = { name: string; type: 'string' | 'boolean' | 'number'; description?: string };
export type TransferOption = { to: string; mode: 'cold' | 'warm'; when: string };
export type VoicemailOption = { action: 'hangup' } | { action: 'leave_message'; message: string };
/** Milliseconds from the moment of answer; null where a stage did not happen in that turn. */
export type TurnLatency = {
  calleeSpeechEndMs: number | null;
  sttFinalMs: number | null;
  firstTokenMs: number | null;
  firstTtsAudioMs: number | null;
  firstVoicedFrameMs: number | null;
};

/**
 * Calling hours in the callee's local time: `start`/`end` are "HH:MM" (24 h); `end` before `start`
 * crosses midnight (the hours after midnight belong to the day the window started); `days` are the
 * days a window may start on. `end` equal to `start` means all day.
 */
export type CallWindow = {
  start: string;
  end: string;
  days: ('mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun')[];
};
/** Which attempt ends are retried, how often and after how long. */
export type RetryPolicy = {
  /** Attempts in all, including the first (1–10). */
  maxAttempts: number;
  /** Wait after an attempt ends before the next may dial (60–86,400 s). */
  delaySeconds: number;
  /**
   * Outcomes that retry, as `status` or `status/endedReason`: default
   * ["no_answer", "declined/busy", "failed/network_error"]; "voicemail" only when listed.
   * Never "declined/rejected".
   */
  on: string[];
};
export type CallAttempt = {
  attempt: number;
  dialedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  status: string;
  endedReason: string | null;
  durationSeconds: number | null;
};
export type BatchStatus = 'running' | 'paused' | 'canceled' | 'completed';
export type BatchRefusal = {
  /** 1-based row number (the CSV's data rows, header excluded). */
  row: number;
  to: string | null;
  code: string;
  message: string;
  details?: unknown;
};

export type AccountRow = typeof accounts.$inferSelect;
export type BatchRow = typeof batches.$inferSelect;
export type DoNotCallRow = typeof doNotCall.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type CallRow = typeof calls.$inferSelect;
export type CallTurnRow = typeof callTurns.$inferSelect;
export type CallEventRow = typeof callEvents.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
