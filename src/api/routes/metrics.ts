import type { Context, Hono } from 'hono';
import { checkMetricsAccess } from '../../metrics/access.js';
import type { Metrics } from '../../metrics/metrics.js';

/** What @hono/node-server hands a route as `c.env`: the Node request, whose socket says who connected. */
interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
}

/**
 * `GET /metrics`: the Prometheus exposition of this process's registry, for a token holder or a
 * private-network client (see checkMetricsAccess). Not in the OpenAPI document: it is the operator's
 * endpoint, not the agent API's, and no agent key opens it.
 */
export function registerMetricsRoute(
  // Any env: mounted on the API app and on the worker's bare metrics server alike.
  app: Hono<any, any, any>,
  metrics: Metrics,
  opts: { token?: string },
): void {
  app.get('/metrics', async (c: Context) => {
    const access = checkMetricsAccess(
      {
        authorization: c.req.header('authorization'),
        remoteAddress: (c.env as NodeBindings | undefined)?.incoming?.socket?.remoteAddress,
        forwarded: Boolean(
          c.req.header('x-forwarded-for') ?? c.req.header('forwarded') ?? c.req.header('x-real-ip'),
        ),
      },
      opts.token,
    );
    if (!access.ok) {
      if (access.status === 401) c.header('WWW-Authenticate', 'Bearer realm="metrics"');
      return c.json({ error: { code: access.code, message: access.message } }, access.status);
    }
    const { body, contentType } = await metrics.render();
    c.header('Cache-Control', 'no-store');
    return c.body(body, 200, { 'Content-Type': contentType });
  });
}
