import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerCallControl } from '../../src/calls/call-control.js';
import type { CallRunner } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { attemptsOf } from '../../src/calls/call-view.js';
import { type CallWorker, createCallWorker } from '../../src/calls/worker.js';
import { accounts, callEvents, calls } from '../../src/db/schema.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

async function until<T>(probe: () => Promise<T | null | undefined | false>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a retried call in the worker', () => {
  let t: TestDatabase;
  let worker: CallWorker | null = null;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await worker?.stop();
    await t.close();
  });

  it('lets go of the call when its end is retried, and runs the next attempt once it is due', async () => {
    const [a] = await t.db.insert(accounts).values({ name: 'retry-worker' }).returning();
    const [call] = await t.db
      .insert(calls)
      .values({
        accountId: a.id,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Confirm the appointment.',
        language: 'en-US',
        retryPolicy: { maxAttempts: 2, delaySeconds: 60, on: ['no_answer'] },
      })
      .returning();
    // The worker's clock: the next attempt becomes due only when the test moves it past the delay.
    let offsetMs = 0;
    const clock = () => new Date(Date.now() + offsetMs);
    const runs: { attempt: number; status: string }[] = [];
    const runner: CallRunner = {
      async run(ctl) {
        runs.push({ attempt: ctl.call.attempt, status: ctl.call.status });
        await ctl.dialing();
        if (ctl.call.attempt === 1) {
          await ctl.end({ status: 'no_answer', endedReason: 'no_answer_timeout' });
          return;
        }
        await ctl.answered();
        await ctl.end({ status: 'completed', endedReason: 'objective_met', summary: 'confirmed' });
      },
    };
    const store = new CallStore(t.db, 'https://agentline.example');
    const logged: { msg?: string }[] = [];
    worker = createCallWorker({
      db: t.db,
      store,
      runner,
      logger: createLogger('info', { write: (line: string) => void logged.push(JSON.parse(line)) }),
      concurrency: 2,
      pollMs: 10,
      staleSeconds: 30,
      cancelPollMs: 20,
      clock,
    });
    await worker.start();

    // Attempt 1 ended no_answer: queued again for attempt 2, unclaimed, and no longer run here.
    const requeued = await until(async () => {
      const [r] = await t.db.select().from(calls).where(eq(calls.id, call.id));
      return r.status === 'queued' && r.attempt === 2 && worker?.activeCalls().length === 0 && r;
    });
    expect(requeued).toMatchObject({ workerId: null, claimedAt: null, dialedAt: null, endedReason: null });
    expect(requeued.scheduledFor).not.toBeNull();
    expect(runs).toEqual([{ attempt: 1, status: 'queued' }]);

    offsetMs = 61_000;
    worker.wake();
    const done = await until(async () => {
      const [r] = await t.db.select().from(calls).where(eq(calls.id, call.id));
      return r.status === 'completed' && r;
    });
    expect(runs.map((r) => r.attempt)).toEqual([1, 2]);
    expect(done).toMatchObject({ attempt: 2, endedReason: 'objective_met', summary: 'confirmed' });
    expect(attemptsOf(done).map((x) => [x.attempt, x.status])).toEqual([
      [1, 'no_answer'],
      [2, 'completed'],
    ]);
    // The worker never took the retried end for a runner that forgot to end its call.
    const reasons = (await t.db.select().from(callEvents).where(eq(callEvents.callId, call.id))).map(
      (e) => e.reason,
    );
    expect(reasons).not.toContain('internal_error');
    expect(reasons.filter((r) => r === 'retry')).toHaveLength(1);
    // Nor for a call that was never dialed: its attempt ended and was stored.
    expect(logged.map((l) => l.msg)).not.toContain('call returned to the queue undialed');
    expect(logged.map((l) => l.msg)).not.toContain('call runner returned without ending the call');
  });

  it("an attempt's end stored late (after an outage) never lands on the next attempt", async () => {
    const store = new CallStore(t.db, 'https://agentline.example');
    const [a] = await t.db.insert(accounts).values({ name: 'late-end' }).returning();
    const [call] = await t.db
      .insert(calls)
      .values({
        accountId: a.id,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Confirm the appointment.',
        language: 'en-US',
        workerId: 'w-1',
        retryPolicy: { maxAttempts: 3, delaySeconds: 60, on: ['no_answer'] },
      })
      .returning();
    const ctl = new WorkerCallControl(call, store, silentLogger());
    await ctl.dialing();
    expect(ctl.call).toMatchObject({ status: 'dialing', attempt: 1 });
    // Attempt 1's end was in fact stored (its reply lost in the outage): the call went back to the queue,
    // and another worker claimed and dialed attempt 2.
    expect((await store.transition(call.id, 'no_answer', { reason: 'no_answer_timeout' })).ok).toBe(true);
    await t.db.update(calls).set({ workerId: 'w-2' }).where(eq(calls.id, call.id));
    expect((await store.transition(call.id, 'dialing')).call).toMatchObject({
      status: 'dialing',
      attempt: 2,
    });
    // The first worker's retried write of attempt 1's end arrives now.
    await ctl.end({ status: 'no_answer', endedReason: 'no_answer_timeout' });
    const [row] = await t.db.select().from(calls).where(eq(calls.id, call.id));
    expect(row).toMatchObject({ status: 'dialing', attempt: 2, workerId: 'w-2', endedReason: null });
    expect(row.attempts).toHaveLength(1);
    // The control's part is over: nothing it still reports touches attempt 2.
    expect(ctl.settled).toBe(true);
    expect(ctl.released).toBe(true);
    await ctl.answered();
    expect((await t.db.select().from(calls).where(eq(calls.id, call.id)))[0].status).toBe('dialing');
  });
});
