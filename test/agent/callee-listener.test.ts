import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createResampler } from '../../src/audio/resample.js';
import { silentLogger } from '../../src/logger.js';
import {
  type CalleeUtterance,
  createCalleeListener,
  type ListenerOptions,
} from '../../src/voice/agent/callee-listener.js';
import { endSilenceFor } from '../../src/voice/agent/turn-end.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';
import { createLoopbackCall } from './helpers/loopback-call.js';

let tts: TextToSpeech;
let stt: SpeechToText;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  tts = await createFliteTts();
  stt = await createPocketsphinxStt();
});
afterAll(async () => {
  await tts?.close();
  await stt?.close();
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const options = {
  positiveThreshold: 0.5,
  negativeThreshold: 0.35,
  minSpeechMs: 96,
  endSilenceMs: 650,
  prerollMs: 300,
  maxUtteranceMs: 30_000,
};

async function listenTo(rate: number, extra: Partial<ListenerOptions> = {}) {
  const call = createLoopbackCall(rate);
  const vad = await createSileroVad();
  const stream = stt.createStream();
  const utterances: CalleeUtterance[] = [];
  const starts: number[] = [];
  const listener = createCalleeListener({
    audio: call.audio,
    vad,
    stt: stream,
    sttRate: stt.sampleRate,
    logger: silentLogger(),
    options: { ...options, ...extra },
    events: {
      onSpeechStart: (at) => starts.push(at),
      onSpeechProgress() {},
      onUtterance: (u) => utterances.push(u),
    },
  });
  cleanups.push(async () => {
    listener.stop();
    call.stop();
    stream.close();
    await vad.close();
  });
  call.start();
  const say = async (text: string) => {
    const pcm = await tts.synthesize(text);
    const samples =
      rate === pcm.sampleRate ? pcm.samples : createResampler(pcm.sampleRate, rate).process(pcm.samples);
    return call.callee.speak(samples);
  };
  return { say, listener, utterances, starts };
}

/** Waits until the listener has delivered `n` utterances (their end silence ran out on the media clock). */
const heardUtterances = (utterances: CalleeUtterance[], n: number) =>
  expect.poll(() => utterances.length, { timeout: 30_000 }).toBe(n);

describe('callee listener (Silero endpointing + pocketsphinx over paced call audio)', () => {
  it('cuts two sentences separated by a pause into two transcribed utterances with their times', async () => {
    const { say, listener, utterances, starts } = await listenTo(16_000);
    const first = await say('Hello, this is the front desk.');
    await heardUtterances(utterances, 1);
    const second = await say('The name is Smith.');
    await heardUtterances(utterances, 2);
    await listener.drain();
    expect(utterances).toHaveLength(2);
    expect(starts).toHaveLength(2);
    expect(utterances[0].text).toMatch(/hello|front desk/);
    expect(utterances[1].text).toMatch(/name|smith/);
    for (const [u, spoken] of [
      [utterances[0], first],
      [utterances[1], second],
    ] as const) {
      // Onset and end within a few VAD windows of the audio actually sent, final after the end.
      expect(Math.abs(u.startMs - spoken.firstVoicedAt!)).toBeLessThan(300);
      expect(Math.abs(u.endMs - spoken.lastVoicedAt!)).toBeLessThan(300);
      expect(u.sttFinalMs).toBeGreaterThan(u.endMs);
    }
  }, 60_000);

  it('ends a question after the short handover silence and a statement after the long one', async () => {
    const silences = { handoverMs: 300, statementMs: 1500, unfinishedMs: 3000 };
    const { say, listener, utterances } = await listenTo(16_000, {
      endSilenceMs: silences.statementMs,
      endSilenceFor: (text) => endSilenceFor(text, silences),
    });
    await say('Would that work for you?');
    await heardUtterances(utterances, 1);
    await say('We are closed on Sundays.');
    await heardUtterances(utterances, 2);
    await listener.drain();
    expect(utterances.map((u) => u.text)).toHaveLength(2);
    const [question, statement] = utterances;
    // The recogniser must have heard the question as one for the short silence to apply.
    expect(question.text).toMatch(/would (that|you)|work for you/);
    expect(question.sttFinalMs - question.endMs).toBeLessThan(silences.statementMs);
    expect(statement.sttFinalMs - statement.endMs).toBeGreaterThanOrEqual(silences.statementMs - 40);
  }, 60_000);

  it('delivers an utterance still in progress when drained (the call is ending)', async () => {
    const { say, listener, utterances } = await listenTo(16_000);
    await say('Sorry, I have to go now.');
    // No end-of-utterance silence yet: drain forces the final.
    expect(listener.inSpeech).toBe(true);
    await listener.drain();
    expect(utterances).toHaveLength(1);
    expect(utterances[0].text.length).toBeGreaterThan(0);
    expect(listener.inSpeech).toBe(false);
  }, 60_000);

  it('hears speech on 8 kHz call audio (resampled up for the 16 kHz VAD and STT)', async () => {
    const { say, listener, utterances } = await listenTo(8000);
    await say('Yes, we have a table at seven.');
    // Whether the end silence ran out already or not, drain delivers the utterance.
    await listener.drain();
    expect(utterances).toHaveLength(1);
    expect(utterances[0].text.length).toBeGreaterThan(0);
  }, 60_000);
});
