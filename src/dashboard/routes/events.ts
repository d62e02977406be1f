import type { Hono } from 'hono';
import { accountEventsResponse, callEventsResponse, type EventStreamDeps } from '../../events/open-stream.js';
import { requireUser } from '../auth/require-user.js';
import type { DashboardDeps, DashboardEnv } from '../types.js';

/**
 * The live event streams behind the dashboard's session (the same wire format as /v1/agent/…/events):
 * `/ui/events` for the calls list, `/ui/calls/:id/events` for a call's page. An instance admin
 * follows every account's calls; everyone else only their own account's.
 */
export function registerDashboardEvents(
  ui: Hono<DashboardEnv>,
  deps: DashboardDeps,
  timing?: EventStreamDeps['timing'],
): void {
  const streams: EventStreamDeps = { db: deps.db, bus: deps.bus, logger: deps.logger, timing };
  const baseUrl = (url: string) =>
    deps.config.PUBLIC_BASE_URL ? deps.config.publicBaseUrl : new URL(url).origin;

  ui.get('/ui/events', requireUser(), async (c) => {
    const user = c.get('user')!;
    // An instance admin's list shows every account's calls, so their stream follows every account.
    return accountEventsResponse(streams, user.instanceAdmin ? null : user.accountId, {
      lastEventIdHeader: c.req.header('last-event-id'),
      lastEventIdQuery: c.req.query('lastEventId'),
      baseUrl: baseUrl(c.req.url),
    });
  });

  ui.get('/ui/calls/:id/events', requireUser(), async (c) => {
    const user = c.get('user')!;
    return callEventsResponse(
      streams,
      c.req.param('id').toLowerCase(),
      user.instanceAdmin ? null : user.accountId,
      {
        lastEventIdHeader: c.req.header('last-event-id'),
        lastEventIdQuery: c.req.query('lastEventId'),
        baseUrl: baseUrl(c.req.url),
      },
    );
  });
}
