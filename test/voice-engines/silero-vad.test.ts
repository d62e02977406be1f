import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';
import { createSileroVad } from '../../src/voice/vad/silero.js';

async function probabilities(vad: VoiceActivityDetector, samples: Int16Array): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i + vad.frameSamples <= samples.length; i += vad.frameSamples) {
    out.push(await vad.process(samples.subarray(i, i + vad.frameSamples)));
  }
  return out;
}

describe('silero vad', () => {
  let vad: VoiceActivityDetector;
  let tts: TextToSpeech;
  beforeAll(async () => {
    vad = await createSileroVad();
    tts = await createFliteTts();
  });
  afterAll(async () => {
    await vad?.close();
    await tts?.close();
  });

  it('hears speech in flite audio and none in silence', async () => {
    const speech = await tts.synthesize('Hello, this is a reminder about your appointment on Tuesday.');
    vad.reset();
    const speechProbs = await probabilities(vad, speech.samples);
    vad.reset();
    const silenceProbs = await probabilities(vad, new Int16Array(16_000));
    const share = (ps: number[], pred: (p: number) => boolean) => ps.filter(pred).length / ps.length;
    expect(vad.frameSamples).toBe(512);
    expect(share(speechProbs, (p) => p > 0.5)).toBeGreaterThan(0.6);
    expect(Math.max(...silenceProbs)).toBeLessThan(0.1);
  });

  it('carries state across windows, and reset() forgets it', async () => {
    const speech = await tts.synthesize('Good morning, how are you?');
    const window = speech.samples.subarray(4096, 4096 + 512);
    vad.reset();
    const cold = await vad.process(window);
    await probabilities(vad, speech.samples.subarray(0, 4096));
    const warm = await vad.process(window);
    expect(warm).not.toBeCloseTo(cold, 5);
    vad.reset();
    expect(await vad.process(window)).toBeCloseTo(cold, 6);
  });

  it('rejects windows of the wrong size and a missing model file', async () => {
    await expect(vad.process(new Int16Array(320))).rejects.toThrow(/expected 512 samples/);
    await expect(createSileroVad({ modelPath: '/nonexistent/silero.onnx' })).rejects.toThrow(
      /cannot load model \/nonexistent/,
    );
  });
});
