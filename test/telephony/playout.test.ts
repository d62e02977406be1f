import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scenario } from '../../src/pbx-sim/scenario.js';
import type { CallSession, ConversationAgent } from '../../src/telephony/call-session.js';
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

// The agent's audio is handed to the PBX, which queues and paces it: a call the agent ends must stay
// up until the PBX has played all of it, or the last words are cut from the callee's ear and the
// recording. The simulated PBX mixes each tick once, handing the same frame to the callee and to the
// bridge recording, so with a callee who says nothing the recording is exactly what the callee heard
// while the line was up.

/** Answers at once, takes no time for AMD, and says nothing (its frames are silence). */
const SILENT = '+14155550197';
const SILENT_CALLEE: Scenario = {
  number: SILENT,
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', analysisMs: 0 },
  transcribe: false,
  states: { start: {} },
};

const TONE_HZ = 700;
const TONE_MS = 1000;
const AMPLITUDE = 8000;

function tone(rate: number): Int16Array {
  const n = (rate * TONE_MS) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(AMPLITUDE * Math.sin((2 * Math.PI * TONE_HZ * i) / rate));
  return out;
}

/** Blocks the event loop (the agent's, the media's and the simulated PBX's) as a saturated CPU would. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

/**
 * Plays a one-second tone as its last words and ends the call as soon as the play resolves (all of it
 * sent). With `stalls`, the event loop blocks 300 ms at those frames, so the audio after each stall
 * leaves in a burst; the last one is two frames from the end, so the tone's tail reaches the PBX late.
 */
function toneAgent(stalls: readonly number[]): ConversationAgent & { played: { completed: boolean }[] } {
  const played: { completed: boolean }[] = [];
  return {
    played,
    async converse(session: CallSession) {
      let sent = 0;
      const off = session.audio.onFrameSent(({ voiced }) => {
        if (voiced && stalls.includes(++sent)) stall(300);
      });
      played.push(await session.audio.play(tone(session.audio.sampleRate)));
      off();
      return { end: 'objective_met' };
    },
    async summarize() {
      return { summary: 'A tone.', extracted: null };
    },
  };
}

/** Holds the line until max duration, then plays the tone as its goodbye (after a stall) and ends. */
function goodbyeAtMaxDuration(): ConversationAgent & { played: { completed: boolean }[] } {
  const played: { completed: boolean }[] = [];
  return {
    played,
    async converse(session: CallSession) {
      if (!session.signal.aborted)
        await new Promise((r) => session.signal.addEventListener('abort', r, { once: true }));
      let sent = 0;
      const off = session.audio.onFrameSent(({ voiced }) => {
        if (voiced && ++sent === 48) stall(300);
      });
      played.push(await session.audio.play(tone(session.audio.sampleRate)));
      off();
      return { end: 'max_duration' };
    },
    async summarize() {
      return { summary: 'Out of time.', extracted: null };
    },
  };
}

/** The tone's energy in the recording, as a share of the energy the agent played. */
function toneEnergyShare(wav: { sampleRate: number; samples: Int16Array }): number {
  let e = 0;
  for (const s of wav.samples) e += s * s;
  const n = (wav.sampleRate * TONE_MS) / 1000;
  return e / ((n * AMPLITUDE * AMPLITUDE) / 2);
}

describe("the agent's last words are played out before the line is hung up", () => {
  let engines: Engines;
  let before: Record<string, number>;
  const harnesses: Record<'rtp' | 'websocket', Harness> = {} as never;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    for (const transport of ['rtp', 'websocket'] as const) {
      harnesses[transport] = await startHarness({
        engines,
        agent: toneAgent([]),
        env: { MEDIA_TRANSPORT: transport },
        scenarios: [SILENT_CALLEE],
      });
    }
  }, 120_000);
  afterAll(async () => {
    for (const h of Object.values(harnesses)) await h.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 60_000);

  for (const transport of ['rtp', 'websocket'] as const) {
    for (const stalls of [[], [10, 20, 30, 40, 48]]) {
      const how = stalls.length ? 'after event-loop stalls that send it in bursts' : 'on a steady clock';
      it(`${transport}: a tone played just before the agent ends is whole in the recording, ${how}`, async () => {
        const h = harnesses[transport];
        const agent = toneAgent(stalls);
        h.setAgent(agent);
        const id = await h.place(SILENT);
        const call = await h.waitFor(id);
        expect({ status: call.status, endedReason: call.endedReason }).toEqual({
          status: 'completed',
          endedReason: 'objective_met',
        });
        expect(agent.played).toEqual([{ completed: true, playedMs: TONE_MS }]);
        expect(call.recordingFile).toBe(`${id}.wav`);
        const wav = readWav(await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`)));
        // Each 20 ms frame cut off would take 2 % of the tone's energy away.
        expect(toneEnergyShare(wav)).toBeGreaterThan(0.99);
        await until('the PBX to be empty', () => h.sim.channels().length === 0, 10_000);
      }, 60_000);
    }

    it(`${transport}: the goodbye said at max duration is whole in the recording`, async () => {
      const h = harnesses[transport];
      const agent = goodbyeAtMaxDuration();
      h.setAgent(agent);
      const id = await h.place(SILENT, { maxDurationSeconds: 1 });
      const call = await h.waitFor(id);
      expect({ status: call.status, endedReason: call.endedReason }).toEqual({
        status: 'completed',
        endedReason: 'max_duration',
      });
      expect(agent.played).toEqual([{ completed: true, playedMs: TONE_MS }]);
      const wav = readWav(await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`)));
      expect(toneEnergyShare(wav)).toBeGreaterThan(0.99);
      await until('the PBX to be empty', () => h.sim.channels().length === 0, 10_000);
    }, 60_000);
  }
});
