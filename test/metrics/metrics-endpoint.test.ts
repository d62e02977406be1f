import { sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { calls, webhookDeliveries, workers } from '../../src/db/schema.js';
import { registerDatabaseGauges } from '../../src/metrics/database-gauges.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { startTestApi, TEST_CALLER_ID, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { Scrape, scrape } from './scrape.js';

/** An API whose /metrics reads its own registry and database, as main.ts builds it. */
async function startMetricsApi(
  env: Record<string, string> = {},
): Promise<{ api: TestApi; metrics: Metrics }> {
  // Process metrics are prom-client's own; these tests check agentline's, so they stay off here.
  const metrics = createMetrics({ processMetrics: false });
  const api = await startTestApi({
    env,
    tweak: (deps) => {
      registerDatabaseGauges(metrics.registry, deps.db, { cacheMs: 0 });
      return { ...deps, metrics };
    },
  });
  return { api, metrics };
}

describe('GET /metrics from the database', () => {
  let api: TestApi;
  let metrics: Metrics;

  beforeAll(async () => {
    ({ api, metrics } = await startMetricsApi());
    const call = (
      status: string,
      endedReason: string | null,
      extra: Partial<typeof calls.$inferInsert> = {},
    ) => ({
      accountId: api.accountId,
      toNumber: TEST_DESTINATION,
      callerId: TEST_CALLER_ID,
      objective: 'metrics',
      language: 'en-US',
      status,
      endedReason,
      ...extra,
    });
    const rows = await api.db.db
      .insert(calls)
      .values([
        call('completed', 'objective_met'),
        call('completed', 'objective_met'),
        call('completed', 'callee_hung_up'),
        call('no_answer', 'no_answer'),
        call('failed', 'canceled'),
        call('in_progress', null),
        call('dialing', null),
        call('queued', null, { workerId: 'w-1' }),
        call('queued', null, { createdAt: new Date(Date.now() - 120_000) }),
        call('queued', null),
      ])
      .returning({ id: calls.id });
    const delivery = (i: number, status: 'pending' | 'delivered' | 'dead', event: string) => ({
      accountId: api.accountId,
      callId: rows[i].id,
      event,
      url: 'https://example.invalid/hook',
      payload: {},
      status,
    });
    await api.db.db
      .insert(webhookDeliveries)
      .values([
        delivery(0, 'delivered', 'call.completed'),
        delivery(1, 'delivered', 'call.completed'),
        delivery(2, 'dead', 'call.completed'),
        { ...delivery(3, 'pending', 'call.no_answer'), createdAt: new Date(Date.now() - 300_000) },
      ]);
    await api.db.db.insert(workers).values([
      { id: 'w-fresh', hostname: 'h', pid: 1 },
      { id: 'w-stale', hostname: 'h', pid: 2, heartbeatAt: sql`now() - interval '90 seconds'` },
    ]);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('counts calls by status and ended reason, live calls, and the unclaimed queue with its oldest age', async () => {
    const s = await scrape(api.url);
    expect(s.family('agentline_calls').type).toBe('GAUGE');
    expect(s.value('agentline_calls', { status: 'completed', ended_reason: 'objective_met' })).toBe(2);
    expect(s.value('agentline_calls', { status: 'completed', ended_reason: 'callee_hung_up' })).toBe(1);
    expect(s.value('agentline_calls', { status: 'no_answer', ended_reason: 'no_answer' })).toBe(1);
    expect(s.value('agentline_calls', { status: 'failed', ended_reason: 'canceled' })).toBe(1);
    expect(s.value('agentline_calls', { status: 'queued', ended_reason: '' })).toBe(3);
    expect(s.value('agentline_calls_live')).toBe(2);
    // The claimed queued call is a worker's, not the queue's.
    expect(s.value('agentline_queue_depth')).toBe(2);
    expect(s.value('agentline_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(119);
    expect(s.value('agentline_database_up')).toBe(1);
    expect(s.count('agentline_metrics_database_query_seconds')).toBeGreaterThanOrEqual(1);
  });

  it('reports the webhook outbox by status with its oldest pending age, and each worker heartbeat age', async () => {
    const s = await scrape(api.url);
    expect(s.value('agentline_webhook_deliveries', { status: 'delivered' })).toBe(2);
    expect(s.value('agentline_webhook_deliveries', { status: 'dead' })).toBe(1);
    expect(s.value('agentline_webhook_deliveries', { status: 'pending' })).toBe(1);
    expect(s.value('agentline_webhook_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(299);
    expect(s.value('agentline_worker_heartbeat_age_seconds', { worker: 'w-stale' })).toBeGreaterThanOrEqual(
      89,
    );
    expect(s.value('agentline_worker_heartbeat_age_seconds', { worker: 'w-fresh' })).toBeLessThan(89);
  });

  it('counts what the call path reports: latency stages relative to the speech end, barge-ins, webhook attempts', async () => {
    metrics.turnStored({
      speaker: 'agent',
      interrupted: true,
      latency: {
        calleeSpeechEndMs: 1000,
        sttFinalMs: 1200,
        firstTokenMs: 1700,
        firstTtsAudioMs: 1900,
        firstVoicedFrameMs: null,
      },
    });
    metrics.turnStored({ speaker: 'callee', latency: null });
    metrics.webhookAttempt('delivered');
    metrics.webhookAttempt('failed');
    metrics.webhookAttempt('failed');
    const s = await scrape(api.url);
    expect(s.count('agentline_voice_stt_final_seconds')).toBe(1);
    expect(Number(s.sample('agentline_voice_first_token_seconds')?.sum)).toBeCloseTo(0.7);
    expect(s.count('agentline_voice_first_tts_audio_seconds')).toBe(1);
    expect(s.count('agentline_voice_first_voiced_frame_seconds')).toBe(0);
    expect(s.value('agentline_barge_ins_total')).toBe(1);
    expect(s.value('agentline_turns_total', { speaker: 'callee' })).toBe(1);
    expect(s.value('agentline_webhook_attempts_total', { result: 'delivered' })).toBe(1);
    expect(s.value('agentline_webhook_attempts_total', { result: 'failed' })).toBe(2);
    expect(s.value('agentline_webhook_attempts_total', { result: 'dead' })).toBe(0);
  });

  it('serves loopback clients without a token, but not a request that came through a proxy', async () => {
    const res = await fetch(`${api.url}/metrics`, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
  });

  it('refuses a client outside the private networks (the socket address, as @hono/node-server hands it)', async () => {
    const app = createApp(api.deps);
    const get = (remoteAddress: string) =>
      app.fetch(new Request('http://agentline.example/metrics'), { incoming: { socket: { remoteAddress } } });
    const refused = await get('203.0.113.5');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    for (const privateAddress of ['10.1.2.3', '192.168.0.7', '::ffff:172.20.0.4', 'fd12::1', '::1']) {
      expect((await get(privateAddress)).status, privateAddress).toBe(200);
    }
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789abcdef';
  let api: TestApi;
  beforeAll(async () => {
    ({ api } = await startMetricsApi({ METRICS_TOKEN: token }));
  });
  afterAll(async () => {
    await api?.close();
  });

  it('needs the token as a bearer token, even from loopback', async () => {
    for (const authorization of [undefined, `Bearer ${token}x`, 'Bearer ', `Basic ${token}`]) {
      const res = await fetch(`${api.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    const s = await scrape(api.url, { headers: { authorization: `Bearer ${token}` } });
    expect(s.families.has('agentline_calls')).toBe(true);
  });

  it('opens to the token through a proxy too', async () => {
    const s = await scrape(api.url, {
      headers: { authorization: `Bearer ${token}`, 'X-Forwarded-For': '203.0.113.9' },
    });
    expect(s).toBeInstanceOf(Scrape);
  });

  it('is never opened by an agent key', async () => {
    const res = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${api.key}` } });
    expect(res.status).toBe(401);
  });
});

/** A transaction that holds its connection (and an advisory lock) until `release()`. */
async function holdConnection(database: Database, lock: number) {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let locked!: () => void;
  const taken = new Promise<void>((r) => {
    locked = r;
  });
  const done = database.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${lock})`);
    locked();
    await released;
  });
  await Promise.race([taken, done]);
  return {
    release: async () => {
      release();
      await done;
    },
  };
}

// postgres.js's pool (PGlite's one connection is below).
describe.skipIf(!process.env.DATABASE_URL)("GET /metrics: this process's database pool", () => {
  let database: TestDatabase;
  let api: TestApi;
  let metrics: Metrics;

  beforeAll(async () => {
    database = await createTestDatabase();
    metrics = createMetrics({ processMetrics: false });
    api = await startTestApi({
      db: database,
      tweak: (deps) => {
        registerDatabaseGauges(metrics.registry, deps.db, { cacheMs: 0, poolStats: database.poolStats });
        return { ...deps, metrics };
      },
    });
  });
  afterAll(async () => {
    await api?.close();
    await database?.close();
  });

  const connections = (s: Scrape, state: string) => s.value('agentline_database_connections', { state });

  it('shows a connection held by a transaction as leased and one running a query as active, until they end', async () => {
    const before = await scrape(api.url);
    expect(connections(before, 'leased')).toBe(0);
    expect(connections(before, 'active')).toBe(0);
    expect(before.value('agentline_database_pool_waiting_queries')).toBe(0);

    const held = await holdConnection(database, 7001);
    let blocked: Promise<unknown> | null = null;
    let during: Promise<string> | null = null;
    try {
      expect(connections(await scrape(api.url), 'leased')).toBe(1);
      // Outside the transaction, waiting on its lock: a connection busy with a query that has not ended.
      blocked = database.db.execute(sql`select pg_advisory_xact_lock(${7001})`).then((r) => r);
      await vi.waitFor(
        () => {
          const p = database.poolStats();
          expect(p && p.connections - p.idle - p.leased).toBe(1);
        },
        { timeout: 20_000, interval: 50 },
      );
      // The registry /metrics serves, which reads the pool as the scrape starts. Its own queries may be
      // pipelined behind the blocked one (postgres.js keeps statements it has seen run slowly together),
      // so the lock is released before the scrape is awaited.
      during = metrics.registry.metrics();
    } finally {
      await held.release();
      await blocked;
    }
    const s = new Scrape(await during);
    expect(connections(s, 'active')).toBe(1);
    expect(connections(s, 'leased')).toBe(1);
    expect(s.value('agentline_database_pool_waiting_queries')).toBe(0);

    const after = await scrape(api.url);
    expect(connections(after, 'leased')).toBe(0);
    expect(connections(after, 'active')).toBe(0);
    // Both connections stay open for the next queries.
    expect(connections(after, 'idle')).toBeGreaterThanOrEqual(2);
  });

  it('counts the queries waiting for a connection while the pool is exhausted', async () => {
    const small = await openDatabase({ url: database.url as string, maxConnections: 1 });
    const registry = new Registry();
    registerDatabaseGauges(registry, small.db, { cacheMs: 0, poolStats: small.poolStats });
    const held = await holdConnection(small, 7002);
    let waiting: Promise<unknown> | null = null;
    try {
      waiting = small.db.execute(sql`select 1`).then((r) => r);
      await vi.waitFor(() => expect(small.poolStats().waiting).toBe(1), { timeout: 20_000, interval: 50 });
      // The scrape reads the pool as it finds it, then waits for a connection like the query before it.
      const text = registry.metrics();
      await held.release();
      const s = new Scrape(await text);
      expect(s.value('agentline_database_pool_waiting_queries')).toBe(1);
      expect(s.value('agentline_database_connections', { state: 'leased' })).toBe(1);
      expect(s.value('agentline_database_up')).toBe(1);
    } finally {
      await held.release();
      await waiting;
      await small.close();
    }
    expect(small.poolStats().waiting).toBe(0);
  });
});

describe('the database pool gauges over PGlite', () => {
  it('shows its one connection leased by a transaction, and the calls waiting behind it', async () => {
    const embedded = await openDatabase({ pgliteDir: null });
    try {
      await embedded.migrate();
      const registry = new Registry();
      registerDatabaseGauges(registry, embedded.db, { cacheMs: 0, poolStats: embedded.poolStats });
      const idle = new Scrape(await registry.metrics());
      expect(idle.value('agentline_database_connections', { state: 'idle' })).toBe(1);
      expect(idle.value('agentline_database_connections', { state: 'leased' })).toBe(0);

      const held = await holdConnection(embedded, 7003);
      const queued = embedded.db.execute(sql`select 1`).then((r) => r);
      let text: Promise<string> | null = null;
      try {
        await vi.waitFor(() => expect(embedded.poolStats().waiting).toBe(1), {
          timeout: 20_000,
          interval: 50,
        });
        text = registry.metrics();
      } finally {
        await held.release();
        await queued;
      }
      const s = new Scrape(await text);
      expect(s.value('agentline_database_connections', { state: 'leased' })).toBe(1);
      expect(s.value('agentline_database_connections', { state: 'idle' })).toBe(0);
      expect(s.value('agentline_database_pool_waiting_queries')).toBe(1);
      expect(embedded.poolStats()).toMatchObject({ idle: 1, leased: 0, waiting: 0 });
    } finally {
      await embedded.close();
    }
  });
});
