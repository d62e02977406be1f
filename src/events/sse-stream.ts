import type { Logger } from '../logger.js';
import type { Feed } from './call-feed.js';
import type { LiveBus, LiveMessage } from './live-bus.js';
import { encodeMessage, partialMessage } from './messages.js';

export interface SseStreamOptions {
  feed: Feed;
  /** Wake-ups and partials; without one the stream only polls. */
  bus?: LiveBus;
  /** Which bus messages are about this stream (its call, or its account's calls). */
  concerns(msg: LiveMessage): boolean;
  logger: Logger;
  /** Reads the database this often even without a wake-up, so a lost NOTIFY loses nothing. */
  pollMs?: number;
  heartbeatMs?: number;
  retryMs?: number;
}

export const POLL_MS = 1000;
export const HEARTBEAT_MS = 15_000;
export const RETRY_MS = 2000;
/** Calls whose latest partial waits to be sent, at most (an account stream of a busy account). */
const MAX_PARTIAL_CALLS = 64;

const encoder = new TextEncoder();

/**
 * A text/event-stream body that pulls: the feed is read only when the client has taken what was sent
 * before, so a client that stops reading costs one read batch of memory and no database work, and
 * nothing it does reaches the writers (the bus callback only sets a flag). Partials are not queued:
 * only each call's latest one waits, and it is dropped once superseded.
 */
export function createSseStream(opts: SseStreamOptions): ReadableStream<Uint8Array> {
  const pollMs = opts.pollMs ?? POLL_MS;
  const heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;
  const log = opts.logger;
  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  let closed = false;
  let dirty = true;
  let lastRead = 0;
  let lastWrite = Date.now();
  let failures = 0;
  // Partials wait until the history was sent: words in progress make no sense before the turns before them.
  let caughtUp = false;
  const partials = new Map<string, { text: string; at: Date }>();
  let wake: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  let unsubscribe: () => void = () => {};

  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const cleanup = () => {
    closed = true;
    unsubscribe();
    if (timer) clearTimeout(timer);
    timer = null;
    partials.clear();
    poke();
  };
  const end = () => {
    if (closed) return;
    cleanup();
    try {
      controller?.close();
    } catch {
      // Already closed or cancelled by the client.
    }
  };

  if (opts.bus) {
    unsubscribe = opts.bus.subscribe((msg) => {
      if (closed || !opts.concerns(msg)) return;
      if (msg.kind === 'changed') {
        dirty = true;
      } else {
        partials.delete(msg.callId);
        if (partials.size >= MAX_PARTIAL_CALLS) partials.delete(partials.keys().next().value!);
        partials.set(msg.callId, { text: msg.text, at: new Date() });
      }
      poke();
    }, end);
  }

  const waitAtMost = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(() => {
        timer = null;
        poke();
      }, ms);
    }).finally(() => {
      if (timer) clearTimeout(timer);
      timer = null;
    });

  /** The next chunk to send, waiting for one; null once the stream is over. */
  async function nextChunk(): Promise<{ text: string; last: boolean } | null> {
    while (!closed) {
      if (partials.size > 0 && caughtUp) {
        const text = [...partials].map(([callId, p]) => encodeMessage(partialMessage(callId, p.text, p.at)));
        partials.clear();
        return { text: text.join(''), last: false };
      }
      const now = Date.now();
      if (dirty || now - lastRead >= pollMs) {
        dirty = false;
        lastRead = now;
        try {
          const r = await opts.feed.read();
          failures = 0;
          if (closed) return null;
          if (r.messages.length === 0) caughtUp = true;
          if (r.messages.length > 0 || r.done) {
            // There may be more (a client catching up): read again as soon as the client takes this.
            dirty = true;
            return { text: r.messages.map(encodeMessage).join(''), last: r.done };
          }
        } catch (err) {
          // The database is away: keep the client and try again at the next poll.
          if (failures++ % 30 === 0) log.warn({ err }, 'live events: reading the call events failed');
        }
        continue;
      }
      if (now - lastWrite >= heartbeatMs) return { text: ': ping\n\n', last: false };
      await waitAtMost(Math.min(pollMs - (now - lastRead), heartbeatMs - (now - lastWrite)));
    }
    return null;
  }

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        c.enqueue(encoder.encode(`retry: ${opts.retryMs ?? RETRY_MS}\n\n`));
      },
      async pull(c) {
        const chunk = await nextChunk();
        if (!chunk) {
          end();
          return;
        }
        if (chunk.text) c.enqueue(encoder.encode(chunk.text));
        lastWrite = Date.now();
        if (chunk.last) end();
      },
      cancel() {
        cleanup();
      },
    },
    // Nothing is read ahead of the client: pull runs again only once the last chunk was taken.
    { highWaterMark: 0 },
  );
}

/** The response around the stream, with what proxies need to pass it through unbuffered. */
export function sseResponse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, {
    status: 200,
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      // A stream's connection is not reused: closed with the stream, it never holds a stopping server up.
      Connection: 'close',
      'X-Accel-Buffering': 'no',
    },
  });
}
