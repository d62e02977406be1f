import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import type { Readiness, ReadinessResult } from '../../health.js';
import { ErrorSchema, HealthSchema, ReadySchema } from '../schemas.js';
import type { AppEnv } from '../types.js';

/** The probes take no input; only a request that never reaches them is refused. */
const refused = {
  '4XX': {
    description:
      'invalid_request: refused before routing: the request line and headers are over 16 KB (431) or it is not HTTP (400).',
    content: { 'application/json': { schema: ErrorSchema } },
  },
};

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  tags: ['health'],
  // Probes carry no key.
  security: [],
  summary: 'Liveness: the process answers',
  responses: {
    200: { description: 'Alive.', content: { 'application/json': { schema: HealthSchema } } },
    ...refused,
  },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  tags: ['health'],
  security: [],
  summary: 'Readiness: the database answers and every check required to place calls passes',
  description:
    "status 'degraded' (200) means an optional check fails; 'unavailable' (503) means the database or a check required for calls fails.",
  responses: {
    200: { description: 'Ready or degraded.', content: { 'application/json': { schema: ReadySchema } } },
    503: { description: 'Unavailable.', content: { 'application/json': { schema: ReadySchema } } },
    ...refused,
  },
});

export function registerHealthRoutes(app: OpenAPIHono<AppEnv>, db: Db, readiness: Readiness): void {
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyz, async (c) => {
    const [report, database] = await Promise.all([
      readiness.report(),
      db.execute(sql`select 1`).then(
        (): ReadinessResult => ({ ok: true }),
        (err: unknown): ReadinessResult => ({
          ok: false,
          detail: `database unreachable: ${err instanceof Error ? err.message : String(err)}`,
        }),
      ),
    ]);
    const checks = { database, ...report.checks };
    const missing = database.ok
      ? report.missing
      : [{ name: 'database', detail: database.detail }, ...report.missing];
    const canPlaceCalls = missing.length === 0;
    const allOk = Object.values(checks).every((r) => r.ok);
    const body = {
      status: !canPlaceCalls ? ('unavailable' as const) : allOk ? ('ready' as const) : ('degraded' as const),
      canPlaceCalls,
      checks,
      missing,
    };
    return canPlaceCalls ? c.json(body, 200) : c.json(body, 503);
  });
}
