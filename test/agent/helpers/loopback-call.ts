import type { CallAudio } from '../../../src/telephony/call-session.js';
import { createSystemClock } from '../../../src/telephony/media/clock.js';
import { createFrameTicker } from '../../../src/telephony/media/frame-ticker.js';

const FRAME_MS = 20;
/** Peak below which a frame is treated as silence (dither, filter ringing). */
const VOICED_PEAK = 200;

function peak(frame: Int16Array): number {
  let p = 0;
  for (let i = 0; i < frame.length; i++) {
    const v = Math.abs(frame[i]);
    if (v > p) p = v;
  }
  return p;
}

interface Queued {
  frames: Int16Array[];
  sent: number;
  resolve: (r: { completed: boolean; playedMs: number }) => void;
}

export interface SentFrame {
  voiced: boolean;
  atMs: number;
}

export interface LoopbackCall {
  /** The agent's side, as the media path would present it. */
  readonly audio: CallAudio;
  /** The callee's side: what it says is paced into the agent's `onFrame`, it hears the agent's frames. */
  readonly callee: {
    /** Queues callee speech; resolves when it has all gone out, with the times of its first and last voiced frames. */
    speak(samples: Int16Array): Promise<{ firstVoicedAt: number | null; lastVoicedAt: number | null }>;
    onHear(listener: (frame: Int16Array, atMs: number) => void): () => void;
  };
  /** Every agent frame sent, in order. */
  readonly sent: readonly SentFrame[];
  readonly flushes: number[];
  /** Resolves once the agent has sent `n` voiced frames in all (the media clock of its speech). */
  voicedFrames(n: number): Promise<void>;
  /** Starts pacing (at "answer"). */
  start(): void;
  stop(): void;
}

/**
 * A `CallAudio` test double: two directions of 20 ms frames paced in real time, agent audio delivered
 * to a callee listener and callee audio to the agent, silence filling gaps like a jitter buffer would.
 */
export function createLoopbackCall(sampleRate: number): LoopbackCall {
  const frameSamples = (sampleRate * FRAME_MS) / 1000;
  const clock = createSystemClock();
  const out: Queued[] = [];
  const calleeOut: {
    frames: Int16Array[];
    sent: number;
    first: number | null;
    last: number | null;
    done: () => void;
  }[] = [];
  const frameListeners = new Set<(frame: Int16Array) => void>();
  const sentListeners = new Set<(info: SentFrame) => void>();
  const hearListeners = new Set<(frame: Int16Array, atMs: number) => void>();
  const sent: SentFrame[] = [];
  const flushes: number[] = [];

  const toFrames = (samples: Int16Array) => {
    const frames: Int16Array[] = [];
    for (let i = 0; i < samples.length; i += frameSamples) {
      const f = new Int16Array(frameSamples);
      f.set(samples.subarray(i, Math.min(i + frameSamples, samples.length)));
      frames.push(f);
    }
    return frames;
  };

  const ticker = createFrameTicker({
    periodMs: FRAME_MS,
    clock,
    onTick() {
      const now = clock.now();
      // Agent → callee.
      let frame: Int16Array | null = null;
      while (out.length > 0 && !frame) {
        const q = out[0];
        if (q.sent < q.frames.length) frame = q.frames[q.sent++];
        if (q.sent >= q.frames.length) {
          out.shift();
          q.resolve({ completed: true, playedMs: q.sent * FRAME_MS });
        }
      }
      const agentFrame = frame ?? new Int16Array(frameSamples);
      const info = { voiced: frame !== null && peak(frame) > VOICED_PEAK, atMs: now };
      sent.push(info);
      for (const l of sentListeners) l(info);
      for (const l of hearListeners) l(agentFrame, now);
      // Callee → agent.
      let cf: Int16Array | null = null;
      while (calleeOut.length > 0 && !cf) {
        const c = calleeOut[0];
        if (c.sent < c.frames.length) {
          cf = c.frames[c.sent++];
          if (peak(cf) > VOICED_PEAK) {
            c.first ??= now;
            c.last = now;
          }
        }
        if (c.sent >= c.frames.length) {
          calleeOut.shift();
          c.done();
        }
      }
      const calleeFrame = cf ?? new Int16Array(frameSamples);
      for (const l of frameListeners) l(calleeFrame);
    },
  });

  const audio: CallAudio = {
    sampleRate,
    onFrame(listener) {
      frameListeners.add(listener);
      return () => frameListeners.delete(listener);
    },
    play(samples) {
      return new Promise((resolve) => {
        const frames = toFrames(samples);
        if (frames.length === 0) return resolve({ completed: true, playedMs: 0 });
        out.push({ frames, sent: 0, resolve });
      });
    },
    flush() {
      flushes.push(clock.now());
      for (const q of out.splice(0)) q.resolve({ completed: false, playedMs: q.sent * FRAME_MS });
    },
    onFrameSent(listener) {
      sentListeners.add(listener);
      return () => sentListeners.delete(listener);
    },
  };

  return {
    audio,
    callee: {
      speak(samples) {
        return new Promise((resolve) => {
          const entry = {
            frames: toFrames(samples),
            sent: 0,
            first: null as number | null,
            last: null as number | null,
            done: () => resolve({ firstVoicedAt: entry.first, lastVoicedAt: entry.last }),
          };
          calleeOut.push(entry);
        });
      },
      onHear(listener) {
        hearListeners.add(listener);
        return () => hearListeners.delete(listener);
      },
    },
    sent,
    flushes,
    voicedFrames(n) {
      return new Promise((resolve) => {
        let count = sent.filter((f) => f.voiced).length;
        if (count >= n) return resolve();
        const listener = (info: SentFrame) => {
          if (info.voiced && ++count >= n) {
            sentListeners.delete(listener);
            resolve();
          }
        };
        sentListeners.add(listener);
      });
    },
    start: () => ticker.start(),
    stop() {
      ticker.stop();
      for (const q of out.splice(0)) q.resolve({ completed: false, playedMs: q.sent * FRAME_MS });
      for (const c of calleeOut.splice(0)) c.done();
    },
  };
}
