import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { phonemize } from 'phonemizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FIXTURE_SAMPLE_RATE,
  FIXTURE_SAMPLES_PER_ID,
  writePiperFixture,
} from '../../scripts/make-piper-fixture.js';
import { createPiperTts, phonemeIds } from '../../src/voice/tts/piper.js';
import type { TextToSpeech } from '../../src/voice/types.js';
import { defaultSileroModelPath } from '../../src/voice/vad/silero.js';

/** Reads back the ids the fixture graph turned into audio (each id is held for K samples at id × 0.001). */
function idsOf(samples: Int16Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < samples.length; i += FIXTURE_SAMPLES_PER_ID)
    ids.push(Math.round(samples[i] / 32767 / 0.001));
  return ids;
}

describe('piper tts on a fixture voice graph', () => {
  let dir: string;
  let tts: TextToSpeech;
  let map: Record<string, number[]>;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-piper-'));
    const { modelPath, configPath } = await writePiperFixture(dir);
    map = JSON.parse(await fs.readFile(configPath, 'utf8')).phoneme_id_map;
    tts = await createPiperTts({ modelPath, sentenceSilenceMs: 100 });
  });
  afterAll(async () => {
    await tts?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('feeds espeak phoneme ids in Piper order and returns audio at the voice rate', async () => {
    const pcm = await tts.synthesize('Hello world.');
    expect(pcm.sampleRate).toBe(FIXTURE_SAMPLE_RATE);
    expect(tts.voices).toEqual(['fixture']);
    const [phonemes] = await phonemize('Hello world.', 'en-us');
    const expected = phonemeIds(phonemes, map);
    expect(idsOf(pcm.samples)).toEqual(expected);
    // BOS, pad, then h (a real phoneme), and EOS at the end.
    expect(expected.slice(0, 3)).toEqual([map['^'][0], map._[0], map.h[0]]);
    expect(expected.at(-1)).toBe(map.$[0]);
  });

  it('joins sentences with silence', async () => {
    const one = await tts.synthesize('Yes.');
    const two = await tts.synthesize('Yes. Yes.');
    expect(two.samples.length).toBe(one.samples.length * 2 + Math.round(0.1 * FIXTURE_SAMPLE_RATE));
  });

  it('aborts, and rejects unknown voices', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(tts.synthesize('Hello.', { signal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    await expect(tts.synthesize('Hello.', { voice: 'x' })).rejects.toThrow(
      /unknown voice "x"; available: fixture/,
    );
  });

  it('fails clearly for a missing config and for an ONNX model that is not a Piper voice', async () => {
    await expect(createPiperTts({ modelPath: path.join(dir, 'none.onnx') })).rejects.toThrow(
      /cannot read voice config .*none\.onnx\.json/,
    );
    await expect(
      createPiperTts({
        modelPath: defaultSileroModelPath(),
        configPath: path.join(dir, 'fixture.onnx.json'),
      }),
    ).rejects.toThrow(/lacks the Piper input "input_lengths"/);
  });
});
