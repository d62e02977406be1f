import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, SttStream, TextToSpeech } from '../../src/voice/types.js';

const FRAME = 320; // 20 ms at 16 kHz
const silence = (ms: number) => new Int16Array((16_000 * ms) / 1000);

function feed(stream: SttStream, samples: Int16Array): void {
  stream.write(silence(300));
  for (let i = 0; i < samples.length; i += FRAME) stream.write(samples.subarray(i, i + FRAME));
  stream.write(silence(300));
}

describe('flite → pocketsphinx', () => {
  let tts: TextToSpeech;
  let stt: SpeechToText;
  beforeAll(async () => {
    tts = await createFliteTts();
    stt = await createPocketsphinxStt({ threads: 2 });
  });
  afterAll(async () => {
    await stt?.close();
    await tts?.close();
  });

  it('speaks 16 kHz audio of a plausible length for the text', async () => {
    const short = await tts.synthesize('Yes.');
    const long = await tts.synthesize('Yes. I would like to book a table for two people tomorrow evening.');
    expect(short.sampleRate).toBe(16_000);
    expect(long.samples.length).toBeGreaterThan(short.samples.length * 3);
    // Real speech, not silence: a good share of samples well above the noise floor.
    const loud = long.samples.filter((s) => Math.abs(s) > 1000).length;
    expect(loud / long.samples.length).toBeGreaterThan(0.1);
    expect(tts.voices[0]).toBe('slt');
  });

  it('returns no audio for text without words and rejects unknown voices', async () => {
    expect((await tts.synthesize('  ... ')).samples.length).toBe(0);
    await expect(tts.synthesize('hello', { voice: 'nope' })).rejects.toThrow(/unknown voice "nope"/);
    await expect(createFliteTts({ voice: 'kal' })).rejects.toThrow(/available: slt, awb, rms, kal16/);
  });

  it('stops synthesis when the signal aborts', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(tts.synthesize('This will not be spoken.', { signal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('recognises a phrase spoken by flite, with partials before the final text', async () => {
    const speech = await tts.synthesize('I would like to book a table for two people tomorrow evening.');
    const stream = stt.createStream();
    const partials = new Set<string>();
    const poll = setInterval(() => partials.add(stream.partial()), 20);
    feed(stream, speech.samples);
    // Let the worker catch up so that partials arrive before the utterance is finished.
    while (!stream.partial().includes('table')) await new Promise((r) => setTimeout(r, 20));
    const final = await stream.finish();
    clearInterval(poll);
    stream.close();
    const seen = [...partials].filter(Boolean);
    expect(seen.length).toBeGreaterThan(0);
    expect(final.text).toMatch(/table for two people tomorrow evening/);
    expect(stream.partial()).toBe('');
  });

  it('keeps the event loop turning while it decodes', async () => {
    const speech = await tts.synthesize(
      'Good afternoon. I am calling about the order you placed last week. Could you confirm the delivery address please?',
    );
    const stream = stt.createStream();
    const hist = monitorEventLoopDelay({ resolution: 10 });
    let ticks = 0;
    let spinning = true;
    const spin = () => {
      ticks++;
      if (spinning) setImmediate(spin);
    };
    hist.enable();
    const started = performance.now();
    spin();
    feed(stream, speech.samples);
    const final = await stream.finish();
    const decodeMs = performance.now() - started;
    spinning = false;
    hist.disable();
    stream.close();
    expect(final.text).toMatch(/delivery address/);
    // Decoding runs off the loop: thousands of loop turns happened while the audio was decoded,
    // and no single stall came near the time the decode took.
    expect(ticks).toBeGreaterThan(1000);
    expect(hist.max / 1e6).toBeLessThan(decodeMs / 4);
  });

  it('decodes concurrent streams independently and reuses a stream for the next utterance', async () => {
    // Each stream starts with the model's cold CMN (nothing leaks from earlier streams), so the
    // phrases are ones pocketsphinx gets right on a stream's first utterance.
    const [a, b] = await Promise.all([
      tts.synthesize('Sorry, I am busy right now.'),
      tts.synthesize('The weather is nice today.'),
    ]);
    const s1 = stt.createStream();
    const s2 = stt.createStream();
    feed(s1, a.samples);
    feed(s2, b.samples);
    const [r1, r2] = await Promise.all([s1.finish(), s2.finish()]);
    expect(r1.text).toMatch(/sorry i am busy right now/);
    expect(r2.text).toMatch(/weather/);
    expect(r1.text).not.toMatch(/weather/);

    feed(s1, b.samples);
    expect((await s1.finish()).text).toMatch(/weather/);
    expect((await s1.finish()).text).toBe('');
    s1.close();
    s2.close();
    expect(() => s1.write(silence(20))).toThrow(/closed/);
  });

  it('refuses audio at a rate its model cannot decode', async () => {
    await expect(createPocketsphinxStt({ sampleRate: 8000 })).rejects.toThrow(
      /16000 Hz audio only, got 8000/,
    );
    await expect(createPocketsphinxStt({ modelDir: '/nonexistent' })).rejects.toThrow(/pocketsphinx-en-us/);
  });
});
