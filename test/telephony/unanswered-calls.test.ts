import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
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

const LOCAL_BUSY = '+14155550130';
const LOCAL_CONGESTION = '+14155550131';

describe('calls that never reach the agent end from what the PBX reports', () => {
  let engines: Engines;
  let h: Harness;
  let before: Record<string, number>;
  /** What everything logged at info and above (JSON lines): the controller's `call ended` lines. */
  const logged: { msg: string; callId?: string; cause?: number; techCause?: number }[] = [];
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    h = await startHarness({
      logger: createLogger('info', { write: (line: string) => logged.push(JSON.parse(line)) }),
      engines,
      agent: createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' }),
      // Callees reached over a Local channel (the bundled ones are over a SIP hop).
      scenarios: [
        { number: LOCAL_BUSY, outcome: 'busy', ringSeconds: 0, network: 'local' },
        { number: LOCAL_CONGESTION, outcome: 'congestion', ringSeconds: 0, network: 'local' },
      ],
      // A PBX that went away never reports the end of the ringing: the guard ends the call sooner.
      settings: { ringGuardMs: 3000 },
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

  // Over SIP the sequences are Asterisk 22.10.1's: ChannelHangupRequest (cause, tech_cause) → Dial
  // <final> → ChannelDestroyed, the request even before the first `Dial ""` for a fast 486, and no
  // request at all for the originate's ring timeout. The `call ended` line names the SIP answer.
  it.each([
    ['busy (fast SIP 486: request before Dial, cause 17, BUSY)', NUMBERS.busy, 'declined', 'busy', 486],
    ['rejects (SIP 603: cause 21 with NOANSWER)', NUMBERS.rejects, 'declined', 'rejected', 603],
    [
      'unallocated (SIP 404: cause 1 with NOANSWER)',
      NUMBERS.unallocated,
      'failed',
      'unallocated_number',
      404,
    ],
    ['congestion (SIP 503: cause 34, CONGESTION)', '+14155550120', 'failed', 'network_error', 503],
    [
      'never answers (ring timeout: RINGING, then cause 19 and no request, no final Dial)',
      NUMBERS.noAnswer,
      'no_answer',
      'no_answer_timeout',
      480,
    ],
    ['busy over a Local channel (cause 0, BUSY)', LOCAL_BUSY, 'declined', 'busy', undefined],
    [
      'congestion over a Local channel (cause 0, CONGESTION)',
      LOCAL_CONGESTION,
      'failed',
      'network_error',
      undefined,
    ],
    // Nothing was dialled, so nothing says the number does not exist: our route is missing.
    [
      'an extension that does not exist (cause 0, no Dial)',
      '+14155550121',
      'failed',
      'network_error',
      undefined,
    ],
  ] as const)(
    '%s',
    async (_name, to, status, reason, techCause) => {
      const id = await h.place(to);
      const call = await h.waitFor(id);
      expect({ status: call.status, endedReason: call.endedReason }).toEqual({ status, endedReason: reason });
      // The controller logs the end once it has stored it: the line may come just after the status.
      const ended = await until('the call ended log line', () =>
        logged.find((l) => l.msg === 'call ended' && l.callId === id),
      );
      expect(ended.techCause).toBe(techCause);
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

  // Asterisk restarting reports a ringing call as cause 0 with NOANSWER; killed, it reports nothing.
  // Nobody failed to answer: the PBX went away.
  it.each(['shutdown', 'crash'] as const)(
    'the PBX goes away while the callee rings (%s): failed/network_error, not no_answer',
    async (how) => {
      const id = await h.place(NUMBERS.noAnswer);
      await until('the callee to ring', () =>
        h.sim.calleeLog(NUMBERS.noAnswer).some((e) => e.kind === 'event' && e.text.startsWith('incoming')),
      );
      await until('the ringing to be reported', () =>
        h.sim.channels().some((c) => (c as { state: string }).state === 'Ringing'),
      );
      await h.sim.goDown(how);
      try {
        const call = await h.waitFor(id, undefined, 60_000);
        expect({ status: call.status, endedReason: call.endedReason }).toEqual({
          status: 'failed',
          endedReason: 'network_error',
        });
      } finally {
        h.sim.comeBack();
      }
      await until('the client to reconnect', () => h.ari.connected, 30_000);
      await until('the runner to finish', () => h.runner.activeCalls() === 0);
    },
    90_000,
  );
});
