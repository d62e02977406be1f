import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  startHarness,
  until,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

/** Picks up, and hangs up while AMD() still listens in the dialplan (analysis 8 s, hangup after 1 s). */
const HANGS_UP_DURING_AMD = {
  number: '+14155550191',
  outcome: 'answer' as const,
  ringSeconds: 0.5,
  amd: { status: 'HUMAN' as const, analysisMs: 8000 },
  hangupAfterSeconds: 1,
  states: { start: { say: 'Hello?' } },
};

/** The same, later (4 s), while the test holds the events socket down: the hangup event is lost. */
const HANGS_UP_DURING_AMD_UNSEEN = {
  ...HANGS_UP_DURING_AMD,
  number: '+14155550192',
  amd: { status: 'HUMAN' as const, analysisMs: 10_000 },
  hangupAfterSeconds: 4,
};

describe('a callee who hangs up during answering-machine detection', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  /** Its events socket stays down for a minute once dropped; AMD gives up after 7 s. */
  let hLost: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' });
    // An AMD timeout far beyond the hangup: the call must end on the hangup, not on the timeout.
    h = await startHarness({
      engines,
      agent,
      scenarios: [HANGS_UP_DURING_AMD],
      settings: { amdTimeoutMs: 60_000 },
    });
    hLost = await startHarness({
      engines,
      agent,
      scenarios: [HANGS_UP_DURING_AMD_UNSEEN],
      settings: { amdTimeoutMs: 7000 },
      reconnectInitialMs: 60_000,
    });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await hLost?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  it('is seen at once: completed/callee_hung_up (someone picked up), the agent never spoke', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ say: 'Hello there' }],
      afterScript: 'objective_met',
    });
    h.setAgent(agent);
    const id = await h.place(HANGS_UP_DURING_AMD.number);
    const call = await h.waitFor(id, undefined, 30_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    expect(call.startedAt).not.toBeNull();
    // Started at answer to listen, the agent was never let speak: it ends with the call, unheard.
    expect(agent.ends.every((e) => e.signalReason === 'callee_hung_up')).toBe(true);
    expect(call.transcript ?? '').not.toContain('Hello there');
    expect(await h.webhookEvents(id)).toEqual(['call.completed', 'call.in_progress']);
    await until('the PBX to be empty', () => h.sim.channels().length === 0 && h.sim.bridges().length === 0);
  }, 60_000);

  it('with its hangup event lost, the AMD timeout asks the PBX and finds the callee gone: completed/callee_hung_up', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ say: 'Hello there' }],
      afterScript: 'objective_met',
    });
    hLost.setAgent(agent);
    const id = await hLost.place(HANGS_UP_DURING_AMD_UNSEEN.number);
    await until('the callee to be in the AMD dialplan', () =>
      (hLost.sim.channels() as { dialplan?: { app_name?: string } }[]).some(
        (c) => c.dialplan?.app_name === 'AMD',
      ),
    );
    hLost.sim.dropEventSockets();
    const call = await hLost.waitFor(id, undefined, 30_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    expect(call.transcript ?? '').not.toContain('Hello there');
  }, 60_000);
});
