import type { CallAudio } from '../../../src/telephony/call-session.js';
import type { TextToSpeech } from '../../../src/voice/types.js';

const FRAME_MS = 20;

export interface FakeLine {
  audio: CallAudio;
  /** Voiced frames sent so far, with their times. */
  readonly voicedAt: number[];
  readonly flushes: number;
}

/**
 * A paced line for unit tests on fake timers: every 20 ms one frame of the queued agent audio goes out
 * (timer-driven, so `vi.advanceTimersByTime` is the media clock). Audio at `rate`, non-zero samples voiced.
 */
export function createFakeLine(
  rate = 8000,
  now: () => number = () => Date.now(),
): FakeLine & { stop(): void } {
  const frame = (rate * FRAME_MS) / 1000;
  const queue: {
    samples: Int16Array;
    at: number;
    resolve: (r: { completed: boolean; playedMs: number }) => void;
  }[] = [];
  const sentListeners = new Set<(info: { voiced: boolean; atMs: number }) => void>();
  const voicedAt: number[] = [];
  let flushes = 0;
  const timer = setInterval(() => {
    const q = queue[0];
    let voiced = false;
    if (q) {
      const chunk = q.samples.subarray(q.at, q.at + frame);
      voiced = chunk.some((s) => s !== 0);
      q.at += frame;
      if (q.at >= q.samples.length) {
        queue.shift();
        q.resolve({ completed: true, playedMs: (q.samples.length * 1000) / rate });
      }
    }
    if (voiced) voicedAt.push(now());
    for (const l of sentListeners) l({ voiced, atMs: now() });
  }, FRAME_MS);
  const audio: CallAudio = {
    sampleRate: rate,
    onFrame: () => () => {},
    play(samples) {
      return new Promise((resolve) => {
        if (samples.length === 0) return resolve({ completed: true, playedMs: 0 });
        queue.push({ samples, at: 0, resolve });
      });
    },
    flush() {
      flushes++;
      for (const q of queue.splice(0))
        q.resolve({ completed: false, playedMs: (Math.min(q.at, q.samples.length) * 1000) / rate });
    },
    onFrameSent(l) {
      sentListeners.add(l);
      return () => sentListeners.delete(l);
    },
  };
  return {
    audio,
    voicedAt,
    get flushes() {
      return flushes;
    },
    stop: () => clearInterval(timer),
  };
}

/** A TTS that speaks 200 ms of steady tone a word, at once. */
export function createFakeTts(rate = 8000): TextToSpeech & { readonly said: string[] } {
  const said: string[] = [];
  return {
    name: 'fake',
    sampleRate: rate,
    voices: ['fake'],
    said,
    async synthesize(text) {
      said.push(text);
      const words = text.trim().split(/\s+/).filter(Boolean).length;
      return { samples: new Int16Array(Math.round(words * 0.2 * rate)).fill(1000), sampleRate: rate };
    },
    async close() {},
  };
}
