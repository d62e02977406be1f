import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  NUMBERS,
  readWav,
  startHarness,
  until,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

/** Says hello at answer and then nothing; never hangs up (the agent ends the call). */
const QUIET = '+14155550191';

/**
 * On chan_websocket, what Asterisk 22.10.1 showed in the lab: a callee in a two-party bridge (no
 * recorder: Asterisk's simple_bridge) hears only frames we send, so agentline sends silence while the
 * agent has nothing to say; and snoop channels, which get no ChannelDestroyed, never hold a call up.
 */
describe('chan_websocket calls as on Asterisk 22.10.1', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    h = await startHarness({
      engines,
      agent: createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' }),
      env: { MEDIA_TRANSPORT: 'websocket' },
      scenarios: [
        {
          number: QUIET,
          outcome: 'answer',
          ringSeconds: 0,
          amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 500 },
          states: { start: { say: 'Hello?' } },
        },
      ],
    });
  }, 120_000);
  afterEach(async () => {
    await fs.mkdir(h.sim.recordingsDir, { recursive: true });
    await until(
      'the PBX to be empty',
      () => h.sim.channels().length === 0 && h.sim.bridges().length === 0,
      10_000,
    );
    await until('the runner to finish its calls', () => h.runner.activeCalls() === 0, 10_000);
  });
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  for (const recorded of [true, false]) {
    it(`the callee hears a steady stream of frames (one a 20 ms tick) while the agent listens, ${recorded ? 'recorded (softmix)' : 'unrecorded (simple_bridge)'}`, async () => {
      // The agent says nothing and holds the line until the test cancels the call: no timer to outrun.
      h.setAgent(createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' }));
      // Asterisk without its recordings folder refuses the recording: the bridge keeps two parties.
      if (!recorded) await fs.rm(h.sim.recordingsDir, { recursive: true });
      // The log of a number spans its calls: this call's hello is the next one said.
      const saidBefore = h.sim.calleeLog(QUIET).filter((e) => e.kind === 'said').length;
      const id = await h.place(QUIET);
      await until(
        'the callee to have said hello',
        () => h.sim.calleeLog(QUIET).filter((e) => e.kind === 'said').length > saidBefore,
        60_000,
      );
      // AMD gave the callee back and it joined the call's bridge (its first frame from the bridge).
      await until('the callee in the bridge', () => h.sim.calleeHearing(QUIET)!.frames > 0, 30_000);
      const bridge = (await h.ari.listBridges()).find((b) => b.channels.length >= 2);
      expect(bridge?.technology).toBe(recorded ? 'softmix' : 'simple_bridge');
      const from = h.sim.calleeHearing(QUIET)!;
      await until(
        '100 ticks of the agent listening',
        () => h.sim.calleeHearing(QUIET)!.ticks >= from.ticks + 100,
      );
      const to = h.sim.calleeHearing(QUIET)!;
      expect((await h.get(id)).status).toBe('in_progress');
      // A frame every tick, but for what a loaded machine's stalls cost (the sim's clock catches up on
      // up to a second of ticks at once, where our pacer sends at most a few frames late and skips the
      // rest). Before, with no recorder, it was no frame at all.
      const ticks = to.ticks - from.ticks;
      expect(to.frames - from.frames).toBeGreaterThanOrEqual(Math.floor(ticks / 2));
      await h.cancel(id);
      const call = await h.waitFor(id);
      expect({ status: call.status, endedReason: call.endedReason }).toEqual({
        status: 'failed',
        endedReason: 'canceled',
      });
    }, 120_000);
  }

  it('a call whose callee was heard through a snoop channel ends cleanly: nothing waits for the snoop to be destroyed', async () => {
    // +14155550105 says hello and hangs up 3 s after answer; AMD takes 2 s, meanwhile the snoop channel
    // carries the hello; after AMD the snoop is hung up (no ChannelDestroyed comes for it, as on
    // Asterisk 22.10.1) and the callee bridged.
    h.setAgent(
      createTestAgent({
        tts: engines.tts,
        script: [{ wait: 20_000 }],
        afterScript: 'objective_met',
      }),
    );
    const id = await h.place(NUMBERS.hangsUp);
    const call = await h.waitFor(id, undefined, 30_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    // The call, the snoop channel with it, left nothing on the PBX nor in the runner (afterEach), and
    // its recording was fetched and the note of it on the call cleared.
    expect(call.recordingFile).not.toBeNull();
    await until(
      'the recording note to be cleared',
      async () => (await h.get(id)).pbxRecording === null,
      10_000,
    );
    expect(await fs.readdir(h.sim.recordingsDir)).toEqual([]);
  }, 60_000);

  it('while a call records, its recording is noted on the call (for a worker that dies); the note goes with the recording', async () => {
    h.setAgent(createTestAgent({ tts: engines.tts, script: [{ wait: 3000 }], afterScript: 'objective_met' }));
    const id = await h.place(QUIET);
    await until(
      'the note of the recording',
      async () => (await h.get(id)).pbxRecording === `agentline-${id}`,
      30_000,
    );
    const call = await h.waitFor(id);
    expect(call.status).toBe('completed');
    await until('the note to be cleared', async () => (await h.get(id)).pbxRecording === null, 10_000);
    expect(call.recordingFile).toBe(`${id}.wav`);
    // slin16 media is recorded as `wav16`, which Asterisk stores as `<name>.wav16`: fetched and deleted by
    // name all the same, and kept as a 16 kHz WAV (RecordingFinished's doubled duration plays no part).
    const wav = readWav(await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`)));
    expect(wav.sampleRate).toBe(16_000);
    expect(await fs.readdir(h.sim.recordingsDir)).toEqual([]);
  }, 60_000);
});
