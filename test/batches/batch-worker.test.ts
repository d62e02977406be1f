import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallRunner } from '../../src/calls/call-runner.js';
import { type CallWorker, createCallWorker } from '../../src/calls/worker.js';
import { batches, calls, webhookDeliveries } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';

async function until<T>(probe: () => Promise<T | null | undefined | false>): Promise<T> {
  for (;;) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A callee for every row: answers, and the agent ends with a summary and the extracted field. */
const launched: string[] = [];
const runner: CallRunner = {
  async run(ctl) {
    launched.push(ctl.call.id);
    await ctl.dialing();
    if (ctl.signal.aborted || ctl.call.status !== 'dialing') return;
    ctl.originated?.();
    await ctl.answered();
    await ctl.end({
      status: 'completed',
      endedReason: 'objective_met',
      summary: `Spoke about ${ctl.call.objective}`,
      extracted: { confirmed: ctl.call.toNumber.endsWith('1') },
    });
  },
};

let api: TestApi;
let worker: CallWorker;
let polls = 0;
beforeAll(async () => {
  api = await startTestApi({
    env: { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true', CAP_CONCURRENT_CALLS: '100' },
    tweak: (deps) => ({ ...deps, onCallQueued: () => worker?.wake() }),
  });
  worker = createCallWorker({
    db: api.db.db,
    store: api.deps.calls,
    runner,
    logger: silentLogger(),
    concurrency: 4,
    pollMs: 20,
    staleSeconds: 30,
    cancelPollMs: 20,
    canClaim: () => {
      polls++;
      return true;
    },
  });
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

describe('a batch through the worker', () => {
  it('is not dialled while paused, runs once resumed, completes with batch.completed and fills results.csv', async () => {
    const res = await api.request('/v1/agent/batches', {
      method: 'POST',
      body: JSON.stringify({
        template: {
          objective: 'the visit of {{name}}',
          fields: [{ name: 'confirmed', type: 'boolean' }],
          webhookUrl: 'http://127.0.0.1:9/hook',
        },
        concurrency: 2,
        csv: 'to,name\n+14155550101,Ann\n+14155550102,Bo\n+14155550103,Cy\n+14155550111,Di\n+1415,bad\n',
      }),
    });
    expect(res.status).toBe(201);
    const out = (await res.json()) as { batchId: string; acceptedRows: number };
    expect(out.acceptedRows).toBe(4);
    const paused = await api.request(`/v1/agent/batches/${out.batchId}/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);

    await worker.start();
    // Several polls, each of which could have claimed: none of the paused batch's calls was taken.
    const from = polls;
    await until(async () => polls >= from + 5);
    expect(launched).toEqual([]);
    const queued = await api.db.db.select().from(calls).where(eq(calls.batchId, out.batchId));
    expect(queued.every((c) => c.status === 'queued' && c.workerId === null)).toBe(true);

    expect((await api.request(`/v1/agent/batches/${out.batchId}/resume`, { method: 'POST' })).status).toBe(
      200,
    );
    const done = await until(async () => {
      const [b] = await api.db.db.select().from(batches).where(eq(batches.id, out.batchId));
      return b.status === 'completed' ? b : null;
    });
    expect(done.completedAt).not.toBeNull();
    expect(launched).toHaveLength(4);

    const view = (await (await api.request(`/v1/agent/batches/${out.batchId}`)).json()) as any;
    expect(view.status).toBe('completed');
    expect(view.counts).toMatchObject({ completed: 4, queued: 0 });
    expect(view.progress).toEqual({ ended: 4, total: 4 });
    expect(view.refusedRows).toBe(1);

    const [hook] = await api.db.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.event, 'batch.completed'));
    expect(hook.payload).toMatchObject({
      batchId: out.batchId,
      status: 'completed',
      totalRows: 5,
      acceptedRows: 4,
      refusedRows: 1,
      counts: { completed: 4 },
    });

    const csv = await (await api.request(`/v1/agent/batches/${out.batchId}/results.csv`)).text();
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe(
      'row,callId,to,status,endedReason,attempts,durationSeconds,optOut,summary,name,extracted.confirmed',
    );
    expect(lines.slice(1).map((l) => l.split(',').filter((_, i) => i !== 1 && i !== 6))).toEqual([
      [
        '1',
        '+14155550101',
        'completed',
        'objective_met',
        '1',
        'false',
        'Spoke about the visit of Ann',
        'Ann',
        'true',
      ],
      [
        '2',
        '+14155550102',
        'completed',
        'objective_met',
        '1',
        'false',
        'Spoke about the visit of Bo',
        'Bo',
        'false',
      ],
      [
        '3',
        '+14155550103',
        'completed',
        'objective_met',
        '1',
        'false',
        'Spoke about the visit of Cy',
        'Cy',
        'false',
      ],
      [
        '4',
        '+14155550111',
        'completed',
        'objective_met',
        '1',
        'false',
        'Spoke about the visit of Di',
        'Di',
        'true',
      ],
    ]);
  });
});
