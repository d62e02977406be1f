// The live event streams (Server-Sent Events) as an async iterator that survives dropped connections:
// it reconnects with Last-Event-ID, so the server resumes after the last durable event it delivered.
import { AgentlineError } from './agentline.js';
import { SseParser } from './sse-parser.js';

/** The wait before reconnecting until the server's `retry:` says otherwise. */
const DEFAULT_RETRY_MS = 2000;
/** Repeated failures back off exponentially from `retry:` up to this (or `retry:` itself when larger). */
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const MIN_BACKOFF_BASE_MS = 250;
/** The server sends a comment every 15 s: this long without a byte means the connection is dead. */
const DEFAULT_IDLE_TIMEOUT_MS = 45_000;
/** Durable ids, and what events say (see contentKey), remembered to drop a replay of one already delivered. */
const SEEN_IDS = 256;
const SEEN_CONTENT = 4096;

/**
 * @param {import('./agentline.js').Client} client
 * @param {string} path
 * @param {{ lastEventId?: string, signal?: AbortSignal, stopAfterEnded: boolean, idleTimeoutMs?: number,
 *   maxBackoffMs?: number }} options
 */
export async function* streamEvents(client, path, options) {
  const { signal, stopAfterEnded } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  // Tests hand in their own wait to see each backoff without spending it.
  const pause = options._sleep ?? sleep;
  signal?.throwIfAborted();
  // One controller for the whole iteration: the caller's signal, a `break` or an error abort it, and
  // that ends whatever is in progress (a fetch, a read, a backoff sleep).
  const stop = new AbortController();
  const forwardAbort = () => stop.abort(signal.reason);
  signal?.addEventListener('abort', forwardAbort, { once: true });
  let cursor = options.lastEventId || null;
  let retryMs = DEFAULT_RETRY_MS;
  let failures = 0;
  let opened = false;
  const seenIds = [];
  const seenContent = new BoundedSet(SEEN_CONTENT);

  try {
    for (;;) {
      let conn;
      try {
        conn = await connect(client, path, cursor, stop.signal, client.requestTimeoutMs);
      } catch (err) {
        if (stop.signal.aborted) throw abortReason(signal);
        // Before the first stream the caller gets the API's answer (404, 401, ...) or the network error.
        if (!opened || !isRetryable(err)) throw err;
        failures++;
        await pause(backoff(retryMs, failures, maxBackoffMs), stop.signal);
        if (stop.signal.aborted) throw abortReason(signal);
        continue;
      }
      if (conn === null) return; // 204: the server says there is nothing more to stream
      opened = true;
      failures = 0;
      const parser = new SseParser();
      const reader = conn.res.body.getReader();
      // Aborting the fetch may not end a body already streaming (a fetch served in-process, as the MCP
      // server's is, ignores its signal): cancelling the reader always ends a pending read.
      const closeBody = () => reader.cancel().catch(() => {});
      const idle = setTimeout(() => {
        conn.abort();
        closeBody();
      }, idleTimeoutMs);
      stop.signal.addEventListener('abort', closeBody, { once: true });
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          idle.refresh();
          for (const item of parser.feed(value)) {
            if (item.kind === 'retry') retryMs = item.ms;
            if (item.kind !== 'event') continue;
            if (item.id !== null) {
              if (item.id !== '') cursor = item.id;
              if (seenIds.includes(item.id)) continue;
              seenIds.push(item.id);
              if (seenIds.length > SEEN_IDS) seenIds.shift();
            }
            const event = toEvent(item);
            // A resume may repeat what was already delivered under another id: the terminal `status`
            // (it has none) before `ended`, and on the account stream a few messages sent while another
            // call's write was committing. What an event says tells the copy apart.
            const key = contentKey(event);
            if (key !== null) {
              if (seenContent.has(key)) continue;
              seenContent.add(key);
            }
            yield event;
            if (stopAfterEnded && item.event === 'ended') return;
            // Aborted while the caller held this event: nothing more from this chunk either.
            if (stop.signal.aborted) throw abortReason(signal);
          }
        }
      } catch (err) {
        if (stop.signal.aborted) throw abortReason(signal);
        // Anything else here is the connection dying (reset, idle timeout): reconnect below.
        void err;
      } finally {
        clearTimeout(idle);
        stop.signal.removeEventListener('abort', closeBody);
        conn.abort();
        closeBody();
      }
      if (stop.signal.aborted) throw abortReason(signal);
      // The body ended or broke before the stream was over.
      failures++;
      await pause(backoff(retryMs, failures, maxBackoffMs), stop.signal);
      if (stop.signal.aborted) throw abortReason(signal);
    }
  } finally {
    signal?.removeEventListener('abort', forwardAbort);
    stop.abort();
  }
}

/** What makes an event the same event whatever its id; null for partials and types this SDK does not know. */
function contentKey({ type, data }) {
  if (data === null || typeof data !== 'object') return null;
  switch (type) {
    case 'turn':
      return `turn\n${data.callId}\n${data.seq}`;
    case 'status':
      return `status\n${data.callId}\n${data.at}\n${data.to}\n${data.reason}`;
    case 'note':
      return `note\n${data.callId}\n${data.at}\n${data.status}\n${data.reason}`;
    case 'ended':
      return `ended\n${data.callId}`;
    default:
      return null;
  }
}

/** A set that forgets its oldest entries beyond `limit` (an account stream runs for days). */
class BoundedSet {
  #items = new Set();
  #limit;
  constructor(limit) {
    this.#limit = limit;
  }
  has(key) {
    return this.#items.has(key);
  }
  add(key) {
    this.#items.add(key);
    if (this.#items.size > this.#limit) this.#items.delete(this.#items.values().next().value);
  }
}

function toEvent(item) {
  let data;
  try {
    data = JSON.parse(item.data);
  } catch {
    data = item.data;
  }
  return { type: item.event, id: item.id, data };
}

/** Opens one connection; null for 204, otherwise `{ res, abort }` with a text/event-stream body. */
async function connect(client, path, cursor, stopSignal, headersTimeoutMs) {
  const ctl = new AbortController();
  const onStop = () => ctl.abort();
  stopSignal.addEventListener('abort', onStop, { once: true });
  const abort = () => {
    stopSignal.removeEventListener('abort', onStop);
    ctl.abort();
  };
  const timer = setTimeout(abort, headersTimeoutMs);
  let res;
  try {
    res = await client.fetch(`${client.baseUrl}${path}`, {
      method: 'GET',
      headers: {
        authorization: `Bearer ${client.apiKey}`,
        accept: 'text/event-stream',
        'cache-control': 'no-cache',
        ...(cursor ? { 'last-event-id': cursor } : {}),
      },
      signal: ctl.signal,
    });
  } catch (err) {
    abort();
    throw new AgentlineError('network_error', `request failed: ${err?.message ?? err}`, 0);
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    abort();
    throw client.errorFromResponse(res.status, text);
  }
  if (res.status === 204 || !res.body) {
    abort();
    return null;
  }
  const type = res.headers.get('content-type') ?? '';
  if (!/^text\/event-stream\b/i.test(type)) {
    await res.body.cancel().catch(() => {});
    abort();
    throw new AgentlineError(
      'invalid_response',
      `expected an event stream, got ${type || 'no content type'}`,
      res.status,
    );
  }
  return { res, abort };
}

function isRetryable(err) {
  if (!(err instanceof AgentlineError)) return false;
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}

function backoff(retryMs, failures, maxBackoffMs) {
  if (failures <= 1) return retryMs;
  // A `retry: 0` server still gets a growing pause while it keeps failing.
  const base = Math.max(retryMs, MIN_BACKOFF_BASE_MS);
  const exp = Math.min(Math.max(maxBackoffMs, retryMs), base * 2 ** (failures - 1));
  // Jitter keeps many clients of a restarted server from reconnecting in step.
  return Math.round(exp * (0.5 + Math.random() * 0.5));
}

function abortReason(signal) {
  return signal?.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
