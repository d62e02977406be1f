import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callEvents } from '../../src/db/schema.js';
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

describe('a PBX that is slow or unreachable does not turn calls into failures, nor ring anyone twice', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' });
    // A short ARI request timeout, so a late answer counts as none.
    h = await startHarness({ engines, agent, ariRequestTimeoutMs: 1500 });
  }, 120_000);
  afterEach(() => h.sim.impair({}));
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  const steps = async (id: string) =>
    (
      await h.db.db.select().from(callEvents).where(eq(callEvents.callId, id)).orderBy(asc(callEvents.id))
    ).map((e) => `${e.fromStatus}→${e.toStatus}${e.reason ? `:${e.reason}` : ''}`);
  const ringsAt = (number: string) =>
    h.sim.calleeLog(number).filter((e) => e.kind === 'event' && e.text.startsWith('incoming call')).length;
  const agent = () =>
    createTestAgent({ tts: engines.tts, script: [{ say: 'Hello there' }], afterScript: 'objective_met' });

  it('originates lost on the way put the call back in the queue (queued, not failed) until one gets through', async () => {
    h.setAgent(agent());
    const rangBefore = ringsAt(NUMBERS.restaurant);
    h.sim.impair({ dropOriginate: true });
    const id = await h.place(NUMBERS.restaurant);
    // Lost twice: requeued each time (the worker pauses its claims in between), never failed.
    await until(
      'two originates to be lost',
      async () => (await steps(id)).filter((s) => s === 'dialing→queued:pbx_unreachable').length >= 2,
    );
    expect((await h.get(id)).status).not.toBe('failed');
    h.sim.impair({});
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    const path = await steps(id);
    expect(path.slice(-3)).toEqual([
      'queued→dialing',
      'dialing→in_progress',
      'in_progress→completed:objective_met',
    ]);
    expect(path.filter((s) => s === 'dialing→failed')).toEqual([]);
    // The lost originates created nothing: the callee's phone rang once.
    expect(ringsAt(NUMBERS.restaurant) - rangBefore).toBe(1);
  }, 120_000);

  it('an originate answered too late, whose channel exists, goes on as placed: one ring, no requeue', async () => {
    h.setAgent(agent());
    const rangBefore = ringsAt(NUMBERS.restaurant);
    h.sim.impair({ originateReplyDelayMs: 4000 });
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    expect(await steps(id)).toEqual([
      'queued→dialing',
      'dialing→in_progress',
      'in_progress→completed:objective_met',
    ]);
    expect(ringsAt(NUMBERS.restaurant) - rangBefore).toBe(1);
    await until('the PBX to be empty', () => h.sim.channels().length === 0 && h.sim.bridges().length === 0);
  }, 120_000);
});
