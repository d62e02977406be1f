import { z } from '@hono/zod-openapi';
import { START_AT_MAX_DAYS } from '../calls/placement-limits.js';
import { retryPolicySchema } from '../calls/retry-policy.js';
import { CALL_STATUSES } from '../calls/status.js';
import { TRANSFER_WHEN_DEFAULT } from '../calls/transfer-defaults.js';
import { callWindowSchema } from '../scheduling/call-window.js';
import { ERROR_STATUS } from './errors.js';
import { nestsDeeperThan } from './storable-json.js';

/** Limits of the spec's request table, named so the docs, the schema and the tests agree. */
export const LIMITS = {
  objective: 2_000,
  context: 8_000,
  fields: 20,
  fieldDescription: 500,
  metadataBytes: 4_096,
  /** Levels of objects/arrays under any top-level field; metadata itself is level 1. */
  jsonDepth: 32,
  voicemailMessage: 1_000,
  /** The plain-language condition of a transfer to a person (it goes into the agent's prompt). */
  transferWhen: 500,
  transferSipUri: 256,
  maxDurationMin: 30,
  maxDurationMax: 3_600,
  maxDurationDefault: 600,
  bodyBytes: 64 * 1024,
  listMax: 100,
  listDefault: 20,
  /** How far ahead `startAt` may lie. */
  startAtMaxDays: START_AT_MAX_DAYS,
} as const;

/** startAt / expiresAt: ISO 8601 date-time with `Z` or a UTC offset (a local time without one is ambiguous). */
const placementTime = z
  .string()
  .datetime({
    offset: true,
    message: 'must be an ISO 8601 date-time with a UTC offset, e.g. 2030-03-15T09:30:00-05:00',
  })
  .openapi({ format: 'date-time', example: '2030-03-15T09:30:00-05:00' });

const FIELD_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
/** Strict E.164 as the guardrails check it (`isStrictE164`), for the OpenAPI document. */
const E164_PATTERN = '^\\+[1-9]\\d{7,14}$';

/** Intl knows BCP-47's grammar; a tag it rejects would also be rejected by every engine downstream. */
function isBcp47(tag: string): boolean {
  if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(tag)) return false;
  try {
    return Intl.getCanonicalLocales(tag).length === 1;
  } catch {
    return false;
  }
}

const nonBlank = (max: number) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    // '' is min(1)'s to report; this catches whitespace only.
    .refine((s) => s.length === 0 || s.trim().length > 0, 'must not be empty');

export const CallFieldSchema = z
  .object({
    name: z.string().regex(FIELD_NAME, 'must match ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$'),
    type: z.enum(['string', 'boolean', 'number']).default('string'),
    description: z
      .string()
      .max(LIMITS.fieldDescription, `must be at most ${LIMITS.fieldDescription} characters`)
      .optional(),
  })
  .strict()
  .openapi('CallField');

export const VoicemailSchema = z
  .discriminatedUnion('action', [
    z.object({ action: z.literal('hangup') }).strict(),
    z
      .object({
        action: z.literal('leave_message'),
        message: nonBlank(LIMITS.voicemailMessage),
      })
      .strict(),
  ])
  .openapi('Voicemail');

/**
 * A SIP URI a transfer may dial: `sip:` or `sips:`, a user part, `@`, a host name, IPv4 or [IPv6]
 * address, an optional port and an optional `;transport=` parameter. Nothing else: the URI becomes
 * part of an Asterisk dial string, where `,`, `&`, `(`, `)`, `^`, `/` and whitespace have meanings.
 */
const SIP_URI =
  /^sips?:[A-Za-z0-9._~+*#!%-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?(?:;transport=(?:udp|tcp|tls))?$/;

export function isSipUri(s: string): boolean {
  if (s.length > LIMITS.transferSipUri || !SIP_URI.test(s)) return false;
  const port = /:(\d{1,5})(?:;|$)/.exec(s.slice(s.indexOf('@')));
  return !port || (Number(port[1]) >= 1 && Number(port[1]) <= 65_535);
}

export const TransferSchema = z
  .object({
    to: z
      .string()
      .refine(
        (s) => new RegExp(E164_PATTERN).test(s) || isSipUri(s),
        'must be an E.164 number such as +14155552671 or a SIP URI such as sip:frontdesk@pbx.example.com',
      )
      .openapi({
        example: '+14155550120',
        description:
          "Who takes the call over: an E.164 number (the destination guardrails apply, as for `to`) or a SIP URI (`sip:user@host[:port]`, dialled through the trunk's endpoint).",
      }),
    mode: z.enum(['cold', 'warm']).default('cold').openapi({
      description:
        'cold: the agent says a short handover line and connects the callee as soon as the person answers. warm: the agent first tells the person what the call is about, then connects them.',
    }),
    when: nonBlank(LIMITS.transferWhen)
      .optional()
      .openapi({
        example: 'the callee wants to change an existing booking',
        description: `When the agent should transfer, in plain words (1–${LIMITS.transferWhen} characters); default "${TRANSFER_WHEN_DEFAULT}".`,
      }),
  })
  .strict()
  .openapi('Transfer', {
    description:
      '*Extension.* A person the agent may hand the call to. The call then ends completed with endedReason transferred once the callee is connected.',
  });

const MetadataSchema = z
  .record(z.string(), z.unknown())
  .superRefine((m, ctx) => {
    // Depth first: JSON.stringify recurses, and thousands of levels overflow the stack.
    if (nestsDeeperThan(m, LIMITS.jsonDepth)) {
      ctx.addIssue({ code: 'custom', message: `must not nest deeper than ${LIMITS.jsonDepth} levels` });
    } else if (Buffer.byteLength(JSON.stringify(m), 'utf8') > LIMITS.metadataBytes) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${LIMITS.metadataBytes} bytes of JSON` });
    }
  })
  .openapi({
    description: `Free JSON object, at most ${LIMITS.metadataBytes} bytes serialized and ${LIMITS.jsonDepth} levels deep (the object itself is level 1); no NUL characters or lone surrogates in its keys and strings. Echoed back.`,
  });

export const PlaceCallBodySchema = z
  .object({
    // The pattern is documented, not enforced here: a malformed number is 422 invalid_number, not a 400.
    to: z.string().openapi({
      example: '+14155552671',
      pattern: E164_PATTERN,
      description:
        "Destination, strict E.164: '+' then 8–15 digits; it must also be valid in its country's plan.",
    }),
    objective: nonBlank(LIMITS.objective).openapi({
      example: 'Book a table for two at 7 pm tonight under the name Dana.',
    }),
    context: z.string().max(LIMITS.context, `must be at most ${LIMITS.context} characters`).optional(),
    fields: z
      .array(CallFieldSchema)
      .max(LIMITS.fields, `must have at most ${LIMITS.fields} items`)
      .superRefine((fields, ctx) => {
        const seen = new Set<string>();
        fields.forEach((f, i) => {
          if (seen.has(f.name)) {
            ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate field name '${f.name}'` });
          }
          seen.add(f.name);
        });
      })
      .optional(),
    webhookUrl: z
      .string()
      .max(2_048, 'must be at most 2048 characters')
      .refine((s) => URL.canParse(s), 'must be an absolute URL')
      .optional()
      .openapi({
        description:
          'https URL (http only where the deployment allows it). Receives, signed, `call.in_progress` when an attempt is answered, `call.retrying` when an attempt ends and another is scheduled (*extension*; the payload describes the attempt that ended: its `attempt`, `status`, `endedReason` and times, plus `nextAttemptAt`), and one `call.<terminal status>` at the end. Payload: `{ event, eventId, timestamp, callId, status, to, objective, metadata, startedAt, endedAt, summary, extracted, transcript, recordingUrl, endedReason }` and, as extensions, the `Call` fields `attempt`, `attempts`, `scheduledFor`, `startAt`, `expiresAt`, `callWindow`, `timeZones`, `retryPolicy`, `batchId` and `optOut`.',
      }),
    callerId: z.string().optional().openapi({
      pattern: E164_PATTERN,
      description: "E.164 number of the account; default: the account's default.",
    }),
    language: z
      .string()
      .refine(isBcp47, 'must be a BCP-47 language tag such as en-US')
      .optional()
      .openapi({ example: 'en-US' }),
    voice: z.string().min(1).max(200).optional(),
    maxDurationSeconds: z
      .number()
      .int('must be an integer')
      .min(LIMITS.maxDurationMin, `must be at least ${LIMITS.maxDurationMin}`)
      .max(LIMITS.maxDurationMax, `must be at most ${LIMITS.maxDurationMax}`)
      .optional(),
    voicemail: VoicemailSchema.optional(),
    transfer: TransferSchema.optional(),
    metadata: MetadataSchema.optional(),
    callWindow: callWindowSchema.optional().openapi({
      description:
        "*Extension.* When the call may ring, in the callee's local time (the zones of `to`; where a number may lie in several zones, the window must hold in every one). Default: the account's window (PATCH /v1/agent/settings), else the deployment's DEFAULT_CALL_WINDOW (09:00–20:00 every day unless the operator changed it; a default, not legal advice). The deployment's QUIET_HOURS apply on top and cannot be overridden. A call placed outside its window is stored queued with `scheduledFor` at the next opening.",
    }),
    startAt: placementTime.optional().openapi({
      description: `*Extension.* Not dialled before this time (ISO 8601 with a UTC offset, e.g. 2030-03-15T09:30:00-05:00); at most ${LIMITS.startAtMaxDays} days ahead. A time in the past means now.`,
    }),
    expiresAt: placementTime.optional().openapi({
      description:
        '*Extension.* Give up if the call has not dialled by then (ISO 8601 with a UTC offset): it ends failed with endedReason expired. Must be later than now and than startAt; a call whose calling hours leave no time before it is refused with 422 outside_calling_hours.',
    }),
    retry: retryPolicySchema.optional().openapi({
      description:
        "*Extension.* Retry an unanswered or failed attempt (same callId; each attempt inside the calling window). Default: the account's retry policy, else no retries.",
    }),
  })
  .strict()
  .openapi('PlaceCallRequest');
export type PlaceCallBody = z.output<typeof PlaceCallBodySchema>;

export const PlaceCallResponseSchema = z
  .object({
    callId: z.string().uuid(),
    status: z.literal('queued'),
    scheduledFor: z.string().nullable().openapi({
      format: 'date-time',
      description:
        '*Extension.* When the call will dial at the earliest (its startAt or the next opening of its calling hours); null: as soon as a worker is free.',
    }),
  })
  .openapi('PlaceCallResponse');

const StatusSchema = z.enum(CALL_STATUSES).openapi('CallStatus');

const TurnSchema = z
  .object({
    speaker: z.enum(['agent', 'callee']),
    text: z.string(),
    startMs: z.number().int(),
    endMs: z.number().int(),
    interrupted: z.boolean(),
    latency: z
      .object({
        calleeSpeechEndMs: z.number().nullable(),
        sttFinalMs: z.number().nullable(),
        firstTokenMs: z.number().nullable(),
        firstTtsAudioMs: z.number().nullable(),
        firstVoicedFrameMs: z.number().nullable(),
      })
      .nullable(),
  })
  .openapi('Turn');

const isoTime = z.string().openapi({ format: 'date-time' });

const CallEventSchema = z
  .object({
    at: isoTime,
    from: StatusSchema.nullable().openapi({
      description: 'The status before; null on the first event, the call being placed (null → `queued`).',
    }),
    to: StatusSchema,
    reason: z.string().nullable(),
  })
  .openapi('CallEvent');

const CallAttemptSchema = z
  .object({
    attempt: z.number().int().openapi({ description: 'From 1.' }),
    dialedAt: isoTime.nullable(),
    startedAt: isoTime.nullable().openapi({ description: 'When it was answered; null if it never was.' }),
    endedAt: isoTime.nullable(),
    status: StatusSchema,
    endedReason: z.string().nullable(),
    durationSeconds: z.number().int().nullable(),
  })
  .openapi('CallAttempt', { description: '*Extension.* One attempt of a call: one dial of its number.' });

/** Scheduling, retries and opt-out: in the call (GET) and in every call webhook (see call-view.ts). */
const CallOutboundFields = {
  attempt: z.number().int().openapi({
    description:
      '*Extension.* The attempt in progress, or the last one (from 1). A retried call is queued again with the next number; webhooks say which attempt they are about.',
  }),
  attempts: z.array(CallAttemptSchema).openapi({
    description:
      "*Extension.* Each attempt that dialed, oldest first: the retried ones, then the current one once it has dialed (the call's status and endedReason are the last attempt's).",
  }),
  scheduledFor: isoTime.nullable().openapi({
    description:
      "*Extension.* While queued: the earliest time the next attempt may dial (startAt, the next opening of the calling hours, or a retry's delay); null: as soon as a worker is free.",
  }),
  startAt: isoTime
    .nullable()
    .openapi({ description: '*Extension.* Not dialled before this time (as placed).' }),
  expiresAt: isoTime.nullable().openapi({
    description:
      '*Extension.* Not dialled after this time: it ends failed with endedReason expired, and no retry is scheduled past it.',
  }),
  callWindow: callWindowSchema.nullable().openapi({
    description:
      "*Extension.* The call's own calling hours (callee-local); null: the account's, else the deployment's.",
  }),
  timeZones: z.array(z.string()).nullable().openapi({
    description:
      '*Extension.* IANA zones the callee may be in, from the number (several where it is ambiguous: the window must hold in each).',
  }),
  retryPolicy: retryPolicySchema.nullable().openapi({
    description:
      "*Extension.* The retry policy in force (the call's, else its batch's, else the account's); null: no retries.",
  }),
  batchId: z
    .string()
    .uuid()
    .nullable()
    .openapi({ description: '*Extension.* The batch this call is a row of.' }),
  optOut: z.boolean().openapi({
    description:
      "*Extension.* The callee asked not to be called again; the number was put on the account's do-not-call list.",
  }),
};

export const CallSchema = z
  .object({
    id: z.string().uuid(),
    callId: z.string().uuid(),
    status: StatusSchema,
    to: z.string(),
    callerId: z.string(),
    objective: z.string(),
    context: z.string().nullable(),
    fields: z.array(
      z.object({
        name: z.string(),
        type: z.enum(['string', 'boolean', 'number']),
        description: z.string().optional(),
      }),
    ),
    language: z.string(),
    voice: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    webhookUrl: z.string().nullable(),
    maxDurationSeconds: z.number().int(),
    voicemail: VoicemailSchema,
    transfer: z
      .object({ to: z.string(), mode: z.enum(['cold', 'warm']), when: z.string() })
      .nullable()
      .openapi({ description: '*Extension.* The transfer target the call was placed with, or null.' }),
    summary: z.string().nullable(),
    extracted: z.record(z.string(), z.unknown()).nullable(),
    transcript: z.string().nullable(),
    turns: z.array(TurnSchema),
    recordingUrl: z.string().nullable(),
    endedReason: z.string().nullable(),
    createdAt: isoTime,
    dialedAt: isoTime.nullable(),
    startedAt: isoTime.nullable(),
    endedAt: isoTime.nullable(),
    durationSeconds: z.number().int().nullable(),
    ...CallOutboundFields,
    events: z.array(CallEventSchema).openapi({
      description:
        "*Extension.* The call's history, oldest first: its placing (null → `queued`), each status change (`from` → `to`, with the ended reason on the terminal one), and events that change no status (`from` = `to`), such as why the call failed: `ari_request_failed: POST /bridges/…/addChannel → 422 Channel not in Stasis application`.",
    }),
  })
  .openapi('Call');

export const CallListItemSchema = z
  .object({
    callId: z.string().uuid(),
    status: StatusSchema,
    to: z.string(),
    objective: z.string(),
    createdAt: isoTime,
    endedAt: isoTime.nullable(),
  })
  .openapi('CallListItem');

export const CallListSchema = z
  .object({ calls: z.array(CallListItemSchema), nextCursor: z.string().nullable() })
  .openapi('CallList');

export const ListQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(LIMITS.listMax, `must be at most ${LIMITS.listMax}`)
    .default(LIMITS.listDefault)
    .openapi({ param: { name: 'limit', in: 'query' }, example: 20 }),
  cursor: z
    .string()
    .max(512)
    .optional()
    .openapi({ param: { name: 'cursor', in: 'query' }, description: 'nextCursor of the previous page.' }),
  status: z
    .string()
    .refine(
      (s) => s.split(',').every((x) => (CALL_STATUSES as readonly string[]).includes(x.trim())),
      `must be one of ${CALL_STATUSES.join(', ')} (several separated by commas)`,
    )
    .optional()
    // No example: Swagger UI's "Try it out" would fill it in and hide every call in another status.
    .openapi({
      param: { name: 'status', in: 'query' },
      description: `Only calls in this status; several separated by commas (failed,no_answer). One of ${CALL_STATUSES.join(', ')}.`,
    }),
});

export const CallIdParamSchema = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }),
});

export const IdempotencyHeaderSchema = z.object({
  'idempotency-key': z
    .string()
    .min(1, 'must not be empty')
    .max(255, 'must be at most 255 characters')
    .regex(/^[\x20-\x7E]+$/, 'must be printable ASCII')
    .optional()
    .openapi({
      param: { name: 'idempotency-key', in: 'header' },
      description: 'Replays the first answer for the same body within 24 h.',
    }),
});

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(
        Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]],
      ),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

export const HealthSchema = z.object({ status: z.literal('ok') }).openapi('Health');

export const ReadySchema = z
  .object({
    status: z.enum(['ready', 'degraded', 'unavailable']),
    canPlaceCalls: z.boolean(),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
    missing: z.array(z.object({ name: z.string(), detail: z.string().optional() })),
    capacity: z
      .object({
        workers: z
          .number()
          .int()
          .openapi({ description: 'Workers whose heartbeat is fresh (WORKER_STALE_SECONDS).' }),
        liveCalls: z.number().int().openapi({ description: 'Calls they carry now.' }),
        capacity: z.number().int().nullable().openapi({
          description:
            'Calls they may carry now at the voice quality aimed for (WORKER_CONCURRENCY, or with `auto` measured); null when no worker has said.',
        }),
        full: z.boolean().openapi({
          description:
            'Every worker carries as many calls as it may: a new call waits in `queued` until one ends.',
        }),
      })
      .openapi({ description: "How full the deployment's workers are, from their last heartbeats." }),
  })
  .openapi('Readiness');
