import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accounts, calls } from '../../src/db/schema.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';

/** GET/PATCH /v1/agent/settings: the account's default calling hours and retry policy. */

let api: TestApi;
let now = new Date('2030-03-15T18:30:00.000Z'); // Friday 14:30 in New York

beforeAll(async () => {
  api = await startTestApi({
    clock: () => now,
    env: { DEFAULT_CALL_WINDOW: '09:00-20:00 mon,tue,wed,thu,fri', QUIET_HOURS: '21:30-08:00' },
  });
});
afterAll(async () => {
  await api?.close();
});
beforeEach(async () => {
  now = new Date('2030-03-15T18:30:00.000Z');
  await api.db.db.delete(calls);
  await api.db.db.update(accounts).set({ callWindow: null, retryPolicy: null });
});

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const ALL = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const get = async (key?: string) => {
  const res = await api.request('/v1/agent/settings', key ? { key } : {});
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
};
const patch = (body: unknown, key?: string) =>
  api.request('/v1/agent/settings', {
    method: 'PATCH',
    body: JSON.stringify(body),
    ...(key ? { key } : {}),
  });

describe('GET /v1/agent/settings', () => {
  it("shows no account defaults, the deployment's window and quiet hours, and what is in force", async () => {
    expect(await get()).toEqual({
      callWindow: null,
      retryPolicy: null,
      effective: { callWindow: { start: '09:00', end: '20:00', days: WEEKDAYS }, retryPolicy: null },
      deployment: {
        defaultCallWindow: { start: '09:00', end: '20:00', days: WEEKDAYS },
        quietHours: { start: '21:30', end: '08:00' },
      },
    });
  });

  it('needs an agent key', async () => {
    const res = await api.request('/v1/agent/settings', { key: null });
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error.code).toBe('unauthorized');
  });
});

describe('PATCH /v1/agent/settings', () => {
  it('sets, keeps and clears each default independently, and stores it on the account', async () => {
    const window = { start: '10:00', end: '18:00', days: ['sat', 'sun'] };
    let res = await patch({ callWindow: window });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      callWindow: window,
      retryPolicy: null,
      effective: { callWindow: window, retryPolicy: null },
    });

    // `on` gets its default; callWindow, left out, is unchanged.
    res = await patch({ retryPolicy: { maxAttempts: 3, delaySeconds: 900 } });
    const policy = {
      maxAttempts: 3,
      delaySeconds: 900,
      on: ['no_answer', 'declined/busy', 'failed/network_error'],
    };
    expect(await res.json()).toMatchObject({ callWindow: window, retryPolicy: policy });
    expect(await get()).toMatchObject({
      callWindow: window,
      retryPolicy: policy,
      effective: { retryPolicy: policy },
    });
    const [row] = await api.db.db.select().from(accounts).where(eq(accounts.id, api.accountId));
    expect(row.callWindow).toEqual(window);
    expect(row.retryPolicy).toEqual(policy);

    // days defaults to every day.
    res = await patch({ callWindow: { start: '08:00', end: '08:00' } });
    expect(((await res.json()) as Record<string, unknown>).callWindow).toEqual({
      start: '08:00',
      end: '08:00',
      days: ALL,
    });

    // null clears: the deployment's window is in force again; the retry policy stays.
    res = await patch({ callWindow: null });
    expect(await res.json()).toMatchObject({
      callWindow: null,
      retryPolicy: policy,
      effective: { callWindow: { start: '09:00', end: '20:00', days: WEEKDAYS } },
    });
    res = await patch({ retryPolicy: null });
    expect(await res.json()).toMatchObject({
      callWindow: null,
      retryPolicy: null,
      effective: { retryPolicy: null },
    });

    // An empty body changes nothing.
    res = await patch({});
    expect(res.status).toBe(200);
    expect(((await res.json()) as Record<string, unknown>).callWindow).toBeNull();
  });

  it('names the field of a bad value and changes nothing', async () => {
    await patch({ callWindow: { start: '09:00', end: '17:00' } });
    const cases: [unknown, string][] = [
      [{ callWindow: { start: '9:00', end: '17:00' } }, 'callWindow.start'],
      [{ callWindow: { start: '09:00', end: '17:00', days: ['fri', 'fri'] } }, 'callWindow.days'],
      [{ callWindow: { start: '09:00' } }, 'callWindow.end'],
      [{ retryPolicy: { maxAttempts: 20, delaySeconds: 600 } }, 'retryPolicy.maxAttempts'],
      [
        { retryPolicy: { maxAttempts: 2, delaySeconds: 600, on: ['declined/rejected'] } },
        'retryPolicy.on[0]',
      ],
      [{ quietHours: { start: '01:00', end: '02:00' } }, 'quietHours'],
      [{ callWindow: 'always' }, 'callWindow'],
    ];
    for (const [body, field] of cases) {
      const res = await patch(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = ((await res.json()) as any).error;
      expect(err.code).toBe('invalid_request');
      expect(
        err.details.fields.map((f: { field: string }) => f.field),
        JSON.stringify(body),
      ).toEqual([field]);
    }
    expect((await get()).callWindow).toEqual({ start: '09:00', end: '17:00', days: ALL });
  });

  it('any agent key of the account reaches the same settings; other accounts keep their own', async () => {
    const { key: second } = await api.accounts.createApiKey(api.accountId);
    expect((await patch({ callWindow: { start: '11:00', end: '12:00' } }, second)).status).toBe(200);
    expect((await get()).callWindow).toMatchObject({ start: '11:00', end: '12:00' });

    const other = await api.addAccount('settings-other');
    expect((await get(other.key)).callWindow).toBeNull();
    expect((await patch({ retryPolicy: { maxAttempts: 2, delaySeconds: 60 } }, other.key)).status).toBe(200);
    expect((await get()).retryPolicy).toBeNull();
  });

  it("the account's window decides when its calls are scheduled, and a call's own window wins", async () => {
    // Friday 14:30 in New York: inside the deployment window, outside a weekend-only account window.
    const place = async (extra: Record<string, unknown> = {}) => {
      const res = await api.request('/v1/agent/calls', {
        method: 'POST',
        body: JSON.stringify({ to: '+12125552671', objective: 'Survey.', ...extra }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { scheduledFor: string | null }).scheduledFor;
    };
    expect(await place()).toBeNull();
    await patch({ callWindow: { start: '10:00', end: '18:00', days: ['sat', 'sun'] } });
    expect(await place()).toBe('2030-03-16T14:00:00.000Z'); // Saturday 10:00 EDT
    expect(await place({ callWindow: { start: '14:00', end: '16:00', days: ['fri'] } })).toBeNull();
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as any;
    const item = doc.paths['/v1/agent/settings'];
    expect(item.get.operationId).toBe('getSettings');
    expect(item.patch.operationId).toBe('updateSettings');
    expect(item.patch.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['AccountSettings', 'CallWindow', 'RetryPolicy', 'PatchAccountSettingsRequest']),
    );
    const place = doc.components.schemas.PlaceCallRequest.properties;
    expect(Object.keys(place)).toEqual(
      expect.arrayContaining(['callWindow', 'startAt', 'expiresAt', 'retry']),
    );
    expect(doc.components.schemas.PlaceCallResponse.properties.scheduledFor).toBeDefined();
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain(
      'outside_calling_hours',
    );
  });
});
