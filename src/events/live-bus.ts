import crypto from 'node:crypto';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';

/**
 * What travels on the bus. `changed`: a row of the call (status, note, turn) was stored, so readers
 * should look at the database now. `partial`: the callee's words so far, never stored, live only.
 */
export type LiveMessage =
  | { kind: 'changed'; callId: string; accountId: string }
  | { kind: 'partial'; callId: string; accountId: string; text: string };

export interface LiveBus {
  /** Never blocks and never throws: a message that cannot be sent is dropped (readers poll anyway). */
  publish(msg: LiveMessage): void;
  /** `onClose` runs once when the bus closes (the server stops), so streams can end at once. */
  subscribe(fn: (msg: LiveMessage) => void, onClose?: () => void): () => void;
  close(): Promise<void>;
}

export const LIVE_CHANNEL = 'agentline_live';
/** NOTIFY refuses payloads of 8000 bytes or more; the JSON around the text needs about 200. */
export const MAX_PARTIAL_TEXT_BYTES = 4000;
/** NOTIFYs in flight at once; past this (the database is slow or down) messages are dropped. */
const MAX_NOTIFIES_IN_FLIGHT = 64;

/** Cuts `text` to at most `maxBytes` of UTF-8 on a character boundary. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = Buffer.from(text).subarray(0, maxBytes).toString('utf8');
  // A cut inside a multi-byte character decodes to U+FFFD at the end.
  while (out.endsWith('\uFFFD')) out = out.slice(0, -1);
  return out;
}

/** Subscribers of one process; the in-process half of every bus. */
class LocalFanout {
  private readonly subs = new Map<(msg: LiveMessage) => void, (() => void) | undefined>();
  closed = false;

  constructor(private readonly logger: Logger) {}

  deliver(msg: LiveMessage): void {
    for (const fn of [...this.subs.keys()]) {
      try {
        fn(msg);
      } catch (err) {
        this.logger.error({ err }, 'live event subscriber threw');
      }
    }
  }

  subscribe(fn: (msg: LiveMessage) => void, onClose?: () => void): () => void {
    if (this.closed) {
      onClose?.();
      return () => {};
    }
    this.subs.set(fn, onClose);
    return () => {
      this.subs.delete(fn);
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const closers = [...this.subs.values()];
    this.subs.clear();
    for (const c of closers) {
      try {
        c?.();
      } catch (err) {
        this.logger.error({ err }, 'live event subscriber threw on close');
      }
    }
  }
}

/** One process (PGlite, tests): publish delivers to this process's subscribers only. */
export function createLocalBus(logger: Logger): LiveBus {
  const local = new LocalFanout(logger);
  return {
    publish: (msg) => {
      if (!local.closed) local.deliver(trimmed(msg));
    },
    subscribe: (fn, onClose) => local.subscribe(fn, onClose),
    close: async () => local.close(),
  };
}

/**
 * Several processes on one PostgreSQL: each message goes to this process's subscribers at once and
 * to the others through NOTIFY. A process hears its own NOTIFYs too; the origin id drops those.
 * A lost NOTIFY (the listening connection was down) costs only latency: readers also poll.
 */
export async function createPostgresBus(
  database: Required<Pick<Database, 'listen' | 'notify'>>,
  logger: Logger,
): Promise<LiveBus> {
  const local = new LocalFanout(logger);
  const origin = crypto.randomBytes(6).toString('hex');
  let inFlight = 0;
  let dropped = 0;
  const listening = await database.listen(LIVE_CHANNEL, (payload) => {
    const msg = parseWire(payload, origin);
    if (msg && !local.closed) local.deliver(msg);
  });
  return {
    publish: (msg) => {
      if (local.closed) return;
      const m = trimmed(msg);
      local.deliver(m);
      if (inFlight >= MAX_NOTIFIES_IN_FLIGHT) {
        if (dropped++ % 100 === 0) logger.warn({ dropped }, 'live events: NOTIFY backlog full; dropping');
        return;
      }
      inFlight++;
      database
        .notify(LIVE_CHANNEL, JSON.stringify({ o: origin, ...m }))
        .catch((err) => logger.debug({ err }, 'live events: NOTIFY failed'))
        .finally(() => {
          inFlight--;
        });
    },
    subscribe: (fn, onClose) => local.subscribe(fn, onClose),
    close: async () => {
      if (local.closed) return;
      local.close();
      await listening.unlisten().catch((err) => logger.debug({ err }, 'live events: UNLISTEN failed'));
    },
  };
}

/** The bus for this database: LISTEN/NOTIFY on PostgreSQL, in-process on PGlite. */
export async function createLiveBus(database: Database, logger: Logger): Promise<LiveBus> {
  const { listen, notify } = database;
  if (listen && notify) return createPostgresBus({ listen, notify }, logger);
  return createLocalBus(logger);
}

function trimmed(msg: LiveMessage): LiveMessage {
  if (msg.kind !== 'partial') return msg;
  return { ...msg, text: cutUtf8(msg.text, MAX_PARTIAL_TEXT_BYTES) };
}

function parseWire(payload: string, ownOrigin: string): LiveMessage | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (v.o === ownOrigin) return null;
  if (typeof v.callId !== 'string' || typeof v.accountId !== 'string') return null;
  if (v.kind === 'changed') return { kind: 'changed', callId: v.callId, accountId: v.accountId };
  if (v.kind === 'partial' && typeof v.text === 'string')
    return { kind: 'partial', callId: v.callId, accountId: v.accountId, text: v.text };
  return null;
}
