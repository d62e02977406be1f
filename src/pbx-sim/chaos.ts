import { createSeededRandom, type SeededRandom, seedFrom } from './seeded-random.js';

/**
 * Chaos mode of the simulated PBX: the timing and the transient failures a real Asterisk shows,
 * drawn at random from a seed, so tests meet them without a real Asterisk and a failing run can be
 * repeated from its seed. The rules (docs/telephony.md, "Chaos mode of the simulated PBX"):
 *
 * - **Events**: each event is delayed by 0–`maxDelayMs`, except that the events of one channel (or
 *   one bridge) keep their order. Asterisk publishes a channel's events on the channel's own topic,
 *   in order; a bridge's (entered, left, destroyed, its recording's) on the bridge's; what crosses
 *   topics comes from different threads in no fixed order. So the callee's and the media channel's
 *   events may overtake each other, a bridge event may come after the ChannelDestroyed of a channel
 *   that left it, and any event may come after the HTTP answer to the request that caused it (or,
 *   as before, before it). A `Dial` event belongs to its peer, the dialled channel, whose topic
 *   carries it. Events already delayed when an event socket drops are lost with it; on `stop()`
 *   they are sent before the sockets close.
 * - **Requests**: every ARI request (essential or not) waits 0–`maxDelayMs` before it is carried
 *   out and again before it is answered: Asterisk serves each on its own HTTP thread, so two
 *   requests in flight at once may be carried out in either order, and events may overtake answers.
 * - **Failures**: a non-essential request fails, with probability `errorRate`, before it is carried
 *   out, with a status and body Asterisk itself answers (`NON_ESSENTIAL` below: lookups, the variable
 *   read, stopping a recording, deleting a stored recording after its download). Originate, answer,
 *   continue, hangup, DTMF, externalMedia, bridge creation, addChannel, record, bridge destruction,
 *   the recording download and `/asterisk/*` never fail by chance: failing them changes what the call
 *   is, and the tests of those failures set them up one by one.
 *
 * Reproducibility: every kind of draw has its own stream, forked from the seed by a label (the event
 * type; the request's method and route pattern), so the n-th request to a route gets the same delay
 * and the same verdict under the same seed, however the calls of a test interleave around it.
 */
export interface ChaosOptions {
  /** The seed of every draw (any integer; log it: it reproduces the run). */
  seed: number;
  /** Most an event, or a request before it is carried out and again before it is answered, is delayed (default 50 ms). */
  maxDelayMs?: number;
  /** Share of non-essential requests that fail (default 0.2). */
  errorRate?: number;
}

export const CHAOS_DEFAULTS = { maxDelayMs: 50, errorRate: 0.2 } as const;

/** A failure Asterisk answers with: status and JSON body, as its res_ari writes them. */
export interface ChaosFailure {
  status: number;
  body: Record<string, string>;
}

/**
 * The requests chaos may fail, by method and route pattern (the swagger's path under /ari), with the
 * 500 message Asterisk's own handler gives for it where it has one (`res/ari/resource_*.c`). The
 * controller must carry on through each: a lookup is asked again or decided without, a variable
 * it cannot read leaves detection to the audio path, a recording stop is tried again (a transferred
 * call's bridge, and so its recording, outlives the call; otherwise the bridge's destruction stops
 * it), a stored recording left undeleted costs disk space, not the call.
 */
const NON_ESSENTIAL: Record<string, string | null> = {
  'GET /channels': null,
  'GET /channels/{channelId}': null,
  'GET /channels/{channelId}/variable': null,
  'GET /bridges': null,
  'GET /bridges/{bridgeId}': null,
  'GET /applications': null,
  'GET /applications/{applicationName}': null,
  'GET /recordings/stored': null,
  'GET /recordings/stored/{recordingName}': 'Error building response',
  'DELETE /recordings/stored/{recordingName}': 'Delete failed',
  'GET /recordings/live/{recordingName}': 'Error building response',
  'POST /recordings/live/{recordingName}/stop': 'Recording operation failed',
};

export function isNonEssential(method: string, routePath: string): boolean {
  return `${method} ${routePath}` in NON_ESSENTIAL;
}

export interface PbxChaos {
  readonly seed: number;
  readonly maxDelayMs: number;
  readonly errorRate: number;
  /** How long to hold this event back (its order within its channel is kept by the caller). */
  eventDelayMs(eventType: string): number;
  /** How long a request waits before it is carried out (`act`) or answered (`answer`). */
  requestDelayMs(method: string, routePath: string, phase: 'act' | 'answer'): number;
  /** The failure this request gets instead of being carried out, or null. */
  failure(method: string, routePath: string): ChaosFailure | null;
}

export function createChaos(opts: ChaosOptions): PbxChaos {
  const maxDelayMs = opts.maxDelayMs ?? CHAOS_DEFAULTS.maxDelayMs;
  const errorRate = opts.errorRate ?? CHAOS_DEFAULTS.errorRate;
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) throw new Error('chaos: maxDelayMs must be ≥ 0');
  if (!Number.isFinite(errorRate) || errorRate < 0 || errorRate > 1)
    throw new Error('chaos: errorRate must be between 0 and 1');
  const root = createSeededRandom(opts.seed);
  const streams = new Map<string, SeededRandom>();
  const stream = (label: string): SeededRandom => {
    let s = streams.get(label);
    if (!s) {
      s = root.fork(label);
      streams.set(label, s);
    }
    return s;
  };
  return {
    seed: root.seed,
    maxDelayMs,
    errorRate,
    eventDelayMs: (type) => stream(`event ${type}`).int(0, maxDelayMs),
    requestDelayMs: (method, routePath, phase) =>
      stream(`${phase} ${method} ${routePath}`).int(0, maxDelayMs),
    failure(method, routePath): ChaosFailure | null {
      const key = `${method} ${routePath}`;
      if (!(key in NON_ESSENTIAL)) return null;
      const s = stream(`fail ${key}`);
      if (!s.chance(errorRate)) return null;
      // Mostly the 500s of Asterisk's handlers; now and then the 503 res_ari gives while Asterisk
      // is not fully booted (as after a restart), which a client sees the same way.
      if (s.chance(0.2)) return { status: 503, body: { message: 'Asterisk not booted' } };
      const message = NON_ESSENTIAL[key];
      // An allocation failure is answered with `error`, not `message` (res_ari.c's oom_json).
      const body: Record<string, string> = message ? { message } : { error: 'Allocation failed' };
      return { status: 500, body };
    },
  };
}

/**
 * Chaos options from the environment, so a whole test file can run in chaos:
 * `PBX_SIM_CHAOS_SEED` (turns it on), `PBX_SIM_CHAOS_MAX_DELAY_MS`, `PBX_SIM_CHAOS_ERROR_RATE`.
 * Undefined when no seed is set; a malformed value throws, naming the variable.
 */
export function chaosFromEnv(env: NodeJS.ProcessEnv = process.env): ChaosOptions | undefined {
  const seed = env.PBX_SIM_CHAOS_SEED?.trim();
  if (!seed) return undefined;
  const num = (name: string, value: string | undefined, min: number, max: number) => {
    if (value === undefined || value.trim() === '') return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`${name} must be a number from ${min} to ${max}, not "${value}"`);
    return n;
  };
  // A seed is any integer, or any text (hashed), so a CI run id can serve as one.
  const parsed = /^-?\d+$/.test(seed) ? Number(seed) : seedFrom(seed);
  return {
    seed: parsed,
    maxDelayMs: num('PBX_SIM_CHAOS_MAX_DELAY_MS', env.PBX_SIM_CHAOS_MAX_DELAY_MS, 0, 10_000),
    errorRate: num('PBX_SIM_CHAOS_ERROR_RATE', env.PBX_SIM_CHAOS_ERROR_RATE, 0, 1),
  };
}

/**
 * Delayed delivery that keeps order within a key: an item is delivered at the later of its own time
 * and that of the item before it under the same key; items under different keys pass each other.
 * Owns its timers: `flush()` delivers what is pending at once, `clear()` drops it.
 */
export class OrderedDelays {
  private readonly queues = new Map<
    string,
    { items: { at: number; fn: () => void }[]; timer: NodeJS.Timeout | null }
  >();

  constructor(private readonly onError: (err: unknown) => void) {}

  push(key: string, delayMs: number, fn: () => void): void {
    let q = this.queues.get(key);
    if (!q) {
      q = { items: [], timer: null };
      this.queues.set(key, q);
    }
    const last = q.items.at(-1);
    const at = Math.max(performance.now() + delayMs, last?.at ?? 0);
    q.items.push({ at, fn });
    if (!q.timer) this.arm(key);
  }

  /** Delivers everything pending now, each key's items in their order. */
  flush(): void {
    for (const [key, q] of [...this.queues]) {
      if (q.timer) clearTimeout(q.timer);
      this.queues.delete(key);
      for (const item of q.items) this.run(item.fn);
    }
  }

  clear(): void {
    for (const q of this.queues.values()) if (q.timer) clearTimeout(q.timer);
    this.queues.clear();
  }

  private arm(key: string): void {
    const q = this.queues.get(key);
    if (!q) return;
    const head = q.items[0];
    q.timer = setTimeout(
      () => {
        q.timer = null;
        // The head is due (its timer fired); the items behind it that are due by now go with it.
        const now = performance.now();
        let item = q.items.shift();
        while (item) {
          this.run(item.fn);
          if (!q.items.length || q.items[0].at > now) break;
          item = q.items.shift();
        }
        if (q.items.length) this.arm(key);
        else this.queues.delete(key);
      },
      Math.max(0, head.at - performance.now()),
    );
  }

  private run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }
}
