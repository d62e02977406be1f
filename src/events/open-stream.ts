import { and, eq } from 'drizzle-orm';
import { ApiError } from '../api/errors.js';
import type { Db } from '../db/client.js';
import { calls } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { AccountFeed } from './account-feed.js';
import { CallFeed } from './call-feed.js';
import type { LiveBus } from './live-bus.js';
import { type Cursor, parseCursor, START } from './messages.js';
import { gatedFeed, readGateOf } from './read-gate.js';
import { createSseStream, type SseStreamOptions, sseResponse } from './sse-stream.js';

export interface EventStreamDeps {
  db: Db;
  bus?: LiveBus;
  logger: Logger;
  /** Test knobs; the defaults are the documented ones. */
  timing?: Pick<SseStreamOptions, 'pollMs' | 'heartbeatMs'>;
}

export interface StreamRequest {
  /** The `Last-Event-ID` header, which wins: a browser reconnecting sends it along with the old query. */
  lastEventIdHeader?: string;
  /** `?lastEventId=`, for clients that cannot set headers (a new EventSource). */
  lastEventIdQuery?: string;
  /** Origin for `recordingUrl` in `ended`. */
  baseUrl: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function cursorOf(req: StreamRequest): Cursor | null {
  const raw = req.lastEventIdHeader || req.lastEventIdQuery;
  if (!raw) return null;
  const c = parseCursor(raw);
  if (!c) {
    throw new ApiError('invalid_request', 'Last-Event-ID must be an id this stream sent, such as "12.40".', [
      { field: 'lastEventId', message: 'must be <eventId>.<turnId>' },
    ]);
  }
  return c;
}

/**
 * `GET …/calls/{id}/events`: the call's history from the start (or the cursor), then live, until
 * `ended`. `accountId` null: any account's call (an instance admin on the dashboard).
 */
export async function callEventsResponse(
  deps: EventStreamDeps,
  callId: string,
  accountId: string | null,
  req: StreamRequest,
): Promise<Response> {
  const from = cursorOf(req) ?? START;
  const notFound = new ApiError('not_found', 'No call with this id exists for this account.');
  if (!UUID.test(callId)) throw notFound;
  const where = accountId ? and(eq(calls.id, callId), eq(calls.accountId, accountId)) : eq(calls.id, callId);
  const [call] = await deps.db.select({ id: calls.id }).from(calls).where(where).limit(1);
  if (!call) throw notFound;
  const feed = new CallFeed(deps.db, callId, from, req.baseUrl);
  return sseResponse(
    createSseStream({
      feed: gatedFeed(feed, readGateOf(deps.db)),
      bus: deps.bus,
      concerns: (m) => m.callId === callId,
      logger: deps.logger.child({ callId }),
      ...deps.timing,
    }),
  );
}

/**
 * `GET /v1/agent/events`: every call of the account, from now (or the cursor); never ends by itself.
 * `accountId` null: every account's calls (an instance admin's list on the dashboard).
 */
export async function accountEventsResponse(
  deps: EventStreamDeps,
  accountId: string | null,
  req: StreamRequest,
): Promise<Response> {
  const log = accountId ? deps.logger.child({ accountId }) : deps.logger;
  const feed = await AccountFeed.open({
    db: deps.db,
    accountId,
    from: cursorOf(req),
    publicBaseUrl: req.baseUrl,
    onTrim: () => log.warn('live events: a long-open transaction kept the resume point back; moved it on'),
  });
  return sseResponse(
    createSseStream({
      feed: gatedFeed(feed, readGateOf(deps.db)),
      bus: deps.bus,
      concerns: (m) => accountId === null || m.accountId === accountId,
      logger: log,
      ...deps.timing,
    }),
  );
}
