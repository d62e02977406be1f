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
    const text = await this.requestText(method, path, {
      body: body === undefined ? undefined : JSON.stringify(body),
      contentType: body === undefined ? undefined : 'application/json',
      headers,
    });
    return parseJson(text);
  }

  /**
   * One request whose body and answer are taken as text (CSV both ways); JSON requests go through `request`.
   * @param {string} method
   * @param {string} path
   * @param {{ body?: string, contentType?: string, accept?: string, headers?: Record<string, string> }} [options]
   * @returns {Promise<string>} the answer's body
   */
  async requestText(method, path, options = {}) {
    let res;
    try {
      res = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          accept: options.accept ?? 'application/json',
          ...(options.contentType ? { 'content-type': options.contentType } : {}),
          ...options.headers,
        },
        body: options.body,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (err) {
      throw new AgentlineError('network_error', `request failed: ${err?.message ?? err}`, 0);
    }
    let text;
    try {
      text = await res.text();
    } catch (err) {
      throw new AgentlineError('network_error', `reading the answer failed: ${err?.message ?? err}`, 0);
    }
    if (!res.ok) throw this.errorFromResponse(res.status, text);
    return text;
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
   * including the `transfer` extension: `{ to: '+E164' | 'sip:user@host', mode?: 'cold' | 'warm', when?: '...' }`,
   * and the outbound ones: `callWindow` ({ start: 'HH:MM', end: 'HH:MM', days: ['mon', ...] } in the callee's
   * local time), `startAt` / `expiresAt` (ISO 8601 with an offset) and `retry` ({ maxAttempts, delaySeconds, on? }).
   * @param {object} params
   * @param {{ idempotencyKey?: string }} [options]
   */
  placeCall(params, options = {}) {
    return this.request('POST', '/v1/agent/calls', params, idempotencyHeader(options));
  }

  getCall(callId) {
    return this.request('GET', `/v1/agent/calls/${encodeURIComponent(callId)}`);
  }

  /** @param {{ limit?: number, cursor?: string, status?: string }} [query] */
  listCalls(query = {}) {
    return this.request('GET', `/v1/agent/calls${queryString(query)}`);
  }

  cancelCall(callId) {
    return this.request('POST', `/v1/agent/calls/${encodeURIComponent(callId)}/cancel`);
  }

  /**
   * Places a batch: `body` is the JSON of POST /v1/agent/batches, `{ name?, template, rows, concurrency?,
   * callWindow?, startAt?, expiresAt?, retry?, metadata? }` (or `csv` instead of `rows`). Rows are checked one
   * by one: the answer lists the `accepted` rows with their callId and the `refused` ones with the error a
   * single call would have had. Every row refused is an AgentlineError `invalid_request` (422) whose
   * `details.refused` lists them.
   * @param {object} body
   * @param {{ idempotencyKey?: string }} [options]
   */
  createBatch(body, options = {}) {
    return this.request('POST', '/v1/agent/batches', body, idempotencyHeader(options));
  }

  /**
   * Places a batch from CSV text: a header row, a `to` column, every other column a template variable
   * (`metadata.<key>` columns go to the row's metadata). `batchOptions` is the rest of the batch
   * (`template`, `name`, `concurrency`, ...); it is sent as JSON with the CSV in its `csv` field.
   * @param {string} csvText
   * @param {object} batchOptions
   * @param {{ idempotencyKey?: string }} [options]
   */
  createBatchFromCsv(csvText, batchOptions, options = {}) {
    return this.createBatch({ ...batchOptions, csv: String(csvText) }, options);
  }

  /**
   * One batch: counts by status, progress, the rows refused at acceptance and one page of its calls
   * (in row order; `nextCursor` leads to the next page).
   * @param {string} batchId
   * @param {{ limit?: number, cursor?: string }} [query]
   */
  getBatch(batchId, query = {}) {
    return this.request('GET', `/v1/agent/batches/${encodeURIComponent(batchId)}${queryString(query)}`);
  }

  /** @param {{ limit?: number, cursor?: string }} [query] */
  listBatches(query = {}) {
    return this.request('GET', `/v1/agent/batches${queryString(query)}`);
  }

  /** Its queued calls are held (not dialled) until resumeBatch; calls already live go on. */
  pauseBatch(batchId) {
    return this.request('POST', `/v1/agent/batches/${encodeURIComponent(batchId)}/pause`);
  }

  resumeBatch(batchId) {
    return this.request('POST', `/v1/agent/batches/${encodeURIComponent(batchId)}/resume`);
  }

  /** Its queued calls end failed/canceled and never dial; live calls finish. */
  cancelBatch(batchId) {
    return this.request('POST', `/v1/agent/batches/${encodeURIComponent(batchId)}/cancel`);
  }

  /**
   * The batch's results as CSV text: one row per call (row, callId, to, status, endedReason, attempts,
   * durationSeconds, optOut, summary, the variables, `extracted.<field>`).
   * @param {string} batchId
   * @returns {Promise<string>}
   */
  batchResultsCsv(batchId) {
    return this.requestText('GET', `/v1/agent/batches/${encodeURIComponent(batchId)}/results.csv`, {
      accept: 'text/csv',
    });
  }

  /**
   * Every call of a batch, page after page, in row order.
   * @param {string} batchId
   * @param {{ pageSize?: number }} [options] calls fetched per request (1–1000; default 100)
   */
  async *iterateBatchCalls(batchId, options = {}) {
    let cursor;
    do {
      const page = await this.getBatch(batchId, { limit: options.pageSize ?? 100, cursor });
      yield* page.calls;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /**
   * Polls the batch until every call of it has ended (`completedAt` set: status completed, or canceled
   * once its last live call ended) and returns it as getBatch answers with `limit`. Throws
   * AgentlineError `timeout` when `timeoutSeconds` (default 3600) runs out.
   * @param {string} batchId
   * @param {{ timeoutSeconds?: number, intervalSeconds?: number, limit?: number, signal?: AbortSignal }} [options]
   */
  async waitForBatch(batchId, options = {}) {
    const timeoutMs = (options.timeoutSeconds ?? 3600) * 1000;
    const intervalMs = (options.intervalSeconds ?? 10) * 1000;
    const deadline = Date.now() + timeoutMs;
    const signal = options.signal;
    for (;;) {
      signal?.throwIfAborted();
      const batch = await this.getBatch(batchId, { limit: options.limit });
      if (batch.completedAt) return batch;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new AgentlineError(
          'timeout',
          `batch ${batchId} still ${batch.status} (${batch.progress?.ended ?? '?'} of ${batch.progress?.total ?? '?'} calls ended) after ${timeoutMs / 1000} s`,
          0,
        );
      }
      await new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(intervalMs, left));
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Puts numbers (E.164) on the account's do-not-call list: `{ added, alreadyListed, invalid }`.
   * @param {string[]} numbers
   * @param {{ note?: string }} [options]
   */
  addDoNotCall(numbers, options = {}) {
    const body = { numbers };
    if (options.note !== undefined) body.note = options.note;
    return this.request('POST', '/v1/agent/do-not-call', body);
  }

  /**
   * Imports a CSV of numbers (the first column, or the column `number`) to the do-not-call list.
   * @param {string} csvText
   */
  async importDoNotCallCsv(csvText) {
    const text = await this.requestText('POST', '/v1/agent/do-not-call', {
      body: String(csvText),
      contentType: 'text/csv',
    });
    return parseJson(text);
  }

  /** Takes a number off the account's list; not on it: not_found (404); on the deployment's list: dnc_deployment_list (409). */
  async removeDoNotCall(number) {
    await this.requestText('DELETE', `/v1/agent/do-not-call/${encodeURIComponent(number)}`);
  }

  /** `{ number, listed, list: 'account' | 'deployment' | null, source, createdAt }`. */
  checkDoNotCall(number) {
    return this.request('GET', `/v1/agent/do-not-call/${encodeURIComponent(number)}`);
  }

  /** @param {{ limit?: number, cursor?: string }} [query] */
  listDoNotCall(query = {}) {
    return this.request('GET', `/v1/agent/do-not-call${queryString(query)}`);
  }

  /** The account's defaults: `{ callWindow, retryPolicy }` (null: the deployment's). */
  getSettings() {
    return this.request('GET', '/v1/agent/settings');
  }

  /**
   * Changes the account's defaults; a field left out stays, null clears it.
   * @param {{ callWindow?: object | null, retryPolicy?: object | null }} patch
   */
  updateSettings(patch) {
    return this.request('PATCH', '/v1/agent/settings', patch);
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

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function idempotencyHeader(options) {
  return options?.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {};
}

/** `?a=1&b=2` of the set values, or '' when none is set. */
function queryString(query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
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
