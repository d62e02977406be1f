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
   * Until a stream has heard this much audio (ms, default 2000), its cepstral mean has not adapted
   * to the voice and line, so each utterance's final text comes from a second decoding pass
   * normalised with a mean learnt from the utterance itself (when it runs: `pauseMs`). It costs one
   * more decode of those early utterances, and fixed first-utterance errors on flite voices ("hello
   * to his mission" → "hello who is this"). 0 turns it off. Measured (16 flite lines, 4 voices, 16
   * streams of 4 lines, two orders of the lines): first utterances 29 word errors of 278 at 2000 ms
   * against 27 at 5000 ms (pocketsphinx's CMN window) and 42 with none; later ones 93 of 834 against
   * 90; decoding CPU 25% less. The 5000 ms default re-decoded a call's first utterance once more at
   * its end, 0.6 s on the critical path of the first reply.
   */
  warmupMs?: number;
  /** Utterances longer than this (ms, default 20000) are not kept for the second pass. */
  maxRedecodeMs?: number;
  /**
   * Quiet after loud audio (ms, default 150) that counts as the callee pausing. A cold stream's
   * utterance then restarts its decode from its start with the mean learnt so far: its second pass
   * runs while the listener still waits out its end-of-turn silence instead of after the finish.
   * Measured with the listener's feeding (32 ms windows in real time, 650 ms of end silence) on 2
   * cores, finish → final on a call's first utterance: p50 1.0–1.1 s → 0.4–0.7 s; on its second,
   * often still cold, 0.5 s → under 1 ms (with `endAfterMs`). 0: the second pass after the finish.
   */
  pauseMs?: number;
  /**
   * Quiet after loud audio (ms, default 150; keep it under the listener's end-of-turn silence)
   * after which the utterance is decoded to its end, pocketsphinx's end-of-utterance searches
   * included, and its text held for the finish (finish → final under 1 ms) and sent as a partial
   * marked final: the conversation agent starts its early reply from it. Loud audio after that
   * decodes the utterance again from its start, so the words come out as without it.
   * Measured (16 flite lines, 4 voices, 32 streams of 4 lines fed in 32 ms windows, 700 ms of
   * silence after each): word errors identical at 250, 150 and 100 ms (first utterances 52 of 280,
   * later ones 104 of 944); decoding CPU the same at 150 as at 250, 12% more at 100 (more pauses
   * decoded again). In the voice bench the final text comes some 100 ms sooner than at 250.
   * 0: decode at the finish.
   */
  endAfterMs?: number;
  /**
   * pocketsphinx's second search (-fwdflat, default false): at each utterance end it searches the
   * whole utterance again with a flat lexicon, 100–150 ms on 2 busy cores, on the path of every
   * reply. Measured with the lines above: without it, later utterances 116 word errors of 944
   * against 104 (12.3% against 11.0%), first ones 48 of 280 against 52; decoding CPU 22% less; voice
   * bench (1B shape, 1 call, 12 turns) p50 679 ms against 757. Off by default: the reply comes
   * 80 ms sooner for 0.7 points of word error over all utterances.
   */
  fwdflat?: boolean;
  /**
   * pocketsphinx's best-path search of the word lattice at each utterance end (-bestpath, default
   * true). Without it, the 64 lines above had 16.4% word errors on later utterances against 12.4%
   * (first utterances 9.3% against 10.6%).
   */
  bestpath?: boolean;
  /** pocketsphinx search flags (`-maxhmmpf`, `-pl_window`, `-ds`, …) → value; replaces SEARCH_DEFAULTS ({} for pocketsphinx's own). */
  search?: Record<string, string>;
}

/**
 * Pruning of the first-pass search: at most 3,000 active HMMs and 10 word exits a frame (pocketsphinx's
 * defaults: 30,000 and unbounded). Measured on 12 bench-like lines in 4 flite voices, a stream per voice
 * fed in 32 ms windows (as the callee listener does), one decoder thread, AMD EPYC: the same word errors
 * (36 of 357, 2 of 33 on first utterances) at ~38% less decoding CPU (runs interleaved with the
 * defaults after a warm-up run: RTF 0.227 and 0.263 → 0.142 and 0.158). Recognition is most of what a
 * live call costs agentline's CPU when the dialogue runs elsewhere (bench:voice's per-stage table), so
 * this is what most raises the calls a core can hear. Pruning harder costs words: 2,000 HMMs
 * 42 errors, 1,000 HMMs and 5 word exits 65; a narrower beam (1e-40) 73; -ds 2 45.
 */
const SEARCH_DEFAULTS: Record<string, string> = { '-maxhmmpf': '3000', '-maxwpf': '10' };

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
  for (const key of ['warmupMs', 'maxRedecodeMs', 'partialEveryMs', 'pauseMs', 'endAfterMs'] as const) {
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
    warmupSamples: ms(opts.warmupMs ?? 2000),
    maxRedecodeSamples: ms(opts.maxRedecodeMs ?? 20_000),
    pauseSamples: ms(opts.pauseMs ?? 150),
    endSamples: ms(opts.endAfterMs ?? 150),
    fwdflat: opts.fwdflat ?? false,
    bestpath: opts.bestpath ?? true,
    search: opts.search ?? SEARCH_DEFAULTS,
  };

  return startWorkerStt({
    name: 'pocketsphinx',
    sampleRate: SAMPLE_RATE,
    entry: new URL('./pocketsphinx-worker.ts', import.meta.url),
    workerData: data,
    threads,
    marksFinalPartials: data.endSamples > 0,
  });
}
