import { sql } from 'drizzle-orm';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { type Db, type PoolStats, rowsOf } from '../db/client.js';

export interface DatabaseGaugeOptions {
  /** A scrape within this long of the last one reuses its numbers (several Prometheus servers, a dashboard refresh). */
  cacheMs?: number;
  /** Connections the database client may hold at once (postgres.js's pool; 1 for the embedded database). */
  poolMaxConnections?: number;
  /** The pool's state (Database.poolStats: postgres.js's own `sql.stats`, or PGlite's one connection). */
  poolStats?: () => PoolStats;
}

interface Snapshot {
  calls: { status: string; endedReason: string; count: number }[];
  live: number;
  queued: number;
  oldestQueuedAge: number | null;
  deliveries: { status: string; count: number }[];
  oldestPendingAge: number | null;
  workers: { id: string; age: number }[];
}

/**
 * Gauges whose truth is in the database (calls, the queue, the webhook outbox, the workers'
 * heartbeats), read when Prometheus scrapes: each scrape costs a handful of indexed or grouped
 * queries, shared by every gauge and cached briefly. Ages are measured with the database's clock, the
 * clock that wrote the timestamps. When the database cannot answer, the scrape still succeeds: these
 * gauges are left out, `agentline_database_up` is 0 and the error is counted.
 */
export function registerDatabaseGauges(registry: Registry, db: Db, opts: DatabaseGaugeOptions = {}): void {
  const registers = [registry];
  const cacheMs = opts.cacheMs ?? 2000;
  let cached: { at: number; value: Promise<Snapshot | null> } | null = null;

  // Registered before the gauges that query the database: prom-client starts collecting in
  // registration order, so the pool is read before this scrape queues its own queries, and a scrape
  // of an exhausted pool still shows the queries that were waiting when it came (it then waits too).
  // The counts are postgres.js's own (`sql.stats`) rather than pg_stat_activity: they need no
  // connection, and only the client knows which queries are waiting for one.
  const poolStats = opts.poolStats;
  if (poolStats) {
    new Gauge({
      name: 'agentline_database_connections',
      help: "This process's database connections by state: active (running queries), leased (held by a transaction), idle, opening",
      labelNames: ['state'],
      registers,
      collect() {
        const s = poolStats();
        this.set({ state: 'active' }, Math.max(0, s.connections - s.idle - s.leased));
        this.set({ state: 'leased' }, s.leased);
        this.set({ state: 'idle' }, s.idle);
        this.set({ state: 'opening' }, s.opening);
      },
    });
    new Gauge({
      name: 'agentline_database_pool_waiting_queries',
      help: 'Queries of this process waiting for a free database connection (its pool is exhausted while above 0)',
      registers,
      collect() {
        this.set(poolStats().waiting);
      },
    });
  }

  const queryTime = new Histogram({
    name: 'agentline_metrics_database_query_seconds',
    help: "Time the scrape's database queries took, together (a probe of the database's responsiveness)",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
    // This scrape's own queries are in the numbers it shows.
    async collect() {
      await snapshot();
    },
  });
  const queryErrors = new Counter({
    name: 'agentline_metrics_database_errors_total',
    help: "Scrapes whose database queries failed (the database's gauges are then left out)",
    registers,
    async collect() {
      await snapshot();
    },
  });
  const up = new Gauge({
    name: 'agentline_database_up',
    help: 'Whether the last scrape could read the database (1) or not (0)',
    registers,
    // Set by the snapshot itself, which every database gauge below shares.
    async collect() {
      await snapshot();
    },
  });
  if (opts.poolMaxConnections !== undefined) {
    const max = new Gauge({
      name: 'agentline_database_pool_max_connections',
      help: "Connections this process's database client may hold at once (its pool's size; 1 for the embedded PGlite)",
      registers,
    });
    max.set(opts.poolMaxConnections);
  }

  const snapshot = (): Promise<Snapshot | null> => {
    const now = performance.now();
    if (cached && now - cached.at < cacheMs) return cached.value;
    const value = read(db).then(
      (s) => {
        queryTime.observe((performance.now() - now) / 1000);
        up.set(1);
        return s;
      },
      () => {
        queryErrors.inc();
        up.set(0);
        return null;
      },
    );
    cached = { at: now, value };
    return value;
  };
  const gauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge, s: Snapshot) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        this.reset();
        const s = await snapshot();
        if (s) fill(this, s);
      },
    });

  gauge(
    'agentline_calls',
    'Calls in the database by status and ended reason (empty while not ended)',
    ['status', 'ended_reason'],
    (g, s) => {
      for (const c of s.calls) g.set({ status: c.status, ended_reason: c.endedReason }, c.count);
    },
  );
  gauge('agentline_calls_live', 'Calls dialing or in progress now, across all workers', [], (g, s) =>
    g.set(s.live),
  );
  gauge('agentline_queue_depth', 'Queued calls no worker has claimed yet', [], (g, s) => g.set(s.queued));
  gauge(
    'agentline_queue_oldest_age_seconds',
    'Age of the oldest unclaimed queued call (0 when none)',
    [],
    (g, s) => g.set(s.oldestQueuedAge ?? 0),
  );
  gauge(
    'agentline_webhook_deliveries',
    'Webhook outbox rows by status (pending, delivered, dead)',
    ['status'],
    (g, s) => {
      for (const status of ['pending', 'delivered', 'dead']) g.set({ status }, 0);
      for (const d of s.deliveries) g.set({ status: d.status }, d.count);
    },
  );
  gauge(
    'agentline_webhook_oldest_pending_age_seconds',
    'Age of the oldest webhook delivery still pending (0 when none)',
    [],
    (g, s) => g.set(s.oldestPendingAge ?? 0),
  );
  gauge(
    'agentline_worker_heartbeat_age_seconds',
    "Seconds since each registered worker's last heartbeat",
    ['worker'],
    (g, s) => {
      for (const w of s.workers) g.set({ worker: w.id }, w.age);
    },
  );
}

const num = (v: unknown): number => Number(v ?? 0);
const ageOrNull = (v: unknown): number | null =>
  v === null || v === undefined ? null : Math.max(0, Number(v));

async function read(db: Db): Promise<Snapshot> {
  // One query at a time: the embedded database runs them one by one anyway, and a scrape should hold
  // at most one of the pool's connections.
  const calls = rowsOf<{ status: string; ended_reason: string | null; n: unknown }>(
    await db.execute(
      sql`select status, ended_reason, count(*) as n from calls group by status, ended_reason`,
    ),
  );
  const [queue] = rowsOf<{ n: unknown; age: unknown }>(
    await db.execute(
      sql`select count(*) as n, extract(epoch from now() - min(created_at)) as age from calls where status = 'queued' and worker_id is null`,
    ),
  );
  const deliveries = rowsOf<{ status: string; n: unknown }>(
    await db.execute(sql`select status, count(*) as n from webhook_deliveries group by status`),
  );
  const [pending] = rowsOf<{ age: unknown }>(
    await db.execute(
      sql`select extract(epoch from now() - min(created_at)) as age from webhook_deliveries where status = 'pending'`,
    ),
  );
  const workers = rowsOf<{ id: string; age: unknown }>(
    await db.execute(sql`select id, extract(epoch from now() - heartbeat_at) as age from workers`),
  );
  return {
    calls: calls.map((r) => ({ status: r.status, endedReason: r.ended_reason ?? '', count: num(r.n) })),
    live: calls
      .filter((r) => r.status === 'dialing' || r.status === 'in_progress')
      .reduce((a, r) => a + num(r.n), 0),
    queued: num(queue?.n),
    oldestQueuedAge: ageOrNull(queue?.age),
    deliveries: deliveries.map((r) => ({ status: r.status, count: num(r.n) })),
    oldestPendingAge: ageOrNull(pending?.age),
    workers: workers.map((w) => ({ id: w.id, age: Math.max(0, num(w.age)) })),
  };
}
