import { createSystemClock, type MediaClock } from './clock.js';
import { createFrameTicker } from './frame-ticker.js';

export interface SentFrameInfo {
  /** Frame slot since the pacer started (skipped slots after a stall included): the RTP clock. */
  slot: number;
  voiced: boolean;
  /** First queued frame after idle: RTP sets the marker bit on it. */
  talkspurtStart: boolean;
  /** False for comfort silence sent while the queue is empty. */
  fromQueue: boolean;
  /** Clock time the frame left (performance.now() in production). */
  atMs: number;
}

export interface PacerOptions {
  sampleRate: number;
  frameMs?: number;
  /**
   * What an empty queue sends: `silence` keeps a frame every period flowing (RTP into an Asterisk
   * mixing bridge needs it), `none` sends nothing (chan_websocket makes its own silence).
   */
  idle?: 'silence' | 'none';
  /** Puts one frame on the wire; it must not keep a reference to `frame` after returning. */
  send(frame: Int16Array, info: SentFrameInfo): void;
  clock?: MediaClock;
  maxBurstFrames?: number;
  /** RMS level above which a frame counts as voiced. */
  voicedRms?: number;
  onError?(err: unknown): void;
}

export interface PlayResult {
  completed: boolean;
  playedMs: number;
  /**
   * The media path is gone (the pacer was stopped): nothing more can be played on it. A caller that
   * plays again what was not completed must stop instead, or it loops: a stopped pacer answers at once.
   */
  closed?: boolean;
}

export interface PacerStats {
  framesSent: number;
  audioFrames: number;
  silenceFrames: number;
  skippedSlots: number;
  queuedMs: number;
}

export interface Pacer {
  readonly samplesPerFrame: number;
  start(): void;
  /** Stops sending for good; pending and later plays resolve with `completed: false, closed: true`. */
  stop(): void;
  /** Holds the queue without sending or dropping anything (flow control); `resume()` continues. */
  pause(): void;
  resume(): void;
  play(samples: Int16Array): Promise<PlayResult>;
  /** Drops every queued frame now; pending plays resolve with `completed: false`. */
  flush(): void;
  /** `frame` is the PCM that left (read it during the call only: the pacer reuses idle silence). */
  onFrameSent(listener: (info: SentFrameInfo, frame: Int16Array) => void): () => void;
  stats(): PacerStats;
  /** Resolves once nothing is queued: the last queued frame left, or `flush()`/`stop()` dropped the rest. */
  whenEmpty(): Promise<void>;
  /**
   * Clock time by which a far end that plays one frame a period, in arrival order, has played the
   * last queued (non-idle) frame sent: frames sent in a burst after a stall wait there behind each
   * other, comfort silence included, and play out one period apart.
   */
  readonly playedOutAtMs: number;
}

interface Segment {
  samples: Int16Array;
  offset: number;
  resolve(result: PlayResult): void;
}

export const DEFAULT_VOICED_RMS = 200;

/** RMS of a frame compared against a threshold (the "voiced" flag of latency stamps). */
export function isVoiced(frame: Int16Array, thresholdRms = DEFAULT_VOICED_RMS): boolean {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  return frame.length > 0 && sum / frame.length > thresholdRms * thresholdRms;
}

/**
 * Sends queued PCM one frame a period on a drift-free clock. Consecutive `play()` calls are
 * joined sample-exactly, so sentence-by-sentence TTS plays without gaps; the last frame of a
 * queue is padded with silence.
 */
export function createPacer(opts: PacerOptions): Pacer {
  const frameMs = opts.frameMs ?? 20;
  const spf = Math.round((opts.sampleRate * frameMs) / 1000);
  if (!Number.isInteger((opts.sampleRate * frameMs) / 1000) || spf <= 0) {
    throw new RangeError(`a ${frameMs} ms frame at ${opts.sampleRate} Hz is not a whole number of samples`);
  }
  const clock = opts.clock ?? createSystemClock();
  const idle = opts.idle ?? 'silence';
  const threshold = opts.voicedRms ?? DEFAULT_VOICED_RMS;
  const silence = new Int16Array(spf);
  const listeners = new Set<(info: SentFrameInfo, frame: Int16Array) => void>();
  let queue: Segment[] = [];
  let queued = 0;
  let stopped = false;
  let lastFromQueue = false;
  let framesSent = 0;
  let audioFrames = 0;
  let silenceFrames = 0;
  /** When the far end finishes the last frame sent, and the last queued one. */
  let farEndFreeAtMs = 0;
  let playedOutAtMs = 0;
  const emptyWaiters: (() => void)[] = [];
  const notifyEmpty = () => {
    if (queue.length > 0) return;
    for (const w of emptyWaiters.splice(0)) w();
  };
  const msOf = (samples: number) => (samples * 1000) / opts.sampleRate;

  const emit = (frame: Int16Array, slot: number, fromQueue: boolean) => {
    const info: SentFrameInfo = {
      slot,
      voiced: fromQueue && isVoiced(frame, threshold),
      talkspurtStart: fromQueue && !lastFromQueue,
      fromQueue,
      atMs: clock.now(),
    };
    lastFromQueue = fromQueue;
    opts.send(frame, info);
    framesSent++;
    // The far end starts this frame when it arrives or when the one before it ends, whichever is later.
    farEndFreeAtMs = Math.max(info.atMs, farEndFreeAtMs) + frameMs;
    if (fromQueue) playedOutAtMs = farEndFreeAtMs;
    if (fromQueue) audioFrames++;
    else silenceFrames++;
    for (const l of listeners) {
      try {
        l(info, frame);
      } catch (err) {
        opts.onError?.(err);
      }
    }
  };

  const tick = (slot: number) => {
    if (queue.length === 0) {
      lastFromQueue = false;
      if (idle === 'silence') emit(silence, slot, false);
      return;
    }
    const frame = new Int16Array(spf);
    let filled = 0;
    const finished: Segment[] = [];
    while (filled < spf && queue.length > 0) {
      const seg = queue[0];
      const n = Math.min(spf - filled, seg.samples.length - seg.offset);
      frame.set(seg.samples.subarray(seg.offset, seg.offset + n), filled);
      seg.offset += n;
      filled += n;
      queued -= n;
      if (seg.offset >= seg.samples.length) finished.push(queue.shift()!);
    }
    emit(frame, slot, true);
    for (const seg of finished) seg.resolve({ completed: true, playedMs: msOf(seg.samples.length) });
    notifyEmpty();
  };

  const ticker = createFrameTicker({
    periodMs: frameMs,
    clock,
    maxBurst: opts.maxBurstFrames ?? 4,
    onTick: tick,
    onError: opts.onError,
  });

  const dropAll = (closed: boolean) => {
    const dropped = queue;
    queue = [];
    queued = 0;
    for (const seg of dropped)
      seg.resolve(
        closed
          ? { completed: false, playedMs: msOf(seg.offset), closed: true }
          : { completed: false, playedMs: msOf(seg.offset) },
      );
    notifyEmpty();
  };

  return {
    samplesPerFrame: spf,
    start() {
      if (!stopped) ticker.start();
    },
    stop() {
      stopped = true;
      ticker.stop();
      dropAll(true);
    },
    pause() {
      ticker.stop();
    },
    resume() {
      if (!stopped) ticker.start();
    },
    play(samples) {
      // Answered at once, so it says why: a caller that replays the unplayed rest would spin on it.
      if (stopped) return Promise.resolve({ completed: false, playedMs: 0, closed: true });
      if (samples.length === 0) return Promise.resolve({ completed: true, playedMs: 0 });
      return new Promise<PlayResult>((resolve) => {
        // Copy: the caller may reuse its buffer while this is still queued.
        queue.push({ samples: samples.slice(), offset: 0, resolve });
        queued += samples.length;
      });
    },
    flush: () => dropAll(false),
    onFrameSent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    whenEmpty() {
      if (queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => emptyWaiters.push(resolve));
    },
    get playedOutAtMs() {
      return playedOutAtMs;
    },
    stats: () => ({
      framesSent,
      audioFrames,
      silenceFrames,
      skippedSlots: ticker.skippedSlots,
      queuedMs: msOf(queued),
    }),
  };
}
