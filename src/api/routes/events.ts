import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Config } from '../../config.js';
import { accountEventsResponse, callEventsResponse, type EventStreamDeps } from '../../events/open-stream.js';
import { CallIdParamSchema, ErrorSchema } from '../schemas.js';
import type { AppEnv } from '../types.js';

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});
const security = [{ bearerAuth: [] }];

/** The wire format, once, for both routes' descriptions (the SDKs and MCP read the same). */
export const EVENT_STREAM_FORMAT = [
  'Server-Sent Events (text/event-stream). Each message has `event: <type>` and `data: <one-line JSON>`; durable messages also have `id: <cursor>`, a cursor `"<lastCallEventId>.<lastTurnId>"`.',
  'Resume after a disconnect with the `Last-Event-ID` header (browsers send it when they reconnect) or `?lastEventId=`: nothing after that id is lost, since the messages are read from the stored events and turns, not from memory. The server asks for `retry: 2000` and sends a `: ping` comment every 15 s.',
  'Types (every `data` has `callId` and `at`, an ISO time):',
  '- `status` {callId, from, to, reason, at}: the call changed status.',
  '- `note` {callId, status, reason, at}: an event that changes no status (a PBX failure, a transfer, a listener…).',
  '- `turn` {callId, seq, speaker, text, startMs, endMs, interrupted, latency, at}: a turn as it completes, with its latency stamps (ms from the answer).',
  "- `partial` {callId, speaker: 'callee', text, at}: the callee's words so far while they speak; no id, not replayed, only live.",
  '- `ended` {callId, status, endedReason, summary, extracted, durationSeconds, recordingUrl, at}: after the terminal `status`, which carries no id while `ended` does, so a resume never skips it.',
].join('\n');

const cursorQuery = z.object({
  lastEventId: z
    .string()
    .optional()
    .openapi({ description: 'Resume after this id (the `Last-Event-ID` header wins when both are sent).' }),
});
const cursorHeader = z.object({
  'last-event-id': z.string().optional().openapi({ description: 'Resume after this id.' }),
});
const stream = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: z.string().openapi({ example: 'event: turn\ndata: {…}\n\n' }) } },
});

const callEvents = createRoute({
  method: 'get',
  path: '/v1/agent/calls/{id}/events',
  operationId: 'streamCallEvents',
  tags: ['calls'],
  summary: "Stream a call's events live",
  description: `The call's history from the start (or after the cursor), then its events live; the stream closes after \`ended\`.\n\n${EVENT_STREAM_FORMAT}`,
  security,
  request: { params: CallIdParamSchema, query: cursorQuery, headers: cursorHeader },
  responses: {
    200: stream('The event stream.'),
    400: error('invalid_request: the Last-Event-ID is not a cursor this API sent.'),
    401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
    404: error('not_found: no call with this id for this account.'),
    500: error('internal_error: a bug; the message carries the request id.'),
  },
});

const accountEvents = createRoute({
  method: 'get',
  path: '/v1/agent/events',
  operationId: 'streamAccountEvents',
  tags: ['calls'],
  summary: "Stream every call's events live",
  description: `The events of every call of the account from now (or after the cursor); the stream stays open. A resume may repeat a message sent while an older write was still committing (never lose one): drop repeated turns by (callId, seq).\n\n${EVENT_STREAM_FORMAT}`,
  security,
  request: { query: cursorQuery, headers: cursorHeader },
  responses: {
    200: stream('The event stream.'),
    400: error('invalid_request: the Last-Event-ID is not a cursor this API sent.'),
    401: error('unauthorized: the key is missing, malformed, revoked or unknown.'),
    500: error('internal_error: a bug; the message carries the request id.'),
  },
});

function baseUrlOf(c: Context, config: Config): string {
  return config.PUBLIC_BASE_URL ? config.publicBaseUrl : new URL(c.req.url).origin;
}

export function registerEventRoutes(app: OpenAPIHono<AppEnv>, deps: EventStreamDeps, config: Config): void {
  app.openapi(callEvents, async (c) => {
    return callEventsResponse(deps, c.req.valid('param').id, c.get('accountId'), {
      lastEventIdHeader: c.req.valid('header')['last-event-id'],
      lastEventIdQuery: c.req.valid('query').lastEventId,
      baseUrl: baseUrlOf(c, config),
    }) as never;
  });
  app.openapi(accountEvents, async (c) => {
    return accountEventsResponse(deps, c.get('accountId'), {
      lastEventIdHeader: c.req.valid('header')['last-event-id'],
      lastEventIdQuery: c.req.valid('query').lastEventId,
      baseUrl: baseUrlOf(c, config),
    }) as never;
  });
}
