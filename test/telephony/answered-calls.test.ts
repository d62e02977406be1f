import fs from 'node:fs/promises';
import path from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callTurns } from '../../src/db/schema.js';
import { BeepDetector } from '../../src/telephony/voicemail/beep-detector.js';
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

const AGENT_TONE_HZ = 700;

describe('answered calls through the controller, the ARI client and the simulated PBX', () => {
  let engines: Engines;
  let before: Record<string, number>;
  /** RTP with ulaw, the default media path. */
  let h: Harness;
  /** chan_websocket with slin16: 16 kHz audio, which the callee's speech recogniser needs to follow a conversation. */
  let hw: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' });
    h = await startHarness({ engines, agent, settings: { goodbyeGraceMs: 4000 } });
    hw = await startHarness({ engines, agent, env: { MEDIA_TRANSPORT: 'websocket' } });
  }, 120_000);
  afterEach(async () => {
    for (const x of [h, hw]) {
      await until(
        'the PBX to be empty',
        () => x.sim.channels().length === 0 && x.sim.bridges().length === 0,
        10_000,
      );
      // The runner lets go of a call just after the call's end is stored.
      await until('the runner to finish its calls', () => x.runner.activeCalls() === 0, 10_000);
    }
  });
  afterAll(async () => {
    await h?.close();
    await hw?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  const turnsOf = (id: string, x: Harness = h) =>
    x.db.db.select().from(callTurns).where(eq(callTurns.callId, id)).orderBy(asc(callTurns.seq));

  it('a conversation the agent ends (WebSocket media): completed/objective_met, turns, summary, and a recording of both parties', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [
        { listen: { maxMs: 8000 } },
        { say: 'Hi, I would like to book a table for dinner.' },
        // The host transcribes before it answers; on a loaded machine that takes a while.
        { listen: { maxMs: 90_000 } },
        { tone: { hz: AGENT_TONE_HZ, ms: 1000 } },
      ],
      afterScript: 'objective_met',
    });
    hw.setAgent(agent);
    const id = await hw.place(NUMBERS.restaurant);
    const call = await hw.waitFor(id, undefined, 140_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    expect(call.summary).toContain('turns about');
    expect(call.extracted).toEqual({ confirmed: null });
    expect(await hw.webhookEvents(id)).toEqual(['call.completed', 'call.in_progress']);

    const turns = await turnsOf(id, hw);
    expect(
      turns.map((t) => t.speaker),
      JSON.stringify(hw.sim.calleeLog(NUMBERS.restaurant)),
    ).toEqual(['callee', 'agent', 'callee']);
    expect(call.transcript).toContain('Agent: Hi, I would like to book a table for dinner.');
    // The host heard the agent through the media path and answered the booking request.
    const log = hw.sim.calleeLog(NUMBERS.restaurant).filter((e) => e.kind === 'said');
    expect(log.map((e) => e.text)).toContain('Of course. For how many people?');

    // The mixed recording: the agent's tone and the callee's voice are both in it, and it spans the call.
    expect(call.recordingFile).toBe(`${id}.wav`);
    const wav = readWav(await fs.readFile(path.join(hw.config.recordingsDir, `${id}.wav`)));
    const frame = wav.sampleRate / 50;
    const tone = new BeepDetector({ sampleRate: wav.sampleRate, minHz: 600, maxHz: 800, minDurationMs: 500 });
    let toneAt: number | null = null;
    let loudFramesBeforeTone = 0;
    for (let i = 0; i + frame <= wav.samples.length; i += frame) {
      const f = wav.samples.subarray(i, i + frame);
      const hit = tone.push(f);
      if (hit && toneAt === null) toneAt = hit.startMs;
      if (toneAt === null) {
        let e = 0;
        for (const s of f) e += s * s;
        if (Math.sqrt(e / f.length) > 500) loudFramesBeforeTone++;
      }
    }
    expect(toneAt).not.toBeNull();
    // Before the tone: the agent's sentence and the host's reply, so clearly more sound than the agent made.
    const agentTurn = turns.find((t) => t.speaker === 'agent');
    const agentMs = (agentTurn?.endMs ?? 0) - (agentTurn?.startMs ?? 0);
    expect(loudFramesBeforeTone * 20).toBeGreaterThan(agentMs + 1000);
    const recordedSeconds = wav.samples.length / wav.sampleRate;
    const callSeconds = ((call.endedAt?.getTime() ?? 0) - (call.startedAt?.getTime() ?? 0)) / 1000;
    const sinceDialSeconds = ((call.endedAt?.getTime() ?? 0) - (call.dialedAt?.getTime() ?? 0)) / 1000;
    // The recording starts at answer (AMD's seconds, before the call is in progress, included) and ends
    // at hangup: at least the call in progress, less a second for a loaded machine delaying the PBX's
    // media clock, and no longer than the time since dialling (it has no ringing in it).
    expect(recordedSeconds).toBeGreaterThanOrEqual(callSeconds - 1);
    expect(recordedSeconds).toBeLessThanOrEqual(sinceDialSeconds);
  }, 180_000);

  it('the callee hangs up mid-call: completed/callee_hung_up with summary and recording', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ listen: { maxMs: 5000 } }],
      afterScript: 'hold',
    });
    h.setAgent(agent);
    const id = await h.place(NUMBERS.hangsUp);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    expect(agent.ends.map((e) => e.end)).toEqual(['callee_hung_up']);
    expect(agent.summarized).toBe(1);
    expect(call.summary).not.toBeNull();
    expect(call.recordingFile).toBe(`${id}.wav`);
    await fs.access(path.join(h.config.recordingsDir, `${id}.wav`));
    expect(await h.webhookEvents(id)).toEqual(['call.completed', 'call.in_progress']);
  }, 60_000);

  it('an IVR (AMD says MACHINE, no beep) goes to the agent, whose DTMF reaches the menu', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ dtmf: '1' }, { listen: { maxMs: 10_000 } }, { listen: { maxMs: 10_000 } }],
      afterScript: 'objective_met',
    });
    h.setAgent(agent);
    const id = await h.place(NUMBERS.ivr);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    const log = h.sim.calleeLog(NUMBERS.ivr);
    expect(log.filter((e) => e.kind === 'dtmf').map((e) => e.text)).toEqual(['1']);
    expect(log.some((e) => e.kind === 'said' && e.text.includes('Please hold'))).toBe(true);
  }, 90_000);

  it('max duration ends the call cleanly after the agent says goodbye', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [],
      afterScript: 'hold',
      goodbye: 'I am sorry, we are out of time. Goodbye.',
    });
    h.setAgent(agent);
    const id = await h.place(NUMBERS.restaurant, { maxDurationSeconds: 3 });
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'max_duration',
    });
    expect(agent.ends.map((e) => e.end)).toEqual(['max_duration']);
    const turns = await turnsOf(id);
    expect(turns.at(-1)).toMatchObject({
      speaker: 'agent',
      text: 'I am sorry, we are out of time. Goodbye.',
      interrupted: false,
    });
  }, 60_000);

  it('cancel while talking hangs up and ends failed/canceled', async () => {
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' });
    h.setAgent(agent);
    const id = await h.place(NUMBERS.restaurant);
    await h.waitFor(id, 'in_progress');
    await h.cancel(id);
    await until('the call to be torn down', () => h.runner.activeCalls() === 0, 15_000);
    const call = await h.get(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'canceled',
    });
    expect(agent.ends.map((e) => e.end)).toEqual(['canceled']);
    expect(await h.webhookEvents(id)).toEqual(['call.failed', 'call.in_progress']);
  }, 60_000);
});
