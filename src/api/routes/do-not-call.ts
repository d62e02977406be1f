import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import {
  DNC_ADD_MAX,
  DNC_INVALID_REPORT_MAX,
  DNC_LIST_DEFAULT,
  DNC_LIST_MAX,
  type DoNotCallService,
} from '../../dnc/do-not-call.js';
import { DncError } from '../../dnc/errors.js';
import { invalidRequest, zodProblems } from '../error-handler.js';
import { ApiError } from '../errors.js';
import { jsonBody } from '../json-body.js';
import { ErrorSchema, LIMITS } from '../schemas.js';
import type { AppEnv } from '../types.js';

export const DNC_PATH = '/v1/agent/do-not-call';
/** A do-not-call upload (JSON of up to 10,000 numbers, or a CSV file) may be this large. */
export const DNC_BODY_BYTES = 2 * 1024 * 1024;
const NOTE_MAX = 500;

const CSV_TYPE = /^text\/csv$/i;
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});
const security = [{ bearerAuth: [] }];
const common = {
  401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
  500: error('internal_error: a bug; the message carries the request id.'),
};

const SOURCE = z.enum(['api', 'cli', 'import', 'opt_out', 'dashboard']).openapi({
  description:
    'How the number came on the list: the API, the admin CLI, a CSV import, the callee asking not to be called again during a call (opt_out), or the dashboard.',
});

export const DoNotCallAddBodySchema = z
  .object({
    numbers: z
      .array(z.string().max(64, 'must be at most 64 characters'))
      .min(1, 'must hold at least one number')
      .max(DNC_ADD_MAX, `must hold at most ${DNC_ADD_MAX} numbers`)
      .openapi({
        description:
          'E.164 numbers (spaces, dashes, dots and brackets are tolerated and removed). An invalid one is reported in `invalid` and not stored; the others are.',
        example: ['+14155552671'],
      }),
    note: z
      .string()
      .max(NOTE_MAX, `must be at most ${NOTE_MAX} characters`)
      .optional()
      .openapi({ description: 'Kept with each number added now (not with numbers already listed).' }),
  })
  .strict()
  .openapi('DoNotCallAdd');

const DoNotCallInvalidSchema = z
  .object({
    line: z.number().int().optional().openapi({ description: 'The CSV line (1-based), for a CSV upload.' }),
    index: z.number().int().optional().openapi({ description: 'Position in `numbers` (0-based), for JSON.' }),
    value: z.string(),
    code: z.literal('invalid_number'),
    message: z.string(),
  })
  .openapi('DoNotCallInvalid');

const DoNotCallAddResultSchema = z
  .object({
    added: z.number().int().openapi({ description: 'Numbers now on the list that were not.' }),
    alreadyListed: z.number().int().openapi({
      description:
        'Numbers already on the list, or given more than once; they keep their first source, note and time.',
    }),
    invalid: z.array(DoNotCallInvalidSchema).openapi({
      description: `Values that are not a valid E.164 number, not stored (the first ${DNC_INVALID_REPORT_MAX}).`,
    }),
    invalidCount: z.number().int().openapi({ description: 'Every invalid value, listed or not.' }),
  })
  .openapi('DoNotCallAddResult');

const DoNotCallEntrySchema = z
  .object({
    number: z.string().openapi({ example: '+14155552671' }),
    source: SOURCE,
    note: z.string().nullable(),
    callId: z.string().nullable().openapi({ description: 'The call in which the callee opted out.' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('DoNotCallEntry');

const DoNotCallListSchema = z
  .object({ numbers: z.array(DoNotCallEntrySchema), nextCursor: z.string().nullable() })
  .openapi('DoNotCallList');

const DoNotCallCheckSchema = z
  .object({
    number: z.string(),
    listed: z.boolean().openapi({ description: 'A call to this number would be refused.' }),
    list: z.enum(['account', 'deployment']).nullable().openapi({
      description:
        "Which list holds it: the account's own (checked first) or the deployment's (DNC_LIST_FILE, kept by the operator).",
    }),
    source: SOURCE.nullable(),
    note: z.string().nullable(),
    callId: z.string().nullable(),
    createdAt: z.string().nullable().openapi({ format: 'date-time' }),
  })
  .openapi('DoNotCallCheck');

const NumberParamSchema = z.object({
  number: z.string().openapi({
    param: { name: 'number', in: 'path' },
    description: 'The E.164 number, URL-encoded (%2B14155552671).',
    example: '+14155552671',
  }),
});

const ListQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(DNC_LIST_MAX, `must be at most ${DNC_LIST_MAX}`)
    .default(DNC_LIST_DEFAULT)
    .openapi({ param: { name: 'limit', in: 'query' }, example: DNC_LIST_DEFAULT }),
  cursor: z
    .string()
    .max(512)
    .optional()
    .openapi({ param: { name: 'cursor', in: 'query' }, description: 'nextCursor of the previous page.' }),
});

const listRoute = createRoute({
  method: 'get',
  path: DNC_PATH,
  operationId: 'listDoNotCall',
  tags: ['do-not-call'],
  summary: "List the account's do-not-call numbers, newest first",
  description:
    "The account's own list. Numbers of the deployment's list (DNC_LIST_FILE) are not listed; check a number to see them.",
  security,
  request: { query: ListQuerySchema },
  responses: {
    200: { description: 'One page.', content: { 'application/json': { schema: DoNotCallListSchema } } },
    400: error(`invalid_request: limit out of 1–${DNC_LIST_MAX}, or a cursor this API did not return.`),
    ...common,
  },
});

const addRoute = createRoute({
  method: 'post',
  path: DNC_PATH,
  operationId: 'addDoNotCall',
  tags: ['do-not-call'],
  summary: "Add numbers to the account's do-not-call list",
  description: `JSON \`{ numbers, note? }\`, or a CSV file (\`text/csv\`): a header row with a column \`number\`, or no header and the number in the first column; blank lines are skipped and every other line without a valid number is reported with its line number. A call to a listed number is refused (422 destination_blocked), and a queued call to it never dials. The body may be up to ${DNC_BODY_BYTES / 1024 / 1024} MB.`,
  security,
  request: {
    body: {
      required: true,
      content: {
        // References, not the zod schemas: the route reads the body itself, as JSON or as CSV.
        'application/json': { schema: { $ref: '#/components/schemas/DoNotCallAdd' } },
        'text/csv': { schema: { type: 'string', example: 'number\n+14155552671\n+442071838750\n' } },
      },
    },
  },
  responses: {
    200: {
      description: 'What was added; invalid values are listed and were not stored.',
      content: { 'application/json': { schema: DoNotCallAddResultSchema } },
    },
    400: error(
      'invalid_request: the body is neither JSON of this shape nor CSV, numbers is empty or over 10,000 entries, or the CSV has no line with a number.',
    ),
    ...common,
    413: error(`payload_too_large: the body is over ${DNC_BODY_BYTES / 1024 / 1024} MB.`),
  },
});

const checkRoute = createRoute({
  method: 'get',
  path: `${DNC_PATH}/{number}`,
  operationId: 'checkDoNotCall',
  tags: ['do-not-call'],
  summary: 'Check whether a number is on a do-not-call list',
  security,
  request: { params: NumberParamSchema },
  responses: {
    200: {
      description: 'Whether it is listed, and where.',
      content: { 'application/json': { schema: DoNotCallCheckSchema } },
    },
    ...common,
    422: error("invalid_number: the path's number is not E.164."),
  },
});

const removeRoute = createRoute({
  method: 'delete',
  path: `${DNC_PATH}/{number}`,
  operationId: 'removeDoNotCall',
  tags: ['do-not-call'],
  summary: "Remove a number from the account's do-not-call list",
  security,
  request: { params: NumberParamSchema },
  responses: {
    204: { description: 'Removed.' },
    ...common,
    404: error("not_found: the number is not on the account's list."),
    409: error(
      "dnc_deployment_list: the number is on the deployment's list only (DNC_LIST_FILE), which the API cannot change.",
    ),
    422: error("invalid_number: the path's number is not E.164."),
  },
});

/** Whether a request is an upload to the do-not-call list, which reads its own body (doNotCallBody). */
export function isDoNotCallUpload(c: Context): boolean {
  return c.req.method === 'POST' && c.req.path === DNC_PATH;
}

const tooLarge = () =>
  new ApiError(
    'payload_too_large',
    `The request body is over ${DNC_BODY_BYTES / 1024 / 1024} MB.`,
    { limitBytes: DNC_BODY_BYTES },
    { Connection: 'close' },
  );

/**
 * The body reader of a do-not-call upload, in place of the API's 64 KB JSON reader: JSON (read and
 * checked as every JSON body is, up to 2 MB) or CSV (UTF-8 text up to 2 MB, left in Hono's body cache).
 */
export function doNotCallBody(): MiddlewareHandler<AppEnv> {
  const json = jsonBody({ maxBytes: DNC_BODY_BYTES, maxDepth: LIMITS.jsonDepth });
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return async (c, next) => {
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim();
    if (JSON_TYPE.test(type)) return json(c, next);
    if (!CSV_TYPE.test(type)) {
      throw invalidRequest([
        {
          field: 'Content-Type',
          message: `must be application/json or text/csv (got ${type ? `'${type}'` : 'none'})`,
        },
      ]);
    }
    const raw = c.req.raw;
    const declared = raw.headers.get('content-length');
    if (declared !== null && Number(declared) > DNC_BODY_BYTES) throw tooLarge();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (raw.body) {
      const reader = raw.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > DNC_BODY_BYTES) {
          await reader.cancel().catch(() => {});
          throw tooLarge();
        }
        chunks.push(value);
      }
    }
    let text: string;
    try {
      text = utf8.decode(Buffer.concat(chunks));
    } catch {
      throw invalidRequest([{ field: '(body)', message: 'is not valid UTF-8' }]);
    }
    if (text.includes('\u0000')) throw invalidRequest([{ field: '(body)', message: 'must not contain NUL' }]);
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    return next();
  };
}

/** A refusal of the do-not-call service as the API's error. */
async function answering<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DncError) throw new ApiError(err.code, err.message, err.details);
    throw err;
  }
}

export function registerDoNotCallRoutes(app: OpenAPIHono<AppEnv>, service: DoNotCallService): void {
  app.openAPIRegistry.register('DoNotCallAdd', DoNotCallAddBodySchema);

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    const page = await answering(() => service.list(c.get('accountId'), q));
    return c.json(page as z.infer<typeof DoNotCallListSchema>, 200);
  });

  app.openapi(addRoute, async (c) => {
    const accountId = c.get('accountId');
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim();
    if (CSV_TYPE.test(type)) {
      const text = await c.req.text();
      const result = await answering(() => service.importCsv(accountId, text, 'import'));
      if (result.added + result.alreadyListed + result.invalidCount === 0) {
        throw invalidRequest([{ field: '(body)', message: 'has no line with a number' }]);
      }
      return c.json(result as z.infer<typeof DoNotCallAddResultSchema>, 200);
    }
    const raw = c.get('rawBody');
    if (raw === undefined) throw invalidRequest([{ field: '(body)', message: 'is required' }]);
    const parsed = DoNotCallAddBodySchema.safeParse(raw);
    if (!parsed.success) throw invalidRequest(zodProblems(parsed.error));
    const result = await answering(() =>
      service.add(accountId, parsed.data.numbers, 'api', { note: parsed.data.note ?? null }),
    );
    return c.json(result as z.infer<typeof DoNotCallAddResultSchema>, 200);
  });

  app.openapi(checkRoute, async (c) => {
    const result = await answering(() => service.check(c.get('accountId'), c.req.valid('param').number));
    return c.json(result as z.infer<typeof DoNotCallCheckSchema>, 200);
  });

  app.openapi(removeRoute, async (c) => {
    await answering(() => service.remove(c.get('accountId'), c.req.valid('param').number));
    return c.body(null, 204);
  });
}
