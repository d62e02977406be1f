import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallWorker, createCallWorker } from '../../src/calls/worker.js';
import { callTurns } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  NUMBERS,
  startHarness,
  until,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

const WRAP_UP = 'Sorry, I have to end the call now. Goodbye.';

describe('a worker stopping (SIGTERM) drains its live calls, then ends the rest politely', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  const workers: CallWorker[] = [];
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' });
    h = await startHarness({ engines, agent });
    // Each test runs (and stops) a worker of its own on the harness's runner and database.
    await h.worker.stop();
  }, 120_000);
  afterAll(async () => {
    for (const w of workers) await w.stop();
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 60_000);

  const startWorker = async () => {
    const w = createCallWorker({
      db: h.db.db,
      store: h.store,
      runner: h.runner,
      logger: silentLogger(),
      concurrency: 2,
      pollMs: 100,
      staleSeconds: 30,
      canClaim: () => h.ari.connected,
      cancelPollMs: 100,
    });
    workers.push(w);
    await w.start();
    return w;
  };
  const turnsOf = (id: string) =>
    h.db.db.select().from(callTurns).where(eq(callTurns.callId, id)).orderBy(asc(callTurns.seq));

  it('claims nothing new, and a live call finishes its conversation within the drain', async () => {
    const worker = await startWorker();
    h.setAgent(
      createTestAgent({
        tts: engines.tts,
        script: [{ say: 'Hello there' }, { wait: 2000 }, { say: 'Thank you, that is all.' }],
        afterScript: 'objective_met',
      }),
    );
    const live = await h.place(NUMBERS.restaurant);
    await h.waitFor(live, 'in_progress');
    const stopped = worker.stop({ drainMs: 120_000 });
    // Queued after the stop began: nobody claims it, so another worker can.
    const queued = await h.place(NUMBERS.restaurant);
    await stopped;
    const done = await h.get(live);
    expect({ status: done.status, endedReason: done.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    const left = await h.get(queued);
    expect({ status: left.status, workerId: left.workerId }).toEqual({ status: 'queued', workerId: null });
    // And another worker does.
    const next = await startWorker();
    h.setAgent(
      createTestAgent({ tts: engines.tts, script: [{ say: 'Hello there' }], afterScript: 'objective_met' }),
    );
    const after = await h.waitFor(queued);
    expect(after.status).toBe('completed');
    await next.stop();
  }, 120_000);

  it('after the drain, a call still live hears the agent say goodbye, then ends completed/worker_shutdown', async () => {
    const worker = await startWorker();
    h.setAgent(
      createTestAgent({
        tts: engines.tts,
        script: [{ say: 'Hello there' }],
        afterScript: 'hold',
        wrapUpGoodbye: WRAP_UP,
      }),
    );
    const live = await h.place(NUMBERS.restaurant);
    await h.waitFor(live, 'in_progress');
    await until('the agent to have spoken', async () =>
      (await turnsOf(live)).some((t) => t.speaker === 'agent'),
    );
    await worker.stop({ drainMs: 200 });
    const call = await h.get(live);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'worker_shutdown',
    });
    const agentLines = (await turnsOf(live)).filter((t) => t.speaker === 'agent');
    expect(agentLines.at(-1)).toMatchObject({ text: WRAP_UP, interrupted: false });
    await until('the PBX to be empty', () => h.sim.channels().length === 0 && h.sim.bridges().length === 0);
  }, 120_000);
});
