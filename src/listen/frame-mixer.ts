import { createSystemClock, type MediaClock } from '../telephony/media/clock.js';
import { createFrameTicker, type FrameTicker } from '../telephony/media/frame-ticker.js';

/** Adds two PCM frames sample by sample into a new frame, clipped to 16 bits; a missing side is silence. */
export function mixFrames(a: Int16Array | null, b: Int16Array | null, samplesPerFrame: number): Int16Array {
  const out = new Int16Array(samplesPerFrame);
  for (let i = 0; i < samplesPerFrame; i++) {
    const sum = (a && i < a.length ? a[i] : 0) + (b && i < b.length ? b[i] : 0);
    out[i] = Math.min(32767, Math.max(-32768, sum));
  }
  return out;
}

/**
 * One side's frames waiting for the mixer's next tick. The two sides and the tick run on separate
 * timers, so a side that runs dry waits for two frames before it is read again: one frame of slack
 * absorbs the timers' jitter instead of alternating silence and backlog. Bounded: a side that runs
 * ahead (a burst after a stall) loses its oldest frames, so the delay never grows.
 */
class SideQueue {
  private frames: Int16Array[] = [];
  private priming = true;
  constructor(private readonly maxFrames: number) {}

  push(frame: Int16Array): void {
    this.frames.push(frame.slice());
    if (this.frames.length > this.maxFrames) this.frames.shift();
  }

  take(): Int16Array | null {
    if (this.priming && this.frames.length < 2) return null;
    this.priming = false;
    const f = this.frames.shift() ?? null;
    if (!f) this.priming = true;
    return f;
  }
}

export interface FrameMixerOptions {
  sampleRate: number;
  frameMs?: number;
  clock?: MediaClock;
  /** Most frames a side may hold before its oldest is dropped (bounds the delay). */
  maxSideFrames?: number;
  /** Gets each mixed frame, one a frame period; the frame is the receiver's to keep. */
  onMixed(frame: Int16Array): void;
  onError?(err: unknown): void;
}

export interface FrameMixer {
  /** What the callee said (the media path's inbound frames). */
  pushInbound(frame: Int16Array): void;
  /** What the agent played (the pacer's outbound frames). */
  pushOutbound(frame: Int16Array): void;
  start(): void;
  stop(): void;
}

/**
 * Mixes the callee's and the agent's frames into one mono stream on its own frame clock, so the mix
 * keeps flowing when a side sends nothing (chan_websocket sends no idle silence; a two-party bridge
 * passes nothing from a silent party). Runs only between `start` and `stop`.
 */
export function createFrameMixer(opts: FrameMixerOptions): FrameMixer {
  const frameMs = opts.frameMs ?? 20;
  const samplesPerFrame = Math.round((opts.sampleRate * frameMs) / 1000);
  const maxSide = opts.maxSideFrames ?? 4;
  let inbound = new SideQueue(maxSide);
  let outbound = new SideQueue(maxSide);
  let ticker: FrameTicker | null = null;
  const clock = opts.clock ?? createSystemClock();
  return {
    pushInbound: (f) => {
      if (ticker) inbound.push(f);
    },
    pushOutbound: (f) => {
      if (ticker) outbound.push(f);
    },
    start() {
      if (ticker) return;
      ticker = createFrameTicker({
        periodMs: frameMs,
        clock,
        maxBurst: 2,
        onTick: () => opts.onMixed(mixFrames(inbound.take(), outbound.take(), samplesPerFrame)),
        onError: opts.onError,
      });
      ticker.start();
    },
    stop() {
      ticker?.stop();
      ticker = null;
      inbound = new SideQueue(maxSide);
      outbound = new SideQueue(maxSide);
    },
  };
}
