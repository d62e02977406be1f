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
 * One 20 ms clock for the whole PBX, scheduled against `performance.now()` so it does not drift;
 * after a stall longer than 200 ms it resynchronises instead of bursting, as a real PBX would drop
 * rather than play catch-up. The dropped frames show as a jump in the ticks' times, so what keeps a
 * timeline (a recording) can fill the gap.
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
    if (t - next > 200) next = t;
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
