import { isDatabaseUnavailable } from '../db/unavailable.js';

export interface RetryOptions {
  /** Ends the retries: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Told after each failed try (1-based), before the wait. */
  onError?: (err: unknown, attempt: number) => void;
  /**
   * Tries allowed for an error that is not the database being unreachable (a refused write, a trigger,
   * a constraint); unlimited by default. Unreachable-database errors are always retried.
   */
  maxRefusals?: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `op` until it succeeds, waiting between tries with capped exponential backoff and jitter, so
 * a write outlives a database restart or a long outage instead of being lost with the first error.
 */
export async function retryUntilStored<T>(op: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const first = opts.firstDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 10_000;
  let refusals = 0;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await op();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      opts.onError?.(err, attempt);
      if (!isDatabaseUnavailable(err) && ++refusals >= (opts.maxRefusals ?? Number.POSITIVE_INFINITY)) {
        throw err;
      }
      const base = Math.min(max, first * 2 ** Math.min(attempt - 1, 20));
      await pause(base / 2 + Math.random() * (base / 2), opts.signal);
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
