import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { createUser } from '../../src/dashboard/auth/users.js';
import { calls, webhookDeliveries } from '../../src/db/schema.js';
import { type EventsApi, startEventsApi, TEST_DESTINATION } from './helpers/fixture.js';
import { dataOf } from './helpers/sse.js';

// Placing a call is its first event (null → queued), stored with the call: the account stream tells
// of a new call at once (not only when a worker dials it) and the call's history starts when it was placed.

let api: EventsApi;

beforeAll(async () => {
  api = await startEventsApi();
});
afterAll(async () => {
  await api?.close();
});

async function place(): Promise<{ callId: string; createdAt: string }> {
  const res = await api.request('/v1/agent/calls', {
    method: 'POST',
    body: JSON.stringify({
      to: TEST_DESTINATION,
      objective: 'Ask whether the shop is open today.',
      webhookUrl: 'https://hooks.example.com/agentline',
    }),
  });
  expect(res.status).toBe(201);
  const { callId } = (await res.json()) as { callId: string };
  const [row] = await api.db.db.select().from(calls).where(eq(calls.id, callId));
  return { callId, createdAt: row.createdAt.toISOString() };
}

describe('placing a call', () => {
  it('is streamed to the account at once, as a status from null to queued with a resumable id', async () => {
    const stream = await api.stream('/v1/agent/events');
    const { callId, createdAt } = await place();
    const [first] = await stream.until((m) => dataOf(m).callId === callId);
    stream.close();
    expect(first.event).toBe('status');
    expect(first.id).toMatch(/^\d+\.\d+$/);
    expect(dataOf(first)).toEqual({ callId, from: null, to: 'queued', reason: null, at: createdAt });
  });

  it("starts the call's history (API view and per-call stream) and sends no webhook", async () => {
    const { callId, createdAt } = await place();
    const res = await api.request(`/v1/agent/calls/${callId}`);
    expect(res.status).toBe(200);
    const view = (await res.json()) as { events: unknown[] };
    expect(view.events).toEqual([{ at: createdAt, from: null, to: 'queued', reason: null }]);

    const stream = await api.stream(`/v1/agent/calls/${callId}/events`);
    const first = await stream.next();
    stream.close();
    expect(first?.event).toBe('status');
    expect(dataOf(first!)).toEqual({ callId, from: null, to: 'queued', reason: null, at: createdAt });

    expect(
      await api.db.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, callId)),
    ).toEqual([]);
  });

  it('replays nothing and writes no second event when the same Idempotency-Key is sent again', async () => {
    const body = JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about the opening hours.' });
    const headers = { 'idempotency-key': 'placed-event-once' };
    const a = await api.request('/v1/agent/calls', { method: 'POST', body, headers });
    const b = await api.request('/v1/agent/calls', { method: 'POST', body, headers });
    const { callId } = (await a.json()) as { callId: string };
    expect(((await b.json()) as { callId: string }).callId).toBe(callId);
    const events = await api.store.events(callId);
    expect(events.map((e) => [e.fromStatus, e.toStatus, e.reason])).toEqual([[null, 'queued', null]]);
  });

  it("is the call page's first timeline entry, listed once", async () => {
    const { callId, createdAt } = await place();
    const { user } = await createUser(api.db.db, {
      accountId: api.accountId,
      email: 'placed-event@example.test',
      role: 'viewer',
    });
    const session = await createSession(api.db.db, user.id, new Date());
    const res = await fetch(`${api.url}/calls/${callId}`, {
      headers: { cookie: `agentline_session=${session.token}` },
    });
    expect(res.status).toBe(200);
    const timeline = /<ol id="timeline"[^>]*>([\s\S]*?)<\/ol>/.exec(await res.text())?.[1] ?? '';
    expect([...timeline.matchAll(/data-key="([^"]*)"/g)].map((m) => m[1])).toEqual([`${createdAt}|queued|`]);
  });
});
