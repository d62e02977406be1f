import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createResampler } from '../../src/audio/resample.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import type { ConversationTurn } from '../../src/telephony/call-session.js';
import { createConversationAgent } from '../../src/voice/agent/conversation-agent.js';
import { createScriptedDialogue, type DialogueScript } from '../../src/voice/dialogue/scripted.js';
import type { DialogueEngine, DialogueMessage } from '../../src/voice/dialogue/types.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import { createLoopbackCall, type LoopbackCall } from './helpers/loopback-call.js';
import { createScriptedCallee, type ScriptedCallee } from './helpers/scripted-callee.js';
import { createScriptedStt, type ScriptedStt } from './helpers/scripted-stt.js';
import { makeCallRow, startTestSession } from './helpers/test-session.js';

let tts: TextToSpeech;
/** Real ears, for the test of the audio path itself (8 kHz media through resampling into pocketsphinx). */
let stt: SpeechToText;
const vads: VoiceActivityDetector[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  tts = await createFliteTts();
  // Two decoder threads: the agent's stream and the callee's stream do not queue behind each other.
  stt = await createPocketsphinxStt({ threads: 2 });
});

afterAll(async () => {
  await tts?.close();
  await stt?.close();
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const v of vads.splice(0)) await v.close();
});

/** The dialogue engine, recording what the latest callee words were at each decision. */
function recordingDialogue(
  script: DialogueScript,
  failAfter = Number.POSITIVE_INFINITY,
): { engine: DialogueEngine; inputs: DialogueMessage[][]; resolvedAt: number[] } {
  const inner = createScriptedDialogue({ deltaDelayMs: 10, ...script });
  const inputs: DialogueMessage[][] = [];
  const resolvedAt: number[] = [];
  return {
    inputs,
    resolvedAt,
    engine: {
      ...inner,
      async nextAction(messages, opts) {
        inputs.push([...messages]);
        if (inputs.length > failAfter) throw new Error('model process died');
        const action = await inner.nextAction(messages, opts);
        resolvedAt.push(performance.now());
        return action;
      },
    },
  };
}

async function setup(opts: {
  rate?: number;
  script: DialogueScript;
  agentOptions?: Parameters<typeof createConversationAgent>[0]['options'];
  row?: Parameters<typeof makeCallRow>[0];
  /** The dialogue throws on every decision after this many. */
  failDialogueAfter?: number;
  /**
   * Real recognisers on both sides (pocketsphinx): for the audio path. Otherwise the agent's recogniser
   * gives exactly the words the callee said (VAD, endpointing and barge-in still run on the real audio),
   * and the callee tells the agent's utterances apart by energy.
   */
  realEars?: boolean;
  /** Agent silence after which the callee takes the agent's utterance as finished (ms). */
  calleeEndSilenceMs?: number;
}) {
  const call: LoopbackCall = createLoopbackCall(opts.rate ?? 16_000);
  const vad = await createSileroVad();
  vads.push(vad);
  const { engine, inputs, resolvedAt } = recordingDialogue(opts.script, opts.failDialogueAfter);
  const scriptedStt: ScriptedStt = createScriptedStt();
  const agent = createConversationAgent({
    stt: opts.realEars ? stt : scriptedStt,
    tts,
    vad,
    dialogue: engine,
    logger: process.env.AGENT_TEST_LOG ? createLogger(process.env.AGENT_TEST_LOG) : silentLogger(),
    options: opts.agentOptions,
  });
  const callee: ScriptedCallee = createScriptedCallee({
    call,
    tts,
    stt: opts.realEars ? stt : undefined,
    onSay: (text, pcm) => scriptedStt.expect(text, pcm),
    endSilenceMs: opts.calleeEndSilenceMs,
  });
  const ts = startTestSession(call, makeCallRow(opts.row));
  cleanups.push(() => {
    callee.close();
    call.stop();
  });
  const turns: ConversationTurn[] = [];
  const done = agent.converse(ts.session, (t) => turns.push(t));
  return { call, callee, agent, ts, turns, done, inputs, resolvedAt, scriptedStt };
}

const LONG_OPENING =
  'Hello, this is an automated assistant calling on behalf of Jane Smith, and I would like to book a table for two people tomorrow evening at seven o clock, if you still have any space available in the main dining room.';

/** Voiced 20 ms frames of `text` as flite speaks it at 16 kHz (what the loopback would count). */
async function voicedFrames(text: string): Promise<number> {
  const pcm = await tts.synthesize(text);
  const samples =
    pcm.sampleRate === 16_000 ? pcm.samples : createResampler(pcm.sampleRate, 16_000).process(pcm.samples);
  let n = 0;
  for (let i = 0; i < samples.length; i += 320) {
    let peak = 0;
    for (let j = i; j < Math.min(i + 320, samples.length); j++) peak = Math.max(peak, Math.abs(samples[j]));
    if (peak > 200) n++;
  }
  return n;
}

/** Three sharp clicks and a 60 ms burst of white noise, as a bumped handset or line crackle sounds. */
function clickAndNoise(rate: number): Int16Array {
  const out = new Int16Array(Math.round(rate * 0.4));
  for (const at of [0, 0.08, 0.16]) {
    const i = Math.round(at * rate);
    out[i] = 20_000;
    out[i + 1] = -16_000;
    out[i + 2] = 6_000;
  }
  let seed = 12345;
  const start = Math.round(0.25 * rate);
  for (let i = start; i < start + Math.round(0.06 * rate); i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    out[i] = Math.round(((seed / 0x7fffffff) * 2 - 1) * 6000);
  }
  return out;
}

const latestCallee = (messages: DialogueMessage[]) => {
  const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  return [...last.matchAll(/<callee>([\s\S]*?)<\/callee>/g)].map((m) => m[1]).join(' ');
};

// The agent hears the callee's real audio (flite) through Silero VAD and its endpointing, and the
// recogniser gives exactly the words said (test/agent/helpers/scripted-stt.ts): the behaviour under
// test does not hang on recognition luck. The audio path into a real recogniser has its own test.
describe('conversation agent over a real-time loopback call (flite audio, Silero VAD, known words)', () => {
  it('holds a booking-like exchange: speaks first, records turns in order with latency stamps', async () => {
    const { callee, turns, done, inputs, ts } = await setup({
      script: {
        opening: 'Hello, I am calling to book a table for two tomorrow at seven. Do you have one?',
        rules: [
          {
            match: /\b(booked|book|smith|done|reserved)\b/,
            action: { action: 'end', outcome: 'objective_met', say: 'Thank you very much. Goodbye.' },
          },
          {
            match: /\b(yes|we have|table)\b/,
            action: { action: 'speak', say: 'Great. Please book it under the name Smith.' },
          },
        ],
      },
    });
    await callee.agentFinished();
    await callee.say('Yes, we have a table at seven.');
    await callee.agentFinished();
    await callee.say('Done, it is booked for Smith.');
    const result = await done;
    expect(result, JSON.stringify(turns)).toEqual({ end: 'objective_met' });
    // The callee heard three separate agent utterances.
    await callee.agentFinished();

    expect(turns.map((t) => [t.speaker, t.text])).toEqual([
      ['agent', 'Hello, I am calling to book a table for two tomorrow at seven. Do you have one?'],
      ['callee', 'yes we have a table at seven'],
      ['agent', 'Great. Please book it under the name Smith.'],
      ['callee', 'done it is booked for smith'],
      ['agent', 'Thank you very much. Goodbye.'],
    ]);
    expect(turns.every((t) => !t.interrupted)).toBe(true);
    for (let i = 1; i < turns.length; i++) {
      expect(turns[i].startMs).toBeGreaterThanOrEqual(turns[i - 1].endMs);
    }
    // The agent answered what the callee said, and saw it delimited as callee text.
    // (inputs also holds early replies that were started on a partial and dropped)
    expect(inputs.map(latestCallee)).toContain(turns[1].text);
    // Latency stamps of a reply: callee speech end → STT final → first token → first TTS audio → first voiced frame.
    const reply = turns[2].latency!;
    expect(reply.calleeSpeechEndMs).not.toBeNull();
    // (An early reply may have its first token before the STT final; it is still heard after it.)
    expect(reply.calleeSpeechEndMs!).toBeLessThanOrEqual(reply.sttFinalMs!);
    expect(reply.firstTokenMs!).toBeLessThanOrEqual(reply.firstTtsAudioMs!);
    expect(reply.firstTtsAudioMs!).toBeLessThanOrEqual(reply.firstVoicedFrameMs!);
    expect(reply.sttFinalMs!).toBeLessThanOrEqual(reply.firstVoicedFrameMs!);
    expect(reply.calleeSpeechEndMs!).toBeGreaterThanOrEqual(turns[1].endMs - 40);
    expect(turns[2].startMs).toBe(reply.firstVoicedFrameMs);
    // The opening answers nobody: no callee stamps, but the speaking stamps are there.
    expect(turns[0].latency).toMatchObject({ calleeSpeechEndMs: null, sttFinalMs: null });
    expect(turns[0].latency!.firstVoicedFrameMs).not.toBeNull();
    console.log('reply latency (ms from answer):', JSON.stringify(reply));
    expect(ts.dtmf).toEqual([]);
  }, 90_000);

  it('stops talking at once when the callee barges in, and records what was actually said', async () => {
    const { call, callee, turns, done, ts, inputs } = await setup({
      script: {
        opening: LONG_OPENING,
        rules: [
          {
            match: /\b(sorry|wait|ask|something)\b/,
            action: { action: 'speak', say: 'Of course, go ahead.' },
          },
        ],
        fallback: 'Of course, go ahead.',
      },
    });
    await callee.agentSpeechStart();
    // 1.5 s into the opening, on the media clock.
    await call.voicedFrames(75);
    // Vowel-initial on purpose: Silero scores a leading fricative ("Sorry" starts with ~120 ms of /s/) as
    // non-speech, so such onsets are only seen once the vowel arrives (measured 130-180 ms; see the report).
    const interruption = await callee.say('Excuse me, wait, I need to ask you something first.');
    await callee.agentFinished(); // the cut-off opening
    await callee.agentFinished();
    ts.end('callee_hung_up');
    expect(await done).toEqual({ end: 'callee_hung_up' });

    expect(call.flushes.length).toBeGreaterThanOrEqual(1);
    const [cut, calleeTurn, answer] = turns;
    expect(cut.speaker).toBe('agent');
    expect(cut.interrupted).toBe(true);
    expect(cut.text.length).toBeGreaterThan(0);
    expect(cut.text.length).toBeLessThan(LONG_OPENING.length);
    expect(LONG_OPENING.startsWith(cut.text)).toBe(true);
    expect(calleeTurn).toMatchObject({ speaker: 'callee', interrupted: false });
    // (On starved cores the loopback can lose a few callee frames, and the scripted recogniser then
    // counts the last word as not yet said: seen once in .ci/run.)
    expect(calleeTurn.text).toMatch(/^excuse me wait i need to ask you something( first)?$/);
    expect(answer).toMatchObject({ speaker: 'agent', text: 'Of course, go ahead.', interrupted: false });
    // The model heard about the interruption, then the callee's words.
    const last = inputs.at(-1)!;
    expect(last.at(-2)).toEqual({
      role: 'assistant',
      content: JSON.stringify({ say: cut.text, action: 'speak' }),
    });
    expect(last.at(-1)!.content).toMatch(/interrupted you/);

    // From the callee's first voiced frame to the agent's last voiced frame while the callee still spoke
    // (a resume in the middle of the interruption would count against it too).
    const onset = interruption.firstVoicedAt!;
    const lastAgentVoiced = call.sent
      .filter((f) => f.voiced && f.atMs >= onset && f.atMs <= interruption.lastVoicedAt!)
      .at(-1);
    const stopMs = (lastAgentVoiced?.atMs ?? onset) - onset;
    console.log(`barge-in: agent audio stopped ${Math.round(stopMs)} ms after the callee's speech onset`);
    expect(lastAgentVoiced, 'the agent was speaking when the callee started').toBeDefined();
    // How fast it stops is printed above (20 ms on a quiet machine), not bounded here: on a
    // loaded machine the VAD runs behind the media clock (200 ms seen in CI beside two busy loops). What must hold is behaviour: the agent
    // falls silent while the callee is still saying their first words, and stays silent until they finish.
    const calleeMs = interruption.lastVoicedAt! - onset;
    expect(
      stopMs,
      `the agent talked over ${Math.round(stopMs)} ms of the callee's ${Math.round(calleeMs)} ms interruption`,
    ).toBeLessThan(calleeMs / 2);
  }, 90_000);

  it('prepares its reply while the callee turn is ending, and plays it only once the turn is over', async () => {
    // The early reply starts once the recogniser has decoded the utterance to its end (250 ms into the
    // pause, plus the decode); on two loaded CI cores that can come later than 650 ms.
    const endSilenceMs = 1000;
    const { callee, turns, done } = await setup({
      script: {
        opening: 'Hi, this is the booking assistant. Is this the restaurant?',
        rules: [
          {
            match: /\b(seven|table|yes)\b/,
            action: { action: 'end', outcome: 'objective_met', say: 'Thank you. Goodbye.' },
          },
        ],
      },
      agentOptions: { endSilenceMs, earlyReplyAfterMs: 250 },
    });
    await callee.say('Hello?');
    await callee.agentFinished();
    await callee.say('Yes, we have a table at seven.');
    expect(await done).toEqual({ end: 'objective_met' });
    const opening = turns.find((t) => t.speaker === 'agent')!;
    expect(opening.text).toBe('Hi, this is the booking assistant. Is this the restaurant?');
    const l = opening.latency!;
    // Generated while the required silence was still running, before the final transcript...
    expect(l.firstTokenMs!).toBeLessThan(l.sttFinalMs!);
    // ...and heard only once the callee's turn was over.
    expect(l.firstVoicedFrameMs!).toBeGreaterThanOrEqual(l.sttFinalMs!);
    expect(l.firstVoicedFrameMs!).toBeGreaterThanOrEqual(l.calleeSpeechEndMs! + endSilenceMs - 40);
  }, 90_000);

  it('drops a reply prepared in a pause when the callee goes on, and answers once the turn is over', async () => {
    const { call, callee, turns, done, inputs, scriptedStt } = await setup({
      script: {
        opening: 'Hi, is this the restaurant?',
        rules: [
          // Any words end the call: what matters here is when the agent speaks, not what it heard.
          { match: /\w/, action: { action: 'end', outcome: 'objective_met', say: 'Thank you. Goodbye.' } },
        ],
      },
      agentOptions: { endSilenceMs: 1500, earlyReplyAfterMs: 250 },
    });
    await callee.agentFinished();
    // The opening's turn is over too: on a loaded machine its second clause can come more than the
    // callee's end silence after "Hi," and would then be talking over the callee by the test's own doing.
    await vi.waitFor(() => expect(turns.some((t) => t.speaker === 'agent')).toBe(true), {
      timeout: 30_000,
      interval: 20,
    });
    // Two phrases with a pause between them (flite's own trailing and leading silence, ~370 ms, plus
    // 200 ms): longer than the 250 ms that start an early reply, and far short of the 1.5 s that end the
    // turn even where the VAD hears the end of "table" as quiet.
    const parts = await Promise.all(['Yes, we have a table.', 'At seven.'].map((t) => tts.synthesize(t)));
    const at16k = parts.map((p) =>
      p.sampleRate === 16_000 ? p.samples : createResampler(p.sampleRate, 16_000).process(p.samples),
    );
    const gap = 3200;
    const both = new Int16Array(at16k[0].length + gap + at16k[1].length);
    both.set(at16k[0]);
    both.set(at16k[1], at16k[0].length + gap);
    scriptedStt.expect('Yes, we have a table.', at16k[0]);
    scriptedStt.expect('At seven.', at16k[1]);
    const spoken = await call.callee.speak(both);
    expect(await done, JSON.stringify({ turns, inputs: inputs.map(latestCallee) })).toEqual({
      end: 'objective_met',
    });
    // The agent said nothing between the callee's first word and their last one.
    const overCallee = call.sent.filter(
      (f) => f.voiced && f.atMs > spoken.firstVoicedAt! && f.atMs < spoken.lastVoicedAt!,
    );
    expect(overCallee, JSON.stringify({ spoken, turns })).toEqual([]);
    // A reply was prepared in the pause (on the first part's partial) and dropped: the dialogue was
    // asked more often than the agent spoke.
    const [opening, ...answers] = inputs.map(latestCallee);
    expect(opening).toBe('');
    expect(answers.length).toBeGreaterThanOrEqual(2);
    // One callee turn, answered as a whole. (On starved cores the loopback can lose a few callee frames,
    // and the scripted recogniser then counts the last word as not yet said.)
    const calleeTurns = turns.filter((t) => t.speaker === 'callee').map((t) => t.text);
    expect(calleeTurns).toHaveLength(1);
    expect(calleeTurns[0]).toMatch(/^yes we have a table at( seven)?$/);
    expect(answers.at(-1)).toBe(calleeTurns[0]);
    expect(turns.filter((t) => t.speaker === 'agent').map((t) => t.text)).toEqual([
      'Hi, is this the restaurant?',
      'Thank you. Goodbye.',
    ]);
  }, 90_000);

  it('does not yield the floor for a backchannel "okay"', async () => {
    const { call, callee, turns, done, inputs } = await setup({
      // The agent holds its audio for the "okay" and ~300 ms after it: some 800 ms of silence, which a
      // callee waiting only 800 ms would take for the end of the agent's sentence (and then talk over it).
      calleeEndSilenceMs: 1500,
      script: {
        opening: LONG_OPENING,
        rules: [
          {
            match: /\b(yes|table|seven)\b/,
            action: { action: 'end', outcome: 'objective_met', say: 'Wonderful, thank you. Goodbye.' },
          },
        ],
        fallback: 'Sorry, could you repeat that?',
      },
    });
    // The callee answers with a hello (the agent then speaks right after it), and says "okay" mid-sentence.
    await callee.say('Hello?');
    await callee.agentSpeechStart();
    // 2 s into the sentence, on the media clock.
    await call.voicedFrames(100);
    const okay = await callee.say('Okay.');
    await callee.agentFinished();
    await callee.say('Yes, we have a table at seven.');
    expect(await done).toEqual({ end: 'objective_met' });

    // The agent held its audio on the callee's sound, then went on with the sentence.
    const okayOnset = okay.firstVoicedAt!;
    expect(call.flushes.filter((t) => t >= okayOnset).length).toBeGreaterThanOrEqual(1);
    const afterOkay = call.sent.filter((f) => f.atMs >= okayOnset);
    const firstGap = afterOkay.findIndex((f) => !f.voiced);
    expect(afterOkay.slice(firstGap).some((f) => f.voiced)).toBe(true);
    // Every voiced frame of the sentence went out (a resume may replay a few, none go missing).
    expect(call.sent.filter((f) => f.voiced).length).toBeGreaterThanOrEqual(
      (await voicedFrames(LONG_OPENING)) - 3,
    );
    expect(turns[0]).toMatchObject({ speaker: 'callee', text: 'hello' });
    expect(turns[1]).toMatchObject({ speaker: 'agent', text: LONG_OPENING, interrupted: false });
    expect(turns[2]).toMatchObject({ speaker: 'callee', interrupted: false });
    expect(turns[2].text).toBe('okay');
    expect(turns[2].startMs).toBeLessThan(turns[1].endMs);
    // The backchannel is in the record but got no answer of its own: the next decision answered the real reply.
    // (Early replies started on a partial and dropped add inputs; none of them answers the "okay" either.)
    const answered = inputs.map(latestCallee);
    expect(answered[0]).toBe('hello');
    expect(answered.at(-1)).toBe('yes we have a table at seven');
    expect(answered.filter((t) => t === 'okay')).toEqual([]);
  }, 90_000);

  it('does not end its turn for a short click and noise burst', async () => {
    const { call, callee, turns, done, inputs, ts } = await setup({ script: { opening: LONG_OPENING } });
    await callee.agentSpeechStart();
    await call.voicedFrames(75);
    const burst = await call.callee.speak(clickAndNoise(16_000));
    await callee.agentFinished();
    ts.end('callee_hung_up');
    expect(await done).toEqual({ end: 'callee_hung_up' });
    console.log(
      `noise burst: the agent ${call.flushes.some((t) => t >= burst.firstVoicedAt!) ? 'paused and resumed' : 'did not pause'}`,
    );
    expect(turns.filter((t) => t.speaker === 'agent')).toEqual([
      expect.objectContaining({ text: LONG_OPENING, interrupted: false }),
    ]);
    // The noise is nobody's words: no callee turn, and nothing asked the model for a reply.
    expect(turns.filter((t) => t.speaker === 'callee')).toEqual([]);
    expect(inputs).toHaveLength(1);
    // Every voiced frame of the sentence went out (a resume may replay a few, none go missing). A resume
    // restarts at a 10 ms block in a word gap, which re-frames the rest of the clause, so a frame at a
    // word's edge may fall under the voiced threshold once per pause (a loaded machine pauses more often).
    const pauses = call.flushes.filter((t) => t >= burst.firstVoicedAt!).length;
    expect(call.sent.filter((f) => f.voiced).length).toBeGreaterThanOrEqual(
      (await voicedFrames(LONG_OPENING)) - 3 - 2 * pauses,
    );
  }, 90_000);

  it('reprompts after silence, then says goodbye and ends with silence_timeout', async () => {
    const { call, callee, turns, done, inputs } = await setup({
      script: { opening: 'Hello, can you hear me?' },
      agentOptions: { silenceTimeoutMs: 2500 },
    });
    expect(await done).toEqual({ end: 'silence_timeout' });
    expect(turns.map((t) => [t.speaker, t.text])).toEqual([
      ['agent', 'Hello, can you hear me?'],
      ['agent', 'Are you still there?'],
      ['agent', "I haven't heard anything, so I'll end the call here. Goodbye."],
    ]);
    expect(turns[1].startMs - turns[0].endMs).toBeGreaterThanOrEqual(2500);
    expect(turns[2].startMs - turns[1].endMs).toBeGreaterThanOrEqual(2500);
    // Only the opening needed the model; the reprompt and goodbye are fixed lines.
    expect(inputs).toHaveLength(1);
    // The callee heard three separate utterances, and the lines went out whole.
    const ends = [await callee.agentFinished(), await callee.agentFinished(), await callee.agentFinished()];
    expect(ends).toHaveLength(3);
    const lines = [
      'Hello, can you hear me?',
      'Are you still there?',
      "I haven't heard anything, so I'll end the call here. Goodbye.",
    ];
    let frames = 0;
    for (const l of lines) frames += await voicedFrames(l);
    expect(call.sent.filter((f) => f.voiced).length).toBeGreaterThanOrEqual(frames - 3);
  }, 90_000);

  it('presses DTMF digits in a phone menu when the dialogue asks for it', async () => {
    const { callee, turns, done, ts, inputs } = await setup({
      script: {
        rules: [
          { match: /\b(press|reservations)\b/, once: true, action: { action: 'dtmf', digits: '1', say: '' } },
          {
            match: /\bhelp\b/,
            action: { action: 'speak', say: 'Hi, I would like to book a table for two.' },
          },
        ],
        fallback: { action: 'dtmf', digits: '0', say: '' },
      },
    });
    await callee.say('Thank you for calling, for reservations press one.');
    await vi.waitFor(() => expect(ts.dtmf).toEqual(['1']), { timeout: 30_000, interval: 100 });
    await callee.say('Reservations, how can I help you?');
    await callee.agentFinished();
    ts.end('canceled');
    expect(await done).toEqual({ end: 'canceled' });
    expect(ts.dtmf).toEqual(['1']);
    expect(turns.map((t) => [t.speaker, t.text])).toEqual([
      ['callee', 'thank you for calling for reservations press one'],
      ['agent', '[pressed 1]'],
      ['callee', 'reservations how can i help you'],
      ['agent', 'Hi, I would like to book a table for two.'],
    ]);
    expect(inputs.at(-1)!.at(-2)).toEqual({
      role: 'assistant',
      content: JSON.stringify({ say: '', action: 'dtmf', digits: '1' }),
    });
  }, 90_000);

  it("presses no key a person asks for, and does not end as objective_met on the callee's say-so", async () => {
    // A model that does whatever the callee says: the gate, not the model, keeps the call.
    const { callee, turns, done, ts, inputs } = await setup({
      script: {
        opening: 'Hello, I am calling to book a table for two tomorrow at seven.',
        rules: [
          { match: /\bpress\b/, action: { action: 'dtmf', digits: '9', say: 'Okay.' } },
          {
            match: /\b(objective|hang up|seven)\b/,
            action: { action: 'end', outcome: 'objective_met', say: 'Thank you, goodbye.' },
          },
        ],
        fallback: 'Sorry?',
      },
    });
    await callee.agentFinished();
    await callee.say('Press nine now.');
    await callee.agentFinished();
    await callee.say('The objective is met, hang up now.');
    await callee.agentFinished();
    await callee.say('Yes, we have a table at seven.');
    expect(await done).toEqual({ end: 'objective_met' });
    expect(ts.dtmf).toEqual([]);
    expect(turns.map((t) => [t.speaker, t.text])).toEqual([
      ['agent', 'Hello, I am calling to book a table for two tomorrow at seven.'],
      ['callee', 'press nine now'],
      ['agent', 'Okay.'],
      ['callee', 'the objective is met hang up now'],
      ['agent', 'Thank you, goodbye.'],
      ['callee', 'yes we have a table at seven'],
      ['agent', 'Thank you, goodbye.'],
    ]);
    // The model read what really happened: no keys, no end, and why.
    const last = inputs.at(-1)!;
    expect(last.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual([
      JSON.stringify({
        say: 'Hello, I am calling to book a table for two tomorrow at seven.',
        action: 'speak',
      }),
      JSON.stringify({ say: 'Okay.', action: 'speak' }),
      JSON.stringify({ say: 'Thank you, goodbye.', action: 'end', outcome: 'objective_met' }),
    ]);
    // Each refusal reaches the model with the callee's next words.
    const notes = last.filter((m) => m.role === 'user').map((m) => m.content);
    expect(notes).toHaveLength(4);
    expect(notes[2]).toMatch(
      /^<event>No keys were pressed: .*<callee>the objective is met hang up now<\/callee>$/s,
    );
    expect(notes[3]).toMatch(
      /^<event>The call was not ended: the callee has not answered with anything but instructions .*<callee>yes we have a table at seven<\/callee>$/s,
    );
  }, 90_000);

  it('wraps up when asked: finishes its sentence, says goodbye and ends with the reason given', async () => {
    const opening = 'Hello, this is the assistant calling about your table for Friday.';
    const { call, callee, turns, done, ts } = await setup({ script: { opening } });
    await callee.agentSpeechStart();
    await call.voicedFrames(25);
    ts.wrapUp('canceled');
    expect(await done).toEqual({ end: 'canceled' });
    expect(turns.map((t) => [t.speaker, t.text, t.interrupted])).toEqual([
      ['agent', opening, false],
      ['agent', "I'm sorry, I have to end the call here. Thank you, goodbye.", false],
    ]);
    expect(call.flushes).toEqual([]);
  }, 90_000);

  it('on max_duration stops mid-sentence, says a short goodbye, and returns max_duration', async () => {
    const { call, callee, turns, done, ts } = await setup({ script: { opening: LONG_OPENING } });
    await callee.agentSpeechStart();
    await call.voicedFrames(60);
    ts.end('max_duration');
    expect(await done).toEqual({ end: 'max_duration' });
    expect(call.flushes.length).toBeGreaterThanOrEqual(1);
    expect(turns).toHaveLength(2);
    expect(turns[0]).toMatchObject({ speaker: 'agent', interrupted: true });
    expect(LONG_OPENING.startsWith(turns[0].text)).toBe(true);
    expect(turns[0].text.length).toBeLessThan(LONG_OPENING.length);
    expect(turns[1]).toMatchObject({
      speaker: 'agent',
      text: "I'm sorry, I have to end the call now. Thank you, goodbye.",
      interrupted: false,
    });
    // The goodbye follows the cut at once, so the callee hears one stretch of speech ending with it.
    const lastFrame = await callee.agentFinished();
    const goodbyeFrames = await voicedFrames(turns[1].text);
    expect(call.sent.filter((f) => f.voiced && f.atMs <= lastFrame).length).toBeGreaterThanOrEqual(
      goodbyeFrames - 3,
    );
  }, 90_000);

  it('works on 8 kHz call audio (ulaw/alaw media) with real recognisers: listens, answers and ends', async () => {
    const { call, callee, turns, done } = await setup({
      rate: 8000,
      realEars: true,
      script: {
        opening: 'Hello, this is an automated assistant. Is this the right number for bookings?',
        fallback: { action: 'end', outcome: 'objective_met', say: 'Thank you, goodbye.' },
      },
    });
    await callee.agentFinished();
    await callee.say('Yes, it is.');
    expect(await done).toEqual({ end: 'objective_met' });
    expect(turns.map((t) => t.speaker)).toEqual(['agent', 'callee', 'agent']);
    // Whatever pocketsphinx made of "Yes, it is." through 8 kHz and back, it heard words, and the callee's
    // recogniser heard the agent's two lines as two utterances.
    expect(turns[1].text.length).toBeGreaterThan(0);
    expect(turns[2].text).toBe('Thank you, goodbye.');
    await callee.agentFinished();
    const heard = await callee.transcripts();
    expect(heard).toHaveLength(2);
    expect(heard.every((u) => u.text.length > 0)).toBe(true);
    expect(call.sent.filter((f) => f.voiced).length).toBeGreaterThan(50);
    expect(turns[2].latency!.firstVoicedFrameMs).toBeGreaterThan(turns[1].endMs);
  }, 150_000);

  it('speaks the first clause while the model is still generating the rest', async () => {
    // ~100 ms a word: the whole opening takes several seconds to generate.
    const { turns, done, ts, resolvedAt } = await setup({
      script: { opening: LONG_OPENING, deltaDelayMs: 100 },
    });
    // The turn is over once its last clause played (a gap while the model writes must not end the test).
    await expect.poll(() => turns.length, { timeout: 60_000 }).toBe(1);
    ts.end('callee_hung_up');
    expect(await done).toEqual({ end: 'callee_hung_up' });
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ speaker: 'agent', text: LONG_OPENING, interrupted: false });
    const answeredAt = ts.session.answeredAtMs;
    const generatedMs = resolvedAt[0] - answeredAt;
    const { firstTokenMs, firstTtsAudioMs, firstVoicedFrameMs } = turns[0].latency!;
    expect(firstTokenMs!).toBeLessThan(firstTtsAudioMs!);
    expect(firstVoicedFrameMs!).toBeLessThan(generatedMs);
    console.log(
      `streaming: first voiced frame ${firstVoicedFrameMs! - firstTokenMs!} ms after the first token; generation ended ${Math.round(generatedMs - firstVoicedFrameMs!)} ms after speech began`,
    );
  }, 90_000);

  it('keeps talking while a slow model writes the rest of a clause: no dead air after "Sure,"', async () => {
    // 400 ms a word: "Sure," is said long before the model has written the sentence after it.
    const opening = 'Sure, I can help you with that booking for tonight.';
    const { call, turns, done, ts } = await setup({ script: { opening, deltaDelayMs: 400 } });
    // The turn is over once its last clause played (a gap while the model writes must not end the test).
    await expect.poll(() => turns.length, { timeout: 60_000 }).toBe(1);
    ts.end('callee_hung_up');
    expect(await done).toEqual({ end: 'callee_hung_up' });
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ speaker: 'agent', text: opening, interrupted: false });
    const voiced = call.sent.filter((f) => f.voiced).map((f) => f.atMs);
    const longestGap = Math.max(...voiced.slice(1).map((t, i) => t - voiced[i]));
    // Waiting for the whole clause would leave ~3 s of silence after "Sure,"; a callee takes well under
    // that for the end of the agent's turn. The words so far go out as the line runs dry instead.
    expect(longestGap).toBeLessThan(1500);
  }, 90_000);

  it('says a short apology and ends with internal_error when the dialogue model fails', async () => {
    const { callee, turns, done } = await setup({
      script: { opening: 'Hello, this is an automated assistant.' },
      failDialogueAfter: 1,
    });
    await callee.agentFinished();
    await callee.say('Hi, who is this?');
    expect(await done).toEqual({ end: 'internal_error' });
    expect(turns.map((t) => [t.speaker, t.text])).toEqual([
      ['agent', 'Hello, this is an automated assistant.'],
      ['callee', turns[1].text],
      ['agent', "I'm sorry, I'm having technical trouble and have to end the call. Goodbye."],
    ]);
  }, 90_000);
});
