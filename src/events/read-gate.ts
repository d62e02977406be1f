import type { Db } from '../db/client.js';
import type { Feed, FeedRead } from './call-feed.js';

/**
 * At most this many event-stream reads of one database run at once. Every write wakes every stream
 * that follows the call, and each wake is a read: 50 listeners on one call took the pool's connections
 * and made the call's own writes wait behind them (bench/events.bench.ts: 9x slower). Readers queue here
 * instead, and the rest of the pool stays free for the call path.
 */
export const STREAM_READS_AT_ONCE = 2;

/** A counting semaphore; waiters are served in arrival order. */
export class ReadGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((go) => this.waiting.push(go));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` counts it without a gap.
      if (next) next();
      else this.running--;
    }
  }

  /** Reads in flight and queued, for tests. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}

const gates = new WeakMap<Db, ReadGate>();

/** The gate of one database handle: every stream of a process over that pool shares it. */
export function readGateOf(db: Db): ReadGate {
  let gate = gates.get(db);
  if (!gate) {
    gate = new ReadGate(STREAM_READS_AT_ONCE);
    gates.set(db, gate);
  }
  return gate;
}

/** `feed` whose reads wait their turn at `gate`. */
export function gatedFeed(feed: Feed, gate: ReadGate): Feed {
  return { read: (): Promise<FeedRead> => gate.run(() => feed.read()) };
}
