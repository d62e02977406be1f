import fs from 'node:fs/promises';
import path from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callTurns } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import type { ConversationAgent } from '../../src/telephony/call-session.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
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

/** scenarios/business-greeting.json: a 4 s greeting that AMD (sim) calls MACHINE after 2 s, then no beep. */
const BUSINESS = '+14155550140';
const BOOKING = 'Hi, I would like to book a table for dinner tonight.';
const VOICEMAIL_MESSAGE = 'This is a voicemail message about your booking, please call us back.';

/**
 * What the callee says from the moment of answer, while AMD() still listens in the dialplan, reaches
 * the agent, the transcript and the recording; a business whose long greeting AMD takes for a machine
 * gets an answer to its question, not a wait for a beep.
 */
describe('the opening of an answered call is heard from the moment of answer', () => {
  let engines: Engines;
  let before: Record<string, number>;
  /** chan_websocket (slin16): 16 kHz audio, which the agent's recogniser (pocketsphinx) needs. */
  let h: Harness;
  let agent: ConversationAgent;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    // Warm the engines: a cold first synthesis or decode on a loaded machine can outlast the 3 s the
    // hanging-up callee gives its hello.
    await engines.tts.synthesize('Hello?');
    const warm = engines.stt.createStream();
    warm.write(new Int16Array(engines.stt.sampleRate / 2));
    await warm.finish();
    warm.close();
    agent = createConversationAgent({
      stt: engines.stt,
      tts: engines.tts,
      vad: await createSileroVad(),
      createVad: () => createSileroVad(),
      // One reply to whatever was heard, then the call ends: the tests look at the opening only (the
      // callee's recogniser on a loaded machine may take many seconds to answer it).
      dialogue: createScriptedDialogue({
        deltaDelayMs: 10,
        fallback: { action: 'end', outcome: 'objective_impossible', say: BOOKING },
      }),
      logger: silentLogger(),
    });
    h = await startHarness({
      engines,
      agent,
      env: { MEDIA_TRANSPORT: 'websocket' },
    });
  }, 120_000);
  afterEach(async () => {
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

  const turnsOf = (id: string) =>
    h.db.db.select().from(callTurns).where(eq(callTurns.callId, id)).orderBy(asc(callTurns.seq));

  it('a callee who says "Hello?" during AMD and hangs up 3 s after answer: the hello is in the transcript and the recording', async () => {
    h.setAgent(agent);
    const id = await h.place(NUMBERS.hangsUp);
    const call = await h.waitFor(id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    const turns = await turnsOf(id);
    const calleeWords = turns
      .filter((t) => t.speaker === 'callee')
      .map((t) => t.text)
      .join(' ');
    const why = JSON.stringify({ turns, log: h.sim.calleeLog(NUMBERS.hangsUp) });
    expect(calleeWords.toLowerCase(), why).toContain('hello');
    expect(call.transcript ?? '').toMatch(/hello/i);

    // The recording runs from answer to the hangup (3 s; one started after AMD's 2 s, as before, had
    // under one), and its first two seconds (AMD's, when only the callee can be heard: the agent may
    // not speak yet) hold the callee's hello.
    expect(call.recordingFile).toBe(`${id}.wav`);
    const wav = readWav(await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`)));
    expect(wav.samples.length / wav.sampleRate).toBeGreaterThan(2);
    const frame = wav.sampleRate / 50;
    let voicedMs = 0;
    for (let i = 0; i + frame <= Math.min(wav.samples.length, 1.9 * wav.sampleRate); i += frame) {
      let e = 0;
      for (let k = i; k < i + frame; k++) e += wav.samples[k] * wav.samples[k];
      if (Math.sqrt(e / frame) > 500) voicedMs += 20;
    }
    expect(voicedMs).toBeGreaterThanOrEqual(200);
  }, 90_000);

  it('a business greeting that AMD calls MACHINE, and no beep: the agent answers the question it heard, soon after the greeting', async () => {
    h.setAgent(agent);
    const id = await h.place(BUSINESS, {
      voicemail: { action: 'leave_message', message: VOICEMAIL_MESSAGE },
    });
    const call = await h.waitFor(id, undefined, 120_000);
    const turns = await turnsOf(id);
    const log = h.sim.calleeLog(BUSINESS);
    const why = JSON.stringify({ turns, log });
    expect({ status: call.status, endedReason: call.endedReason }, why).toEqual({
      status: 'completed',
      endedReason: 'objective_impossible',
    });

    // The greeting is in the transcript: everything before the agent's first words is the callee's.
    const firstAgent = turns.findIndex((t) => t.speaker === 'agent');
    expect(firstAgent, why).toBeGreaterThan(0);
    const greeting = turns.slice(0, firstAgent);
    expect(greeting.every((t) => t.speaker === 'callee')).toBe(true);
    const heard = greeting.map((t) => t.text.toLowerCase()).join(' ');
    const known = ['hello', 'this', 'is', 'restaurant', 'how', 'can', 'help', 'you', 'today'];
    expect(known.filter((w) => heard.split(/\s+/).includes(w)).length, heard).toBeGreaterThanOrEqual(3);

    // The agent's first turn answers that greeting (its latency is measured from the greeting's end),
    // with its reply, not the voicemail message, and within a normal reply time: it speaks once the
    // quiet that tells a waiting business from a voicemail (1 s) has passed and its recogniser has the
    // words, after no more than a reply's own time (model, first clause's speech), generously bounded
    // here because a loaded test machine can delay the recogniser by seconds.
    const reply = turns[firstAgent];
    expect(reply.text).toBe(BOOKING);
    const greetingEnd = greeting.at(-1)?.endMs ?? 0;
    expect(reply.latency?.calleeSpeechEndMs, why).toBe(greetingEnd);
    const couldReplyAt = Math.max(greetingEnd + 1000, reply.latency?.sttFinalMs ?? greetingEnd);
    expect(reply.startMs - couldReplyAt, why).toBeLessThan(3000);
    expect(call.transcript).not.toContain(VOICEMAIL_MESSAGE);
  }, 150_000);

  it('when Asterisk refuses the snoop channel, the callee itself is bridged and the call goes on as before', async () => {
    h.setAgent(agent);
    h.sim.impair({
      failRequests: { 'POST /channels/{channelId}/snoop': { status: 500, message: 'Internal Server Error' } },
    });
    const entered: string[] = [];
    const off = h.ari.on('StasisStart', (ev) => entered.push(ev.channel.name));
    try {
      const id = await h.place(NUMBERS.hangsUp);
      const call = await h.waitFor(id, undefined, 60_000);
      // No snoop channel ever came up: the refusal was met.
      expect(entered.filter((n) => n.startsWith('Snoop/'))).toEqual([]);
      expect(entered.some((n) => n.startsWith('PJSIP/'))).toBe(true);
      expect({ status: call.status, endedReason: call.endedReason }).toEqual({
        status: 'completed',
        endedReason: 'callee_hung_up',
      });
      expect(call.recordingFile).toBe(`${id}.wav`);
    } finally {
      off();
      h.sim.impair({});
    }
  }, 90_000);
});
