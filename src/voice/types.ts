/**
 * Engine contracts. Audio inside the engine is 16-bit mono PCM (Int16Array) with its sample rate;
 * codecs and byte order change only at the media edge. Each engine is created by an async
 * `create…()` factory that loads its model, and releases native resources in `close()`.
 * Blocking inference never runs on the event loop's hot path for longer than one 20 ms frame.
 */

import type { Pcm } from '../audio/pcm.js';

export type { Pcm };

// ---------- speech to text ----------
export interface SttResult {
  text: string;
  /** Engine-specific confidence in [0, 1], when it has one. */
  confidence?: number;
  /** Audio the utterance covered and the decoder's busy time on it (ms), for engines that measure it (real-time factor). */
  timing?: { audioMs: number; decodeMs: number };
}

export interface SttStream {
  /** Feed audio at the engine's `sampleRate`. */
  write(samples: Int16Array): void;
  /** Best hypothesis of the utterance so far ('' when nothing yet). */
  partial(): string;
  /**
   * Whether `partial()` is the utterance's final text: the engine decoded it to its end in the
   * speaker's pause, and `finish()` returns it unless speech resumes. Engines that cannot tell leave
   * it out (their partials are then as final as they get).
   */
  partialIsFinal?(): boolean;
  /** Ends the current utterance and returns its final text; the stream is then ready for the next one. */
  finish(): Promise<SttResult>;
  close(): void;
}

export interface SpeechToText {
  readonly name: string;
  /** The rate `write()` expects; callers resample to it. */
  readonly sampleRate: number;
  createStream(): SttStream;
  /**
   * How long (ms) the oldest audio written and not yet taken by the decoder has waited: 0 while the
   * recogniser keeps up, growing when the machine cannot decode the calls' audio as fast as it comes
   * (every final is then that much late). Engines that decode on the caller's thread have none.
   */
  backlogMs?(): number;
  close(): Promise<void>;
}

// ---------- text to speech ----------
export interface TextToSpeech {
  readonly name: string;
  readonly sampleRate: number;
  /** The voices this engine can speak with; the first is its default. */
  readonly voices: readonly string[];
  synthesize(text: string, opts?: { voice?: string; signal?: AbortSignal }): Promise<Pcm>;
  close(): Promise<void>;
}

// ---------- voice activity ----------
export interface VoiceActivityDetector {
  readonly name: string;
  readonly sampleRate: number;
  /** Samples per `process` call (512 at 16 kHz for Silero v5). */
  readonly frameSamples: number;
  /** Probability of speech in this window, in [0, 1]. */
  process(samples: Int16Array): Promise<number>;
  reset(): void;
  close(): Promise<void>;
}
