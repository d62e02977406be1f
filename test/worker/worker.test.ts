import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AbortCause, CallControl, CallRunner } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { isTerminal } from '../../src/calls/status.js';
import { type CallWorker, type CallWorkerDeps, createCallWorker } from '../../src/calls/worker.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import {
  accounts,
  type CallRow,
  callEvents,
  calls,
  webhookDeliveries,
  workers,
} from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

async function until<T>(
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A promise with its resolver, to hold a runner at a chosen point. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const abortedWith = (signal: AbortSignal) =>
  new Promise<AbortCause>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });

/** Runs a call the way a healthy runner does, and records which calls it ran. */
function recordingRunner(ran: string[]): CallRunner {
  return {
    async run(ctl) {
      ran.push(ctl.call.id);
      await ctl.dialing();
      await ctl.answered();
      await ctl.addTurn({ speaker: 'agent', text: 'Hi, calling about the booking.', startMs: 0, endMs: 800 });
      await ctl.end({ status: 'completed', endedReason: 'objective_met', summary: 'done' });
    },
  };
}

describe('call worker', () => {
  let t: TestDatabase;
  let store: CallStore;
  let accountId: string;
  const started: CallWorker[] = [];
  const extraDbs: Database[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'https://agentline.example');
    const [a] = await t.db.insert(accounts).values({ name: 'acme' }).returning();
    accountId = a.id;
  });
  afterAll(() => t.close());
  afterEach(async () => {
    await Promise.all(started.splice(0).map((w) => w.stop()));
    await Promise.all(extraDbs.splice(0).map((d) => d.close()));
    await t.db.delete(calls);
    await t.db.delete(workers);
  });

  function worker(over: Partial<CallWorkerDeps> & { runner: CallRunner }): CallWorker {
    const w = createCallWorker({
      db: t.db,
      store,
      logger: silentLogger(),
      concurrency: 4,
      pollMs: 10,
      staleSeconds: 30,
      cancelPollMs: 20,
      ...over,
    });
    started.push(w);
    return w;
  }

  async function insertCalls(n: number, extra: Partial<typeof calls.$inferInsert> = {}): Promise<CallRow[]> {
    const base = Date.now() - 60_000;
    return t.db
      .insert(calls)
      .values(
        Array.from({ length: n }, (_, i) => ({
          accountId,
          toNumber: '+14155550100',
          callerId: '+14155550199',
          objective: `call ${i}`,
          language: 'en-US',
          createdAt: new Date(base + i),
          ...extra,
        })),
      )
      .returning();
  }

  const callOf = async (id: string) => (await t.db.select().from(calls).where(eq(calls.id, id)))[0];
  const terminal = async (id: string) => {
    const c = await callOf(id);
    return isTerminal(c.status) && c;
  };

  it('two workers on two connections race for 50 calls and run each exactly once', async () => {
    const queued = await insertCalls(50);
    const second: Database = t.url ? await openDatabase({ url: t.url, maxConnections: 4 }) : t;
    if (second !== t) extraDbs.push(second);
    const ranA: string[] = [];
    const ranB: string[] = [];
    const a = worker({ runner: recordingRunner(ranA), workerId: 'worker-a' });
    const b = worker({
      runner: recordingRunner(ranB),
      workerId: 'worker-b',
      db: second.db,
      store: new CallStore(second.db, 'https://agentline.example'),
    });
    await Promise.all([a.start(), b.start()]);

    await until(async () => {
      const rows = await t.db.select().from(calls);
      return rows.every((c) => c.status === 'completed');
    });
    const ran = [...ranA, ...ranB];
    expect(ran).toHaveLength(50);
    expect(new Set(ran)).toEqual(new Set(queued.map((c) => c.id)));
    const rows = await t.db.select().from(calls);
    for (const c of rows) {
      expect(c).toMatchObject({ status: 'completed', endedReason: 'objective_met', summary: 'done' });
      expect(c.transcript).toBe('Agent: Hi, calling about the booking.');
      expect(c.workerId).toBe(ranA.includes(c.id) ? 'worker-a' : 'worker-b');
      expect(c.claimedAt).toBeInstanceOf(Date);
    }
    const dialEvents = await t.db.select().from(callEvents).where(eq(callEvents.toStatus, 'dialing'));
    expect(dialEvents).toHaveLength(50);
  });

  it('claims the oldest calls first and never more than its concurrency', async () => {
    const queued = await insertCalls(5);
    const holds = new Map<string, ReturnType<typeof gate>>();
    const w = worker({
      concurrency: 2,
      runner: {
        async run(ctl) {
          const g = gate();
          holds.set(ctl.call.id, g);
          await ctl.dialing();
          await Promise.race([g.promise, abortedWith(ctl.signal)]);
          await ctl.answered();
          await ctl.end({ status: 'completed', endedReason: 'objective_met' });
        },
      },
    });
    await w.start();
    const claimedIds = async () =>
      (await t.db.select().from(calls).where(eq(calls.workerId, w.id))).map((c) => c.id).sort();
    await until(() => w.activeCalls().length === 2);
    expect(await claimedIds()).toEqual([queued[0].id, queued[1].id].sort());

    // One finished call frees one slot: exactly the next oldest call is claimed.
    holds.get(queued[0].id)!.open();
    await until(() => w.activeCalls().includes(queued[2].id));
    expect(await claimedIds()).toEqual([queued[0].id, queued[1].id, queued[2].id].sort());
    expect(w.activeCalls().sort()).toEqual([queued[1].id, queued[2].id].sort());

    await until(async () => {
      for (const g of holds.values()) g.open();
      const rows = await t.db.select().from(calls);
      return rows.every((c) => c.status === 'completed');
    });
    expect(holds.size).toBe(5);
  });

  it('claims nothing while canClaim() is false (no PBX), and resumes when it turns true', async () => {
    const [c] = await insertCalls(1);
    const ran: string[] = [];
    let pbxUp = false;
    let asked = 0;
    const w = worker({
      runner: recordingRunner(ran),
      canClaim: () => {
        asked++;
        return pbxUp;
      },
    });
    await w.start();
    await until(() => asked >= 3);
    expect(ran).toEqual([]);
    expect(await callOf(c.id)).toMatchObject({ status: 'queued', workerId: null, claimedAt: null });

    pbxUp = true;
    w.wake();
    expect(await until(() => terminal(c.id))).toMatchObject({ status: 'completed', workerId: w.id });
    expect(ran).toEqual([c.id]);
  });

  it('wake() starts a queued call without waiting for the next poll', async () => {
    const ran: string[] = [];
    const w = worker({ runner: recordingRunner(ran), pollMs: 60_000 });
    await w.start();
    // The first poll happens at start; only wake() can make this call run within the test's time.
    await until(async () => (await t.db.select().from(workers)).length === 1);
    const [c] = await insertCalls(1);
    w.wake();
    expect(await until(() => terminal(c.id))).toMatchObject({ status: 'completed' });
  });

  it('a cancel through the store aborts the running call with reason canceled', async () => {
    const [c] = await insertCalls(1, { webhookUrl: 'https://hooks.example/x' });
    const live = gate();
    let reason: AbortCause | null = null;
    const w = worker({
      runner: {
        async run(ctl) {
          await ctl.dialing();
          await ctl.answered();
          live.open();
          reason = await abortedWith(ctl.signal);
          // The runner hangs up and reports; the store keeps the cancel, not this late report.
          await ctl.end({ status: 'completed', endedReason: 'objective_met' });
        },
      },
    });
    await w.start();
    await live.promise;
    expect((await store.transition(c.id, 'failed', { reason: 'canceled' })).ok).toBe(true);
    await until(() => w.activeCalls().length === 0);

    expect(reason).toBe('canceled');
    expect(await callOf(c.id)).toMatchObject({ status: 'failed', endedReason: 'canceled' });
    const hooks = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, c.id));
    expect(hooks.map((h) => h.event).sort()).toEqual(['call.failed', 'call.in_progress']);
  });

  it('a call canceled between claim and dial is never dialed', async () => {
    const [c] = await insertCalls(1);
    const claimed = gate();
    const proceed = gate();
    let dialedAnyway = false;
    const w = worker({
      cancelPollMs: 60_000,
      runner: {
        async run(ctl) {
          claimed.open();
          await Promise.race([proceed.promise, abortedWith(ctl.signal)]);
          await ctl.dialing();
          if (ctl.signal.aborted) return;
          dialedAnyway = true;
        },
      },
    });
    await w.start();
    await claimed.promise;
    await store.transition(c.id, 'failed', { reason: 'canceled' });
    proceed.open();
    await until(() => w.activeCalls().length === 0);
    expect(dialedAnyway).toBe(false);
    const events = await t.db.select().from(callEvents).where(eq(callEvents.callId, c.id));
    expect(events.map((e) => e.toStatus)).toEqual(['failed']);
    expect(await callOf(c.id)).toMatchObject({ status: 'failed', endedReason: 'canceled' });
  });

  it('ends the call failed/internal_error when the runner throws, forgets to end, or ends illegally', async () => {
    const [boom, forgot, illegal] = await insertCalls(3);
    const w = worker({
      runner: {
        async run(ctl) {
          await ctl.dialing();
          if (ctl.call.id === boom.id) throw new Error('media path exploded');
          if (ctl.call.id === illegal.id)
            // `completed` needs an answered call; the summary still survives.
            await ctl.end({ status: 'completed', endedReason: 'objective_met', summary: 'kept' });
        },
      },
    });
    await w.start();
    for (const c of [boom, forgot, illegal])
      expect(await until(() => terminal(c.id))).toMatchObject({
        status: 'failed',
        endedReason: 'internal_error',
      });
    expect((await callOf(illegal.id)).summary).toBe('kept');
  });

  it('a runner that throws synchronously does not take the worker down', async () => {
    const [c] = await insertCalls(1);
    const w = worker({
      runner: {
        run() {
          throw new TypeError('not even a promise');
        },
      },
    });
    await w.start();
    expect(await until(() => terminal(c.id))).toMatchObject({
      status: 'failed',
      endedReason: 'internal_error',
    });
    const [next] = await insertCalls(1);
    w.wake();
    expect(await until(() => terminal(next.id))).toMatchObject({ status: 'failed' });
  });

  describe('recovery of lost workers', () => {
    async function scene() {
      const old = new Date(Date.now() - 10 * 60_000);
      await t.db.insert(workers).values([
        { id: 'dead-worker', hostname: 'h1', pid: 1, startedAt: old, heartbeatAt: old },
        { id: 'live-worker', hostname: 'h2', pid: 2 },
      ]);
      const [queuedLost] = await insertCalls(1, { workerId: 'dead-worker', claimedAt: old });
      const [dialingLost] = await insertCalls(1, {
        workerId: 'dead-worker',
        status: 'dialing',
        dialedAt: old,
        webhookUrl: 'https://hooks.example/x',
      });
      const [talkingGone] = await insertCalls(1, {
        workerId: 'vanished-worker',
        status: 'in_progress',
        startedAt: old,
      });
      const [liveHeld] = await insertCalls(1, { workerId: 'live-worker', status: 'dialing' });
      const [waiting] = await insertCalls(1);
      return { queuedLost, dialingLost, talkingGone, liveHeld, waiting };
    }

    it('requeues never-dialed calls and ends dialed ones as worker_lost, once, with racing recoverers', async () => {
      const s = await scene();
      const second: Database = t.url ? await openDatabase({ url: t.url, maxConnections: 4 }) : t;
      if (second !== t) extraDbs.push(second);
      const idle: CallRunner = { run: async () => {} };
      const told: string[] = [];
      const onTransition = (c: CallRow) => told.push(`${c.id}:${c.status}`);
      const a = worker({ runner: idle, workerId: 'rec-a', onTransition });
      const b = worker({
        runner: idle,
        workerId: 'rec-b',
        onTransition,
        db: second.db,
        store: new CallStore(second.db, 'https://agentline.example'),
      });
      const [ra, rb] = await Promise.all([a.recover(), b.recover()]);
      expect(ra.requeued + rb.requeued).toBe(1);
      expect(ra.failed + rb.failed).toBe(2);
      expect(told.sort()).toEqual([`${s.dialingLost.id}:failed`, `${s.talkingGone.id}:failed`].sort());

      expect(await callOf(s.queuedLost.id)).toMatchObject({
        status: 'queued',
        workerId: null,
        claimedAt: null,
      });
      for (const c of [s.dialingLost, s.talkingGone])
        expect(await callOf(c.id)).toMatchObject({ status: 'failed', endedReason: 'worker_lost' });
      expect(await callOf(s.liveHeld.id)).toMatchObject({ status: 'dialing', workerId: 'live-worker' });
      expect(await callOf(s.waiting.id)).toMatchObject({ status: 'queued', workerId: null });

      const ends = await t.db
        .select()
        .from(callEvents)
        .where(
          and(
            eq(callEvents.toStatus, 'failed'),
            inArray(callEvents.callId, [s.dialingLost.id, s.talkingGone.id]),
          ),
        );
      expect(ends).toHaveLength(2);
      const hooks = await t.db.select().from(webhookDeliveries);
      expect(hooks.map((h) => [h.callId, h.event])).toEqual([[s.dialingLost.id, 'call.failed']]);
      const left = await t.db.select({ id: workers.id }).from(workers);
      expect(left.map((r) => r.id)).toEqual(['live-worker']);
    });

    it('runs on start, so a restarted deployment picks the lost queued call up', async () => {
      const s = await scene();
      const ran: string[] = [];
      const w = worker({ runner: recordingRunner(ran) });
      await w.start();
      expect(await until(() => terminal(s.queuedLost.id))).toMatchObject({
        status: 'completed',
        workerId: w.id,
      });
      expect(await until(() => terminal(s.dialingLost.id))).toMatchObject({ endedReason: 'worker_lost' });
      await until(() => terminal(s.waiting.id));
      expect(ran.sort()).toEqual([s.queuedLost.id, s.waiting.id].sort());
    });
  });

  it('heartbeats, and registers again if its row was removed', async () => {
    const w = worker({ runner: recordingRunner([]), staleSeconds: 5 });
    await w.start();
    const [first] = await t.db.select().from(workers).where(eq(workers.id, w.id));
    expect(first).toMatchObject({ id: w.id, pid: process.pid });
    await until(async () => {
      const [r] = await t.db.select().from(workers).where(eq(workers.id, w.id));
      return r && r.heartbeatAt.getTime() > first.heartbeatAt.getTime();
    });
    await t.db.delete(workers).where(eq(workers.id, w.id));
    await until(async () => (await t.db.select().from(workers).where(eq(workers.id, w.id))).length === 1);
  });

  describe('stop', () => {
    it('aborts running calls with reason shutdown, waits for their runners, removes its row', async () => {
      const [c] = await insertCalls(1);
      const live = gate();
      let reason: AbortCause | null = null;
      const w = worker({
        runner: {
          async run(ctl: CallControl) {
            await ctl.dialing();
            await ctl.answered();
            live.open();
            reason = await abortedWith(ctl.signal);
            await ctl.end({ status: 'failed', endedReason: 'network_error' });
          },
        },
      });
      await w.start();
      await live.promise;
      const first = w.stop();
      // A second stop() (a second SIGTERM) resolves only once the first shutdown is complete.
      await w.stop();
      expect(reason).toBe('shutdown');
      expect(w.activeCalls()).toEqual([]);
      expect(await callOf(c.id)).toMatchObject({ status: 'failed', endedReason: 'network_error' });
      expect(await t.db.select().from(workers).where(eq(workers.id, w.id))).toEqual([]);
      await first;
    });

    it('lets running calls finish within drainMs without aborting them', async () => {
      const [c] = await insertCalls(1);
      const live = gate();
      const finish = gate();
      let signal: AbortSignal | null = null;
      const w = worker({
        runner: {
          async run(ctl) {
            signal = ctl.signal;
            await ctl.dialing();
            await ctl.answered();
            live.open();
            await Promise.race([finish.promise, abortedWith(ctl.signal)]);
            await ctl.end({ status: 'completed', endedReason: 'objective_met' });
          },
        },
      });
      await w.start();
      await live.promise;
      const stopping = w.stop({ drainMs: 60_000 });
      const [more] = await insertCalls(1);
      finish.open();
      await stopping;
      expect(signal!.aborted).toBe(false);
      expect(await callOf(c.id)).toMatchObject({ status: 'completed' });
      // A stopping worker claims nothing new.
      expect(await callOf(more.id)).toMatchObject({ status: 'queued', workerId: null });
    });

    it('puts a call it had not dialed yet back in the queue', async () => {
      const [c] = await insertCalls(1);
      const claimed = gate();
      const w = worker({
        runner: {
          async run(ctl) {
            claimed.open();
            await abortedWith(ctl.signal);
          },
        },
      });
      await w.start();
      await claimed.promise;
      await w.stop();
      expect(await callOf(c.id)).toMatchObject({ status: 'queued', workerId: null, claimedAt: null });
    });

    it('leaves no timers behind', async () => {
      // Every timer the worker creates is tracked (by the creating file in its stack): once stop()
      // resolves, each interval must be cleared and each timeout fired or cleared.
      type Tracked = { kind: 'timeout' | 'interval'; fired: boolean; cleared: boolean };
      const tracked = new Map<unknown, Tracked>();
      const real = {
        setTimeout: globalThis.setTimeout,
        setInterval: globalThis.setInterval,
        clearTimeout: globalThis.clearTimeout,
        clearInterval: globalThis.clearInterval,
      };
      const fromWorker = () => (new Error().stack ?? '').includes('src/calls/worker.ts');
      const wrap = (kind: Tracked['kind']) =>
        ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
          if (!fromWorker())
            return (real[kind === 'timeout' ? 'setTimeout' : 'setInterval'] as any)(fn, ms, ...args);
          const rec: Tracked = { kind, fired: false, cleared: false };
          const make = kind === 'timeout' ? real.setTimeout : real.setInterval;
          const h = (make as any)(() => {
            rec.fired = true;
            fn(...args);
          }, ms);
          tracked.set(h, rec);
          return h;
        }) as any;
      const clear = (which: 'clearTimeout' | 'clearInterval') =>
        ((h: unknown) => {
          const rec = tracked.get(h);
          if (rec) rec.cleared = true;
          return (real[which] as any)(h);
        }) as any;
      vi.spyOn(globalThis, 'setTimeout').mockImplementation(wrap('timeout'));
      vi.spyOn(globalThis, 'setInterval').mockImplementation(wrap('interval'));
      vi.spyOn(globalThis, 'clearTimeout').mockImplementation(clear('clearTimeout'));
      vi.spyOn(globalThis, 'clearInterval').mockImplementation(clear('clearInterval'));
      try {
        const [c] = await insertCalls(1);
        const w = worker({ runner: recordingRunner([]), staleSeconds: 5 });
        await w.start();
        await until(() => terminal(c.id));
        await w.stop();
      } finally {
        vi.restoreAllMocks();
      }
      const all = [...tracked.values()];
      // Heartbeat, cancel watch and poll timers were all made and all are gone.
      expect(all.filter((r) => r.kind === 'interval').length).toBeGreaterThanOrEqual(2);
      expect(all.filter((r) => r.kind === 'timeout').length).toBeGreaterThanOrEqual(1);
      expect(all.filter((r) => r.kind === 'interval' && !r.cleared)).toEqual([]);
      expect(all.filter((r) => r.kind === 'timeout' && !r.cleared && !r.fired)).toEqual([]);
    });
  });

  it('a database it cannot reach fails start() with an error instead of crashing', async () => {
    const unreachable = await openDatabase({
      url: 'postgres://postgres@127.0.0.1:1/none',
      maxConnections: 1,
    });
    extraDbs.push(unreachable);
    const w = worker({ runner: recordingRunner([]), db: unreachable.db });
    await expect(w.start()).rejects.toThrow(/insert into "workers"/);
    await w.stop();
  });
});
