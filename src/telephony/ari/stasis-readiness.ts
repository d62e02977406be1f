import { AriError } from './client.js';
import type { AriEvent } from './types.js';

/**
 * Asterisk answers a request that creates a channel for our application (externalMedia, an
 * originate) before that channel is in the application: Stasis() runs for it on another thread, and
 * its `StasisStart` arrives after the HTTP answer (or, now and then, before it). Until then the
 * channel has no Stasis control, and Asterisk refuses to act on it: `addChannel` is
 * `422 Channel not in Stasis application`, channel operations `409`. So each channel we create is
 * used only once its StasisStart came (this tracker), and that 422 is retried a few times besides.
 */

/** A channel we created did not enter the application in time. */
export class StasisEntryTimeout extends Error {
  constructor(
    readonly channelId: string,
    /** What the channel is for, in words ("the externalMedia channel"). */
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} ${channelId} did not enter the application within ${timeoutMs} ms`);
    this.name = 'StasisEntryTimeout';
  }
}

/** A channel we waited for was destroyed before it entered the application. */
export class ChannelGoneBeforeStasis extends Error {
  constructor(
    readonly channelId: string,
    readonly what: string,
  ) {
    super(`${what} ${channelId} was destroyed before it entered the application`);
    this.name = 'ChannelGoneBeforeStasis';
  }
}

interface Waiter {
  resolve(args: string[]): void;
  reject(err: Error): void;
  what: string;
}

/**
 * Which of a call's channels are in the application, from the events. Fed every ARI event of the
 * call; `wait` resolves once a channel is in (at once when its StasisStart already came, as it may
 * before the HTTP answer that names the channel).
 */
export class StasisEntries {
  /** Channels in the application now, with the args of their StasisStart. */
  private readonly inside = new Map<string, string[]>();
  private readonly destroyed = new Set<string>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  /** The channel ids followed: a call's own channels (the client carries every call's events). */
  private readonly followed: Set<string>;

  constructor(channelIds: Iterable<string> = []) {
    this.followed = new Set(channelIds);
  }

  /** Follows one more channel; call it before the request that creates it (its StasisStart may come first). */
  follow(channelId: string): void {
    this.followed.add(channelId);
  }

  onEvent(ev: AriEvent): void {
    if (ev.type !== 'StasisStart' && ev.type !== 'StasisEnd' && ev.type !== 'ChannelDestroyed') return;
    const id = ev.channel?.id;
    if (!id || !this.followed.has(id)) return;
    if (ev.type === 'StasisStart') {
      const args = ev.args ?? [];
      this.inside.set(id, args);
      for (const w of this.take(id)) w.resolve(args);
    } else if (ev.type === 'StasisEnd') {
      this.inside.delete(id);
    } else {
      this.inside.delete(id);
      this.destroyed.add(id);
      for (const w of this.take(id)) w.reject(new ChannelGoneBeforeStasis(id, w.what));
    }
  }

  /** Whether the channel is in the application now. */
  isInside(channelId: string): boolean {
    return this.inside.has(channelId);
  }

  /**
   * Resolves with the StasisStart args once the channel is in the application; rejects with
   * StasisEntryTimeout after `timeoutMs`, ChannelGoneBeforeStasis when it is destroyed first, or
   * the signal's reason when the signal aborts (the timer is cleared then too).
   */
  wait(channelId: string, opts: { what: string; timeoutMs: number; signal: AbortSignal }): Promise<string[]> {
    const args = this.inside.get(channelId);
    if (args) return Promise.resolve(args);
    if (this.destroyed.has(channelId))
      return Promise.reject(new ChannelGoneBeforeStasis(channelId, opts.what));
    if (opts.signal.aborted) return Promise.reject(opts.signal.reason);
    return new Promise<string[]>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        opts.signal.removeEventListener('abort', onAbort);
        this.waiters.get(channelId)?.delete(waiter);
      };
      const waiter: Waiter = {
        what: opts.what,
        resolve: (a) => {
          done();
          resolve(a);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(
        () => waiter.reject(new StasisEntryTimeout(channelId, opts.what, opts.timeoutMs)),
        opts.timeoutMs,
      );
      const onAbort = () => waiter.reject(opts.signal.reason);
      opts.signal.addEventListener('abort', onAbort, { once: true });
      let set = this.waiters.get(channelId);
      if (!set) {
        set = new Set();
        this.waiters.set(channelId, set);
      }
      set.add(waiter);
    });
  }

  private take(channelId: string): Waiter[] {
    const set = this.waiters.get(channelId);
    this.waiters.delete(channelId);
    return set ? [...set] : [];
  }
}

/** Asterisk's refusal of a channel that exists but is not (yet, or no longer) in the application. */
export function isNotInStasis(err: unknown): err is AriError {
  return (
    err instanceof AriError &&
    (err.status === 422 || err.status === 409) &&
    /^Channel not in (a )?Stasis application$/i.test(err.ariMessage.trim())
  );
}

/** The waits between tries of a request refused with "not in Stasis": about 1.5 s in all. */
export const NOT_IN_STASIS_RETRY_DELAYS_MS: readonly number[] = [20, 40, 80, 160, 320, 640];

/**
 * Runs `op`, and runs it again after a short wait while Asterisk refuses it because a channel is not
 * in the application yet (`isNotInStasis`), at most `delaysMs.length` more times; then the last
 * refusal is thrown. Any other error is thrown at once. The waits end early, with the signal's
 * reason, when `signal` aborts.
 */
export async function retryWhileNotInStasis<T>(
  op: () => Promise<T>,
  opts: {
    signal: AbortSignal;
    delaysMs?: readonly number[];
    /** Told before each retry (the client has logged the refused request already). */
    onRetry?: (err: AriError, attempt: number, delayMs: number) => void;
  },
): Promise<T> {
  const delays = opts.delaysMs ?? NOT_IN_STASIS_RETRY_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isNotInStasis(err) || attempt >= delays.length) throw err;
      const delayMs = delays[attempt];
      opts.onRetry?.(err, attempt + 1, delayMs);
      await sleep(delayMs, opts.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
