import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentlineError, Client, verifyWebhook } from '../../sdk/node/agentline.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

describe('Node SDK against the real API', () => {
  let api: TestApi;
  let client: Client;
  beforeAll(async () => {
    api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '100', CAP_CONCURRENT_CALLS: '100' } });
    client = new Client(api.key, api.url);
  });
  afterAll(() => api.close());

  it('places, reads, lists and cancels a call', async () => {
    const placed = await client.placeCall({
      to: TEST_DESTINATION,
      objective: 'Ask for opening hours',
      metadata: { ticket: 7 },
    });
    expect(placed.status).toBe('queued');
    const call = await client.getCall(placed.callId);
    expect(call).toMatchObject({
      id: placed.callId,
      callId: placed.callId,
      status: 'queued',
      metadata: { ticket: 7 },
    });
    const list = await client.listCalls({ limit: 5 });
    expect(list.calls.map((c) => c.callId)).toContain(placed.callId);
    const canceled = await client.cancelCall(placed.callId);
    expect(canceled).toMatchObject({ status: 'failed', endedReason: 'canceled' });
    // A terminal call: waitForCall returns at once.
    const done = await client.waitForCall(placed.callId, { timeoutSeconds: 5, intervalSeconds: 0.1 });
    expect(done.status).toBe('failed');
  });

  it('replays an idempotent request instead of placing a second call', async () => {
    const key = crypto.randomUUID();
    const a = await client.placeCall({ to: TEST_DESTINATION, objective: 'Same' }, { idempotencyKey: key });
    const b = await client.placeCall({ to: TEST_DESTINATION, objective: 'Same' }, { idempotencyKey: key });
    expect(b.callId).toBe(a.callId);
  });

  it('raises one error class with the API code and HTTP status', async () => {
    const err = await client.placeCall({ to: TEST_DESTINATION, objective: '' }).catch((e) => e);
    expect(err).toBeInstanceOf(AgentlineError);
    expect(err.code).toBe('invalid_request');
    expect(err.status).toBe(400);
    const notFound = await client.getCall(crypto.randomUUID()).catch((e) => e);
    expect([notFound.code, notFound.status]).toEqual(['not_found', 404]);
    const unauth = await new Client('ak_wrongwrongwrongwrongwrong', api.url).listCalls().catch((e) => e);
    expect([unauth.code, unauth.status]).toEqual(['unauthorized', 401]);
  });

  it('reports a network failure with status 0', async () => {
    const err = await new Client(api.key, 'http://127.0.0.1:9').getCall('x').catch((e) => e);
    expect(err).toBeInstanceOf(AgentlineError);
    expect([err.code, err.status]).toEqual(['network_error', 0]);
  });

  it('times out waiting for a call that does not end', async () => {
    const placed = await client.placeCall({ to: TEST_DESTINATION, objective: 'Still queued' });
    const err = await client
      .waitForCall(placed.callId, { timeoutSeconds: 0.3, intervalSeconds: 0.1 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(AgentlineError);
    expect(err.code).toBe('timeout');
  });
});

describe('verifyWebhook', () => {
  const secret = 'whsec_test';
  const body = JSON.stringify({ event: 'call.completed', callId: 'c1' });
  const sign = (t: number, b = body, s = secret) =>
    `t=${t},v1=${crypto.createHmac('sha256', s).update(`${t}.${b}`).digest('hex')}`;
  const now = () => Math.floor(Date.now() / 1000);

  it('accepts a fresh, correct signature', () => {
    expect(verifyWebhook(body, sign(now()), secret)).toBe(true);
    expect(verifyWebhook(Buffer.from(body), sign(now()), secret)).toBe(true);
  });
  it('rejects a changed body, a wrong secret, an old timestamp and garbage', () => {
    expect(verifyWebhook(`${body} `, sign(now()), secret)).toBe(false);
    expect(verifyWebhook(body, sign(now(), body, 'whsec_other'), secret)).toBe(false);
    expect(verifyWebhook(body, sign(now() - 301), secret)).toBe(false);
    expect(verifyWebhook(body, sign(now() - 1000), secret, 2000)).toBe(true);
    expect(verifyWebhook(body, 'nonsense', secret)).toBe(false);
  });
});
