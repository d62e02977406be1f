import fs from 'node:fs/promises';
import { decodeWav, WavFormatError } from '../../audio/wav.js';
import type { RecordingFile } from '../../calls/call-service.js';

/** The recording's loudness at `buckets` evenly spaced stretches, each 0..1 of the loudest one. */
export interface Waveform {
  durationSeconds: number;
  peaks: number[];
}

export const WAVEFORM_BUCKETS = 240;
/** Past this a recording is not read whole just to draw its outline (a 10-minute 16 kHz call is ~19 MB). */
const MAX_WAVEFORM_BYTES = 128 * 1024 * 1024;

/** Peaks of 16-bit samples: the largest |sample| a bucket, scaled to the loudest bucket of the call. */
export function peaksOf(samples: Int16Array, buckets = WAVEFORM_BUCKETS): number[] {
  if (samples.length === 0) return [];
  const n = Math.min(buckets, samples.length);
  const peaks = new Array<number>(n).fill(0);
  for (let b = 0; b < n; b++) {
    const start = Math.floor((b * samples.length) / n);
    const end = Math.floor(((b + 1) * samples.length) / n);
    let max = 0;
    for (let i = start; i < end; i++) {
      const v = Math.abs(samples[i]);
      if (v > max) max = v;
    }
    peaks[b] = max;
  }
  const loudest = Math.max(...peaks);
  // Scaled to the loudest stretch: a quiet line still shows where each party spoke.
  return peaks.map((p) => (loudest ? Math.round((p / loudest) * 1000) / 1000 : 0));
}

/**
 * Computes waveforms of recordings, remembering the last few by file, size and time (a finished
 * recording never changes, and a call page is reloaded often while someone reviews it).
 */
export function createWaveformReader(maxCached = 32) {
  const cache = new Map<string, Waveform | null>();
  return async function waveformOf(file: RecordingFile): Promise<Waveform | null> {
    const key = `${file.path}\0${file.size}\0${file.modified.getTime()}`;
    if (cache.has(key)) return cache.get(key) ?? null;
    let wave: Waveform | null = null;
    if (file.contentType === 'audio/wav' && file.size <= MAX_WAVEFORM_BYTES) {
      try {
        const pcm = decodeWav(await fs.readFile(file.path));
        wave = { durationSeconds: pcm.samples.length / pcm.sampleRate, peaks: peaksOf(pcm.samples) };
      } catch (err) {
        // Not 16-bit PCM: the player still plays it; only the outline is missing.
        if (!(err instanceof WavFormatError)) throw err;
      }
    }
    if (cache.size >= maxCached) cache.delete(cache.keys().next().value as string);
    cache.set(key, wave);
    return wave;
  };
}
export type WaveformReader = ReturnType<typeof createWaveformReader>;
