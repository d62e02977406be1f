import type { MediaClock } from './clock.js';

export interface FrameTickerOptions {
  periodMs: number;
  clock: MediaClock;
  /**
   * After a stall (a blocked event loop, a GC pause) at most this many overdue slots run back to back;
   * older ones are skipped so the far end never gets a burst bigger than its jitter buffer absorbs.
   */
  maxBurst?: number;
  /** Runs once a slot; `slot` counts periods since start, skipped slots included. */
  onTick(slot: number): void;
  onError?(err: unknown): void;
}

export interface FrameTicker {
  start(): void;
  stop(): void;
  readonly running: boolean;
  /** The next slot to run. */
  readonly slot: number;
  /** Slots dropped after stalls. */
  readonly skippedSlots: number;
}

/**
 * A drift-free periodic tick: slot n runs at t0 + n·period of the monotonic clock, whatever the
 * lateness of each timer, so timer jitter never accumulates.
 */
export function createFrameTicker(opts: FrameTickerOptions): FrameTicker {
  const { periodMs, clock } = opts;
  const maxBurst = Math.max(1, opts.maxBurst ?? 4);
  if (!(periodMs > 0)) throw new RangeError(`periodMs must be positive, got ${periodMs}`);
  let t0 = 0;
  let slot = 0;
  let skipped = 0;
  let running = false;
  let cancel: (() => void) | null = null;

  const fire = () => {
    cancel = null;
    if (!running) return;
    const due = Math.floor((clock.now() - t0) / periodMs) + 1;
    if (due - slot > maxBurst) {
      skipped += due - maxBurst - slot;
      slot = due - maxBurst;
    }
    while (slot < due && running) {
      const s = slot++;
      try {
        opts.onTick(s);
      } catch (err) {
        opts.onError?.(err);
      }
    }
    if (running) cancel = clock.setTimer(fire, t0 + slot * periodMs - clock.now());
  };

  return {
    start() {
      if (running) return;
      running = true;
      // A restart continues the slot count, so whatever numbers slots (RTP timestamps) never goes back.
      t0 = clock.now() - slot * periodMs;
      fire();
    },
    stop() {
      running = false;
      cancel?.();
      cancel = null;
    },
    get running() {
      return running;
    },
    get slot() {
      return slot;
    },
    get skippedSlots() {
      return skipped;
    },
  };
}
