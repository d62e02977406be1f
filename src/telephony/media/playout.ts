import type { MediaClock } from './clock.js';

/**
 * How a wait for the far end to play our queued audio ended: `played` (it did), `flushed` (a flush
 * dropped what was left, so nothing remains to be heard), `timeout` (the far end never confirmed
 * within the bound) or `closed` (the media is gone: nobody is left to hear it).
 */
export type PlayoutResult = 'played' | 'flushed' | 'timeout' | 'closed';

export interface PlayoutOptions {
  /** Added to the duration of the audio still queued to bound the wait (default 2 s). */
  marginMs?: number;
}

export const DEFAULT_PLAYOUT_MARGIN_MS = 2000;

/**
 * The pending waits of one media path. Each is bounded by a timer on the media clock and ended at
 * once, for all of them, when the path is flushed or closed.
 */
export interface PlayoutWaits {
  /**
   * Runs `start`, which calls `done('played')` once the far end has played everything; resolves with
   * the first outcome. `start` may return a cleanup, run when the wait ends however it ends.
   */
  wait(
    boundMs: number,
    start: (done: (r: PlayoutResult) => void) => (() => void) | undefined,
  ): Promise<PlayoutResult>;
  /** Ends every pending wait with `result`. */
  endAll(result: PlayoutResult): void;
}

export function createPlayoutWaits(clock: MediaClock): PlayoutWaits {
  const active = new Set<(r: PlayoutResult) => void>();
  return {
    wait(boundMs, start) {
      return new Promise<PlayoutResult>((resolve) => {
        let ended = false;
        let cleanup: (() => void) | undefined;
        const done = (r: PlayoutResult) => {
          if (ended) return;
          ended = true;
          active.delete(done);
          cancelTimer();
          cleanup?.();
          resolve(r);
        };
        const cancelTimer = clock.setTimer(() => done('timeout'), Math.max(0, boundMs));
        active.add(done);
        cleanup = start(done);
        if (ended) cleanup?.();
      });
    },
    endAll(result) {
      for (const done of [...active]) done(result);
    },
  };
}
