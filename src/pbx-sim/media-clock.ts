import { performance } from 'node:perf_hooks';

export const FRAME_MS = 20;
/** The simulator mixes at 16 kHz; 8 kHz codecs are converted at the channel edge. */
export const MIX_RATE = 16_000;
export const FRAME_SAMPLES = (MIX_RATE * FRAME_MS) / 1000;

export interface MediaClock {
  /** Adds a tick listener; returns its remover. Phase `produce` runs before `deliver` on every tick. */
  on(phase: 'produce' | 'deliver', fn: () => void): () => void;
  stop(): void;
}

/**
 * One 20 ms clock for the whole PBX, scheduled against `performance.now()` so it does not drift;
 * after a stall longer than 200 ms it resynchronises instead of bursting, as a real PBX would drop
 * rather than play catch-up.
 */
export function createMediaClock(onError: (err: unknown) => void): MediaClock {
  const listeners = { produce: new Set<() => void>(), deliver: new Set<() => void>() };
  let timer: NodeJS.Timeout | null = null;
  let next = 0;
  let stopped = false;

  const runPhase = (set: Set<() => void>) => {
    for (const fn of [...set]) {
      try {
        fn();
      } catch (err) {
        onError(err);
      }
    }
  };

  const tick = () => {
    timer = null;
    if (stopped) return;
    const now = performance.now();
    if (now - next > 200) next = now;
    while (next <= now) {
      runPhase(listeners.produce);
      runPhase(listeners.deliver);
      next += FRAME_MS;
    }
    schedule();
  };

  const schedule = () => {
    if (stopped || timer || listeners.produce.size + listeners.deliver.size === 0) return;
    timer = setTimeout(tick, Math.max(0, next - performance.now()));
  };

  return {
    on(phase, fn) {
      if (listeners.produce.size + listeners.deliver.size === 0) next = performance.now() + FRAME_MS;
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
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      listeners.produce.clear();
      listeners.deliver.clear();
    },
  };
}
