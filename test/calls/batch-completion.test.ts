import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallStore } from '../../src/calls/call-store.js';
import { openDatabase } from '../../src/db/client.js';
import {
  accounts,
  type BatchStatus,
  batches,
  calls,
  type RetryPolicy,
  webhookDeliveries,
} from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

const HOOK = 'https://hooks.example/batches';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('batch completion', () => {
  let t: TestDatabase;
  let store: CallStore;
  /** A second pool and store: two workers ending the batch's last calls at the same moment. */
  let other: { store: CallStore; close: () => Promise<void> };
  let accountId: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'https://agentline.example');
    if (t.url) {
      const d = await openDatabase({ url: t.url, maxConnections: 4 });
      other = { store: new CallStore(d.db, 'https://agentline.example'), close: d.close };
    } else {
      other = { store, close: async () => {} };
    }
    const [a] = await t.db.insert(accounts).values({ name: 'batches' }).returning();
    accountId = a.id;
  });
  afterAll(async () => {
    await other.close();
    await t.close();
  });

  async function batchWithCalls(
    n: number,
    opts: { status?: BatchStatus; retryPolicy?: RetryPolicy; webhookUrl?: string | null } = {},
  ) {
    const [b] = await t.db
      .insert(batches)
      .values({
        accountId,
        name: 'reminders',
        status: opts.status ?? 'running',
        template: { objective: 'Remind {{name}}.' },
        webhookUrl: opts.webhookUrl === undefined ? HOOK : opts.webhookUrl,
        metadata: { campaign: 'march' },
        totalRows: n + 1,
        acceptedRows: n,
        refused: [{ row: n + 1, to: '+1', code: 'invalid_number', message: 'bad' }],
      })
      .returning();
    const rows = await t.db
      .insert(calls)
      .values(
        Array.from({ length: n }, (_, i) => ({
          accountId,
          toNumber: `+1415555${String(1000 + i)}`,
          callerId: '+14155550199',
          objective: `Remind ${i}.`,
          language: 'en-US',
          batchId: b.id,
          batchRow: i + 1,
          retryPolicy: opts.retryPolicy ?? null,
        })),
      )
      .returning();
    return { batch: b, calls: rows };
  }

  /**
   * Runs two ends so that both have written their call row before either can count the batch's calls:
   * a third connection holds call_events (which each end writes right after its call row) until both
   * ends wait on a lock, then lets them go together. Without the batch lock, each would then count the
   * other's call as still dialing and nobody would complete the batch.
   */
  async function endTogether<A, B>(a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
    if (!t.url) return Promise.all([a(), b()]);
    const sql = postgres(t.url, { max: 2, onnotice: () => {} });
    try {
      const locked = deferred();
      const release = deferred();
      const holder = sql.begin(async (tx) => {
        await tx`lock table call_events in exclusive mode`;
        locked.resolve();
        await release.promise;
      });
      await locked.promise;
      const ends = Promise.all([a(), b()]);
      for (;;) {
        const [w] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`;
        if (w.n >= 2) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      release.resolve();
      await holder;
      return await ends;
    } finally {
      await sql.end();
    }
  }

  const batchRow = async (id: string) => (await t.db.select().from(batches).where(eq(batches.id, id)))[0];
  const batchHooks = (id: string) =>
    t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.batchId, id));

  async function dial(ids: string[]) {
    for (const id of ids) expect((await store.transition(id, 'dialing')).ok).toBe(true);
  }

  it('completes once, with the counts, when the last two calls end at the same moment', async () => {
    for (let round = 0; round < 3; round++) {
      const { batch, calls: cs } = await batchWithCalls(3);
      await dial(cs.map((c) => c.id));
      expect((await store.transition(cs[0].id, 'in_progress')).ok).toBe(true);
      expect((await store.transition(cs[0].id, 'completed', { reason: 'objective_met' })).ok).toBe(true);
      expect((await batchRow(batch.id)).status).toBe('running');
      expect(await batchHooks(batch.id)).toEqual([]);

      const [a, b] = await endTogether(
        () => store.transition(cs[1].id, 'no_answer', { reason: 'no_answer_timeout' }),
        () => other.store.transition(cs[2].id, 'declined', { reason: 'busy' }),
      );
      expect(a.ok && b.ok).toBe(true);
      const done = await batchRow(batch.id);
      expect(done.status).toBe('completed');
      expect(done.completedAt).not.toBeNull();
      const hooks = await batchHooks(batch.id);
      expect(hooks).toHaveLength(1);
      expect(hooks[0]).toMatchObject({ event: 'batch.completed', callId: null, attempt: 1, url: HOOK });
      expect(hooks[0].payload).toEqual({
        event: 'batch.completed',
        eventId: hooks[0].id,
        timestamp: done.completedAt?.toISOString(),
        batchId: batch.id,
        name: 'reminders',
        status: 'completed',
        totalRows: 4,
        acceptedRows: 3,
        refusedRows: 1,
        counts: {
          queued: 0,
          dialing: 0,
          in_progress: 0,
          completed: 1,
          no_answer: 1,
          voicemail: 0,
          declined: 1,
          failed: 0,
        },
        metadata: { campaign: 'march' },
        completedAt: done.completedAt?.toISOString(),
      });
    }
  });

  it('a canceled batch keeps its status and gets completedAt and batch.completed when its last call ends', async () => {
    const { batch, calls: cs } = await batchWithCalls(2, { status: 'canceled' });
    await dial([cs[0].id]);
    expect((await store.transition(cs[1].id, 'failed', { reason: 'canceled' })).ok).toBe(true);
    expect((await batchRow(batch.id)).completedAt).toBeNull();
    expect((await store.transition(cs[0].id, 'no_answer', { reason: 'no_answer_timeout' })).ok).toBe(true);
    const done = await batchRow(batch.id);
    expect(done.status).toBe('canceled');
    expect(done.completedAt).not.toBeNull();
    const hooks = await batchHooks(batch.id);
    expect(hooks.map((h) => h.payload)).toEqual([
      expect.objectContaining({
        status: 'canceled',
        counts: expect.objectContaining({ failed: 1, no_answer: 1 }),
      }),
    ]);
  });

  it('a call of a canceled batch is not retried, and a retried call keeps its batch running', async () => {
    const policy: RetryPolicy = { maxAttempts: 3, delaySeconds: 60, on: ['no_answer'] };
    const running = await batchWithCalls(1, { retryPolicy: policy });
    await dial([running.calls[0].id]);
    const res = await store.transition(running.calls[0].id, 'no_answer', { reason: 'no_answer_timeout' });
    expect(res).toMatchObject({ ok: true, call: { status: 'queued', attempt: 2 } });
    expect(await batchRow(running.batch.id)).toMatchObject({ status: 'running', completedAt: null });
    expect(await batchHooks(running.batch.id)).toEqual([]);

    const canceled = await batchWithCalls(1, { retryPolicy: policy, status: 'canceled' });
    await dial([canceled.calls[0].id]);
    const end = await store.transition(canceled.calls[0].id, 'no_answer', { reason: 'no_answer_timeout' });
    expect(end).toMatchObject({ ok: true, call: { status: 'no_answer', attempt: 1 } });
    expect((await batchRow(canceled.batch.id)).completedAt).not.toBeNull();
  });

  it('completes a batch without a webhook URL without sending anything', async () => {
    const { batch, calls: cs } = await batchWithCalls(1, { webhookUrl: null });
    await dial([cs[0].id]);
    await store.transition(cs[0].id, 'failed', { reason: 'network_error' });
    expect(await batchRow(batch.id)).toMatchObject({ status: 'completed' });
    expect(await batchHooks(batch.id)).toEqual([]);
  });
});
