import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Scenario } from '../../src/pbx-sim/index.js';
import type { ConversationAgent, TransferResult } from '../../src/telephony/call-session.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  readWav,
  startHarness,
  until,
} from './helpers/harness.js';

// What the controller and transfer.ts do with the legs around a transfer: the recording keeps only
// TRANSFER_RECORD_SECONDS of the connected call and the call is stored then, while the people talk on;
// the connected legs are hung up at TRANSFER_MAX_SECONDS; a callee who hangs up while the person's phone
// rings takes the second leg down with it. (test/e2e/transfer.test.ts drives transfers through the
// real conversation agent.)

const DESK = '+14155550160';
const DESK_NO_ANSWER = '+14155550162';
/** Says hello once and then stays on the line, silent, whatever happens. */
const STAYS = '+14155550172';
/** Says hello and hangs up 4 s after answering. */
const LEAVES = '+14155550173';

const callees = [
  {
    number: STAYS,
    outcome: 'answer',
    ringSeconds: 1,
    amd: { status: 'HUMAN', analysisMs: 300 },
    transcribe: false,
    start: 'start',
    states: { start: { say: 'Hello?' } },
  },
  {
    number: LEAVES,
    outcome: 'answer',
    ringSeconds: 1,
    amd: { status: 'HUMAN', analysisMs: 300 },
    transcribe: false,
    hangupAfterSeconds: 4,
    start: 'start',
    states: { start: { say: 'Hello?' } },
  },
] as Scenario[];

/** An agent that asks for the transfer at once and reports how it went (and when it connected). */
function transferAgent() {
  const results: { result: TransferResult; atMs: number }[] = [];
  const agent: ConversationAgent = {
    async converse(session) {
      const result = await session.transfer!({ summary: 'The caller wants a person.' });
      results.push({ result, atMs: performance.now() - session.answeredAtMs });
      if (result.outcome === 'transferred') return { end: 'transferred' };
      if (!session.signal.aborted) {
        await new Promise((resolve) => session.signal.addEventListener('abort', resolve, { once: true }));
      }
      return { end: 'callee_hung_up' };
    },
    summarize: async () => ({ summary: null, extracted: null }),
  };
  return { agent, results };
}

const phoneChannels = (h: Harness) =>
  (h.sim.channels() as { name: string }[]).filter((c) => !/^(UnicastRTP|WebSocket)\//.test(c.name));

describe('the legs of a transfer', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    h = await startHarness({
      engines,
      agent: transferAgent().agent,
      scenarios: callees,
      env: { MEDIA_TRANSPORT: 'websocket' },
      settings: { transferRecordSeconds: 2, transferMaxSeconds: 8 },
    });
  }, 120_000);
  afterEach(async () => {
    await until(
      'the PBX to be empty',
      () => h.sim.channels().length === 0 && h.sim.bridges().length === 0,
      20_000,
    );
    await until('the runner to finish its calls', () => h.runner.activeCalls() === 0, 10_000);
  });
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  it('stores the call after TRANSFER_RECORD_SECONDS of the connected call while it goes on, and hangs both legs up at TRANSFER_MAX_SECONDS', {
    timeout: 90_000,
  }, async () => {
    const { agent, results } = transferAgent();
    h.setAgent(agent);
    const id = await h.place(STAYS, { transfer: { to: DESK, mode: 'cold', when: 'always' } });
    const call = await h.waitFor(id, undefined, 60_000);
    expect([call.status, call.endedReason]).toEqual(['completed', 'transferred']);
    expect(results.map((r) => r.result)).toEqual([{ outcome: 'transferred' }]);
    // Stored while the callee and the person are still connected: only our media side is gone.
    const connected = phoneChannels(h).length;
    const bridges = h.sim.bridges().length;

    // The recording stopped TRANSFER_RECORD_SECONDS after the callee was connected, not at the end.
    const wav = readWav(await fs.readFile(path.join(h.config.recordingsDir, call.recordingFile!)));
    const recordedMs = (wav.samples.length / wav.sampleRate) * 1000;
    const connectedAtMs = results[0].atMs;
    expect(recordedMs).toBeGreaterThan(connectedAtMs + 1500);
    expect(recordedMs).toBeLessThan(connectedAtMs + 2000 + 2500);

    expect({ connected, bridges }).toEqual({ connected: 2, bridges: 1 });
    // Neither hangs up: our limit hangs both up, and the bridge goes.
    await until(
      'the connected legs to be hung up and the bridge destroyed',
      () => phoneChannels(h).length === 0 && h.sim.bridges().length === 0,
      30_000,
    );
    expect(h.sim.calleeLog(DESK).some((e) => e.text === 'caller hung up')).toBe(true);
    expect(h.sim.calleeLog(STAYS).some((e) => e.text === 'caller hung up')).toBe(true);
  });

  it('a callee who hangs up while the person rings ends the call as callee_hung_up and takes the second leg down', {
    timeout: 90_000,
  }, async () => {
    const { agent, results } = transferAgent();
    h.setAgent(agent);
    const id = await h.place(LEAVES, { transfer: { to: DESK_NO_ANSWER, mode: 'warm', when: 'always' } });
    const call = await h.waitFor(id, undefined, 60_000);
    expect([call.status, call.endedReason]).toEqual(['completed', 'callee_hung_up']);
    expect(results.map((r) => r.result.outcome)).toEqual(['failed']);
    // The person's phone stopped ringing when we gave up on it (not at its ring timeout).
    await until('the second leg to be gone', () => phoneChannels(h).length === 0, 10_000);
    const desk = h.sim.calleeLog(DESK_NO_ANSWER);
    expect(desk.at(-1)?.text).toBe('missed call (caller gave up)');
  });
});
