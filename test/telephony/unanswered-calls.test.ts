import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

describe('calls that never reach the agent end from what the PBX reports', () => {
  let engines: Engines;
  let h: Harness;
  let before: Record<string, number>;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    h = await startHarness({
      engines,
      agent: createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' }),
    });
  }, 120_000);
  afterEach(async () => {
    // Nothing of a finished call may stay on the PBX.
    await until(
      'the PBX to be empty',
      () => h.sim.channels().length === 0 && h.sim.bridges().length === 0,
      10_000,
    );
  });
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  it.each([
    ['busy', NUMBERS.busy, 'declined', 'busy'],
    ['rejects', NUMBERS.rejects, 'declined', 'rejected'],
    ['unallocated', NUMBERS.unallocated, 'failed', 'unallocated_number'],
    ['never answers (ring timeout)', NUMBERS.noAnswer, 'no_answer', 'no_answer_timeout'],
  ])(
    '%s',
    async (_name, to, status, reason) => {
      const id = await h.place(to);
      const call = await h.waitFor(id);
      expect({ status: call.status, endedReason: call.endedReason }).toEqual({ status, endedReason: reason });
      expect(call.dialedAt).not.toBeNull();
      expect(call.startedAt).toBeNull();
      expect(call.recordingFile).toBeNull();
      expect(await h.webhookEvents(id)).toEqual([`call.${status}`]);
    },
    60_000,
  );

  it('cancel while ringing hangs up the ringing channel and ends failed/canceled', async () => {
    const id = await h.place(NUMBERS.noAnswer);
    await h.waitFor(id, 'dialing');
    await until('the callee channel to ring', () => h.sim.channels().length > 0);
    await h.cancel(id);
    await until('the ringing channel to be hung up', () => h.sim.channels().length === 0, 10_000);
    const call = await h.get(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'canceled',
    });
    await until('the runner to finish', () => h.runner.activeCalls() === 0);
  }, 60_000);
});
