import { eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AbortCause, CallControl, CallRunner } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { isTerminal } from '../../src/calls/status.js';
import { type CallWorker, type CallWorkerDeps, createCallWorker } from '../../src/calls/worker.js';
import type { CapacityLimit } from '../../src/capacity/capacity-model.js';
import type { EngineProfile } from '../../src/capacity/engine-profile.js';
import {
  type CapacitySnapshot,
  createWorkerCapacity,
  type WorkerCapacity,
} from '../../src/capacity/worker-capacity.js';
import { accounts, type CallRow, calls, workers } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { Scrape } from '../metrics/scrape.js';

async function until<T>(
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const abortedWith = (signal: AbortSignal) =>
  new Promise<AbortCause>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });

/** A runner that answers each call and holds it until the test lets it go: a live call of the worker. */
function heldCalls() {
  const live = new Set<string>();
  const launched: string[] = [];
  const releases = new Map<string, () => void>();
  let peak = 0;
  const runner: CallRunner = {
    async run(ctl: CallControl) {
      launched.push(ctl.call.id);
      await ctl.dialing();
      if (ctl.signal.aborted || ctl.call.status !== 'dialing') return;
      await ctl.answered();
      live.add(ctl.call.id);
      peak = Math.max(peak, live.size);
      const released = new Promise<void>((r) => releases.set(ctl.call.id, r));
      await Promise.race([released, abortedWith(ctl.signal)]);
      live.delete(ctl.call.id);
      await ctl.end({ status: 'completed', endedReason: 'objective_met' });
    },
  };
  return {
    runner,
    live,
    launched,
    get peak() {
      return peak;
    },
    release(id: string) {
      const r = releases.get(id);
      if (!r) throw new Error(`call ${id} is not held`);
      r();
    },
    releaseAll() {
      for (const r of releases.values()) r();
    },
  };
}

/** A capacity the test sets: as the real one does, it never goes below 1. */
function fixedCapacity(calls: number, limitedBy: CapacityLimit = 'dialogue') {
  const state = { calls, limitedBy };
  const capacity: WorkerCapacity = {
    limit: () => Math.max(1, state.calls),
    snapshot: (liveCalls): CapacitySnapshot => ({
      capacity: state.calls,
      liveCalls,
      full: liveCalls >= state.calls,
      limitedBy: state.limitedBy,
      estimate: null,
      otherLoadCores: 0,
      lateReplies: 0,
    }),
    recordReply: () => {},
    stop: () => {},
  };
  return { capacity, state };
}

/** Engines fast enough that the CPU bounds the estimate far above two calls (dialogue elsewhere). */
const FAST_PROFILE: EngineProfile = {
  cores: 2,
  cpuModel: 'test',
  vadRtf: 0.01,
  sttRtf: 0.05,
  ttsRtf: 0.02,
  llm: null,
  measuredAt: new Date(0).toISOString(),
  ms: 1,
};

describe('worker capacity: a full worker claims nothing and says how full it is', () => {
  let t: TestDatabase;
  let accountId: string;
  const started: CallWorker[] = [];
  const capacities: WorkerCapacity[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    const [a] = await t.db.insert(accounts).values({ name: 'capacity' }).returning();
    accountId = a.id;
  });
  afterAll(async () => {
    await t.close();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((w) => w.stop()));
    for (const c of capacities.splice(0)) c.stop();
    await t.db.delete(calls);
    await t.db.delete(workers);
  });

  /**
   * Polls the worker made: each asks the capacity how many calls it may carry (a full worker stops
   * there, before `canClaim`), so each is a chance it had to claim.
   */
  let polls = 0;
  function worker(over: Partial<CallWorkerDeps> & { runner: CallRunner }): CallWorker {
    const given = over.capacity;
    const capacity: WorkerCapacity | undefined = given && {
      ...given,
      limit(live) {
        polls++;
        return given.limit(live);
      },
    };
    const w = createCallWorker({
      db: t.db,
      store: new CallStore(t.db, 'https://agentline.example'),
      logger: silentLogger(),
      concurrency: 4,
      pollMs: 10,
      staleSeconds: 30,
      cancelPollMs: 20,
      ...over,
      capacity,
    });
    started.push(w);
    return w;
  }
  /** Whatever the worker could claim, it had three chances to. */
  async function morePolls(n = 3): Promise<void> {
    const from = polls;
    await until(() => polls >= from + n);
  }

  let seq = 0;
  async function queue(n: number): Promise<CallRow[]> {
    const base = Date.now() - 3_600_000;
    return t.db
      .insert(calls)
      .values(
        Array.from({ length: n }, (_, i) => ({
          accountId,
          toNumber: '+14155550100',
          callerId: '+14155550199',
          objective: `call ${i}`,
          language: 'en-US',
          createdAt: new Date(base + seq++ * 10),
        })),
      )
      .returning();
  }
  const rowOf = async (id: string) => (await t.db.select().from(calls).where(eq(calls.id, id)))[0];
  const workerRow = async (id: string) => (await t.db.select().from(workers).where(eq(workers.id, id)))[0];
  const allTerminal = async (ids: string[]) => {
    const rows = await t.db.select().from(calls).where(inArray(calls.id, ids));
    return rows.length === ids.length && rows.every((c) => isTerminal(c.status));
  };

  it('with room for one call, the second waits in queued, unclaimed, until the first ends', async () => {
    const [first, second] = await queue(2);
    const held = heldCalls();
    const { capacity } = fixedCapacity(1);
    const w = worker({ runner: held.runner, capacity });
    await w.start();
    await until(() => held.live.has(first.id));
    await morePolls();
    expect(held.launched).toEqual([first.id]);
    const waiting = await rowOf(second.id);
    expect(waiting.status).toBe('queued');
    expect(waiting.workerId).toBeNull();
    expect(w.capacity()).toMatchObject({ capacity: 1, liveCalls: 1, full: true, limitedBy: 'dialogue' });

    held.release(first.id);
    await until(() => held.live.has(second.id));
    held.release(second.id);
    await until(() => allTerminal([first.id, second.id]));
    expect(held.peak).toBe(1);
    expect(held.launched).toEqual([first.id, second.id]);
  });

  it('claims more as soon as its capacity grows, without waiting for a call to end', async () => {
    const [first, second, third] = await queue(3);
    const held = heldCalls();
    const { capacity, state } = fixedCapacity(1, 'load');
    const w = worker({ runner: held.runner, capacity });
    await w.start();
    await until(() => held.live.has(first.id));
    await morePolls();
    expect(held.launched).toHaveLength(1);
    state.calls = 2;
    state.limitedBy = 'cpu';
    await until(() => held.live.size === 2);
    await morePolls();
    // Two, not three: the capacity still bounds it.
    expect(held.launched).toEqual([first.id, second.id]);
    expect((await rowOf(third.id)).workerId).toBeNull();
    held.releaseAll();
  });

  it('never carries more than WORKER_CONCURRENCY, whatever the capacity says', async () => {
    const rows = await queue(3);
    const held = heldCalls();
    const { capacity } = fixedCapacity(10, 'cpu');
    const w = worker({ runner: held.runner, capacity, concurrency: 2 });
    await w.start();
    await until(() => held.live.size === 2);
    await morePolls();
    expect(held.launched).toHaveLength(2);
    expect(w.capacity()).toMatchObject({ capacity: 2, liveCalls: 2, full: true, limitedBy: 'configured' });
    held.releaseAll();
    await until(() => held.live.has(rows[2].id));
    held.release(rows[2].id);
    await until(() => allTerminal(rows.map((r) => r.id)));
  });

  it('with auto, claims one call while the engines are being measured, then what they allow', async () => {
    const [first, second] = await queue(2);
    const held = heldCalls();
    let measured!: (p: EngineProfile | null) => void;
    const capacity = createWorkerCapacity({
      configured: 'auto',
      profile: new Promise<EngineProfile | null>((r) => {
        measured = r;
      }),
      // An idle machine, whatever else runs beside this test.
      machine: { otherCores: () => 0, stop: () => {} },
    });
    capacities.push(capacity);
    const w = worker({ runner: held.runner, capacity, concurrency: 64 });
    await w.start();
    await until(() => held.live.has(first.id));
    await morePolls();
    expect(held.launched).toEqual([first.id]);
    expect((await rowOf(second.id)).workerId).toBeNull();
    expect(
      await until(async () => {
        const row = await workerRow(w.id);
        return row?.liveCalls === 1 && row;
      }),
    ).toMatchObject({ capacity: 1, liveCalls: 1, limitedBy: 'measuring' });

    measured(FAST_PROFILE);
    // The first call is still live: the second is claimed because the capacity grew.
    await until(() => held.live.has(second.id));
    expect(held.live.has(first.id)).toBe(true);
    const row = await until(async () => {
      const r = await workerRow(w.id);
      return r?.liveCalls === 2 && r;
    });
    expect(row.limitedBy).toBe('cpu');
    expect(row.capacity).toBeGreaterThanOrEqual(2);
    held.releaseAll();
  });

  it('its heartbeat row carries the capacity, live calls and what limits it, as they change', async () => {
    const [first] = await queue(1);
    const held = heldCalls();
    const { capacity } = fixedCapacity(3, 'dialogue');
    const w = worker({ runner: held.runner, capacity });
    await w.start();
    await until(() => held.live.has(first.id));
    expect(
      await until(async () => {
        const r = await workerRow(w.id);
        return r?.liveCalls === 1 && r;
      }),
    ).toMatchObject({ capacity: 3, liveCalls: 1, limitedBy: 'dialogue' });
    held.release(first.id);
    await until(() => allTerminal([first.id]));
    expect(
      await until(async () => {
        const r = await workerRow(w.id);
        return r?.liveCalls === 0 && r;
      }),
    ).toMatchObject({ capacity: 3, liveCalls: 0, limitedBy: 'dialogue' });
  });

  it('without a capacity, its row says WORKER_CONCURRENCY bounds it', async () => {
    const held = heldCalls();
    const w = worker({ runner: held.runner, concurrency: 3 });
    await w.start();
    expect(await workerRow(w.id)).toMatchObject({ capacity: 3, liveCalls: 0, limitedBy: 'configured' });
  });

  it('exports its capacity, whether it is full and why as gauges', async () => {
    const [first] = await queue(1);
    const held = heldCalls();
    const { capacity, state } = fixedCapacity(1, 'late_replies');
    const w = worker({ runner: held.runner, capacity });
    const metrics = createMetrics({ processMetrics: false });
    metrics.watchCapacity(() => w.capacity());
    await w.start();
    await until(() => held.live.has(first.id));

    let s = new Scrape((await metrics.render()).body);
    expect(s.value('agentline_worker_capacity_calls')).toBe(1);
    expect(s.value('agentline_worker_full')).toBe(1);
    expect(s.family('agentline_worker_limited_by').metrics).toEqual([
      expect.objectContaining({ labels: { reason: 'late_replies' }, value: '1' }),
    ]);

    state.calls = 3;
    state.limitedBy = 'cpu';
    s = new Scrape((await metrics.render()).body);
    expect(s.value('agentline_worker_capacity_calls')).toBe(3);
    expect(s.value('agentline_worker_full')).toBe(0);
    expect(s.value('agentline_worker_limited_by', { reason: 'cpu' })).toBe(1);
    // Only the current reason is exported: a dashboard shows one.
    expect(s.sample('agentline_worker_limited_by', { reason: 'late_replies' })).toBeUndefined();
    held.releaseAll();
  });
});
