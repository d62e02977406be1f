import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookDeliveries } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

describe('POST /v1/agent/webhooks/redeliver', () => {
  let api: TestApi;
  let other: { accountId: string; key: string };
  beforeAll(async () => {
    api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '1000' } });
    other = await api.addAccount('other', '+14155550142');
  });
  afterAll(() => api.close());

  /** A canceled call with a webhook: its terminal event is in the outbox; then it is marked dead. */
  async function deadEvent(key = api.key): Promise<{ id: string; callId: string }> {
    const placed = await api.request('/v1/agent/calls', {
      method: 'POST',
      key,
      body: JSON.stringify({
        to: TEST_DESTINATION,
        objective: 'Ask.',
        webhookUrl: 'https://hooks.example.com/x',
      }),
    });
    expect(placed.status).toBe(201);
    const { callId } = (await placed.json()) as { callId: string };
    expect((await api.request(`/v1/agent/calls/${callId}/cancel`, { method: 'POST', key })).status).toBe(200);
    const [row] = await api.db.db
      .update(webhookDeliveries)
      .set({ status: 'dead' })
      .where(eq(webhookDeliveries.callId, callId))
      .returning();
    return { id: row.id, callId };
  }
  const statusOf = async (id: string) =>
    (await api.db.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id)))[0].status;
  const redeliver = (body?: unknown, key: string | null = api.key) =>
    api.request('/v1/agent/webhooks/redeliver', {
      method: 'POST',
      key,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it("makes the key's account's dead events due, one call or all, never another account's", async () => {
    const a = await deadEvent();
    const b = await deadEvent();
    const theirs = await deadEvent(other.key);

    const one = await redeliver({ callId: a.callId });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ redelivered: 1, dead: 1, pending: 0 });
    expect(await statusOf(a.id)).toBe('pending');
    expect(await statusOf(b.id)).toBe('dead');

    const all = await redeliver();
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ redelivered: 1, dead: 1, pending: 0 });
    expect(await statusOf(b.id)).toBe('pending');
    expect(await statusOf(theirs.id)).toBe('dead');

    // Another account's call is not found, as everywhere in the API.
    const foreign = await redeliver({ callId: theirs.callId });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect(await statusOf(theirs.id)).toBe('dead');
  });

  it('answers errors in the spec shape', async () => {
    const bad = await redeliver({ callId: 'x' });
    expect(bad.status).toBe(400);
    const err = ((await bad.json()) as { error: { code: string; details: { fields: { field: string }[] } } })
      .error;
    expect(err.code).toBe('invalid_request');
    expect(err.details.fields.map((f) => f.field)).toEqual(['callId']);
    expect((await redeliver({ everything: true })).status).toBe(400);
    expect((await redeliver(undefined, null)).status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await api.request('/openapi.json', { key: null })).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    expect(doc.paths['/v1/agent/webhooks/redeliver'].post.operationId).toBe('redeliverWebhooks');
  });
});
