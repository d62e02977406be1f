/**
 * Time source of the media path: a monotonic millisecond clock and a one-shot timer. Tests pass a
 * manual clock; production uses `createSystemClock()` (performance.now + setTimeout).
 */
export interface MediaClock {
  /** Monotonic milliseconds (performance.now() in production). */
  now(): number;
  /** Calls `fn` once after `delayMs`; the returned function cancels it. */
  setTimer(fn: () => void, delayMs: number): () => void;
}

export function createSystemClock(): MediaClock {
  return {
    now: () => performance.now(),
    setTimer(fn, delayMs) {
      const t = setTimeout(fn, Math.max(0, delayMs));
      return () => clearTimeout(t);
    },
  };
}
