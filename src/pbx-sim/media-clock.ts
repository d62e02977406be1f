import { performance } from 'node:perf_hooks';

export const FRAME_MS = 20;
/** The simulator mixes at 16 kHz; 8 kHz codecs are converted at the channel edge. */
export const MIX_RATE = 16_000;
export const FRAME_SAMPLES = (MIX_RATE * FRAME_MS) / 1000;

/** A listener gets the tick's time on the clock's timeline (`now()`), 20 ms after the previous one except after a drop. */
export type TickListener = (at: number) => void;

export interface MediaClock {
  /** Adds a tick listener; returns its remover. Phase `produce` runs before `deliver` on every tick. */
  on(phase: 'produce' | 'deliver', fn: TickListener): () => void;
  /** The clock's timeline in milliseconds: wall-clock time, whether or not the ticks kept up with it. */
  now(): number;
  stop(): void;
}

/**
 * A stall of the host process up to this long is made up by running the missed ticks at once.
 * The simulator shares its event loop with whatever embeds it (the worker, a test), so a stall is
 * not the PBX's doing: a real PBX in its own process would have played those frames on time.
 * Dropping them instead left the app's audio queued behind real time (a 1 s tone played just before
 * hanging up never reached the recording) and recordings short of the call (17.5 s for 35.5 s).
 */
export const CATCH_UP_MS = 1000;

/**
 * One 20 ms clock for the whole PBX, scheduled against `performance.now()` so it does not drift.
 * After a stall it plays catch-up up to CATCH_UP_MS; past that it resynchronises instead of
 * bursting for ever. The frames it then drops show as a jump in the ticks' times, so what keeps a
 * timeline (a recording) can fill the gap with silence.
 */
export function createMediaClock(
  onError: (err: unknown) => void,
  now: () => number = () => performance.now(),
): MediaClock {
  const listeners = { produce: new Set<TickListener>(), deliver: new Set<TickListener>() };
  let timer: NodeJS.Timeout | null = null;
  let next = 0;
  let stopped = false;

  const runPhase = (set: Set<TickListener>, at: number) => {
    for (const fn of [...set]) {
      try {
        fn(at);
      } catch (err) {
        onError(err);
      }
    }
  };

  const tick = () => {
    timer = null;
    if (stopped) return;
    const t = now();
    if (t - next > CATCH_UP_MS) next = t;
    while (next <= t) {
      runPhase(listeners.produce, next);
      runPhase(listeners.deliver, next);
      next += FRAME_MS;
    }
    schedule();
  };

  const schedule = () => {
    if (stopped || timer || listeners.produce.size + listeners.deliver.size === 0) return;
    timer = setTimeout(tick, Math.max(0, next - now()));
  };

  return {
    on(phase, fn) {
      if (listeners.produce.size + listeners.deliver.size === 0) next = now() + FRAME_MS;
      listeners[phase].add(fn);
      schedule();
      return () => {
        listeners[phase].delete(fn);
        if (listeners.produce.size + listeners.deliver.size === 0 && timer) {
          clearTimeout(timer);
          timer = null;
        }
      };
    },
    now,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      listeners.produce.clear();
      listeners.deliver.clear();
    },
  };
}
