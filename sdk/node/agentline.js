// Zero-dependency client for the agentline calls API (Node >= 18: global fetch, node:crypto).
import crypto from 'node:crypto';

const TERMINAL = new Set(['completed', 'no_answer', 'voicemail', 'declined', 'failed']);

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
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const e = data?.error;
      throw new AgentlineError(
        e?.code ?? 'http_error',
        e?.message ?? `HTTP ${res.status}`,
        res.status,
        e?.details,
      );
    }
    return data;
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
   * Polls until the call reaches a terminal status and returns it.
   * @param {string} callId
   * @param {{ timeoutSeconds?: number, intervalSeconds?: number }} [options]
   */
  async waitForCall(callId, options = {}) {
    const timeoutMs = (options.timeoutSeconds ?? 180) * 1000;
    const intervalMs = (options.intervalSeconds ?? 5) * 1000;
    const deadline = Date.now() + timeoutMs;
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
      await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
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
