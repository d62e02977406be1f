import type { MediaClock } from '../../src/telephony/media/clock.js';

/**
 * A clock for deterministic tests: time only moves when the test says, and timers fire as it
 * passes them, optionally late (as real timers are) by `lateness()` ms.
 */
export function createManualClock(start = 1000) {
  let now = start;
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: MediaClock & {
    advance(ms: number, lateness?: () => number): void;
    /** Moves time without running timers: a blocked event loop. */
    stall(ms: number): void;
    pending(): number;
  } = {
    now: () => now,
    setTimer(fn, delayMs) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, delayMs), fn });
      return () => timers.delete(id);
    },
    advance(ms, lateness = () => 0) {
      const end = now + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers) if (!first || e[1].at < first[1].at) first = e;
        if (!first || first[1].at > end) break;
        timers.delete(first[0]);
        now = Math.min(end, Math.max(now, first[1].at + lateness()));
        first[1].fn();
      }
      now = end;
    },
    stall(ms) {
      now += ms;
    },
    pending: () => timers.size,
  };
  return clock;
}
