import fs from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Pcm, TextToSpeech } from '../types.js';
import { splitForSynthesis } from './split-text.js';

export interface PiperOptions {
  /** The voice's `.onnx` file; its config is `<modelPath>.json` unless `configPath` says otherwise. */
  modelPath: string;
  configPath?: string;
  /** Silence between sentences, ms (default 200). */
  sentenceSilenceMs?: number;
}

interface PiperConfig {
  audio: { sample_rate: number };
  espeak?: { voice?: string };
  inference?: { noise_scale?: number; length_scale?: number; noise_w?: number };
  phoneme_id_map: Record<string, number[]>;
  num_speakers?: number;
  speaker_id_map?: Record<string, number>;
}

/** Turns text into espeak-ng phoneme strings, one per sentence (the `phonemizer` package). */
export type Phonemize = (text: string, language: string) => Promise<string[]>;

function abortError(): Error {
  const err = new Error('synthesis aborted');
  err.name = 'AbortError';
  return err;
}

async function readConfig(file: string): Promise<PiperConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`piper: cannot read voice config ${file}: ${(err as Error).message}`);
  }
  const c = raw as Partial<PiperConfig>;
  if (!c.audio || typeof c.audio.sample_rate !== 'number' || !c.phoneme_id_map) {
    throw new Error(
      `piper: ${file} is not a Piper voice config (needs audio.sample_rate and phoneme_id_map)`,
    );
  }
  return c as PiperConfig;
}

/** Piper's id sequence: BOS, then each phoneme followed by the pad symbol, then EOS. */
export function phonemeIds(phonemes: string, map: Record<string, number[]>): number[] {
  const pad = map._ ?? [0];
  const ids = [...(map['^'] ?? []), ...pad];
  for (const p of phonemes) {
    const id = map[p];
    if (id) ids.push(...id, ...pad);
  }
  ids.push(...(map.$ ?? []));
  return ids;
}

/**
 * Piper voices (VITS exported to ONNX) through onnxruntime-node, with espeak-ng phonemes from the
 * `phonemizer` package. Inference runs on onnxruntime's own threads (session.run is async), one
 * sentence at a time so an abort lands within a sentence.
 */
export async function createPiperTts(
  opts: PiperOptions,
  deps: { phonemize?: Phonemize } = {},
): Promise<TextToSpeech> {
  const configPath = opts.configPath ?? `${opts.modelPath}.json`;
  const config = await readConfig(configPath);
  const phonemize = deps.phonemize ?? (await import('phonemizer')).phonemize;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(opts.modelPath, { intraOpNumThreads: 1 });
  } catch (err) {
    throw new Error(`piper: cannot load voice model ${opts.modelPath}: ${(err as Error).message}`);
  }
  for (const name of ['input', 'input_lengths', 'scales']) {
    if (!session.inputNames.includes(name)) {
      await session.release();
      throw new Error(
        `piper: ${opts.modelPath} lacks the Piper input "${name}" (has ${session.inputNames.join(', ')})`,
      );
    }
  }
  const sampleRate = config.audio.sample_rate;
  const language = config.espeak?.voice ?? 'en-us';
  const inf = config.inference ?? {};
  const scales = Float32Array.from([inf.noise_scale ?? 0.667, inf.length_scale ?? 1, inf.noise_w ?? 0.8]);
  const multiSpeaker = (config.num_speakers ?? 1) > 1 && session.inputNames.includes('sid');
  const base = path.basename(opts.modelPath).replace(/\.onnx$/, '');
  const speakers = multiSpeaker ? Object.keys(config.speaker_id_map ?? {}) : [];
  const voices = speakers.length > 0 ? speakers : [base];
  const silence = new Int16Array(Math.round(((opts.sentenceSilenceMs ?? 200) / 1000) * sampleRate));
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  const infer = async (ids: number[], speaker: number | null): Promise<Int16Array> => {
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(ids.length)]), [1]),
      scales: new ort.Tensor('float32', scales, [3]),
    };
    if (speaker !== null) feeds.sid = new ort.Tensor('int64', BigInt64Array.from([BigInt(speaker)]), [1]);
    const out = await session.run(feeds);
    const audio = (out[session.outputNames[0]] as ort.Tensor).data as Float32Array;
    const pcm = new Int16Array(audio.length);
    for (let i = 0; i < audio.length; i++)
      pcm[i] = Math.max(-32768, Math.min(32767, Math.round(audio[i] * 32767)));
    return pcm;
  };

  return {
    name: 'piper',
    sampleRate,
    voices,
    async synthesize(text: string, o: { voice?: string; signal?: AbortSignal } = {}): Promise<Pcm> {
      if (closed) throw new Error('piper: engine is closed');
      const voice = o.voice ?? voices[0];
      if (!voices.includes(voice))
        throw new Error(`piper: unknown voice "${voice}"; available: ${voices.join(', ')}`);
      const speaker = multiSpeaker ? (config.speaker_id_map?.[voice] ?? 0) : null;
      const work = (async () => {
        const parts: Int16Array[] = [];
        for (const piece of splitForSynthesis(text)) {
          if (o.signal?.aborted) throw abortError();
          for (const phonemes of await phonemize(piece, language)) {
            const ids = phonemeIds(phonemes, config.phoneme_id_map);
            if (ids.length <= 3) continue;
            if (parts.length > 0) parts.push(silence);
            parts.push(await infer(ids, speaker));
            if (o.signal?.aborted) throw abortError();
          }
        }
        const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          samples.set(p, at);
          at += p.length;
        }
        return { samples, sampleRate };
      })();
      inFlight.add(work);
      work.then(
        () => inFlight.delete(work),
        () => inFlight.delete(work),
      );
      return work;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      // Let running inferences finish before their session is released.
      await Promise.allSettled([...inFlight]);
      await session.release();
    },
  };
}
