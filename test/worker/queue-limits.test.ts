import { and, eq, inArray, isNotNull } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AbortCause, CallControl, CallRunner } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { createDialGate } from '../../src/calls/dial-gate.js';
import { isTerminal } from '../../src/calls/status.js';
import { createTrunkPacer } from '../../src/calls/trunk-pacer.js';
import { type CallWorker, type CallWorkerDeps, createCallWorker } from '../../src/calls/worker.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import {
  accounts,
  batches,
  type CallRow,
  type CallWindow,
  callEvents,
  calls,
  doNotCall,
  trunkDials,
  webhookDeliveries,
  workers,
} from '../../src/db/schema.js';
import { createLogger, silentLogger } from '../../src/logger.js';
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

const abortedWith = (signal: AbortSignal) =>
  new Promise<AbortCause>((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });

/** Most timestamps (ms) in any window of `windowMs` (each window starting at a timestamp). */
function mostInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

const LIMITS = {
  CAP_CALLS_PER_MINUTE: 1000,
  CAP_CONCURRENT_CALLS: 1000,
  CAP_CALLS_PER_DAY: 100_000,
  CAP_MINUTES_PER_MONTH: 100_000,
  TRUNK_MAX_CHANNELS: undefined as number | undefined,
};

/**
 * A fake runner standing in for the PBX side: records when each call's originate went out (after
 * `dialing`, before `originated`), which calls run at once (overall, per account, per batch), and holds
 * each call after the answer until the test lets it go (or everything, with `holdAll = false`).
 */
function fakeTrunk(opts: { hold?: boolean } = {}) {
  const originates: number[] = [];
  /** Calls in the order the worker launched them (the claim's order). */
  const launched: string[] = [];
  const ran: CallRow[] = [];
  const live = new Map<string, CallRow>();
  const releases = new Map<string, () => void>();
  let peak = 0;
  const peaks = new Map<string, number>();
  let holding = opts.hold ?? false;
  const bump = (key: string, n: number) => peaks.set(key, Math.max(peaks.get(key) ?? 0, n));
  const runner: CallRunner = {
    async run(ctl: CallControl) {
      const call = ctl.call;
      launched.push(call.id);
      await ctl.dialing();
      if (ctl.signal.aborted || ctl.call.status !== 'dialing') return;
      originates.push(Date.now());
      ctl.originated?.();
      ran.push(call);
      live.set(call.id, call);
      peak = Math.max(peak, live.size);
      const all = [...live.values()];
      bump(`account:${call.accountId}`, all.filter((c) => c.accountId === call.accountId).length);
      if (call.batchId) bump(`batch:${call.batchId}`, all.filter((c) => c.batchId === call.batchId).length);
      await ctl.answered();
      if (holding) {
        const released = new Promise<void>((r) => releases.set(call.id, r));
        await Promise.race([released, abortedWith(ctl.signal)]);
      }
      live.delete(call.id);
      await ctl.end({ status: 'completed', endedReason: 'objective_met' });
    },
  };
  return {
    runner,
    originates,
    launched,
    ran,
    live,
    get peak() {
      return peak;
    },
    peakOf: (key: string) => peaks.get(key) ?? 0,
    /** Calls held right now, waiting for the test. */
    isHeld: (id: string) => releases.has(id),
    /** Lets one held call go (it must be held already). */
    release(id: string) {
      const r = releases.get(id);
      if (!r) throw new Error(`call ${id} is not held`);
      r();
    },
    /** Lets every held call go, and every later one through without holding. */
    releaseAll() {
      holding = false;
      for (const r of releases.values()) r();
    },
  };
}

describe('the queue: what is claimed, when it may dial, and trunk pacing across workers', () => {
  let t: TestDatabase;
  let second: Database;
  let accountA: string;
  let accountB: string;
  const started: CallWorker[] = [];
  const extraDbs: Database[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    second = t.url ? await openDatabase({ url: t.url, maxConnections: 4 }) : t;
    if (second !== t) extraDbs.push(second);
    const [a] = await t.db.insert(accounts).values({ name: 'bulk' }).returning();
    const [b] = await t.db.insert(accounts).values({ name: 'single' }).returning();
    accountA = a.id;
    accountB = b.id;
  });
  afterAll(async () => {
    await Promise.all(extraDbs.splice(0).map((d) => d.close()));
    await t.close();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((w) => w.stop()));
    await t.db.delete(calls);
    await t.db.delete(batches);
    await t.db.delete(doNotCall);
    await t.db.delete(trunkDials);
    await t.db.delete(workers);
    await t.db.update(accounts).set({ capConcurrentCalls: null });
  });

  /** Polls the worker made: each `canClaim` is one poll that could claim. */
  const polls = new Map<string, number>();
  function worker(over: Partial<CallWorkerDeps> & { runner: CallRunner; workerId: string }): CallWorker {
    const onSecond = over.db === second.db && second !== t;
    const w = createCallWorker({
      db: t.db,
      store: new CallStore(onSecond ? second.db : t.db, 'https://agentline.example'),
      logger: silentLogger(),
      concurrency: 5,
      pollMs: 10,
      staleSeconds: 30,
      cancelPollMs: 20,
      canClaim: () => {
        polls.set(over.workerId, (polls.get(over.workerId) ?? 0) + 1);
        return true;
      },
      ...over,
    });
    started.push(w);
    return w;
  }
  /** Waits until every named worker polled `n` more times: whatever they could claim, they had the chance. */
  async function morePolls(ids: string[], n = 3): Promise<void> {
    const from = new Map(ids.map((id) => [id, polls.get(id) ?? 0]));
    await until(() => ids.every((id) => (polls.get(id) ?? 0) >= (from.get(id) ?? 0) + n));
  }

  let seq = 0;
  async function insertCalls(n: number, extra: Partial<typeof calls.$inferInsert> = {}): Promise<CallRow[]> {
    const base = Date.now() - 3_600_000;
    return t.db
      .insert(calls)
      .values(
        Array.from({ length: n }, (_, i) => ({
          accountId: accountA,
          toNumber: '+14155550100',
          callerId: '+14155550199',
          objective: `call ${i}`,
          language: 'en-US',
          createdAt: new Date(base + seq++ * 10),
          ...extra,
        })),
      )
      .returning();
  }
  async function insertBatch(values: Partial<typeof batches.$inferInsert> = {}) {
    const [b] = await t.db
      .insert(batches)
      .values({ accountId: accountA, template: {}, totalRows: 0, acceptedRows: 0, ...values })
      .returning();
    return b;
  }
  const callOf = async (id: string) => (await t.db.select().from(calls).where(eq(calls.id, id)))[0];
  const allTerminal = async (ids: string[]) => {
    const rows = await t.db.select().from(calls).where(inArray(calls.id, ids));
    return rows.length === ids.length && rows.every((c) => isTerminal(c.status));
  };
  /** Calls that hold a line or a claim, counted in the database. */
  const liveInDb = async () =>
    (
      await t.db
        .select({ id: calls.id, accountId: calls.accountId, batchId: calls.batchId })
        .from(calls)
        .where(and(isNotNull(calls.workerId), inArray(calls.status, ['queued', 'dialing', 'in_progress'])))
    ).length;

  it('two workers never hold more than TRUNK_MAX_CHANNELS calls at once, across accounts', async () => {
    const ids = [...(await insertCalls(6)), ...(await insertCalls(6, { accountId: accountB }))].map(
      (c) => c.id,
    );
    const trunk = fakeTrunk({ hold: true });
    const limits = { ...LIMITS, TRUNK_MAX_CHANNELS: 3 };
    worker({ runner: trunk.runner, workerId: 'ch-a', limits });
    worker({ runner: trunk.runner, workerId: 'ch-b', limits, db: second.db });
    await Promise.all(started.map((w) => w.start()));
    await until(() => trunk.live.size === 3);
    await morePolls(['ch-a', 'ch-b']);
    expect(trunk.live.size).toBe(3);
    expect(await liveInDb()).toBe(3);
    trunk.releaseAll();
    await until(() => allTerminal(ids));
    expect(trunk.ran).toHaveLength(12);
    expect(trunk.peak).toBe(3);
  });

  it('no 1-second window holds more than TRUNK_MAX_CPS originates of two workers', async () => {
    const ids = (await insertCalls(16)).map((c) => c.id);
    const trunk = fakeTrunk();
    for (const [workerId, d] of [
      ['cps-a', t],
      ['cps-b', second],
    ] as const) {
      worker({
        runner: trunk.runner,
        workerId,
        db: d.db,
        concurrency: 8,
        pacer: createTrunkPacer({ db: d.db, maxCps: 5, workerId }),
      });
    }
    await Promise.all(started.map((w) => w.start()));
    await until(() => allTerminal(ids));
    expect(trunk.originates).toHaveLength(16);
    expect(mostInWindow(trunk.originates, 1000)).toBeLessThanOrEqual(5);
    // Each call dialed once, with one trunk slot.
    expect(new Set(trunk.ran.map((c) => c.id)).size).toBe(16);
    const slots = await t.db.select().from(trunkDials);
    expect(slots).toHaveLength(16);
    expect(slots.every((s) => s.doneAt !== null)).toBe(true);
  });

  it("fair share: another account's single call is claimed in the first claim while one account has 200 queued", async () => {
    const bulk = await insertCalls(200);
    const [single] = await insertCalls(1, { accountId: accountB });
    const trunk = fakeTrunk();
    const w = worker({ runner: trunk.runner, workerId: 'fair', concurrency: 4 });
    await w.start();
    await until(() => trunk.ran.length >= 8);
    await w.stop();
    // The first claim: each account's oldest call, then the bulk account's next ones.
    expect(trunk.launched.slice(0, 4)).toEqual([bulk[0].id, single.id, bulk[1].id, bulk[2].id]);
    // The bulk account's calls still go oldest first.
    const bulkOrder = trunk.launched.filter((id) => id !== single.id);
    expect(bulkOrder).toEqual(bulk.slice(0, bulkOrder.length).map((c) => c.id));
  });

  it('fair share holds when slots free one at a time: the next free slot goes to the account with fewer calls going', async () => {
    const bulk = await insertCalls(50);
    const trunk = fakeTrunk({ hold: true });
    const w = worker({ runner: trunk.runner, workerId: 'fair-steady', concurrency: 2 });
    await w.start();
    await until(() => trunk.isHeld(bulk[0].id) && trunk.isHeld(bulk[1].id));
    // The single call arrives while the bulk account holds every slot; its calls are all older.
    const [single] = await insertCalls(1, { accountId: accountB });
    expect(trunk.launched).toEqual([bulk[0].id, bulk[1].id]);
    // One slot frees: it is the single call's, not the bulk account's next (older) one.
    trunk.release(bulk[0].id);
    await until(() => trunk.launched.length === 3);
    expect(trunk.launched[2]).toBe(single.id);
    trunk.releaseAll();
    await until(() => allTerminal([single.id]));
  });

  it('a call scheduled for later is not claimed until the injected clock passes it', async () => {
    let now = new Date();
    const later = new Date(now.getTime() + 3_600_000);
    const [scheduled] = await insertCalls(1, { scheduledFor: later });
    const [due] = await insertCalls(1, { scheduledFor: new Date(now.getTime() - 1000) });
    const trunk = fakeTrunk();
    const w = worker({ runner: trunk.runner, workerId: 'clock', clock: () => now });
    await w.start();
    await until(() => allTerminal([due.id]));
    await morePolls(['clock']);
    expect(await callOf(scheduled.id)).toMatchObject({ status: 'queued', workerId: null });
    now = new Date(later.getTime() + 1000);
    w.wake();
    expect(
      await until(async () => (await allTerminal([scheduled.id])) && callOf(scheduled.id)),
    ).toMatchObject({
      status: 'completed',
    });
    expect(trunk.ran.map((c) => c.id)).toEqual([due.id, scheduled.id]);
  });

  it('calls of a paused batch are not claimed until it resumes', async () => {
    const paused = await insertBatch({ status: 'paused', pausedAt: new Date() });
    const running = await insertBatch();
    const held = await insertCalls(2, { batchId: paused.id });
    const [free] = await insertCalls(1, { batchId: running.id });
    const trunk = fakeTrunk();
    const w = worker({ runner: trunk.runner, workerId: 'pause' });
    await w.start();
    await until(() => allTerminal([free.id]));
    await morePolls(['pause']);
    for (const c of held) expect(await callOf(c.id)).toMatchObject({ status: 'queued', workerId: null });
    await t.db.update(batches).set({ status: 'running', pausedAt: null }).where(eq(batches.id, paused.id));
    w.wake();
    await until(() => allTerminal(held.map((c) => c.id)));
    expect(trunk.launched).toEqual([free.id, ...held.map((c) => c.id)]);
  });

  it("a batch's rows are claimed in row order (they share created_at), a row not due yet waits, and the account's older single call goes first", async () => {
    let now = new Date();
    const later = new Date(now.getTime() + 3_600_000);
    const b = await insertBatch();
    const [older] = await insertCalls(1, { accountId: accountB });
    // Stored in shuffled order with one created_at, as a batch's insert gives them; ids are random.
    const order = [7, 2, 10, 4, 1, 9, 3, 6, 8, 5];
    const createdAt = new Date();
    const rows = await t.db
      .insert(calls)
      .values(
        order.map((batchRow) => ({
          accountId: accountB,
          toNumber: '+14155550100',
          callerId: '+14155550199',
          objective: `row ${batchRow}`,
          language: 'en-US',
          createdAt,
          batchId: b.id,
          batchRow,
          // Row 4's next attempt is due only later (the injected clock).
          scheduledFor: batchRow === 4 ? later : null,
        })),
      )
      .returning();
    const rowOf = new Map(rows.map((c) => [c.id, c.batchRow]));
    const trunk = fakeTrunk();
    const w = worker({ runner: trunk.runner, workerId: 'rows', concurrency: 2, clock: () => now });
    await w.start();
    const waiting = rows.find((c) => c.batchRow === 4);
    if (!waiting) throw new Error('row 4 missing');
    await until(() => allTerminal([older.id, ...rows.filter((c) => c !== waiting).map((c) => c.id)]));
    await morePolls(['rows']);
    expect(await callOf(waiting.id)).toMatchObject({ status: 'queued', workerId: null });
    expect(trunk.launched[0]).toBe(older.id);
    expect(trunk.launched.slice(1).map((id) => rowOf.get(id))).toEqual([1, 2, 3, 5, 6, 7, 8, 9, 10]);
    now = new Date(later.getTime() + 1000);
    w.wake();
    await until(() => allTerminal([waiting.id]));
    expect(trunk.launched.at(-1)).toBe(waiting.id);
  });

  it("a batch's concurrency holds across two workers, and a full batch does not hold up the account's other calls", async () => {
    const b = await insertBatch({ concurrency: 2 });
    const rows = await insertCalls(6, { batchId: b.id });
    const [single] = await insertCalls(1);
    const trunk = fakeTrunk({ hold: true });
    worker({ runner: trunk.runner, workerId: 'bc-a' });
    worker({ runner: trunk.runner, workerId: 'bc-b', db: second.db });
    await Promise.all(started.map((w) => w.start()));
    await until(() => trunk.live.size === 3);
    await morePolls(['bc-a', 'bc-b']);
    expect([...trunk.live.keys()]).toContain(single.id);
    expect([...trunk.live.values()].filter((c) => c.batchId === b.id)).toHaveLength(2);
    trunk.releaseAll();
    await until(() => allTerminal([...rows, single].map((c) => c.id)));
    expect(trunk.peakOf(`batch:${b.id}`)).toBe(2);
  });

  it("the account's concurrent-call cap holds at dial time (its override, else the deployment default)", async () => {
    await t.db.update(accounts).set({ capConcurrentCalls: 1 }).where(eq(accounts.id, accountB));
    const ids = [...(await insertCalls(5)), ...(await insertCalls(3, { accountId: accountB }))].map(
      (c) => c.id,
    );
    const trunk = fakeTrunk({ hold: true });
    const limits = { ...LIMITS, CAP_CONCURRENT_CALLS: 2 };
    worker({ runner: trunk.runner, workerId: 'cap-a', limits });
    worker({ runner: trunk.runner, workerId: 'cap-b', limits, db: second.db });
    await Promise.all(started.map((w) => w.start()));
    await until(() => trunk.live.size === 3);
    await morePolls(['cap-a', 'cap-b']);
    const holding = [...trunk.live.values()];
    expect(holding.filter((c) => c.accountId === accountA)).toHaveLength(2);
    expect(holding.filter((c) => c.accountId === accountB)).toHaveLength(1);
    trunk.releaseAll();
    await until(() => allTerminal(ids));
    expect(trunk.peakOf(`account:${accountA}`)).toBe(2);
    expect(trunk.peakOf(`account:${accountB}`)).toBe(1);
  });

  describe('the dial gate', () => {
    const config = { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: undefined };

    it('an expired queued call ends failed/expired and a do-not-call one failed/do_not_call; neither dials', async () => {
      const hook = { webhookUrl: 'https://hooks.example/x' };
      const [expired] = await insertCalls(1, { ...hook, expiresAt: new Date(Date.now() - 1000) });
      const [listed] = await insertCalls(1, { ...hook, toNumber: '+14155550111' });
      const [deploymentListed] = await insertCalls(1, { ...hook, toNumber: '+14155550122' });
      const [ok] = await insertCalls(1, hook);
      await t.db.insert(doNotCall).values({ accountId: accountA, number: '+14155550111', source: 'api' });
      const trunk = fakeTrunk();
      const told: string[] = [];
      const w = worker({
        runner: trunk.runner,
        workerId: 'gate',
        gate: createDialGate({ db: t.db, config, deploymentDnc: new Set(['+14155550122']) }),
        onTransition: (c) => told.push(`${c.id}:${c.status}`),
      });
      await w.start();
      await until(() => allTerminal([expired.id, listed.id, deploymentListed.id, ok.id]));
      expect(trunk.ran.map((c) => c.id)).toEqual([ok.id]);
      expect(await callOf(expired.id)).toMatchObject({
        status: 'failed',
        endedReason: 'expired',
        dialedAt: null,
      });
      for (const c of [listed, deploymentListed])
        expect(await callOf(c.id)).toMatchObject({
          status: 'failed',
          endedReason: 'do_not_call',
          dialedAt: null,
        });
      for (const c of [expired, listed, deploymentListed]) {
        const events = await t.db.select().from(callEvents).where(eq(callEvents.callId, c.id));
        expect(events.map((e) => [e.fromStatus, e.toStatus])).toEqual([['queued', 'failed']]);
        const hooks = await t.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, c.id));
        expect(hooks.map((h) => h.event)).toEqual(['call.failed']);
        expect(told).toContain(`${c.id}:failed`);
      }
    });

    it('a call due outside its calling hours goes back to the queue for its next opening, then dials then', async () => {
      let now = new Date('2026-03-10T12:00:00Z');
      const clock = () => now;
      const [c] = await insertCalls(1, {
        timeZones: ['Europe/London'],
        callWindow: { start: '09:00', end: '10:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
      });
      const trunk = fakeTrunk();
      const w = worker({
        runner: trunk.runner,
        workerId: 'window',
        clock,
        gate: createDialGate({ db: t.db, config, clock }),
      });
      await w.start();
      const deferred = await until(async () => {
        const row = await callOf(c.id);
        return row.scheduledFor !== null && row;
      });
      expect(deferred).toMatchObject({
        status: 'queued',
        workerId: null,
        claimedAt: null,
        scheduledFor: new Date('2026-03-11T09:00:00Z'),
      });
      await morePolls(['window']);
      expect(trunk.ran).toEqual([]);
      now = new Date('2026-03-11T09:00:30Z');
      w.wake();
      await until(() => allTerminal([c.id]));
      expect(trunk.ran.map((r) => r.id)).toEqual([c.id]);
    });

    it('a call whose wait for a trunk slot outlasts its window is asked again and goes back to the queue', async () => {
      let now = new Date('2026-03-10T09:59:30Z');
      const clock = () => now;
      const window: CallWindow = {
        start: '09:00',
        end: '10:00',
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      };
      const both = await insertCalls(2, { timeZones: ['Europe/London'], callWindow: window });
      const lines: { msg: string; callId?: string }[] = [];
      const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s)) });
      let letOriginate!: () => void;
      const originateReturns = new Promise<void>((r) => (letOriginate = r));
      const dialed: string[] = [];
      const w = worker({
        workerId: 'late',
        clock,
        gate: createDialGate({ db: t.db, config, clock }),
        pacer: createTrunkPacer({ db: t.db, maxCps: 1, workerId: 'late', logger }),
        runner: {
          async run(ctl) {
            await ctl.dialing();
            if (ctl.signal.aborted || ctl.call.status !== 'dialing') return;
            dialed.push(ctl.call.id);
            // The originate of the call that took the slot is in flight until the test lets it return.
            await Promise.race([originateReturns, abortedWith(ctl.signal)]);
            ctl.originated?.();
            await ctl.answered();
            await ctl.end({ status: 'completed', endedReason: 'objective_met' });
          },
        },
      });
      await w.start();
      // One call took the slot; the other passed the gate at 09:59:30 and waits for the trunk.
      const [held] = await until(() => dialed.length === 1 && dialed);
      const waiting = both.find((c) => c.id !== held)!;
      await until(() =>
        lines.some((l) => l.msg === 'trunk at its dial rate; waiting' && l.callId === waiting.id),
      );
      now = new Date('2026-03-10T10:00:30Z');
      letOriginate();
      const deferred = await until(async () => {
        const row = await callOf(waiting.id);
        return row.scheduledFor !== null && row;
      });
      expect(deferred).toMatchObject({
        status: 'queued',
        workerId: null,
        dialedAt: null,
        scheduledFor: new Date('2026-03-11T09:00:00Z'),
      });
      await until(() => allTerminal([held]));
      await until(() => w.activeCalls().length === 0);
      expect(dialed).toEqual([held]);
      const events = await t.db.select().from(callEvents).where(eq(callEvents.callId, waiting.id));
      expect(events).toEqual([]);
    });

    it('a gate that fails defers the call instead of dialing it unchecked', async () => {
      const [c] = await insertCalls(1);
      const trunk = fakeTrunk();
      const now = new Date('2026-03-10T12:00:00Z');
      const w = worker({
        runner: trunk.runner,
        workerId: 'broken-gate',
        clock: () => now,
        gate: {
          check: async () => {
            throw new Error('zones unknown');
          },
        },
      });
      await w.start();
      const row = await until(async () => {
        const r = await callOf(c.id);
        return r.scheduledFor !== null && r;
      });
      expect(row).toMatchObject({
        status: 'queued',
        workerId: null,
        scheduledFor: new Date('2026-03-10T12:01:00Z'),
      });
      await morePolls(['broken-gate']);
      expect(trunk.ran).toEqual([]);
    });
  });

  it('a call waiting for a trunk slot stays queued, and a cancel ends the wait: it never dials', async () => {
    const [first, waiting] = await insertCalls(2);
    const lines: { msg: string; callId?: string }[] = [];
    const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s)) });
    const trunk = fakeTrunk({ hold: true });
    const store = new CallStore(t.db, 'https://agentline.example');
    const w = worker({
      runner: trunk.runner,
      workerId: 'paced',
      store,
      // One dial per 100 s: the second call waits for the whole test.
      pacer: createTrunkPacer({ db: t.db, maxCps: 0.01, workerId: 'paced', logger }),
    });
    await w.start();
    await until(() => trunk.live.has(first.id));
    await until(() =>
      lines.some((l) => l.msg === 'trunk at its dial rate; waiting' && l.callId === waiting.id),
    );
    expect(await callOf(waiting.id)).toMatchObject({ status: 'queued', workerId: 'paced', dialedAt: null });
    expect((await store.transition(waiting.id, 'failed', { reason: 'canceled' })).ok).toBe(true);
    await until(() => !w.activeCalls().includes(waiting.id));
    const events = await t.db.select().from(callEvents).where(eq(callEvents.callId, waiting.id));
    expect(events.map((e) => e.toStatus)).toEqual(['failed']);
    expect(await t.db.select().from(trunkDials).where(eq(trunkDials.callId, waiting.id))).toEqual([]);
    trunk.releaseAll();
    await until(() => allTerminal([first.id]));
    expect(trunk.ran.map((c) => c.id)).toEqual([first.id]);
  });
});
