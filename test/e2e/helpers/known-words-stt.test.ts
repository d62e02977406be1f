import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { g711 } from '../../../src/audio/g711.js';
import { createResampler } from '../../../src/audio/resample.js';
import { createFliteTts } from '../../../src/voice/tts/flite.js';
import type { TextToSpeech } from '../../../src/voice/types.js';
import { createKnownWordsStt, type KnownWordsStt } from './known-words-stt.js';

let flite: TextToSpeech;
let stt: KnownWordsStt;
let tts: TextToSpeech;
const LINES = [
  "Hello, thank you for calling Luigi's. How can I help you?",
  'Of course. For how many people?',
  'And for what time?',
  'Great. And what name should I put it under?',
];
const pcm: Int16Array[] = [];

beforeAll(async () => {
  flite = await createFliteTts();
  stt = createKnownWordsStt();
  tts = stt.teach(flite);
  for (const l of LINES) {
    const p = await tts.synthesize(l);
    pcm.push(p.sampleRate === 16_000 ? p.samples : createResampler(p.sampleRate, 16_000).process(p.samples));
  }
});
afterAll(() => flite?.close());

const silence = (ms: number) => new Int16Array(ms * 16);
function hear(...parts: Int16Array[]): Promise<string> {
  const s = stt.createStream();
  for (const p of parts) for (let i = 0; i < p.length; i += 512) s.write(p.subarray(i, i + 512));
  return s.finish().then((r) => r.text);
}
/** Through 8 kHz ulaw and back, as the RTP path carries it. */
function viaUlaw(p: Int16Array): Int16Array {
  const down = createResampler(16_000, 8000).process(p);
  const back = g711.ulawDecode(g711.ulawEncode(down));
  return createResampler(8000, 16_000).process(back);
}

describe('known-words recogniser (test helper)', () => {
  it('hears a learnt line as its words, also through ulaw', async () => {
    expect(await hear(silence(300), pcm[1], silence(700))).toBe('of course for how many people');
    expect(await hear(silence(300), viaUlaw(pcm[2]), silence(700))).toBe('and for what time');
  });
  it('hears two lines in one utterance in order, and part of a line as its part', async () => {
    expect(await hear(pcm[2], silence(200), pcm[1])).toBe('and for what time of course for how many people');
    const tail = await hear(pcm[0].subarray(Math.round(pcm[0].length * 0.55)));
    expect("hello thank you for calling luigi's how can i help you".endsWith(tail)).toBe(true);
    expect(tail).toMatch(/help you$/);
  });
  it('hears no words in noise or in lines it never learnt', async () => {
    let seed = 1;
    const noise = Int16Array.from({ length: 16_000 }, () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return ((seed / 0x7fffffff) * 2 - 1) * 3000;
    });
    expect(await hear(noise)).toBe('');
    const other = await flite.synthesize('Please leave a message after the tone.');
    expect(await hear(createResampler(other.sampleRate, 16_000).process(other.samples))).toBe('');
  });
});
