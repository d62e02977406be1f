import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosOptions } from '../../src/pbx-sim/index.js';
import type { Scenario } from '../../src/pbx-sim/scenario.js';
import { type ChaosCall, runChaosCalls } from './helpers/chaos-calls.js';
import {
  type Engines,
  expectNoLeakedHandles,
  handleCounts,
  loadEngines,
  NUMBERS,
  startHarness,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

/**
 * Nightly-style chaos: a compact set of calls, all at once, under a few more seeds than chaos.test.ts's
 * one, with more failures and longer delays, so every run of the suite explores a little more of
 * what a real Asterisk's timing can do. `PBX_SIM_CHAOS_SEEDS=7,8,9` picks others (a failure names
 * its seed and the command that replays it alone).
 */
const SEEDS = (process.env.PBX_SIM_CHAOS_SEEDS ?? '2,3,4')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((s) => {
    if (!/^-?\d+$/.test(s)) throw new Error(`PBX_SIM_CHAOS_SEEDS: "${s}" is not an integer seed`);
    return Number(s);
  });
const MAX_DELAY_MS = 80;
const ERROR_RATE = 0.4;

const OTHER = { maxDuration: '+14155550193', ringsForever: '+14155550194' };
const SCENARIOS: Scenario[] = [
  { number: OTHER.ringsForever, outcome: 'noanswer', ringSeconds: 120 } as Scenario,
];

describe('the controller in chaos mode, more seeds', () => {
  let engines: Engines;
  let before: Record<string, number>;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
  }, 120_000);
  afterAll(async () => {
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  it.each(SEEDS)(
    'seed %i: an answered call the callee ends, busy, max duration, voicemail and a cancel while ringing, at once',
    async (seed) => {
      const chaos: ChaosOptions = { seed, maxDelayMs: MAX_DELAY_MS, errorRate: ERROR_RATE };
      const replay = `PBX_SIM_CHAOS_SEEDS=${seed} npx vitest run test/telephony/chaos-seeds.test.ts`;
      const tts = engines.tts;
      const idle = () => createTestAgent({ tts, script: [], afterScript: 'objective_met' });
      const goodbye = 'We are out of time. Goodbye.';
      const calls: ChaosCall[] = [
        {
          name: 'the callee hangs up',
          to: NUMBERS.hangsUp,
          agent: createTestAgent({ tts, script: [{ listen: { maxMs: 5000 } }], afterScript: 'hold' }),
          expect: { status: 'completed', endedReason: 'callee_hung_up' },
          recorded: true,
        },
        {
          name: 'busy',
          to: NUMBERS.busy,
          agent: idle(),
          expect: { status: 'declined', endedReason: 'busy' },
        },
        {
          name: 'max duration',
          to: OTHER.maxDuration,
          agent: createTestAgent({ tts, script: [], afterScript: 'hold', goodbye }),
          fields: { maxDurationSeconds: 3 },
          expect: { status: 'completed', endedReason: 'max_duration' },
          recorded: true,
          check: (call, _h, msg) => expect(call.transcript, msg).toContain(`Agent: ${goodbye}`),
        },
        {
          name: 'voicemail, hang up at the beep',
          to: NUMBERS.voicemail,
          agent: idle(),
          fields: { voicemail: { action: 'hangup' } },
          expect: { status: 'voicemail', endedReason: 'voicemail_detected' },
        },
        {
          name: 'cancel while ringing',
          to: OTHER.ringsForever,
          agent: idle(),
          cancelAt: 'dialing',
          expect: { status: 'failed', endedReason: 'canceled' },
        },
      ];
      const h = await startHarness({
        engines,
        agent: idle(),
        chaos,
        scenarios: SCENARIOS,
        settings: { goodbyeGraceMs: 4000 },
      });
      try {
        await runChaosCalls(h, calls, replay);
      } finally {
        await h.close();
      }
    },
    180_000,
  );
});
