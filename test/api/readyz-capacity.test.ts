import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallControl, CallRunner } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { createCallWorker } from '../../src/calls/worker.js';
import { calls, workers } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';

async function until<T>(
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface ReadyCapacity {
  workers: number;
  liveCalls: number;
  capacity: number | null;
  full: boolean;
}

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ env: { WORKER_STALE_SECONDS: '10' } });
});
afterAll(async () => {
  await api?.close();
});
afterEach(async () => {
  await api.db.db.delete(calls);
  await api.db.db.delete(workers);
});

async function readyCapacity(): Promise<ReadyCapacity> {
  const r = await fetch(`${api.url}/readyz`);
  expect(r.status).toBe(200);
  return ((await r.json()) as { capacity: ReadyCapacity }).capacity;
}

let n = 0;
async function workerRow(values: Partial<typeof workers.$inferInsert>) {
  await api.db.db.insert(workers).values({ id: `w-${n++}`, hostname: 'h', pid: 1, ...values });
}

describe('/readyz capacity: how full the deployment is, from the workers rows', () => {
  it('has no capacity while no worker heartbeats', async () => {
    // A worker that stopped heartbeating longer ago than WORKER_STALE_SECONDS does not count.
    await workerRow({ heartbeatAt: new Date(Date.now() - 60_000), capacity: 8, liveCalls: 2 });
    expect(await readyCapacity()).toEqual({ workers: 0, liveCalls: 0, capacity: null, full: false });
  });

  it('adds up the live workers and is full once every one carries its capacity', async () => {
    await workerRow({ capacity: 3, liveCalls: 1, limitedBy: 'dialogue' });
    await workerRow({ heartbeatAt: new Date(Date.now() - 60_000), capacity: 8, liveCalls: 0 });
    expect(await readyCapacity()).toEqual({ workers: 1, liveCalls: 1, capacity: 3, full: false });

    await api.db.db.update(workers).set({ liveCalls: 3 });
    expect(await readyCapacity()).toMatchObject({ workers: 1, liveCalls: 3, capacity: 3, full: true });

    // A second worker with room: a new call is claimed there, so the deployment is not full.
    await workerRow({ capacity: 2, liveCalls: 0, limitedBy: 'cpu' });
    expect(await readyCapacity()).toEqual({ workers: 2, liveCalls: 3, capacity: 5, full: false });
  });

  it("shows a running worker's heartbeat: full while its one call is live", async () => {
    const held = new Map<string, () => void>();
    const runner: CallRunner = {
      async run(ctl: CallControl) {
        await ctl.dialing();
        await ctl.answered();
        await new Promise<void>((r) => {
          held.set(ctl.call.id, r);
          ctl.signal.addEventListener('abort', () => r(), { once: true });
        });
        await ctl.end({ status: 'completed', endedReason: 'objective_met' });
      },
    };
    const worker = createCallWorker({
      db: api.db.db,
      store: new CallStore(api.db.db, 'https://agentline.example'),
      runner,
      logger: silentLogger(),
      concurrency: 4,
      pollMs: 10,
      staleSeconds: 10,
      capacity: {
        limit: () => 1,
        snapshot: (liveCalls) => ({
          capacity: 1,
          liveCalls,
          full: liveCalls >= 1,
          limitedBy: 'dialogue',
          estimate: null,
          otherLoadCores: 0,
          lateReplies: 0,
        }),
        recordReply: () => {},
        stop: () => {},
      },
    });
    try {
      await worker.start();
      expect(await readyCapacity()).toEqual({ workers: 1, liveCalls: 0, capacity: 1, full: false });
      await api.db.db.insert(calls).values({
        accountId: api.accountId,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Hold the line.',
        language: 'en-US',
      });
      worker.wake();
      await until(() => held.size === 1);
      const full = await until(async () => {
        const c = await readyCapacity();
        return c.liveCalls === 1 && c;
      });
      expect(full).toEqual({ workers: 1, liveCalls: 1, capacity: 1, full: true });
      for (const release of held.values()) release();
      expect(
        await until(async () => {
          const c = await readyCapacity();
          return c.liveCalls === 0 && c;
        }),
      ).toEqual({ workers: 1, liveCalls: 0, capacity: 1, full: false });
    } finally {
      await worker.stop();
    }
  });
});
