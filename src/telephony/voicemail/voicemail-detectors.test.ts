import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResampler } from '../../audio/resample.js';
import { createFliteTts } from '../../voice/tts/flite.js';
import type { TextToSpeech } from '../../voice/types.js';
import { BeepDetector } from './beep-detector.js';
import { GreetingDetector } from './greeting-detector.js';

const RATE = 8000;

function tone(hz: number, ms: number, amplitude = 8000, rate = RATE): Int16Array {
  const n = Math.round((ms * rate) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate));
  return out;
}

function silence(ms: number, rate = RATE): Int16Array {
  return new Int16Array(Math.round((ms * rate) / 1000));
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Feeds `pcm` 20 ms at a time; returns every non-null result with the time it came at. */
function feed<T>(
  pcm: Int16Array,
  push: (f: Int16Array) => T | null,
  rate = RATE,
): { atMs: number; value: T }[] {
  const frame = rate / 50;
  const hits: { atMs: number; value: T }[] = [];
  for (let i = 0; i + frame <= pcm.length; i += frame) {
    const v = push(pcm.subarray(i, i + frame));
    if (v !== null) hits.push({ atMs: ((i + frame) * 1000) / rate, value: v });
  }
  return hits;
}

describe('voicemail detectors on real speech', () => {
  let tts: TextToSpeech;
  let speech: (text: string) => Promise<Int16Array>;
  beforeAll(async () => {
    tts = await createFliteTts();
    speech = async (text) => {
      const pcm = await tts.synthesize(text);
      return createResampler(pcm.sampleRate, RATE).process(pcm.samples);
    };
  });
  afterAll(async () => {
    await tts.close();
  });

  it('finds the beep after a voicemail greeting, once, with its pitch and start', async () => {
    const greeting = await speech('Hi, you have reached Dana. Please leave a message after the tone.');
    const audio = concat(greeting, silence(300), tone(1000, 400), silence(500));
    const d = new BeepDetector({ sampleRate: RATE });
    const hits = feed(audio, (f) => d.push(f));
    expect(hits).toHaveLength(1);
    const beep = hits[0].value;
    expect(Math.abs(beep.frequencyHz - 1000)).toBeLessThanOrEqual(25);
    const toneStartMs = ((greeting.length + silence(300).length) * 1000) / RATE;
    expect(Math.abs(beep.startMs - toneStartMs)).toBeLessThanOrEqual(40);
  });

  it('does not take speech, a short blip or faint hum for a beep', async () => {
    const talk = await speech(
      'Good evening, thank you for calling. We are open every day from five until eleven, how can I help?',
    );
    const d = new BeepDetector({ sampleRate: RATE });
    expect(feed(concat(talk, tone(1000, 120), silence(200), tone(1000, 400, 100)), (f) => d.push(f))).toEqual(
      [],
    );
  });

  it('works at 16 kHz too, and reports again after reset', () => {
    const d = new BeepDetector({ sampleRate: 16000 });
    const beep = concat(silence(200, 16000), tone(850, 300, 8000, 16000));
    expect(feed(beep, (f) => d.push(f), 16000)).toHaveLength(1);
    expect(feed(beep, (f) => d.push(f), 16000)).toHaveLength(0);
    d.reset();
    expect(feed(beep, (f) => d.push(f), 16000)).toHaveLength(1);
  });

  it('a long opening greeting is a machine; a short hello followed by silence is a person', async () => {
    const machine = new GreetingDetector({ sampleRate: RATE });
    const greeting = await speech(
      'Hi, you have reached the Smith family. We cannot come to the phone right now, so please leave your name and number after the tone.',
    );
    const m = feed(concat(silence(400), greeting), (f) => machine.push(f));
    expect(m.map((h) => h.value)).toEqual(['machine']);
    // Decided while the greeting still plays, not at its end.
    expect(m[0].atMs).toBeLessThan(400 + (greeting.length * 1000) / RATE);

    const person = new GreetingDetector({ sampleRate: RATE });
    const p = feed(concat(silence(300), await speech('Hello?'), silence(1500)), (f) => person.push(f));
    expect(p.map((h) => h.value)).toEqual(['human']);
    expect(person.silenceMs).toBeGreaterThanOrEqual(900);
  });

  it('silence alone decides nothing', () => {
    const d = new GreetingDetector({ sampleRate: RATE });
    expect(feed(silence(5000), (f) => d.push(f))).toEqual([]);
    expect(d.verdict).toBeNull();
    expect(d.silenceMs).toBe(0);
  });

  it('rejects a bad sample rate with a clear error', () => {
    expect(() => new BeepDetector({ sampleRate: 0 })).toThrow(/sampleRate/);
    expect(() => new GreetingDetector({ sampleRate: -1 })).toThrow(/sampleRate/);
  });
});
