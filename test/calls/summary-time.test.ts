import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Engines,
  type Harness,
  loadEngines,
  NUMBERS,
  startHarness,
} from '../telephony/helpers/harness.js';
import { createTestAgent } from '../telephony/helpers/test-agent.js';

// A real call through the simulated PBX whose post-call summary takes long: the call's times must
// be the call's, answer to hangup, and the row must show the hangup while the summary still runs.
describe('a call whose summary takes long', () => {
  let engines: Engines;
  let h: Harness;
  beforeAll(async () => {
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' });
    // The summary's own bound is not what this test is about: it must not cut the held summary short.
    h = await startHarness({ engines, agent, settings: { summaryTimeoutMs: 120_000 } });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await engines?.close();
  }, 30_000);

  it('reports durationSeconds and endedAt from answer to hangup, and shows the hangup while summarizing', async () => {
    let summaryStartedAt = 0;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ listen: { maxMs: 5000 } }],
      afterScript: 'hold',
    });
    h.setAgent({
      ...agent,
      summarize: async () => {
        summaryStartedAt = Date.now();
        await held;
        return { summary: 'The callee hung up.', extracted: null };
      },
    });
    const id = await h.place(NUMBERS.hangsUp);
    // The callee hung up and the summary runs: the row already carries the hangup time.
    const during = await expect
      .poll(
        async () => {
          const row = await h.get(id);
          return summaryStartedAt > 0 && row.endedAt ? row : null;
        },
        { timeout: 60_000, interval: 50 },
      )
      .not.toBeNull()
      .then(() => h.get(id));
    expect(during.status).toBe('in_progress');
    release();

    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason, summary: call.summary }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
      summary: 'The callee hung up.',
    });
    expect(call.endedAt).toEqual(during.endedAt);
    expect(call.endedAt!.getTime()).toBeLessThanOrEqual(summaryStartedAt);
    expect(call.durationSeconds).toBe(
      Math.round((call.endedAt!.getTime() - call.startedAt!.getTime()) / 1000),
    );
  }, 120_000);
});
