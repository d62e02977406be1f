import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { CallService } from '../../calls/call-service.js';
import type { Config } from '../../config.js';
import { ApiError } from '../errors.js';
import { recordingResponse } from '../recording-response.js';
import {
  CallIdParamSchema,
  CallListSchema,
  CallSchema,
  ErrorSchema,
  IdempotencyHeaderSchema,
  ListQuerySchema,
  PlaceCallBodySchema,
  PlaceCallResponseSchema,
} from '../schemas.js';
import type { AppEnv } from '../types.js';

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});
const security = [{ bearerAuth: [] }];
const common = {
  401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
  500: error('internal_error: a bug; the message carries the request id.'),
};
const withId = {
  ...common,
  404: error('not_found: no call with this id for this account.'),
};

const placeCall = createRoute({
  method: 'post',
  path: '/v1/agent/calls',
  operationId: 'placeCall',
  tags: ['calls'],
  summary: 'Place a call',
  description:
    "Validates the body, runs the guardrails, the do-not-call lists and the caps, stores the call as queued and answers at once; the call runs in the background. *Extension:* a call with a `startAt` in the future, or placed outside its calling hours (`callWindow`, else the account's, else the deployment's, in the callee's local time; the deployment's quiet hours always apply), is stored queued with `scheduledFor` set to when it may dial first; it does not count against the concurrent-calls cap until then.",
  security,
  request: {
    headers: IdempotencyHeaderSchema,
    body: { required: true, content: { 'application/json': { schema: PlaceCallBodySchema } } },
  },
  responses: {
    201: {
      description: 'The call is queued (scheduledFor: when it may dial first; null: now). Location names it.',
      headers: z.object({ Location: z.string().openapi({ example: '/v1/agent/calls/…' }) }),
      content: { 'application/json': { schema: PlaceCallResponseSchema } },
    },
    400: error(
      'invalid_request: the body is not JSON, or a field is missing, of the wrong type or out of its limits (startAt more than 30 days ahead, expiresAt not after now and startAt, a bad callWindow or retry); details.fields names it.',
    ),
    ...common,
    409: error('idempotency_conflict: the Idempotency-Key was used with another body.'),
    413: error('payload_too_large: the body is over 64 KB.'),
    422: error(
      'invalid_number, destination_not_allowed, destination_blocked (details.category do_not_call with details.list account or deployment: the number is on a do-not-call list), caller_id_not_owned, no_caller_id, or outside_calling_hours (no time inside the calling hours in the next 14 days, or none before expiresAt; details names the zones, window and quiet hours).',
    ),
    429: error('rate_limited (Retry-After set) or usage_cap_reached; details.cap names the cap.'),
    503: error('service_unavailable: the deployment cannot place calls now; details.missing names what.'),
  },
});

const getCall = createRoute({
  method: 'get',
  path: '/v1/agent/calls/{id}',
  operationId: 'getCall',
  tags: ['calls'],
  summary: 'Read a call',
  security,
  request: { params: CallIdParamSchema },
  responses: {
    200: { description: 'The call.', content: { 'application/json': { schema: CallSchema } } },
    ...withId,
  },
});

const listCalls = createRoute({
  method: 'get',
  path: '/v1/agent/calls',
  operationId: 'listCalls',
  tags: ['calls'],
  summary: 'List calls, newest first',
  security,
  request: { query: ListQuerySchema },
  responses: {
    200: { description: 'One page of calls.', content: { 'application/json': { schema: CallListSchema } } },
    400: error('invalid_request: limit out of 1–100, unknown status, or a cursor this API did not return.'),
    ...common,
  },
});

const cancelCall = createRoute({
  method: 'post',
  path: '/v1/agent/calls/{id}/cancel',
  operationId: 'cancelCall',
  tags: ['calls'],
  summary: 'Cancel a call',
  description:
    'A queued call never dials; a ringing or live call is hung up. The call ends as failed with endedReason canceled.',
  security,
  request: { params: CallIdParamSchema },
  responses: {
    200: { description: 'The canceled call.', content: { 'application/json': { schema: CallSchema } } },
    ...withId,
    409: error('call_already_ended: the call is already in a terminal status.'),
  },
});

const audio = { schema: z.string().openapi({ format: 'binary' }) };
const getRecording = createRoute({
  method: 'get',
  path: '/v1/agent/calls/{id}/recording',
  operationId: 'getRecording',
  tags: ['calls'],
  summary: 'Download the recording',
  description: 'Both parties, mixed. Supports a single byte Range.',
  security,
  request: {
    params: CallIdParamSchema,
    headers: z.object({
      range: z
        .string()
        .optional()
        .openapi({ param: { name: 'range', in: 'header' }, example: 'bytes=0-1023' }),
    }),
  },
  responses: {
    200: { description: 'The whole recording.', content: { 'audio/wav': audio } },
    206: { description: 'The requested byte range.', content: { 'audio/wav': audio } },
    ...withId,
    416: error('range_not_satisfiable: the Range lies outside the file; Content-Range gives its size.'),
  },
});

/** Absolute URLs (recordingUrl) use PUBLIC_BASE_URL, else the origin the client reached us on. */
function baseUrlOf(c: Context<AppEnv>, config: Config): string {
  return config.PUBLIC_BASE_URL ? config.publicBaseUrl : new URL(c.req.url).origin;
}

export function registerCallRoutes(app: OpenAPIHono<AppEnv>, service: CallService, config: Config): void {
  app.openapi(placeCall, async (c) => {
    const answer = await service.placeCall(c.get('accountId'), c.req.valid('json'), {
      idempotencyKey: c.req.valid('header')['idempotency-key'],
      rawBody: c.get('rawBody'),
    });
    c.header('Location', answer.location);
    if (answer.replayed) c.header('Idempotent-Replayed', 'true');
    return c.json(answer.body as z.infer<typeof PlaceCallResponseSchema>, answer.statusCode as 201);
  });

  app.openapi(listCalls, async (c) => {
    const page = await service.listCalls(c.get('accountId'), c.req.valid('query'));
    return c.json(page as z.infer<typeof CallListSchema>, 200);
  });

  app.openapi(getCall, async (c) => {
    const view = await service.getCall(c.get('accountId'), c.req.valid('param').id, baseUrlOf(c, config));
    return c.json(view as z.infer<typeof CallSchema>, 200);
  });

  app.openapi(cancelCall, async (c) => {
    const view = await service.cancelCall(c.get('accountId'), c.req.valid('param').id, baseUrlOf(c, config));
    return c.json(view as z.infer<typeof CallSchema>, 200);
  });

  app.openapi(getRecording, async (c) => {
    const { id } = c.req.valid('param');
    const file = await service.recording(c.get('accountId'), id);
    return recordingResponse(file, {
      callId: id,
      range: c.req.header('range'),
      head: c.req.method === 'HEAD',
      headers: { 'X-Request-Id': c.get('requestId') },
      unsatisfiable: (headers) => {
        throw new ApiError(
          'range_not_satisfiable',
          `The requested range is outside the recording, which is ${file.size} bytes.`,
          { size: file.size },
          headers,
        );
      },
    });
  });
}
