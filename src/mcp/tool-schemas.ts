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
  idempotencyKey: z
    .string()
    .optional()
    .describe(
      'Printable ASCII, 1–255 characters. The same key with the same arguments within 24 h returns the first answer and places no second call; with other arguments it is an idempotency_conflict error.',
    ),
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

// Loose at the top level: a field the REST API adds later must not make a client reject the result.
export const placeCallOutput = PlaceCallResponseSchema.loose();
export const callOutput = CallSchema.loose();
export const listCallsOutput = CallListSchema.loose();
export const waitForCallOutput = CallSchema.extend({
  done: z
    .boolean()
    .describe('true: the call reached a terminal status. false: the wait timed out first; wait again.'),
}).loose();
