// Zero-dependency client for the agentline calls API (Node >= 18: global fetch, node:crypto).
import crypto from 'node:crypto';
import { streamEvents } from './event-stream.js';

const TERMINAL = new Set(['completed', 'no_answer', 'voicemail', 'declined', 'failed']);
/** How often waitForCall still polls while the event stream is open. */
const STREAM_POLL_SECONDS = 30;

/** Every failure: `.code` is the API's error token (or `network_error` / `timeout`), `.status` the HTTP status (0 without one). */
export class AgentlineError extends Error {
  constructor(code, message, status, details) {
    super(message);
    this.name = 'AgentlineError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export class Client {
  /**
   * @param {string} apiKey agent key (ak_...)
   * @param {string} [baseUrl] e.g. http://agentline.internal:8080
   * @param {{ fetch?: typeof fetch, requestTimeoutMs?: number }} [options]
   */
  constructor(apiKey, baseUrl = 'http://127.0.0.1:8080', options = {}) {
    if (!apiKey) throw new AgentlineError('unauthorized', 'an API key is required', 0);
    this.apiKey = apiKey;
    this.baseUrl = String(baseUrl).replace(/\/+$/, '');
    this.fetch = options.fetch ?? globalThis.fetch;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  async request(method, path, body, headers = {}) {
    let res;
    try {
      res = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (err) {
      throw new AgentlineError('network_error', `request failed: ${err?.message ?? err}`, 0);
    }
    const text = await res.text();
    if (!res.ok) throw this.errorFromResponse(res.status, text);
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  /** The AgentlineError for a non-2xx answer: the API's `{ error: { code, message, details } }` when it sent one. */
  errorFromResponse(status, text) {
    let e;
    try {
      e = JSON.parse(text)?.error;
    } catch {
      e = undefined;
    }
    return new AgentlineError(e?.code ?? 'http_error', e?.message ?? `HTTP ${status}`, status, e?.details);
  }

  /**
   * Places a call. `params` has the fields of POST /v1/agent/calls (to, objective, context, fields, webhookUrl, ...),
   * including the `transfer` extension: `{ to: '+E164' | 'sip:user@host', mode?: 'cold' | 'warm', when?: '...' }`.
   * @param {object} params
   * @param {{ idempotencyKey?: string }} [options]
   */
  placeCall(params, options = {}) {
    const headers = options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {};
    return this.request('POST', '/v1/agent/calls', params, headers);
  }

  getCall(callId) {
    return this.request('GET', `/v1/agent/calls/${encodeURIComponent(callId)}`);
  }

  /** @param {{ limit?: number, cursor?: string, status?: string }} [query] */
  listCalls(query = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
    const s = q.toString();
    return this.request('GET', `/v1/agent/calls${s ? `?${s}` : ''}`);
  }

  cancelCall(callId) {
    return this.request('POST', `/v1/agent/calls/${encodeURIComponent(callId)}/cancel`);
  }

  /**
   * The live events of one call (Server-Sent Events): its history from the start (or after `lastEventId`),
   * then each status change, turn and partial as it happens, and last `ended`, after which the iteration
   * ends. A dropped connection is resumed with Last-Event-ID, without loss or repeats. `break` or the
   * signal closes the connection; an aborted signal rejects the pending `next()` with its reason.
   * @param {string} callId
   * @param {{ lastEventId?: string, signal?: AbortSignal, idleTimeoutMs?: number, maxBackoffMs?: number }} [options]
   */
  callEvents(callId, options = {}) {
    return streamEvents(this, `/v1/agent/calls/${encodeURIComponent(callId)}/events`, {
      ...options,
      stopAfterEnded: true,
    });
  }

  /**
   * The live events of every call of the account, from now (or after `lastEventId`); it never ends by
   * itself. Same reconnect and close rules as `callEvents`.
   * @param {{ lastEventId?: string, signal?: AbortSignal, idleTimeoutMs?: number, maxBackoffMs?: number }} [options]
   */
  accountEvents(options = {}) {
    return streamEvents(this, '/v1/agent/events', { ...options, stopAfterEnded: false });
  }

  /**
   * Waits until the call reaches a terminal status and returns it. It follows the call's event stream,
   * so it returns as soon as the call ends, and polls every `intervalSeconds` where the server has no
   * event stream (404 on the route) or `stream: false`; while the stream is open it still polls, slowly,
   * in case something between client and server holds the stream back.
   * @param {string} callId
   * @param {{ timeoutSeconds?: number, intervalSeconds?: number, stream?: boolean, streamPollSeconds?: number,
   *   signal?: AbortSignal }} [options]
   */
  async waitForCall(callId, options = {}) {
    const timeoutMs = (options.timeoutSeconds ?? 180) * 1000;
    const intervalMs = (options.intervalSeconds ?? 5) * 1000;
    const streamPollMs = (options.streamPollSeconds ?? STREAM_POLL_SECONDS) * 1000;
    const deadline = Date.now() + timeoutMs;
    const stop = new AbortController();
    const forwardAbort = () => stop.abort(options.signal.reason);
    options.signal?.throwIfAborted();
    options.signal?.addEventListener('abort', forwardAbort, { once: true });
    let streaming = options.stream !== false;
    // Set when the stream has finished (ended, or failed) since the last poll: poll again at once.
    let woken = false;
    let wake = () => {};
    const watcher = streaming
      ? (async () => {
          try {
            for await (const ev of this.callEvents(callId, { signal: stop.signal })) {
              if (ev.type === 'ended') break;
            }
          } catch {
            // No stream (an older server answers 404) or it failed: polling finds the outcome, and
            // reports a real error (401, 404 for the call) itself.
          } finally {
            streaming = false;
            woken = true;
            wake();
          }
        })()
      : Promise.resolve();
    try {
      for (;;) {
        const call = await this.getCall(callId);
        if (TERMINAL.has(call.status)) return call;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new AgentlineError(
            'timeout',
            `call ${callId} still ${call.status} after ${timeoutMs / 1000} s`,
            0,
          );
        }
        const pause = streaming ? Math.max(intervalMs, streamPollMs) : intervalMs;
        await new Promise((resolve) => {
          if (woken) return resolve();
          const done = () => {
            clearTimeout(timer);
            stop.signal.removeEventListener('abort', done);
            wake = () => {};
            resolve();
          };
          const timer = setTimeout(done, Math.min(pause, left));
          wake = done;
          stop.signal.addEventListener('abort', done, { once: true });
        });
        woken = false;
        options.signal?.throwIfAborted();
      }
    } finally {
      options.signal?.removeEventListener('abort', forwardAbort);
      stop.abort();
      await watcher;
    }
  }
}

/**
 * Checks an `X-BYS-Signature` header (`t=<unix>,v1=<hex>`) against the raw request body.
 * @returns {boolean} true when one v1 signature matches and the timestamp is within the tolerance.
 */
export function verifyWebhook(rawBody, signatureHeader, secret, toleranceSeconds = 300) {
  if (typeof signatureHeader !== 'string' || !secret) return false;
  let t = null;
  const sigs = [];
  for (const part of signatureHeader.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 't' && /^\d+$/.test(v)) t = Number(v);
    if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) sigs.push(v.toLowerCase());
  }
  if (t === null || sigs.length === 0) return false;
  if (Math.abs(Math.floor(Date.now() / 1000) - t) > toleranceSeconds) return false;
  const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  const expected = Buffer.from(crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  return sigs.some((s) => {
    const got = Buffer.from(s);
    return got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
}
