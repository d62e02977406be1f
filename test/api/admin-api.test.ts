import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminKeys } from '../../src/accounts/admin-keys.js';
import { callEvents, calls, usageCounters, webhookDeliveries } from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

let api: TestApi;
let adminKey: string;

beforeAll(async () => {
  // Generous defaults, so the per-minute cap never gets in the way of the cap under test.
  api = await startTestApi({ env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '1000' } });
  adminKey = (await new AdminKeys(api.db.db).create('test')).key;
});
afterAll(async () => {
  await api?.close();
});

const admin = (pathname: string, init: RequestInit & { key?: string | null } = {}) =>
  api.request(pathname, { key: adminKey, ...init });
const json = (body: unknown) => ({ body: JSON.stringify(body) });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; details?: any } }).error;
const placeWith = (key: string) =>
  api.request('/v1/agent/calls', {
    key,
    method: 'POST',
    body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
  });

interface AdminAccount {
  accountId: string;
  name: string;
  disabled: boolean;
  disabledReason: string | null;
  caps: Record<string, number>;
  capOverrides: Record<string, number | null>;
  usage: { callsToday: number; activeCalls: number; liveCalls: number; minutesThisMonth: number };
}

describe('admin API authentication', () => {
  it('refuses a missing, unknown or revoked admin key with 401 and an agent key with 403', async () => {
    const none = await admin('/v1/admin/accounts', { key: null });
    expect(none.status).toBe(401);
    expect((await errorOf(none)).code).toBe('unauthorized');

    const unknown = await admin('/v1/admin/accounts', { key: `adm_${'x'.repeat(43)}` });
    expect(unknown.status).toBe(401);
    expect((await errorOf(unknown)).message).toMatch(/admin key/);

    const agent = await admin('/v1/admin/accounts', { key: api.key });
    expect(agent.status).toBe(403);
    const err = await errorOf(agent);
    expect(err.code).toBe('forbidden');
    expect(err.message).toMatch(/adm_/);

    const keys = new AdminKeys(api.db.db);
    const minted = await keys.create('short-lived');
    expect((await admin('/v1/admin/accounts', { key: minted.key })).status).toBe(200);
    expect(await keys.revoke(minted.prefix)).toBe(1);
    expect((await admin('/v1/admin/accounts', { key: minted.key })).status).toBe(401);
  });

  it('refuses an admin key on the agent routes with 401', async () => {
    const res = await admin('/v1/agent/calls');
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('unauthorized');
  });

  it('answers an unknown admin path 404 in the error format once authenticated', async () => {
    const res = await admin('/v1/admin/nothing-here');
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe('not_found');
  });
});

describe('accounts and caps', () => {
  it('lists accounts with effective caps, defaults and usage', async () => {
    expect((await placeWith(api.key)).status).toBe(201);
    const res = await admin('/v1/admin/accounts');
    expect(res.status).toBe(200);
    const { accounts } = (await res.json()) as { accounts: AdminAccount[] };
    const mine = accounts.find((a) => a.accountId === api.accountId)!;
    expect(mine).toMatchObject({
      name: 'test',
      disabled: false,
      caps: { callsPerMinute: 1000, concurrentCalls: 1000, callsPerDay: 500, minutesPerMonth: 10_000 },
      capOverrides: { callsPerMinute: null, concurrentCalls: null, callsPerDay: null, minutesPerMonth: null },
    });
    expect(mine.usage.callsToday).toBeGreaterThanOrEqual(1);
    expect(mine.usage.activeCalls).toBeGreaterThanOrEqual(1);
    expect(mine.usage.liveCalls).toBe(0);

    const one = await admin(`/v1/admin/accounts/${api.accountId}`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as AdminAccount).accountId).toBe(api.accountId);
  });

  it('answers 404 for an unknown or malformed account id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'nope']) {
      const res = await admin(`/v1/admin/accounts/${id}`);
      expect(res.status).toBe(404);
      expect((await errorOf(res)).code).toBe('not_found');
    }
  });

  it('sets a concurrent cap the next POST obeys, and clears it with null', async () => {
    const other = await api.addAccount('caps', '+14155550177');
    const patch = (body: unknown) =>
      admin(`/v1/admin/accounts/${other.accountId}/caps`, { method: 'PATCH', ...json(body) });

    const zero = await patch({ concurrentCalls: 0 });
    expect(zero.status).toBe(200);
    const zeroed = (await zero.json()) as AdminAccount;
    expect(zeroed.caps.concurrentCalls).toBe(0);
    expect(zeroed.capOverrides.concurrentCalls).toBe(0);
    const refused = await placeWith(other.key);
    expect(refused.status).toBe(429);
    expect(await errorOf(refused)).toMatchObject({
      code: 'usage_cap_reached',
      details: { cap: 'concurrent_calls', limit: 0 },
    });

    expect((await patch({ concurrentCalls: 1 })).status).toBe(200);
    expect((await placeWith(other.key)).status).toBe(201);
    const second = await placeWith(other.key);
    expect(second.status).toBe(429);
    expect((await errorOf(second)).details).toMatchObject({ cap: 'concurrent_calls', limit: 1 });

    const cleared = await patch({ concurrentCalls: null });
    const back = (await cleared.json()) as AdminAccount;
    expect(back.capOverrides.concurrentCalls).toBeNull();
    expect(back.caps.concurrentCalls).toBe(1000);
    expect((await placeWith(other.key)).status).toBe(201);
  });

  it('validates a caps patch field by field in the spec format', async () => {
    const res = await admin(`/v1/admin/accounts/${api.accountId}/caps`, {
      method: 'PATCH',
      ...json({ callsPerDay: -1, concurrentCalls: 1.5, minutesPerMonth: 'lots', bogus: 1 }),
    });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    const fields = (err.details.fields as { field: string }[]).map((f) => f.field).sort();
    expect(fields).toEqual(['bogus', 'callsPerDay', 'concurrentCalls', 'minutesPerMonth']);

    const tooBig = await admin(`/v1/admin/accounts/${api.accountId}/caps`, {
      method: 'PATCH',
      ...json({ callsPerMinute: 1_000_001 }),
    });
    expect(tooBig.status).toBe(400);
    expect((await errorOf(tooBig)).details.fields[0]).toEqual({
      field: 'callsPerMinute',
      message: 'must be at most 1000000',
    });
  });
});

describe('disable and enable', () => {
  it('fails queued calls, stops the keys, and enabling brings the keys back', async () => {
    const acc = await api.addAccount('to-disable', '+14155550188');
    const placed = await placeWith(acc.key);
    expect(placed.status).toBe(201);
    const { callId } = (await placed.json()) as { callId: string };
    // A call a worker already dials is left to finish.
    const live = await placeWith(acc.key);
    const liveId = ((await live.json()) as { callId: string }).callId;
    expect((await api.deps.calls.transition(liveId, 'dialing')).ok).toBe(true);
    // With a webhook, so the outbox shows the end goes through the call store.
    const hooked = await api.request('/v1/agent/calls', {
      key: acc.key,
      method: 'POST',
      body: JSON.stringify({
        to: TEST_DESTINATION,
        objective: 'Ask about opening hours.',
        webhookUrl: 'https://hooks.example.com/agentline',
      }),
    });
    const hookedId = ((await hooked.json()) as { callId: string }).callId;

    const noReason = await admin(`/v1/admin/accounts/${acc.accountId}/disable`, {
      method: 'POST',
      ...json({ reason: '   ' }),
    });
    expect(noReason.status).toBe(400);
    expect((await errorOf(noReason)).details.fields[0].field).toBe('reason');

    const res = await admin(`/v1/admin/accounts/${acc.accountId}/disable`, {
      method: 'POST',
      ...json({ reason: 'Unpaid invoice' }),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { account: AdminAccount; failedQueuedCalls: number };
    expect(out.failedQueuedCalls).toBe(2);
    expect(out.account).toMatchObject({ disabled: true, disabledReason: 'Unpaid invoice' });

    for (const id of [callId, hookedId]) {
      const [row] = await api.db.db.select().from(calls).where(eq(calls.id, id));
      expect(row).toMatchObject({ status: 'failed', endedReason: 'account_disabled' });
      const events = await api.db.db.select().from(callEvents).where(eq(callEvents.callId, id));
      expect(events.map((e) => [e.fromStatus, e.toStatus, e.reason])).toContainEqual([
        'queued',
        'failed',
        'account_disabled',
      ]);
    }
    const [hook] = await api.db.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.callId, hookedId));
    expect(hook.event).toBe('call.failed');
    const [liveRow] = await api.db.db.select().from(calls).where(eq(calls.id, liveId));
    expect(liveRow.status).toBe('dialing');

    const refused = await placeWith(acc.key);
    expect(refused.status).toBe(401);
    const err = await errorOf(refused);
    expect(err.code).toBe('unauthorized');
    expect(err.message).toMatch(/disabled/);
    expect(err.message).toMatch(/Unpaid invoice/);
    expect((await api.request('/v1/agent/calls', { key: acc.key })).status).toBe(401);
    // Other accounts are untouched.
    expect((await api.request('/v1/agent/calls')).status).toBe(200);

    const enabled = await admin(`/v1/admin/accounts/${acc.accountId}/enable`, { method: 'POST' });
    expect(enabled.status).toBe(200);
    expect(((await enabled.json()) as AdminAccount).disabled).toBe(false);
    expect((await placeWith(acc.key)).status).toBe(201);
    // The calls ended by the disable stay ended.
    const [after] = await api.db.db.select().from(calls).where(eq(calls.id, callId));
    expect(after.status).toBe('failed');
  });

  it('leaves no queued call behind when calls are placed while the account is being disabled', async () => {
    const acc = await api.addAccount('racing', '+14155550155');
    const placing = Array.from({ length: 8 }, () => placeWith(acc.key));
    const disabled = await admin(`/v1/admin/accounts/${acc.accountId}/disable`, {
      method: 'POST',
      ...json({ reason: 'race' }),
    });
    expect(disabled.status).toBe(200);
    const answers = await Promise.all(placing);
    // Each POST either made it before the disable (and its call was failed by it) or was refused.
    for (const res of answers) expect([201, 401]).toContain(res.status);
    const rows = await api.db.db.select().from(calls).where(eq(calls.accountId, acc.accountId));
    expect(rows.length).toBe(answers.filter((r) => r.status === 201).length);
    for (const row of rows) expect(row).toMatchObject({ status: 'failed', endedReason: 'account_disabled' });
  });

  it('refuses to place a call for a disabled account even past the key check (service level)', async () => {
    const acc = await api.addAccount('service-level', '+14155550199');
    await admin(`/v1/admin/accounts/${acc.accountId}/disable`, {
      method: 'POST',
      ...json({ reason: 'abuse' }),
    });
    const before = await api.db.db
      .select()
      .from(usageCounters)
      .where(eq(usageCounters.accountId, acc.accountId));
    const { createCallService } = await import('../../src/calls/call-service.js');
    const service = createCallService({
      db: api.db.db,
      config: api.deps.config,
      calls: api.deps.calls,
      readiness: api.deps.readiness,
      guardrails: api.deps.guardrails,
    });
    await expect(
      service.placeCall(acc.accountId, { to: TEST_DESTINATION, objective: 'Hello.' } as never),
    ).rejects.toMatchObject({ code: 'account_disabled' });
    const after = await api.db.db
      .select()
      .from(usageCounters)
      .where(eq(usageCounters.accountId, acc.accountId));
    expect(after).toEqual(before);
  });
});

describe('keys across accounts', () => {
  it('lists keys of every account or one, and revokes one by id', async () => {
    const acc = await api.addAccount('keyed');
    const all = (await (await admin('/v1/admin/keys')).json()) as {
      keys: {
        keyId: string;
        accountId: string;
        accountName: string;
        prefix: string;
        revokedAt: string | null;
      }[];
    };
    expect(new Set(all.keys.map((k) => k.accountId))).toContain(api.accountId);
    expect(new Set(all.keys.map((k) => k.accountId))).toContain(acc.accountId);

    const mine = (await (await admin(`/v1/admin/keys?accountId=${acc.accountId}`)).json()) as typeof all;
    expect(mine.keys).toHaveLength(1);
    expect(mine.keys[0]).toMatchObject({
      accountName: 'keyed',
      prefix: acc.key.slice(0, 11),
      revokedAt: null,
    });

    expect((await api.request('/v1/agent/calls', { key: acc.key })).status).toBe(200);
    const revoked = await admin(`/v1/admin/keys/${mine.keys[0].keyId}/revoke`, { method: 'POST' });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { revokedAt: string | null }).revokedAt).not.toBeNull();
    expect((await api.request('/v1/agent/calls', { key: acc.key })).status).toBe(401);

    const unknown = await admin('/v1/admin/keys/00000000-0000-4000-8000-000000000000/revoke', {
      method: 'POST',
    });
    expect(unknown.status).toBe(404);
    expect((await errorOf(unknown)).code).toBe('not_found');
    const unknownAccount = await admin('/v1/admin/keys?accountId=00000000-0000-4000-8000-000000000000');
    expect(unknownAccount.status).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('documents the admin routes under the admin tag with their own security scheme', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as any;
    expect(doc.components.securitySchemes.adminKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>).filter(([p]) =>
      p.startsWith('/v1/admin/'),
    );
    expect(ops.length).toBeGreaterThanOrEqual(6);
    for (const [, methods] of ops) {
      for (const op of Object.values(methods)) {
        expect(op.tags).toEqual(['admin']);
        expect(op.security).toEqual([{ adminKey: [] }]);
      }
    }
  });
});
