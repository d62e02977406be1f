import { and, asc, eq, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BUFFERED_TURNS, TurnBufferFull, WorkerCallControl } from '../../src/calls/call-control.js';
import type { CallRunner } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { isTerminal } from '../../src/calls/status.js';
import { type CallWorker, createCallWorker } from '../../src/calls/worker.js';
import {
  accounts,
  type CallRow,
  callEvents,
  calls,
  usageCounters,
  webhookDeliveries,
  workers,
} from '../../src/db/schema.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

/**
 * Writes that fail for a while, injected by the database itself: a trigger raises on inserts into a
 * table while the test holds that table's name in `fault_injection`, as a full disk, a lock timeout or
 * a failing replica would. Works on PostgreSQL and PGlite alike.
 */
const FAULTS_SQL = [
  'create table fault_injection (target text primary key)',
  `create function inject_fault() returns trigger language plpgsql as $$
   begin
     if exists (select 1 from fault_injection where target = tg_table_name) then
       raise exception 'injected write failure on %', tg_table_name;
     end if;
     return new;
   end $$`,
  'create trigger call_events_fault before insert on call_events for each row execute function inject_fault()',
  'create trigger call_turns_fault before insert on call_turns for each row execute function inject_fault()',
];

/** A logger whose lines the test can wait on: the positive marker that a write really failed. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

describe('writes that fail for a while', () => {
  let t: TestDatabase;
  let accountId: string;
  const started: CallWorker[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    for (const q of FAULTS_SQL) await t.db.execute(sql.raw(q));
    const [a] = await t.db.insert(accounts).values({ name: 'acme' }).returning();
    accountId = a.id;
  });
  afterAll(() => t.close());
  afterEach(async () => {
    await heal();
    await Promise.all(started.splice(0).map((w) => w.stop()));
    await t.db.delete(calls);
    await t.db.delete(workers);
  });

  const fail = async (...tables: string[]) => {
    for (const table of tables)
      await t.db.execute(sql`insert into fault_injection (target) values (${table}) on conflict do nothing`);
  };
  const heal = () => t.db.execute(sql`delete from fault_injection`);

  async function insertCall(extra: Partial<typeof calls.$inferInsert> = {}): Promise<CallRow> {
    const [call] = await t.db
      .insert(calls)
      .values({
        accountId,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'o',
        language: 'en-US',
        webhookUrl: 'https://hooks.example/x',
        ...extra,
      })
      .returning();
    return call;
  }
  const callOf = async (id: string) => (await t.db.select().from(calls).where(eq(calls.id, id)))[0];
  const eventsOf = async (id: string) =>
    (await t.db.select().from(callEvents).where(eq(callEvents.callId, id))).map((e) => e.toStatus);
  // In the order they were written (each in its own transaction, one after another): without an
  // order by, Postgres may return them in the unique index's order (call_id, event, attempt).
  const hooksOf = async (id: string) =>
    (
      await t.db
        .select()
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.callId, id))
        .orderBy(asc(webhookDeliveries.createdAt))
    ).map((h) => h.event);
  /** answered() lets a live call go on after a short wait; tests that need the answer stored wait for it. */
  const answerStored = (id: string) =>
    expect.poll(async () => (await callOf(id)).status, { timeout: 30_000 }).toBe('in_progress');
  const logged = (lines: Record<string, unknown>[], msg: string) => lines.some((l) => l.msg === msg);

  it('an end that cannot be stored is retried until it is: one terminal event, one webhook, results kept', async () => {
    const { logger, lines } = capturingLogger();
    const store = new CallStore(t.db, 'https://agentline.example');
    const ctl = new WorkerCallControl(await insertCall({ workerId: 'w' }), store, logger);
    await ctl.dialing();
    await ctl.answered();
    await answerStored(ctl.call.id);
    await fail('call_events');
    const ending = ctl.end({ status: 'completed', endedReason: 'callee_hung_up', summary: 'Booked.' });
    await expect
      .poll(() => logged(lines, "could not store the call's end; retrying"), { timeout: 30_000 })
      .toBe(true);
    expect((await callOf(ctl.call.id)).status).toBe('in_progress');
    expect(ctl.settled).toBe(false);

    await heal();
    await ending;
    expect(ctl.settled).toBe(true);
    expect(await callOf(ctl.call.id)).toMatchObject({
      status: 'completed',
      endedReason: 'callee_hung_up',
      summary: 'Booked.',
    });
    expect(await eventsOf(ctl.call.id)).toEqual(['dialing', 'in_progress', 'completed']);
    expect(await hooksOf(ctl.call.id)).toEqual(['call.in_progress', 'call.completed']);
  });

  it('a live call keeps talking through an outage: the answer does not wait, and its turns and end are stored, in order, when writes work again', async () => {
    const { logger, lines } = capturingLogger();
    const store = new CallStore(t.db, 'https://agentline.example');
    const ctl = new WorkerCallControl(await insertCall({ workerId: 'w' }), store, logger);
    await ctl.dialing();
    await fail('call_events', 'call_turns');
    // The callee is on the line: the answer must not hold the conversation until the database is back.
    await ctl.answered();
    const answeredBy = Date.now();
    const said = ['Hello, this is Ana.', 'Yes, seven works for me.', 'Thanks, bye.'];
    const turns = said.map((text, i) =>
      ctl.addTurn({ speaker: i % 2 ? 'agent' : 'callee', text, startMs: i * 1000, endMs: i * 1000 + 800 }),
    );
    ctl.lineDown(new Date());
    const ending = ctl.end({ status: 'completed', endedReason: 'callee_hung_up' });
    await expect
      .poll(() => logged(lines, "could not store the call's answer; retrying"), { timeout: 30_000 })
      .toBe(true);
    expect((await callOf(ctl.call.id)).status).toBe('dialing');

    await heal();
    await Promise.all([...turns, ending]);
    const call = await callOf(ctl.call.id);
    expect(call).toMatchObject({ status: 'completed', endedReason: 'callee_hung_up' });
    // The answer is timed when it happened, not when its write finally got through.
    expect(call.startedAt!.getTime()).toBeLessThanOrEqual(answeredBy);
    expect(call.transcript).toBe(
      'Callee: Hello, this is Ana.\nAgent: Yes, seven works for me.\nCallee: Thanks, bye.',
    );
    expect(await eventsOf(ctl.call.id)).toEqual(['dialing', 'in_progress', 'completed']);
    expect(await hooksOf(ctl.call.id)).toEqual(['call.in_progress', 'call.completed']);
  });

  it(`holds at most ${MAX_BUFFERED_TURNS} unstored turns of a call, and stores every one it held`, async () => {
    const { logger } = capturingLogger();
    const store = new CallStore(t.db, 'https://agentline.example');
    const ctl = new WorkerCallControl(await insertCall({ workerId: 'w' }), store, logger);
    await ctl.dialing();
    await ctl.answered();
    await fail('call_turns');
    const held = Array.from({ length: MAX_BUFFERED_TURNS }, (_, i) =>
      ctl.addTurn({ speaker: 'callee', text: `turn ${i}`, startMs: i, endMs: i }),
    );
    await expect(
      ctl.addTurn({ speaker: 'callee', text: 'one too many', startMs: 0, endMs: 0 }),
    ).rejects.toThrow(TurnBufferFull);
    await heal();
    await Promise.all(held);
    expect(await store.turns(ctl.call.id)).toHaveLength(MAX_BUFFERED_TURNS);
  });

  it('durationSeconds and usage count answer to hangup, not the summary written after; endedAt is the hangup', async () => {
    let now: Date | null = null;
    const store = new CallStore(t.db, 'https://agentline.example', () => now ?? new Date());
    const { logger } = capturingLogger();
    const call = await insertCall({ workerId: 'w' });
    const ctl = new WorkerCallControl(call, store, logger);
    await ctl.dialing();
    await ctl.answered();
    await answerStored(call.id);
    const startedAt = (await callOf(call.id)).startedAt!;
    const hangup = new Date(startedAt.getTime() + 30_000);
    ctl.lineDown(hangup);
    // While the summary runs, the call shows that its line is down.
    await expect.poll(async () => (await callOf(call.id)).endedAt?.toISOString()).toBe(hangup.toISOString());
    expect((await callOf(call.id)).status).toBe('in_progress');
    // The summary took two minutes: the end is written then.
    now = new Date(hangup.getTime() + 123_000);
    await ctl.end({ status: 'completed', endedReason: 'max_duration', summary: 'Slow summary.' });
    const done = await callOf(call.id);
    expect(done).toMatchObject({ status: 'completed', durationSeconds: 30, summary: 'Slow summary.' });
    expect(done.endedAt?.toISOString()).toBe(hangup.toISOString());
    const [usage] = await t.db.select().from(usageCounters).where(eq(usageCounters.accountId, accountId));
    expect(usage.callSeconds).toBe(30);
    await t.db.delete(usageCounters);
  });

  it('without a recorded hangup, the end is timed when the runner ended the call, not when the write got through', async () => {
    const store = new CallStore(t.db, 'https://agentline.example');
    const { logger, lines } = capturingLogger();
    const ctl = new WorkerCallControl(await insertCall({ workerId: 'w' }), store, logger);
    await ctl.dialing();
    await ctl.answered();
    await fail('call_events');
    const before = Date.now();
    const ending = ctl.end({ status: 'completed', endedReason: 'objective_met' });
    const after = Date.now();
    await expect
      .poll(() => logged(lines, "could not store the call's end; retrying"), { timeout: 30_000 })
      .toBe(true);
    await heal();
    await ending;
    const done = await callOf(ctl.call.id);
    expect(done.endedAt!.getTime()).toBeGreaterThanOrEqual(before);
    expect(done.endedAt!.getTime()).toBeLessThanOrEqual(after);
    await t.db.delete(usageCounters);
  });

  describe('in the worker', () => {
    function worker(runner: CallRunner, logger: Logger, canClaim = () => true): CallWorker {
      const w = createCallWorker({
        db: t.db,
        store: new CallStore(t.db, 'https://agentline.example'),
        runner,
        logger,
        concurrency: 2,
        pollMs: 20,
        staleSeconds: 30,
        cancelPollMs: 20,
        canClaim,
      });
      started.push(w);
      return w;
    }

    it('dials only once `dialing` is stored, and a failed dialing write leaves no call queued forever', async () => {
      const { logger, lines } = capturingLogger();
      const call = await insertCall();
      const dialed: string[] = [];
      await fail('call_events');
      const w = worker(
        {
          async run(ctl) {
            await ctl.dialing();
            dialed.push(ctl.call.id);
            await ctl.answered();
            await ctl.end({ status: 'completed', endedReason: 'objective_met' });
          },
        },
        logger,
      );
      await w.start();
      await expect
        .poll(() => logged(lines, "could not store the call's dialing; retrying"), { timeout: 30_000 })
        .toBe(true);
      expect(dialed).toEqual([]);
      expect(await callOf(call.id)).toMatchObject({ status: 'queued', workerId: w.id });

      await heal();
      await expect.poll(async () => (await callOf(call.id)).status, { timeout: 30_000 }).toBe('completed');
      expect(dialed).toEqual([call.id]);
      expect(await eventsOf(call.id)).toEqual(['dialing', 'in_progress', 'completed']);
    });

    it('a call its runner left undialed goes back to the queue instead of staying claimed', async () => {
      const { logger } = capturingLogger();
      const call = await insertCall();
      let runs = 0;
      const w = worker(
        {
          async run(ctl) {
            // The first run gives up before dialing (e.g. the PBX connection dropped); the next one works.
            if (++runs === 1) return;
            await ctl.dialing();
            await ctl.end({ status: 'no_answer', endedReason: 'no_answer_timeout' });
          },
        },
        logger,
      );
      await w.start();
      await expect.poll(async () => (await callOf(call.id)).status, { timeout: 30_000 }).toBe('no_answer');
      expect(runs).toBe(2);
      expect(await eventsOf(call.id)).toEqual(['dialing', 'no_answer']);
    });

    it('a worker whose own heartbeat went stale (an outage) never ends its own running calls as lost', async () => {
      const { logger } = capturingLogger();
      const call = await insertCall();
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const w = worker(
        {
          async run(ctl) {
            await ctl.dialing();
            await ctl.answered();
            await held;
            await ctl.end({ status: 'completed', endedReason: 'callee_hung_up' });
          },
        },
        logger,
      );
      await w.start();
      await expect.poll(async () => (await callOf(call.id)).status, { timeout: 30_000 }).toBe('in_progress');
      // The database was away longer than the stale period: this worker's row looks dead.
      await t.db.update(workers).set({ heartbeatAt: new Date(Date.now() - 3_600_000) });
      await w.recover();
      expect((await callOf(call.id)).status).toBe('in_progress');
      release();
      await expect
        .poll(async () => (await callOf(call.id)).endedReason, { timeout: 30_000 })
        .toBe('callee_hung_up');
    });

    it('the heartbeat vouches only for calls the worker runs: its other calls are requeued or ended as lost', async () => {
      const { logger } = capturingLogger();
      const w = worker({ run: async () => {} }, logger, () => false);
      await w.start();
      // Rows naming this live worker that it does not run (its runner gave up on them).
      const queued = await insertCall({ workerId: w.id });
      const live = await insertCall({ workerId: w.id, status: 'in_progress', startedAt: new Date() });
      // The round the worker started on may be the one that finds them; either way, one round does.
      await w.recover();
      expect(await callOf(queued.id)).toMatchObject({ status: 'queued', workerId: null });
      expect(await callOf(live.id)).toMatchObject({ status: 'failed', endedReason: 'worker_lost' });
      expect(isTerminal((await callOf(live.id)).status)).toBe(true);
      expect(await hooksOf(live.id)).toEqual(['call.failed']);
      const mine = await t.db
        .select()
        .from(calls)
        .where(and(eq(calls.workerId, w.id), eq(calls.status, 'queued')));
      expect(mine).toEqual([]);
    });
  });
});
