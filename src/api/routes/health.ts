import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../../db/client.js';
import { workers } from '../../db/schema.js';
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

export interface HealthOptions {
  /** WORKER_STALE_SECONDS: a worker whose heartbeat is older is not counted (30 s by default). */
  workerStaleSeconds?: number;
}

/** How full the deployment's workers are, as their last heartbeats say. */
interface DeploymentCapacity {
  workers: number;
  liveCalls: number;
  /** Calls all of them may carry now; null when no live worker has said. */
  capacity: number | null;
  /** Every live worker is full: a new call waits in `queued`. */
  full: boolean;
}

/**
 * Read from the workers table, not from this process: an API-only process answers for the workers of
 * the whole deployment. The database's clock decides freshness, as it does for the workers' recovery.
 */
async function deploymentCapacity(db: Db, staleSeconds: number): Promise<DeploymentCapacity> {
  const [row] = rowsOf<{ workers: number; live: number; capacity: number | null; full: boolean }>(
    await db.execute(sql`
      select count(*)::int as workers,
        coalesce(sum(${workers.liveCalls}), 0)::int as live,
        sum(${workers.capacity})::int as capacity,
        coalesce(bool_and(${workers.liveCalls} >= ${workers.capacity}), false) as full
      from ${workers}
      where ${workers.heartbeatAt} >= now() - make_interval(secs => ${staleSeconds})`),
  );
  return {
    workers: Number(row?.workers ?? 0),
    liveCalls: Number(row?.live ?? 0),
    capacity: row?.capacity == null ? null : Number(row.capacity),
    full: row?.full === true,
  };
}

export function registerHealthRoutes(
  app: OpenAPIHono<AppEnv>,
  db: Db,
  readiness: Readiness,
  opts: HealthOptions = {},
): void {
  const staleSeconds = opts.workerStaleSeconds ?? 30;
  app.openapi(healthz, (c) => c.json({ status: 'ok' as const }, 200));

  app.openapi(readyz, async (c) => {
    const [report, database, capacity] = await Promise.all([
      readiness.report(),
      db.execute(sql`select 1`).then(
        (): ReadinessResult => ({ ok: true }),
        (err: unknown): ReadinessResult => ({
          ok: false,
          detail: `database unreachable: ${err instanceof Error ? err.message : String(err)}`,
        }),
      ),
      // Unknown while the database is unreachable (the database check says so).
      deploymentCapacity(db, staleSeconds).catch(
        (): DeploymentCapacity => ({ workers: 0, liveCalls: 0, capacity: null, full: false }),
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
      capacity,
    };
    return canPlaceCalls ? c.json(body, 200) : c.json(body, 503);
  });
}
