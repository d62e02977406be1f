import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeWav } from '../../src/audio/wav.js';
import type { Scenario } from '../../src/pbx-sim/scenario.js';
import { eventually, type SimFixture, startSimFixture } from './sim-fixture.js';

// Two phone channels in one mixing bridge, as a transfer connects the callee with the person taking
// over: each hears the other (Asterisk mixes every member's audio for the others), and the bridge's
// recording holds both of them.

const DESK = '+14155550180';
const CALLER = '+14155550181';
const DESK_GREETING = 'Hello, this is the front desk.';
const DESK_ANSWER = 'Your booking is confirmed, goodbye.';
const CALLER_LINE = 'I would like to change my booking please.';

const scenarios = [
  {
    // Answers after the caller, so both are in the bridge before it speaks; it reacts to any speech.
    number: DESK,
    outcome: 'answer',
    ringSeconds: 1.5,
    transcribe: false,
    start: 'start',
    states: {
      start: { say: DESK_GREETING, rules: [{ match: 'anything', say: DESK_ANSWER, hangup: true }] },
    },
  },
  {
    number: CALLER,
    outcome: 'answer',
    ringSeconds: 0.5,
    transcribe: false,
    start: 'start',
    states: { start: { rules: [{ match: 'anything', say: CALLER_LINE }] } },
  },
] as Scenario[];

let f: SimFixture;
beforeAll(async () => {
  f = await startSimFixture({ scenarios });
});
afterAll(async () => {
  await f?.close();
});

/** Voiced time (ms) of 16-bit audio, in 20 ms windows over an RMS of 500. */
function voicedMs(samples: Int16Array, rate: number): number {
  const n = Math.round(rate / 50);
  let voiced = 0;
  for (let off = 0; off + n <= samples.length; off += n) {
    let sum = 0;
    for (let i = off; i < off + n; i++) sum += samples[i] * samples[i];
    if (Math.sqrt(sum / n) >= 500) voiced += 20;
  }
  return voiced;
}

describe('two phone channels in one mixing bridge', () => {
  it('hear each other, and the recording holds both', { timeout: 60_000 }, async () => {
    const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing', name: 'two-phones' });
    await f.ari.call('POST', `/bridges/${bridge.id}/record`, {
      name: 'two-phones',
      format: 'wav',
      ifExists: 'overwrite',
    });
    // Each joins the bridge once it entered the application (answered).
    const join = async (number: string) => {
      const ch = await f.ari.call('POST', '/channels', { endpoint: `PJSIP/${number}@trunk`, app: 'test' });
      await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
      await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ch.id });
      return ch;
    };
    const [caller] = await Promise.all([join(CALLER), join(DESK)]);

    // The desk greets, the caller hears it and asks, the desk hears that, answers and hangs up.
    await eventually(
      () => f.pbx.calleeLog(DESK).some((e) => e.text === 'hung up'),
      40_000,
      'the desk to answer the caller and hang up',
    );
    const desk = f.pbx.calleeLog(DESK);
    const callerLog = f.pbx.calleeLog(CALLER);
    const at = (log: typeof desk, kind: string, text?: string) =>
      log.find((e) => e.kind === kind && (text === undefined || e.text === text))?.at ?? '';
    expect(at(callerLog, 'heard') > at(desk, 'said', DESK_GREETING)).toBe(true);
    expect(at(callerLog, 'said', CALLER_LINE) > at(callerLog, 'heard')).toBe(true);
    expect(at(desk, 'heard') > at(callerLog, 'said', CALLER_LINE)).toBe(true);
    expect(desk.filter((e) => e.kind === 'said').map((e) => e.text)).toEqual([DESK_GREETING, DESK_ANSWER]);

    await f.ari.call('POST', '/recordings/live/two-phones/stop');
    await f.ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'two-phones');
    await f.ari.call('DELETE', `/channels/${caller.id}`);
    await f.ari.call('DELETE', `/bridges/${bridge.id}`);
    const res = await fetch(`${f.pbx.ariUrl}/recordings/stored/two-phones/file`, {
      headers: { Authorization: f.ari.auth },
    });
    const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
    const recorded = voicedMs(wav.samples, wav.sampleRate);
    const line = async (text: string) => {
      const pcm = await f.tts.synthesize(text);
      return voicedMs(pcm.samples, pcm.sampleRate);
    };
    const deskAlone = (await line(DESK_GREETING)) + (await line(DESK_ANSWER));
    const callerAlone = await line(CALLER_LINE);
    // More voiced time than either party could have made alone: both are in the mix.
    expect(
      recorded,
      `recorded ${recorded} ms; desk ${deskAlone} ms, caller ${callerAlone} ms`,
    ).toBeGreaterThan(Math.max(deskAlone, callerAlone) * 1.1);
    expect(f.pbx.channels()).toEqual([]);
    expect(f.pbx.bridges()).toEqual([]);
  });
});
