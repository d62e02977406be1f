import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accounts, calls, idempotencyKeys, usageCounters } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

let api: TestApi;
let now = new Date('2030-03-15T12:00:00.000Z');
beforeAll(async () => {
  api = await startTestApi({
    clock: () => now,
    env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '1000' },
  });
});
afterAll(async () => {
  await api?.close();
});
beforeEach(async () => {
  now = new Date(now.getTime() + 3_600_000);
  await api.db.db.delete(calls);
  await api.db.db.delete(usageCounters);
  await api.db.db.update(accounts).set({
    capCallsPerMinute: null,
    capConcurrentCalls: null,
    capCallsPerDay: null,
    capMinutesPerMonth: null,
  });
});

const body = { to: TEST_DESTINATION, objective: 'Ask about opening hours.' };
const place = (b: unknown = body, headers: Record<string, string> = {}) =>
  api.request('/v1/agent/calls', { method: 'POST', body: JSON.stringify(b), headers });
const callCount = async () => (await api.db.db.select().from(calls)).length;
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; details?: any } }).error;

describe('Idempotency-Key', () => {
  it('replays the first answer for the same key and body and places no second call', async () => {
    const first = await place(body, { 'idempotency-key': 'order-1' });
    expect(first.status).toBe(201);
    const firstBody = await first.json();
    // Same body with its keys in another order: the same request.
    const again = await place({ objective: body.objective, to: body.to }, { 'idempotency-key': 'order-1' });
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(firstBody);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await callCount()).toBe(1);
  });

  it('answers 409 idempotency_conflict for the same key with another body', async () => {
    expect((await place(body, { 'idempotency-key': 'k-2' })).status).toBe(201);
    const res = await place({ ...body, objective: 'Something else.' }, { 'idempotency-key': 'k-2' });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe('idempotency_conflict');
    expect(await callCount()).toBe(1);
  });

  it('scopes keys to the account', async () => {
    const other = await api.addAccount('idem-other', '+14155550166');
    expect((await place(body, { 'idempotency-key': 'shared' })).status).toBe(201);
    const res = await api.request('/v1/agent/calls', {
      method: 'POST',
      key: other.key,
      body: JSON.stringify({ ...body, objective: 'Different account, different body.' }),
      headers: { 'idempotency-key': 'shared' },
    });
    expect(res.status).toBe(201);
    expect(await callCount()).toBe(2);
  });

  it('places one call for two concurrent identical requests', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => place(body, { 'idempotency-key': 'race-1' })),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const ids = new Set(
      await Promise.all(results.map(async (r) => ((await r.json()) as { callId: string }).callId)),
    );
    expect(ids.size).toBe(1);
    expect(await callCount()).toBe(1);
  });

  it('forgets a key after 24 h', async () => {
    const first = (await (await place(body, { 'idempotency-key': 'old' })).json()) as { callId: string };
    now = new Date(now.getTime() + 24 * 3_600_000 + 1_000);
    const second = await place({ ...body, objective: 'New day.' }, { 'idempotency-key': 'old' });
    expect(second.status).toBe(201);
    const { callId } = (await second.json()) as { callId: string };
    expect(callId).not.toBe(first.callId);
    const rows = await api.db.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, 'old'));
    expect(rows).toHaveLength(1);
    expect(rows[0].callId).toBe(callId);
  });

  it('tells onCallQueued about a new call once, not about its replay', async () => {
    const queued: string[] = [];
    const told = await startTestApi({
      db: api.db,
      clock: () => now,
      tweak: (deps) => ({ ...deps, onCallQueued: (id) => queued.push(id) }),
    });
    try {
      const send = () =>
        told.request('/v1/agent/calls', {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'idempotency-key': 'nudge' },
        });
      const { callId } = (await (await send()).json()) as { callId: string };
      expect((await send()).status).toBe(201);
      expect(queued).toEqual([callId]);
    } finally {
      await told.close();
    }
  });

  it('rejects a bad key with 400', async () => {
    const res = await place(body, { 'idempotency-key': 'k'.repeat(256) });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    expect(err.details.fields[0].field).toBe('idempotency-key');
    expect(await callCount()).toBe(0);
  });

  it('does not store a failed answer: the same key can succeed once the cause is gone', async () => {
    await api.db.db.update(accounts).set({ capCallsPerDay: 0 }).where(eq(accounts.id, api.accountId));
    expect((await place(body, { 'idempotency-key': 'retry-me' })).status).toBe(429);
    await api.db.db.update(accounts).set({ capCallsPerDay: null }).where(eq(accounts.id, api.accountId));
    expect((await place(body, { 'idempotency-key': 'retry-me' })).status).toBe(201);
  });
});

describe('caps', () => {
  const setCaps = (caps: Partial<typeof accounts.$inferInsert>) =>
    api.db.db.update(accounts).set(caps).where(eq(accounts.id, api.accountId));

  it('rate-limits calls per minute with Retry-After until the oldest leaves the window', async () => {
    await setCaps({ capCallsPerMinute: 2 });
    expect((await place()).status).toBe(201);
    now = new Date(now.getTime() + 20_000);
    expect((await place()).status).toBe(201);
    now = new Date(now.getTime() + 10_000);
    const res = await place();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    const err = await errorOf(res);
    expect(err.code).toBe('rate_limited');
    expect(err.details).toMatchObject({ cap: 'calls_per_minute', limit: 2 });
    now = new Date(now.getTime() + 30_001);
    expect((await place()).status).toBe(201);
  });

  it('caps concurrent calls; an ended call frees its slot', async () => {
    await setCaps({ capConcurrentCalls: 1 });
    const first = (await (await place()).json()) as { callId: string };
    const res = await place();
    expect(res.status).toBe(429);
    const err = await errorOf(res);
    expect(err.code).toBe('usage_cap_reached');
    expect(err.details).toEqual({ cap: 'concurrent_calls', limit: 1 });
    expect((await api.request(`/v1/agent/calls/${first.callId}/cancel`, { method: 'POST' })).status).toBe(
      200,
    );
    expect((await place()).status).toBe(201);
  });

  it('caps calls per UTC day and resets the next day', async () => {
    await setCaps({ capCallsPerDay: 2 });
    now = new Date('2030-04-01T23:58:00.000Z');
    expect((await place()).status).toBe(201);
    now = new Date('2030-04-01T23:59:30.000Z');
    expect((await place()).status).toBe(201);
    const res = await place();
    expect(res.status).toBe(429);
    expect(await errorOf(res)).toMatchObject({
      code: 'usage_cap_reached',
      details: { cap: 'calls_per_day', limit: 2 },
    });
    now = new Date('2030-04-02T00:01:00.000Z');
    expect((await place()).status).toBe(201);
    const [row] = await api.db.db
      .select()
      .from(usageCounters)
      .where(sql`${usageCounters.accountId} = ${api.accountId} and ${usageCounters.day} = '2030-04-02'`);
    expect(row.calls).toBe(1);
  });

  it('caps call minutes per UTC month from the call seconds used', async () => {
    await setCaps({ capMinutesPerMonth: 10 });
    now = new Date('2030-05-20T10:00:00.000Z');
    await api.db.db.insert(usageCounters).values([
      { accountId: api.accountId, day: '2030-04-30', callSeconds: 10_000 },
      { accountId: api.accountId, day: '2030-05-02', callSeconds: 300 },
      { accountId: api.accountId, day: '2030-05-19', callSeconds: 299 },
    ]);
    expect((await place()).status).toBe(201);
    await api.db.db
      .update(usageCounters)
      .set({ callSeconds: 300 })
      .where(sql`${usageCounters.accountId} = ${api.accountId} and ${usageCounters.day} = '2030-05-19'`);
    const res = await place();
    expect(res.status).toBe(429);
    expect(await errorOf(res)).toMatchObject({
      code: 'usage_cap_reached',
      details: { cap: 'minutes_per_month', limit: 10 },
    });
  });

  it('falls back to the deployment default when the account has no override', async () => {
    const strict = await startTestApi({ db: api.db, clock: () => now, env: { CAP_CONCURRENT_CALLS: '1' } });
    try {
      expect(
        (await strict.request('/v1/agent/calls', { method: 'POST', body: JSON.stringify(body) })).status,
      ).toBe(201);
      const res = await strict.request('/v1/agent/calls', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(429);
      expect((await errorOf(res)).details).toEqual({ cap: 'concurrent_calls', limit: 1 });
    } finally {
      await strict.close();
    }
  });

  it('holds a cap under concurrent requests', async () => {
    await setCaps({ capConcurrentCalls: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, () => place()));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 429)).toHaveLength(5);
    expect(await callCount()).toBe(3);
  });
});
