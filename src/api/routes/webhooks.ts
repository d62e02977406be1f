import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { calls } from '../../db/schema.js';
import { redeliverWebhooks } from '../../webhooks/redeliver.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import type { AppEnv } from '../types.js';

const RedeliverBodySchema = z
  .object({
    callId: z
      .string()
      .uuid('must be a call id (a UUID)')
      .optional()
      .openapi({ description: "Only this call's webhook events; default: every call of the account." }),
  })
  .strict()
  .openapi('RedeliverWebhooksRequest');

const RedeliverResultSchema = z
  .object({
    redelivered: z.number().int().openapi({ description: 'Events made due now: dead plus pending.' }),
    dead: z.number().int().openapi({ description: 'Dead events given a new attempt.' }),
    pending: z.number().int().openapi({ description: 'Events waiting for a retry, moved to now.' }),
  })
  .openapi('RedeliverWebhooksResult');

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

const redeliver = createRoute({
  method: 'post',
  path: '/v1/agent/webhooks/redeliver',
  operationId: 'redeliverWebhooks',
  tags: ['webhooks'],
  summary: 'Redeliver webhook events now (extension)',
  description:
    "Makes this account's undelivered webhook events due now: dead ones (retry window over, or target refused) get a new attempt, and ones waiting for a retry are moved to now. An attempt in flight is left to finish. Each event keeps its eventId. The body is optional.",
  security: [{ bearerAuth: [] }],
  request: {
    body: { required: false, content: { 'application/json': { schema: RedeliverBodySchema } } },
  },
  responses: {
    200: {
      description: 'How many events are due now.',
      content: { 'application/json': { schema: RedeliverResultSchema } },
    },
    400: error('invalid_request: the body is not a JSON object, or callId is not a UUID.'),
    401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
    404: error('not_found: no call with this id for this account.'),
    500: error('internal_error: a bug; the message carries the request id.'),
  },
});

/** POST /v1/agent/webhooks/redeliver (extension): the API face of `agentline webhooks redeliver`. */
export function registerWebhookRoutes(app: OpenAPIHono<AppEnv>, db: Db, config: Config): void {
  app.openapi(redeliver, async (c) => {
    const accountId = c.get('accountId');
    // Without a body (or without a JSON content type) there is nothing to validate: all of the account.
    const { callId } = (c.req.valid('json') ?? {}) as z.infer<typeof RedeliverBodySchema>;
    if (callId) {
      const [own] = await db
        .select({ id: calls.id })
        .from(calls)
        .where(and(eq(calls.id, callId), eq(calls.accountId, accountId)));
      if (!own) throw new ApiError('not_found', 'No call with this id exists for this account.');
    }
    const result = await redeliverWebhooks(db, { accountId, callId, timeoutMs: config.WEBHOOK_TIMEOUT_MS });
    return c.json(result, 200);
  });
}
