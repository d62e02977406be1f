import { z } from 'zod';
import { CallListSchema, CallSchema, LIMITS, PlaceCallResponseSchema } from '../api/schemas.js';
import { CALL_STATUSES } from '../calls/status.js';

/**
 * Input and output schemas of the MCP tools. place_call's fields carry every limit of the REST API in
 * their descriptions (a model reads these), and the REST API checks them, so a bad value comes back as
 * the API's own `{ error: { code, message, details } }`, as for REST clients. The waiting and paging
 * knobs exist only here, so their schemas enforce their own bounds. Outputs are the REST response
 * schemas themselves, so the two cannot drift apart.
 */

/** The default wait; it returns well inside the official MCP client's 60 s request timeout. */
export const WAIT_DEFAULT_SECONDS = 50;
/** The longest wait; only a client that resets its timeout on progress notifications should ask for more than 50 s. */
export const WAIT_MAX_SECONDS = 300;
/** Progress notifications go out at least this often while a wait runs (a status change sends one at once). */
export const WAIT_HEARTBEAT_SECONDS = 5;
export const WAIT_INTERVAL_DEFAULT_SECONDS = 2;

const STATUS_LIST = `${CALL_STATUSES.join(', ')}`;
const statusAlternatives = CALL_STATUSES.join('|');
/** The comma list the REST list route takes (`status=completed,failed`), spaces around items allowed. */
const STATUS_FILTER = new RegExp(`^\\s*(${statusAlternatives})\\s*(,\\s*(${statusAlternatives})\\s*)*$`);

const callId = z
  .string()
  .describe('The callId that place_call returned (a UUID). Another account’s call id is not_found.');

/** GET /v1/agent/batches/{id}'s page size limit (BATCH_LIMITS.callsPageMax of the REST route). */
const BATCH_CALLS_PAGE_MAX = 1000;

const batchId = z
  .string()
  .describe('The batchId that create_batch returned (a UUID). Another account’s batch id is not_found.');

const hhmm = (what: string) => z.string().describe(`${what}, "HH:MM" on the 24-hour clock (00:00–23:59).`);

/** Same shape as REST's CallWindow; the REST API checks it and answers invalid_request with the field. */
const callWindowInput = z
  .object({
    start: hhmm('When the window opens'),
    end: hhmm('When it closes; before start: the window crosses midnight; equal to start: all day'),
    days: z
      .array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']))
      .optional()
      .describe(
        'Days the window may open on (callee-local; at least one, no repeats), e.g. ["mon","tue","wed","thu","fri"]; default every day.',
      ),
  })
  .describe(
    'When the call may ring, in the callee’s local time (taken from the number; where a number may lie in several time zones the window must hold in all of them). ' +
      'Default: the account’s window, else the deployment’s (09:00–20:00 every day unless the operator changed it — a default, not legal advice). The deployment’s quiet hours always apply too. ' +
      'A call placed outside its window waits queued (scheduledFor says until when).',
  );

const retryInput = z
  .object({
    maxAttempts: z.number().int().describe('Attempts in all, the first included, 1–10; 1 means no retry.'),
    delaySeconds: z
      .number()
      .int()
      .describe(
        'Seconds from the end of an attempt until the next may dial, 60–86400 (still inside the calling window).',
      ),
    on: z
      .array(z.string())
      .optional()
      .describe(
        'Outcomes that are retried: a status (no_answer, declined, voicemail, failed) or status/endedReason (declined/busy, failed/network_error); default ["no_answer","declined/busy","failed/network_error"]. declined/rejected, canceled, expired and do_not_call ends are never retried.',
      ),
  })
  .describe(
    'Retry an attempt that reached nobody: the call keeps its callId and lists each attempt in attempts[]; every attempt counts as a call for usage. Default: the account’s retry policy, else none.',
  );

const startAtInput = z
  .string()
  .describe(
    'Do not dial before this time: ISO 8601 with a UTC offset, e.g. 2030-03-15T09:30:00-05:00; at most 30 days ahead.',
  );
const expiresAtInput = z
  .string()
  .describe(
    'Give up if the call has not dialled by then (ISO 8601 with a UTC offset): it ends failed with endedReason expired.',
  );

const idempotencyKey = z
  .string()
  .optional()
  .describe(
    'Printable ASCII, 1–255 characters. The same key with the same arguments within 24 h returns the first answer and places nothing twice; with other arguments it is an idempotency_conflict error.',
  );

const e164 = (what: string) =>
  z.string().describe(`${what}, strict E.164: "+" then 8–15 digits, e.g. +14155552671.`);

export const placeCallInput = {
  to: z
    .string()
    .describe(
      'Number to call, strict E.164: "+" then 8–15 digits, no spaces (e.g. +14155552671). Only the deployment’s allowed countries; premium-rate and satellite numbers are refused.',
    ),
  objective: z
    .string()
    .describe(
      `What the agent must achieve on the call, in plain words (1–${LIMITS.objective} characters), e.g. "Book a table for two at 7 pm tonight under the name Dana".`,
    ),
  context: z
    .string()
    .optional()
    .describe(
      `Background the agent may use but does not read out (names, account numbers, preferences); at most ${LIMITS.context} characters.`,
    ),
  fields: z
    .array(
      z.object({
        name: z
          .string()
          .describe('Field name: a letter or _, then letters, digits or _, at most 64 characters; unique.'),
        type: z
          .enum(['string', 'boolean', 'number'])
          .optional()
          .describe('Type of the extracted value; default string.'),
        description: z
          .string()
          .optional()
          .describe(`What the value means, at most ${LIMITS.fieldDescription} characters.`),
      }),
    )
    .optional()
    .describe(
      `Values to extract from the conversation, at most ${LIMITS.fields}; each comes back in \`extracted\` (null when the call did not establish it).`,
    ),
  webhookUrl: z
    .string()
    .optional()
    .describe(
      'https URL that receives call.in_progress and the final call.<status> event (plain http only where the deployment allows it; private and loopback addresses are refused); at most 2048 characters.',
    ),
  callerId: z
    .string()
    .optional()
    .describe('E.164 number of this account to call from; default: the account’s default caller ID.'),
  language: z
    .string()
    .optional()
    .describe('BCP-47 language tag of the conversation, e.g. en-US; default: the deployment’s default.'),
  voice: z
    .string()
    .optional()
    .describe(
      'A voice installed on this deployment (at most 200 characters); default: the deployment’s default.',
    ),
  maxDurationSeconds: z
    .number()
    .int()
    .optional()
    .describe(
      `Hard limit on the conversation, whole seconds ${LIMITS.maxDurationMin}–${LIMITS.maxDurationMax}; default ${LIMITS.maxDurationDefault}.`,
    ),
  voicemail: z
    .union([
      z.object({ action: z.literal('hangup') }),
      z.object({
        action: z.literal('leave_message'),
        message: z.string().describe(`Message to leave, 1–${LIMITS.voicemailMessage} characters.`),
      }),
    ])
    .optional()
    .describe('What to do on an answering machine: {"action":"hangup"} (default) or leave a message.'),
  transfer: z
    .object({
      to: z
        .string()
        .describe(
          'Who takes the call over: an E.164 number (same country and blocking rules as `to`) or a SIP URI such as sip:frontdesk@pbx.example.com.',
        ),
      mode: z
        .enum(['cold', 'warm'])
        .optional()
        .describe(
          'cold (default): a short handover line, then the callee is connected. warm: the agent first tells the person what the call is about, then connects them.',
        ),
      when: z
        .string()
        .optional()
        .describe(
          `When to transfer, in plain words, 1–${LIMITS.transferWhen} characters (e.g. "the callee wants to change an existing booking"); default: when the callee asks for a person.`,
        ),
    })
    .optional()
    .describe(
      'A person the agent may hand the call to. A call handed over ends completed with endedReason "transferred". If that line is busy or unanswered, the agent tells the callee and carries on.',
    ),
  metadata: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      `Your own JSON object, echoed back on the call and in webhooks; at most ${LIMITS.metadataBytes} bytes and ${LIMITS.jsonDepth} levels deep.`,
    ),
  callWindow: callWindowInput.optional(),
  startAt: startAtInput.optional(),
  expiresAt: expiresAtInput.optional(),
  retry: retryInput.optional(),
  idempotencyKey,
};

export const getCallInput = { callId };

export const listCallsInput = {
  limit: z
    .number()
    .int()
    .min(1)
    .max(LIMITS.listMax)
    .optional()
    .describe(`Calls per page, 1–${LIMITS.listMax}; default ${LIMITS.listDefault}.`),
  cursor: z.string().optional().describe('nextCursor of the previous page; omit for the newest calls.'),
  status: z
    .string()
    .regex(STATUS_FILTER, `must be one or more of ${STATUS_LIST}, separated by commas`)
    .optional()
    .describe(
      `Only calls in these statuses: one or more of ${STATUS_LIST}, separated by commas (e.g. "completed,failed").`,
    ),
};

export const waitForCallInput = {
  callId,
  timeoutSeconds: z
    .number()
    .positive()
    .max(WAIT_MAX_SECONDS)
    .optional()
    .describe(
      `How long to wait, in seconds, at most ${WAIT_MAX_SECONDS}; default ${WAIT_DEFAULT_SECONDS}. When time runs out the call comes back as it stands with done: false: call wait_for_call again. ` +
        `Waits over ${WAIT_DEFAULT_SECONDS} s are honoured only when the request carries a progress token (progress goes out at least every ${WAIT_HEARTBEAT_SECONDS} s), since most clients give up on a silent request after 60 s.`,
    ),
  intervalSeconds: z
    .number()
    .min(0.1)
    .max(60)
    .optional()
    .describe(
      `How often to look at the call, 0.1–60 s; default ${WAIT_INTERVAL_DEFAULT_SECONDS}. The wait follows the call's live event stream where the server has one, so it ends as soon as the call does whatever this is.`,
    ),
};

export const cancelCallInput = { callId };

const batchTemplate = z
  .object({
    objective: placeCallInput.objective.describe(
      'What the agent must achieve on each call (1–2000 characters after filling in); {{variable}} placeholders are filled from each row, e.g. "Remind {{name}} of the appointment on {{date}}".',
    ),
    context: placeCallInput.context.describe(
      'Background the agent may use but does not read out (at most 8000 characters); may use {{variable}} placeholders.',
    ),
    fields: placeCallInput.fields,
    voicemail: placeCallInput.voicemail.describe(
      'What to do on an answering machine: {"action":"hangup"} (default) or {"action":"leave_message","message":"..."}; the message may use {{variable}} placeholders.',
    ),
    transfer: placeCallInput.transfer,
    maxDurationSeconds: placeCallInput.maxDurationSeconds,
    webhookUrl: placeCallInput.webhookUrl.describe(
      'https URL that receives each call’s webhooks and batch.completed when every call of the batch has ended; at most 2048 characters.',
    ),
    callerId: placeCallInput.callerId,
    language: placeCallInput.language,
    voice: placeCallInput.voice,
    metadata: placeCallInput.metadata.describe(
      'Your own JSON object, on every call of the batch (a row’s metadata is merged over it); at most 4096 bytes.',
    ),
  })
  .describe(
    'The call every row shares. A row that lacks a variable the template uses is refused (invalid_request).',
  );

export const createBatchInput = {
  name: z.string().optional().describe('A name for the batch, shown in lists and in batch.completed.'),
  template: batchTemplate,
  rows: z
    .array(
      z.object({
        to: e164('Number to call'),
        variables: z
          .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
          .optional()
          .describe('Values of the template’s {{variable}} placeholders for this row.'),
        metadata: z
          .record(z.string(), z.unknown())
          .optional()
          .describe('This row’s own metadata, merged over the template’s.'),
      }),
    )
    .optional()
    .describe('The calls, 1–10000 rows. Give rows or csv, not both.'),
  csv: z
    .string()
    .optional()
    .describe(
      'The rows as CSV text instead of rows: a header row, a "to" column, every other column a variable; columns named metadata.<key> go to the row’s metadata. 1–10000 data rows.',
    ),
  concurrency: z
    .number()
    .int()
    .optional()
    .describe(
      'At most this many of the batch’s calls ring or talk at once, 1–1000; default: only the account’s limits.',
    ),
  callWindow: callWindowInput.optional(),
  startAt: startAtInput.optional(),
  expiresAt: expiresAtInput.optional(),
  retry: retryInput.optional(),
  metadata: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Your own JSON object for the batch itself, returned by get_batch and in batch.completed.'),
  idempotencyKey,
};

export const getBatchInput = {
  batchId,
  limit: z
    .number()
    .int()
    .min(1)
    .max(BATCH_CALLS_PAGE_MAX)
    .optional()
    .describe(`Calls of the batch per page, 1–${BATCH_CALLS_PAGE_MAX}; default 100.`),
  cursor: z.string().optional().describe('nextCursor of the previous page; omit for the first rows.'),
};

export const batchIdInput = { batchId };

export const addDoNotCallInput = {
  numbers: z
    .array(e164('A number never to call'))
    .min(1)
    .describe('Numbers to put on this account’s do-not-call list, 1–10000.'),
  note: z.string().optional().describe('Why they are listed (kept with each number).'),
};

export const doNotCallNumberInput = { number: e164('The number') };

// Loose at the top level: a field the REST API adds later must not make a client reject the result.
export const placeCallOutput = PlaceCallResponseSchema.loose();
export const callOutput = CallSchema.loose();
export const listCallsOutput = CallListSchema.loose();
export const waitForCallOutput = CallSchema.extend({
  done: z
    .boolean()
    .describe('true: the call reached a terminal status. false: the wait timed out first; wait again.'),
}).loose();

const refusal = z.object({
  row: z.number().int(),
  to: z.string().nullable(),
  code: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
});

export const createBatchOutput = z
  .object({
    batchId: z.string(),
    status: z.string(),
    totalRows: z.number().int(),
    acceptedRows: z.number().int(),
    refusedRows: z.number().int(),
    accepted: z.array(z.object({ row: z.number().int(), callId: z.string() })),
    refused: z.array(refusal),
  })
  .loose();

const batchSummary = z
  .object({
    batchId: z.string(),
    name: z.string().nullable(),
    status: z.string(),
    totalRows: z.number().int(),
    acceptedRows: z.number().int(),
    refusedRows: z.number().int(),
    counts: z.record(z.string(), z.number()),
    progress: z.object({ ended: z.number().int(), total: z.number().int() }),
    completedAt: z.string().nullable(),
  })
  .loose();

export const batchOutput = batchSummary;
export const batchWithCallsOutput = batchSummary
  .extend({
    calls: z.array(
      z
        .object({
          row: z.number().int(),
          callId: z.string(),
          to: z.string(),
          status: z.string(),
          endedReason: z.string().nullable(),
        })
        .loose(),
    ),
    nextCursor: z.string().nullable(),
  })
  .loose();

export const addDoNotCallOutput = z
  .object({
    added: z.number().int(),
    alreadyListed: z.number().int(),
    invalid: z.array(z.object({ value: z.string(), code: z.string(), message: z.string() }).loose()),
  })
  .loose();

export const checkDoNotCallOutput = z
  .object({
    number: z.string(),
    listed: z.boolean(),
    list: z.enum(['account', 'deployment']).nullable(),
  })
  .loose();

export const removeDoNotCallOutput = z.object({
  number: z.string(),
  removed: z.literal(true),
});
