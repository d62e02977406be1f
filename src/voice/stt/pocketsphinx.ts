import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SpeechToText } from '../types.js';
import type { PocketsphinxWorkerData } from './pocketsphinx-worker.js';
import { startWorkerStt } from './worker-stt.js';

const SAMPLE_RATE = 16_000;
const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

export interface PocketsphinxOptions {
  /** Directory with `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict` (Debian pocketsphinx-en-us). */
  modelDir?: string;
  /** The rate the caller intends to feed; pocketsphinx's en-us model only decodes 16 kHz. */
  sampleRate?: number;
  /**
   * Decoder threads. Streams are spread over them (fewest open streams first); each thread decodes
   * its streams one chunk at a time. Measured on 2 busy cores: a thread decodes at RTF ≈ 0.45, so
   * it keeps up with about two live streams; two threads decoded two 4 s streams in 2.1 s against
   * 3.6 s for one. Default: min(2, cores); more than one per core gains nothing.
   */
  threads?: number;
  /** How often a partial hypothesis is computed, in ms of audio (default 250). */
  partialEveryMs?: number;
  /**
   * Until a stream has heard this much audio (ms, default 5000: pocketsphinx's CMN window), its
   * cepstral mean has not adapted to the voice and line, so each utterance's final text comes from
   * a second decoding pass normalised with the mean that includes the utterance. It costs one more
   * decode of those early utterances, and fixed first-utterance errors on flite voices ("hello to
   * his mission" → "hello who is this"). 0 turns the second pass off.
   */
  warmupMs?: number;
  /** Utterances longer than this (ms, default 20000) are not kept for the second pass. */
  maxRedecodeMs?: number;
}

/** pocketsphinx (Debian libpocketsphinx3 + pocketsphinx-en-us) via koffi, decoding in worker threads. */
export async function createPocketsphinxStt(opts: PocketsphinxOptions = {}): Promise<SpeechToText> {
  if (opts.sampleRate !== undefined && opts.sampleRate !== SAMPLE_RATE) {
    throw new Error(
      `pocketsphinx: the en-us model decodes 16000 Hz audio only, got ${opts.sampleRate} Hz (upsampled 8 kHz telephone audio is not recognised usefully; use slin16 media or another engine)`,
    );
  }
  const modelDir = opts.modelDir ?? DEFAULT_MODEL_DIR;
  const files = {
    hmm: path.join(modelDir, 'en-us'),
    lm: path.join(modelDir, 'en-us.lm.bin'),
    dict: path.join(modelDir, 'cmudict-en-us.dict'),
  };
  for (const f of Object.values(files)) {
    if (!fs.existsSync(f)) {
      throw new Error(
        `pocketsphinx: model file ${f} is missing (install the Debian package pocketsphinx-en-us)`,
      );
    }
  }
  for (const key of ['warmupMs', 'maxRedecodeMs', 'partialEveryMs'] as const) {
    const v = opts[key];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new Error(`pocketsphinx: ${key} must be a non-negative number of milliseconds, got ${v}`);
    }
  }
  const ms = (v: number) => Math.round((v / 1000) * SAMPLE_RATE);
  const threads = Math.max(1, Math.floor(opts.threads ?? Math.min(2, os.availableParallelism())));
  const data: PocketsphinxWorkerData = {
    ...files,
    partialEverySamples: ms(opts.partialEveryMs ?? 250),
    warmupSamples: ms(opts.warmupMs ?? 5000),
    maxRedecodeSamples: ms(opts.maxRedecodeMs ?? 20_000),
  };

  return startWorkerStt({
    name: 'pocketsphinx',
    sampleRate: SAMPLE_RATE,
    entry: new URL('./pocketsphinx-worker.ts', import.meta.url),
    workerData: data,
    threads,
  });
}
