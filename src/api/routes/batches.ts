import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { BatchService, type CallBodyCheck, NoRowAccepted } from '../../batches/batch-service.js';
import { resultsCsvStream } from '../../batches/results-csv.js';
import { BATCH_MAX_ROWS, type BatchInputRow, parseCsvRows, variablesOfRows } from '../../batches/rows.js';
import type { CallService } from '../../calls/call-service.js';
import type { CallStore } from '../../calls/call-store.js';
import { CallError } from '../../calls/errors.js';
import { CALL_STATUSES } from '../../calls/status.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import type { Readiness } from '../../health.js';
import { invalidRequest, zodProblems } from '../error-handler.js';
import { ErrorSchema, IdempotencyHeaderSchema, LIMITS, PlaceCallBodySchema } from '../schemas.js';
import { unstorableProblems } from '../storable-json.js';
import type { AppEnv } from '../types.js';

/** Limits of the batch API, named so the docs, the schema and the tests agree. */
export const BATCH_LIMITS = {
  /** The whole request (JSON or multipart), rows included. */
  bodyBytes: 8 * 1024 * 1024,
  maxRows: BATCH_MAX_ROWS,
  name: 200,
  concurrencyMax: 1_000,
  /** `rows[i].metadata` and `template.metadata` sit two levels below the top, a call's metadata at one. */
  jsonDepth: LIMITS.jsonDepth + 2,
  callsPageDefault: 100,
  callsPageMax: 1_000,
} as const;

const BATCHES_PATH = '/v1/agent/batches';

/** The request that may carry a batch's rows: it gets the 8 MB body limit and multipart; every other keeps 64 KB. */
export function isBatchUpload(method: string, path: string): boolean {
  return method === 'POST' && (path === BATCHES_PATH || path === `${BATCHES_PATH}/`);
}

const VariableValueSchema = z.union([z.string(), z.number(), z.boolean()]);

const BatchRowSchema = z
  .object({
    to: z
      .string()
      .openapi({ example: '+14155552671', description: 'Destination, strict E.164 (checked per row).' }),
    variables: z
      .record(z.string().min(1, 'must not be empty'), VariableValueSchema)
      .optional()
      .openapi({
        example: { name: 'Dana', time: '7 pm' },
        description: "Values for the template's {{placeholders}}: strings, numbers or booleans.",
      }),
    metadata: z.record(z.string(), z.unknown()).optional().openapi({
      description: "Merged over template.metadata into this row's call metadata (the row wins).",
    }),
  })
  .strict()
  .openapi('BatchRow');

const TEMPLATE_KEYS = {
  objective: true,
  context: true,
  fields: true,
  voicemail: true,
  transfer: true,
  maxDurationSeconds: true,
  webhookUrl: true,
  callerId: true,
  language: true,
  voice: true,
  metadata: true,
} as const;

const BatchTemplateSchema = PlaceCallBodySchema.pick(TEMPLATE_KEYS).strict().openapi('BatchTemplate', {
  description:
    "The call every row places, as in POST /v1/agent/calls without `to`. `{{name}}` placeholders in objective, context, voicemail.message and transfer.when are filled from each row's variables; a row without a value for a placeholder the template uses is refused (invalid_request, details.missingVariables). No other template syntax. webhookUrl also receives `batch.completed`.",
});

const batchOptions = {
  name: z
    .string()
    .min(1, 'must not be empty')
    .max(BATCH_LIMITS.name, `must be at most ${BATCH_LIMITS.name} characters`)
    .optional(),
  template: BatchTemplateSchema,
  concurrency: z
    .number()
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(BATCH_LIMITS.concurrencyMax, `must be at most ${BATCH_LIMITS.concurrencyMax}`)
    .optional()
    .openapi({
      description: "At most this many of the batch's calls dial or talk at once. Default: no batch limit.",
    }),
  callWindow: PlaceCallBodySchema.shape.callWindow,
  startAt: PlaceCallBodySchema.shape.startAt,
  expiresAt: PlaceCallBodySchema.shape.expiresAt,
  retry: PlaceCallBodySchema.shape.retry,
  metadata: PlaceCallBodySchema.shape.metadata,
};

const exactlyOneSource = (b: { rows?: unknown; csv?: unknown }, ctx: z.RefinementCtx) => {
  if ((b.rows === undefined) === (b.csv === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['rows'], message: 'exactly one of rows or csv is required' });
  }
};

export const CreateBatchBodySchema = z
  .object({
    ...batchOptions,
    rows: z
      .array(BatchRowSchema)
      .min(1, 'must have at least 1 item')
      .max(BATCH_LIMITS.maxRows, `must have at most ${BATCH_LIMITS.maxRows} items`)
      .optional(),
    csv: z.string().min(1, 'must not be empty').optional().openapi({
      example: 'to,name,metadata.customerId\n+14155552671,Dana,c-17\n',
      description:
        "The rows as CSV text instead of `rows`: a header row, column `to` required, `metadata.<key>` columns go to the row's metadata, every other column is a variable (an empty cell is no value). UTF-8; a byte order mark, CRLF and blank lines are fine.",
    }),
  })
  .strict()
  .superRefine(exactlyOneSource)
  .openapi('CreateBatchRequest');
type CreateBatchBody = z.output<typeof CreateBatchBodySchema>;

const BatchRefusalSchema = z
  .object({
    row: z.number().int().openapi({ description: '1-based row (CSV: data rows, the header excluded).' }),
    to: z.string().nullable(),
    code: z.string().openapi({
      description: 'The error code a single call would get (invalid_number, destination_blocked, …).',
    }),
    message: z.string(),
    details: z.unknown().optional(),
  })
  .openapi('BatchRefusal');

const CreateBatchResponseSchema = z
  .object({
    batchId: z.string().uuid(),
    status: z.literal('running'),
    totalRows: z.number().int(),
    acceptedRows: z.number().int(),
    refusedRows: z.number().int(),
    accepted: z.array(z.object({ row: z.number().int(), callId: z.string().uuid() })),
    refused: z.array(BatchRefusalSchema),
  })
  .openapi('CreateBatchResponse');

const isoTime = z.string().openapi({ format: 'date-time' });

const BatchCountsSchema = z
  .object(
    Object.fromEntries(CALL_STATUSES.map((s) => [s, z.number().int()])) as Record<
      (typeof CALL_STATUSES)[number],
      z.ZodNumber
    >,
  )
  .openapi('BatchCounts', { description: "The batch's calls by their current status." });

const summaryShape = {
  batchId: z.string().uuid(),
  id: z.string().uuid(),
  name: z.string().nullable(),
  status: z.enum(['running', 'paused', 'canceled', 'completed']).openapi({
    description:
      'running → completed when every call ended; paused ↔ running; canceled (its queued calls ended failed/canceled; completedAt is set once its live calls ended).',
  }),
  concurrency: z.number().int().nullable(),
  webhookUrl: z.string().nullable(),
  createdAt: isoTime,
  pausedAt: isoTime.nullable(),
  canceledAt: isoTime.nullable(),
  completedAt: isoTime.nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  totalRows: z.number().int(),
  acceptedRows: z.number().int(),
  refusedRows: z.number().int(),
  counts: BatchCountsSchema,
  progress: z.object({ ended: z.number().int(), total: z.number().int() }).openapi({
    description: 'Calls in a terminal status, of the accepted rows.',
  }),
};

const BatchSummarySchema = z.object(summaryShape).openapi('BatchSummary');
const BatchSchema = z.object({ ...summaryShape, refused: z.array(BatchRefusalSchema) }).openapi('Batch');

const BatchCallSchema = z
  .object({
    row: z.number().int(),
    callId: z.string().uuid(),
    to: z.string(),
    status: z.enum(CALL_STATUSES),
    endedReason: z.string().nullable(),
    attempt: z.number().int(),
    scheduledFor: isoTime.nullable(),
  })
  .openapi('BatchCall');

const BatchDetailSchema = z
  .object({
    ...summaryShape,
    refused: z.array(BatchRefusalSchema),
    calls: z.array(BatchCallSchema).openapi({ description: 'One page of the calls, in row order.' }),
    nextCursor: z.string().nullable(),
  })
  .openapi('BatchDetail');

const BatchListSchema = z
  .object({ batches: z.array(BatchSummarySchema), nextCursor: z.string().nullable() })
  .openapi('BatchList');

const cursorParam = z
  .string()
  .max(512)
  .optional()
  .openapi({ param: { name: 'cursor', in: 'query' }, description: 'nextCursor of the previous page.' });

const limitParam = (def: number, max: number) =>
  z.coerce
    .number()
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(def)
    .openapi({ param: { name: 'limit', in: 'query' }, example: def });

const BatchIdParamSchema = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, format: 'uuid' }),
});

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});
const security = [{ bearerAuth: [] }];
const common = {
  401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
  500: error('internal_error: a bug; the message carries the request id.'),
};
const withId = { ...common, 404: error('not_found: no batch with this id for this account.') };

const createBatch = createRoute({
  method: 'post',
  path: BATCHES_PATH,
  operationId: 'createBatch',
  tags: ['batches'],
  summary: 'Place a batch of calls',
  description: `*Extension.* One call template and up to ${BATCH_LIMITS.maxRows} rows (JSON \`rows\`, CSV text in \`csv\`, or a multipart upload). Every row is checked as a single call would be (same error codes); a refused row never sinks the batch: the answer lists the accepted rows with their callIds and the refused ones with why. Accepted calls are queued at once and run like single calls (calling hours, retries, do-not-call checks before each dial), at most \`concurrency\` of them at a time. Rows past what the account's daily cap leaves are refused with usage_cap_reached; the per-minute and concurrent caps do not apply to placing a batch (the worker keeps the concurrent cap when it dials). Two rows to the same number are two calls. Body up to 8 MB.`,
  security,
  request: {
    headers: IdempotencyHeaderSchema,
    body: {
      required: false,
      content: {
        'application/json': { schema: CreateBatchBodySchema },
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['batch', 'rows'],
            properties: {
              batch: {
                type: 'string',
                description: 'The JSON request without rows and csv (a text field or a file).',
              },
              rows: {
                type: 'string',
                format: 'binary',
                description: 'The rows as a CSV file (text/csv, UTF-8), as `csv` describes.',
              },
            },
          },
        },
      },
    },
  },
  responses: {
    201: {
      description: 'The batch is stored and its accepted calls are queued. Location names it.',
      headers: z.object({ Location: z.string().openapi({ example: '/v1/agent/batches/…' }) }),
      content: { 'application/json': { schema: CreateBatchResponseSchema } },
    },
    400: error(
      'invalid_request: the body is not JSON or multipart, a field is out of its limits, the CSV cannot be read (details.line), or no row was given.',
    ),
    ...common,
    409: error('idempotency_conflict: the Idempotency-Key was used with another body.'),
    413: error('payload_too_large: the body is over 8 MB.'),
    422: error('invalid_request: no row was accepted; details.refused lists every row and why.'),
    503: error('service_unavailable: the deployment cannot place calls now; details.missing names what.'),
  },
});

const listBatches = createRoute({
  method: 'get',
  path: BATCHES_PATH,
  operationId: 'listBatches',
  tags: ['batches'],
  summary: 'List batches, newest first',
  security,
  request: {
    query: z.object({ limit: limitParam(LIMITS.listDefault, LIMITS.listMax), cursor: cursorParam }),
  },
  responses: {
    200: {
      description: 'One page of batches.',
      content: { 'application/json': { schema: BatchListSchema } },
    },
    400: error('invalid_request: limit out of 1–100, or a cursor this API did not return.'),
    ...common,
  },
});

const getBatch = createRoute({
  method: 'get',
  path: `${BATCHES_PATH}/{id}`,
  operationId: 'getBatch',
  tags: ['batches'],
  summary: 'Read a batch and a page of its calls',
  security,
  request: {
    params: BatchIdParamSchema,
    query: z.object({
      limit: limitParam(BATCH_LIMITS.callsPageDefault, BATCH_LIMITS.callsPageMax),
      cursor: cursorParam,
    }),
  },
  responses: {
    200: {
      description: 'The batch with counts, progress, refused rows and one page of calls in row order.',
      content: { 'application/json': { schema: BatchDetailSchema } },
    },
    400: error('invalid_request: limit out of 1–1000, or a cursor this API did not return.'),
    ...withId,
  },
});

const action = (name: 'pause' | 'resume' | 'cancel', summary: string, description: string) =>
  createRoute({
    method: 'post',
    path: `${BATCHES_PATH}/{id}/${name}`,
    operationId: `${name}Batch`,
    tags: ['batches'],
    summary,
    description,
    security,
    request: { params: BatchIdParamSchema },
    responses: {
      200: {
        description: 'The batch (without its calls).',
        content: { 'application/json': { schema: BatchSchema } },
      },
      ...withId,
      409: error('batch_already_ended: the batch is completed or canceled.'),
    },
  });

const pauseBatch = action(
  'pause',
  'Pause a batch',
  'Its queued calls are not dialled until it is resumed; calls already dialing or live go on. Pausing a paused batch changes nothing.',
);
const resumeBatch = action(
  'resume',
  'Resume a paused batch',
  'Its queued calls are dialled again. Resuming a running batch changes nothing.',
);
const cancelBatch = action(
  'cancel',
  'Cancel a batch',
  'Every queued call of the batch ends failed with endedReason canceled and never dials (each gets its call.failed webhook); calls already dialing or live finish. The batch is canceled at once; completedAt is set when its last call ended.',
);

const getResults = createRoute({
  method: 'get',
  path: `${BATCHES_PATH}/{id}/results.csv`,
  operationId: 'getBatchResults',
  tags: ['batches'],
  summary: 'Download the results as CSV',
  description:
    "One row per call, in row order: row, callId, to, status, endedReason, attempts (attempts made), durationSeconds, optOut, summary, then one column per variable (the CSV header or the JSON rows' variable names; a name that equals a column before it gets the prefix `variables.`) and one per extracted field (`extracted.<name>`). Streamed; calls still running show their current status.",
  security,
  request: { params: BatchIdParamSchema },
  responses: {
    200: {
      description: 'The CSV (UTF-8, header row, CRLF line ends).',
      content: { 'text/csv': { schema: z.string() } },
    },
    ...withId,
  },
});

/** A rendered row through the single call's schema: the same 400-style problems, as a row refusal. */
export function checkCallBody(raw: unknown): ReturnType<CallBodyCheck> {
  const parsed = PlaceCallBodySchema.safeParse(raw);
  if (parsed.success) return { ok: true as const, body: parsed.data };
  const bad = invalidRequest(zodProblems(parsed.error));
  return { ok: false as const, error: new CallError('invalid_request', bad.message, bad.details) };
}

/** The request's batch: JSON as validated, or multipart parts `batch` (JSON) and `rows` (CSV), checked the same way. */
async function readBatchRequest(
  c: Context<AppEnv>,
  json: CreateBatchBody | undefined,
): Promise<{ body: CreateBatchBody; raw: unknown }> {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'multipart/form-data') {
    const raw = c.get('rawBody');
    if (raw === undefined || !json) {
      throw invalidRequest([
        { field: '(body)', message: 'is required: a JSON object or a multipart upload' },
      ]);
    }
    return { body: json, raw };
  }
  let form: Record<string, string | File | (string | File)[]>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch {
    throw invalidRequest([{ field: '(body)', message: 'is not a readable multipart/form-data body' }]);
  }
  const part = async (name: string): Promise<string> => {
    const v = form[name];
    if (v === undefined) throw invalidRequest([{ field: name, message: 'is required (a multipart part)' }]);
    if (Array.isArray(v)) throw invalidRequest([{ field: name, message: 'must be sent once' }]);
    return typeof v === 'string' ? v : await v.text();
  };
  const batchText = await part('batch');
  const csv = await part('rows');
  let batch: unknown;
  try {
    batch = JSON.parse(batchText);
  } catch (err) {
    throw invalidRequest([{ field: 'batch', message: `is not valid JSON: ${(err as Error).message}` }]);
  }
  if (batch === null || typeof batch !== 'object' || Array.isArray(batch)) {
    throw invalidRequest([{ field: 'batch', message: 'must be a JSON object' }]);
  }
  for (const k of ['rows', 'csv']) {
    if (Object.hasOwn(batch, k)) {
      throw invalidRequest([
        { field: `batch.${k}`, message: 'must not be given: the rows are the `rows` part' },
      ]);
    }
  }
  const raw = { ...(batch as Record<string, unknown>), csv };
  const problems = unstorableProblems(raw, BATCH_LIMITS.jsonDepth);
  if (problems.length > 0) throw invalidRequest(problems);
  const parsed = CreateBatchBodySchema.safeParse(raw);
  if (!parsed.success) throw invalidRequest(zodProblems(parsed.error));
  return { body: parsed.data, raw };
}

export interface BatchRouteDeps {
  db: Db;
  config: Config;
  calls: CallStore;
  service: CallService;
  readiness: Readiness;
  clock?: () => Date;
  onCallQueued?: (callId: string) => void;
}

export function registerBatchRoutes(app: OpenAPIHono<AppEnv>, deps: BatchRouteDeps): BatchService {
  const batches = new BatchService({ ...deps, checkCallBody });

  app.openapi(createBatch, async (c) => {
    const { body, raw } = await readBatchRequest(
      c,
      // Typed away by the multipart schema (a plain OpenAPI object); validated by the JSON one above.
      (c.req as unknown as { valid(t: 'json'): CreateBatchBody | undefined }).valid('json'),
    );
    let rows: BatchInputRow[];
    let variables: string[];
    if (body.csv !== undefined) {
      const csv = parseCsvRows(body.csv);
      rows = csv.rows;
      variables = csv.variables;
    } else {
      rows = body.rows ?? [];
      variables = variablesOfRows(rows);
    }
    const { rows: _rows, csv: _csv, ...options } = body;
    let answer: Awaited<ReturnType<BatchService['create']>>;
    try {
      answer = await batches.create(
        c.get('accountId'),
        { ...options, rows, variables },
        { idempotencyKey: c.req.valid('header')['idempotency-key'], rawBody: raw },
      );
    } catch (err) {
      // invalid_request is a 400 elsewhere; a batch none of whose rows could be placed is a 422.
      if (err instanceof NoRowAccepted) {
        const body = { error: { code: 'invalid_request', message: err.message, details: err.details } };
        return c.json(body as z.infer<typeof ErrorSchema>, 422);
      }
      throw err;
    }
    c.header('Location', answer.location);
    if (answer.replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(answer.body as z.infer<typeof CreateBatchResponseSchema>, answer.statusCode as 201);
  });

  app.openapi(listBatches, async (c) => {
    const page = await batches.list(c.get('accountId'), c.req.valid('query'));
    return c.json(page as z.infer<typeof BatchListSchema>, 200);
  });

  app.openapi(getBatch, async (c) => {
    const view = await batches.detail(c.get('accountId'), c.req.valid('param').id, c.req.valid('query'));
    return c.json(view as z.infer<typeof BatchDetailSchema>, 200);
  });

  app.openapi(pauseBatch, async (c) => {
    const view = await batches.pause(c.get('accountId'), c.req.valid('param').id);
    return c.json(view as z.infer<typeof BatchSchema>, 200);
  });
  app.openapi(resumeBatch, async (c) => {
    const view = await batches.resume(c.get('accountId'), c.req.valid('param').id);
    return c.json(view as z.infer<typeof BatchSchema>, 200);
  });
  app.openapi(cancelBatch, async (c) => {
    const view = await batches.cancel(c.get('accountId'), c.req.valid('param').id);
    return c.json(view as z.infer<typeof BatchSchema>, 200);
  });

  app.openapi(getResults, async (c) => {
    const source = await batches.resultsSource(c.get('accountId'), c.req.valid('param').id);
    const id = c.req.valid('param').id.toLowerCase();
    return new Response(resultsCsvStream(source), {
      status: 200,
      headers: {
        'Content-Type': 'text/csv; charset=utf-8',
        'Content-Disposition': `attachment; filename="batch-${id}-results.csv"`,
        'X-Request-Id': c.get('requestId'),
      },
    }) as never;
  });

  return batches;
}
