import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PlaceCallBodySchema } from '../../src/api/schemas.js';
import { createCallService } from '../../src/calls/call-service.js';
import { accounts, batches, calls, doNotCall, usageCounters } from '../../src/db/schema.js';
import { startTestApi, type TestApi } from '../helpers/api-fixtures.js';

/**
 * Placing a call with calling hours, startAt/expiresAt, quiet hours, do-not-call and retries, with the
 * API's clock injected. This stack's deployment window is 09:00–20:00 every day and its quiet hours
 * 21:00–08:00, both in the callee's local time.
 */

const NEW_YORK = '+12125552671';
const LOS_ANGELES = '+14155552671';
const CHICAGO = '+13125552671';

let api: TestApi;
/** Same database and clock, no quiet hours and the default window of "always". */
let open: TestApi;
let now = new Date('2030-03-15T12:00:00.000Z');

beforeAll(async () => {
  api = await startTestApi({
    clock: () => now,
    env: {
      DEFAULT_CALL_WINDOW: '09:00-20:00',
      QUIET_HOURS: '21:00-08:00',
      CAP_CALLS_PER_MINUTE: '1000',
      CAP_CONCURRENT_CALLS: '1000',
    },
  });
  open = await startTestApi({
    db: api.db,
    clock: () => now,
    env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '1000' },
  });
});
afterAll(async () => {
  await open?.close();
  await api?.close();
});
beforeEach(async () => {
  await api.db.db.delete(calls);
  await api.db.db.delete(batches);
  await api.db.db.delete(doNotCall);
  await api.db.db.delete(usageCounters);
  await api.db.db
    .update(accounts)
    .set({ callWindow: null, retryPolicy: null, capConcurrentCalls: null, capCallsPerMinute: null });
});

type Placed = { callId: string; status: string; scheduledFor: string | null };
type ApiErr = { error: { code: string; message: string; details?: any } };

const place = (body: Record<string, unknown>) =>
  api.request('/v1/agent/calls', {
    method: 'POST',
    body: JSON.stringify({ objective: 'Remind about the appointment.', ...body }),
  });
const placedOn = async (stack: TestApi, body: Record<string, unknown>): Promise<Placed> => {
  const res = await stack.request('/v1/agent/calls', {
    method: 'POST',
    body: JSON.stringify({ objective: 'Remind about the appointment.', ...body }),
  });
  const json = await res.json();
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json as Placed;
};
const placed = (body: Record<string, unknown>) => placedOn(api, body);
const refused = async (body: Record<string, unknown>, status: number): Promise<ApiErr['error']> => {
  const res = await place(body);
  const json = (await res.json()) as ApiErr;
  expect(res.status, JSON.stringify(json)).toBe(status);
  return json.error;
};
const row = async (id: string) => {
  const [r] = await api.db.db.select().from(calls).where(eq(calls.id, id));
  return r;
};
const callCount = async () => (await api.db.db.select({ id: calls.id }).from(calls)).length;

describe('calling hours at placement', () => {
  it("stores a call placed outside its window with scheduledFor at the next opening in the callee's zone", async () => {
    // Friday 2030-03-15 12:00 UTC: 08:00 in New York (EDT), 05:00 in Los Angeles (PDT).
    now = new Date('2030-03-15T12:00:00.000Z');
    const ny = await placed({ to: NEW_YORK });
    const la = await placed({ to: LOS_ANGELES });
    expect(ny).toEqual({ callId: ny.callId, status: 'queued', scheduledFor: '2030-03-15T13:00:00.000Z' });
    expect(la).toEqual({ callId: la.callId, status: 'queued', scheduledFor: '2030-03-15T16:00:00.000Z' });

    const nyRow = await row(ny.callId);
    expect(nyRow.status).toBe('queued');
    expect(nyRow.scheduledFor?.toISOString()).toBe('2030-03-15T13:00:00.000Z');
    expect(nyRow.timeZones).toEqual(['America/New_York']);
    expect(nyRow.callWindow).toBeNull(); // the deployment's applies; the call has none of its own
    expect((await row(la.callId)).timeZones).toEqual(['America/Los_Angeles']);

    const view = (await (await api.request(`/v1/agent/calls/${la.callId}`)).json()) as Record<
      string,
      unknown
    >;
    expect(view.status).toBe('queued');
  });

  it('answers scheduledFor null for a call inside its window', async () => {
    now = new Date('2030-03-15T18:30:00.000Z'); // 14:30 in New York, 11:30 in Los Angeles
    const res = await placed({ to: NEW_YORK });
    expect(res.scheduledFor).toBeNull();
    expect((await row(res.callId)).scheduledFor).toBeNull();
  });

  it("uses the call's own window over the deployment's", async () => {
    now = new Date('2030-03-15T18:30:00.000Z'); // Friday 14:30 in New York
    const window = { start: '10:00', end: '12:00', days: ['mon'] };
    const res = await placed({ to: NEW_YORK, callWindow: window });
    // The next Monday 10:00 EDT.
    expect(res.scheduledFor).toBe('2030-03-18T14:00:00.000Z');
    expect((await row(res.callId)).callWindow).toEqual(window);
  });

  it('a window crossing midnight: the small hours belong to the day it started (no quiet hours)', async () => {
    // Saturday 2030-03-16 02:30 in Chicago (CDT, 07:30 UTC): inside Friday's 19:00–03:00 window.
    now = new Date('2030-03-16T07:30:00.000Z');
    const window = { start: '19:00', end: '03:00', days: ['fri'] };
    expect((await placedOn(open, { to: CHICAGO, callWindow: window })).scheduledFor).toBeNull();
    // 03:00 Saturday: Friday's window has closed and Saturday starts none; the next is Friday 19:00 CDT.
    now = new Date('2030-03-16T08:00:00.000Z');
    expect((await placedOn(open, { to: CHICAGO, callWindow: window })).scheduledFor).toBe(
      '2030-03-23T00:00:00.000Z',
    );
    // The stack with quiet hours 21:00–08:00 cuts the same window down to 19:00–21:00.
    now = new Date('2030-03-16T02:30:00.000Z'); // Friday 21:30 CDT
    expect((await placed({ to: CHICAGO, callWindow: window })).scheduledFor).toBe('2030-03-23T00:00:00.000Z');
  });

  it('a number whose zone is ambiguous rings only when the window holds in every zone it may be in', async () => {
    // +61 8 9… is listed for both Adelaide (ACDT, UTC+10:30 in March) and Perth (AWST, UTC+8).
    const adelaideOrPerth = '+61891234567';
    // 00:00 UTC: 10:30 in Adelaide but 08:00 in Perth; both are inside 09:00–20:00 from 01:00 UTC.
    now = new Date('2030-03-15T00:00:00.000Z');
    const a = await placed({ to: adelaideOrPerth });
    expect(a.scheduledFor).toBe('2030-03-15T01:00:00.000Z');
    expect((await row(a.callId)).timeZones?.sort()).toEqual(['Australia/Adelaide', 'Australia/Perth']);
    // 09:45 UTC: 17:45 in Perth but 20:15 in Adelaide: the next common opening is tomorrow 01:00 UTC.
    now = new Date('2030-03-15T09:45:00.000Z');
    expect((await placed({ to: adelaideOrPerth })).scheduledFor).toBe('2030-03-16T01:00:00.000Z');
    // A number of a single zone is not held back by the others: 11:00 in Sydney (AEDT).
    now = new Date('2030-03-15T00:00:00.000Z');
    expect((await placed({ to: '+61298765432' })).scheduledFor).toBeNull();
  });

  it('startAt in the future is the earliest dial time, moved to the next opening when outside the window', async () => {
    now = new Date('2030-03-15T18:30:00.000Z'); // Friday 14:30 in New York
    const inside = await placed({ to: NEW_YORK, startAt: '2030-03-16T11:15:00-04:00' });
    expect(inside.scheduledFor).toBe('2030-03-16T15:15:00.000Z');
    const r = await row(inside.callId);
    expect(r.startAt?.toISOString()).toBe('2030-03-16T15:15:00.000Z');
    expect(r.expiresAt).toBeNull();

    // 22:00 in New York on Saturday: the next opening is Sunday 09:00 EDT.
    const outside = await placed({ to: NEW_YORK, startAt: '2030-03-17T02:00:00Z' });
    expect(outside.scheduledFor).toBe('2030-03-17T13:00:00.000Z');

    // A startAt in the past means now.
    const past = await placed({ to: NEW_YORK, startAt: '2030-03-01T12:00:00Z' });
    expect(past.scheduledFor).toBeNull();
  });

  it('refuses a call whose expiresAt comes before its window opens: 422 outside_calling_hours', async () => {
    now = new Date('2030-03-15T12:00:00.000Z'); // 08:00 in New York; the window opens at 09:00
    const err = await refused({ to: NEW_YORK, expiresAt: '2030-03-15T08:45:00-04:00' }, 422);
    expect(err.code).toBe('outside_calling_hours');
    expect(err.details).toMatchObject({
      timeZones: ['America/New_York'],
      callWindow: { start: '09:00', end: '20:00' },
      quietHours: { start: '21:00', end: '08:00' },
      expiresAt: '2030-03-15T12:45:00.000Z',
      nextOpening: '2030-03-15T13:00:00.000Z',
    });
    expect(await callCount()).toBe(0);

    // An expiry after the opening is fine, and stored.
    const ok = await placed({ to: NEW_YORK, expiresAt: '2030-03-15T09:30:00-04:00' });
    expect(ok.scheduledFor).toBe('2030-03-15T13:00:00.000Z');
    expect((await row(ok.callId)).expiresAt?.toISOString()).toBe('2030-03-15T13:30:00.000Z');
  });

  it('refuses a call with no callable minute in 14 days (its window lies inside the quiet hours)', async () => {
    now = new Date('2030-03-15T18:30:00.000Z');
    const err = await refused({ to: NEW_YORK, callWindow: { start: '22:00', end: '23:00' } }, 422);
    expect(err.code).toBe('outside_calling_hours');
    expect(err.details).toMatchObject({ nextOpening: null, horizonDays: 14 });
    expect(await callCount()).toBe(0);
  });

  it('QUIET_HOURS cannot be overridden by an account or call window of "always"', async () => {
    // 02:00 in New York (Saturday).
    now = new Date('2030-03-16T06:00:00.000Z');
    const always = { start: '00:00', end: '00:00' };
    const patch = await api.request('/v1/agent/settings', {
      method: 'PATCH',
      body: JSON.stringify({ callWindow: always }),
    });
    expect(patch.status).toBe(200);
    const byAccount = await placed({ to: NEW_YORK });
    expect(byAccount.scheduledFor).toBe('2030-03-16T12:00:00.000Z'); // 08:00 EDT, the end of quiet hours
    const byCall = await placed({ to: NEW_YORK, callWindow: always });
    expect(byCall.scheduledFor).toBe('2030-03-16T12:00:00.000Z');
    // Outside the quiet hours an "always" window rings at once, at an hour the deployment window would not.
    now = new Date('2030-03-17T00:30:00.000Z'); // 20:30 in New York
    expect((await placed({ to: NEW_YORK })).scheduledFor).toBeNull();
  });

  it('follows the clocks on the days they change (US DST 2030: 10 March and 3 November)', async () => {
    // Spring forward: Sunday 2030-03-10 00:00 EST (05:00 UTC); 09:00 that day is EDT, 13:00 UTC.
    now = new Date('2030-03-10T05:00:00.000Z');
    expect((await placed({ to: NEW_YORK })).scheduledFor).toBe('2030-03-10T13:00:00.000Z');
    // A window opening inside the skipped hour (02:00–03:00 does not exist that night) opens when the
    // clocks jump, 03:00 EDT = 07:00 UTC, on a stack without quiet hours; with 21:00–08:00 quiet hours
    // it opens at 08:00 EDT.
    const skipped = { start: '02:30', end: '10:00' };
    expect((await placedOn(open, { to: NEW_YORK, callWindow: skipped })).scheduledFor).toBe(
      '2030-03-10T07:00:00.000Z',
    );
    expect((await placed({ to: NEW_YORK, callWindow: skipped })).scheduledFor).toBe(
      '2030-03-10T12:00:00.000Z',
    );
    // Fall back: Sunday 2030-11-03 00:00 EDT (04:00 UTC); 09:00 that day is EST, 14:00 UTC.
    now = new Date('2030-11-03T04:00:00.000Z');
    expect((await placed({ to: NEW_YORK })).scheduledFor).toBe('2030-11-03T14:00:00.000Z');
    expect((await placed({ to: LOS_ANGELES })).scheduledFor).toBe('2030-11-03T17:00:00.000Z');
  });
});

describe('Idempotency-Key and calls for later', () => {
  it('replays the first answer, scheduledFor included, even after the window has opened', async () => {
    now = new Date('2030-03-15T12:00:00.000Z'); // 08:00 in New York
    const send = () =>
      api.request('/v1/agent/calls', {
        method: 'POST',
        body: JSON.stringify({ to: NEW_YORK, objective: 'Once.' }),
        headers: { 'idempotency-key': 'later-1' },
      });
    const first = await send();
    expect(first.status).toBe(201);
    const body = (await first.json()) as Placed;
    expect(body.scheduledFor).toBe('2030-03-15T13:00:00.000Z');
    now = new Date('2030-03-15T14:00:00.000Z');
    const again = await send();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(body);
    expect(await callCount()).toBe(1);
  });
});

describe('startAt and expiresAt validation', () => {
  beforeEach(() => {
    now = new Date('2030-03-15T18:30:00.000Z');
  });

  it('names the field of a bad time', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ startAt: '2030-03-16T10:00:00' }, 'startAt'], // no offset
      [{ startAt: 'tomorrow' }, 'startAt'],
      [{ expiresAt: 1_900_000_000 }, 'expiresAt'],
      [{ startAt: '2030-04-15T18:31:00Z' }, 'startAt'], // more than 30 days ahead
      [{ expiresAt: '2030-03-15T18:30:00Z' }, 'expiresAt'], // not after now
      [{ expiresAt: '2030-03-15T10:00:00Z' }, 'expiresAt'], // in the past
      [{ startAt: '2030-03-16T15:00:00Z', expiresAt: '2030-03-16T15:00:00Z' }, 'expiresAt'], // not after startAt
    ];
    for (const [extra, field] of cases) {
      const err = await refused({ to: NEW_YORK, ...extra }, 400);
      expect(err.code, JSON.stringify(extra)).toBe('invalid_request');
      expect(
        err.details.fields.map((f: { field: string }) => f.field),
        JSON.stringify(extra),
      ).toEqual([field]);
    }
    expect(await callCount()).toBe(0);
  });

  it('takes startAt exactly 30 days ahead', async () => {
    const res = await placed({ to: NEW_YORK, startAt: '2030-04-14T18:30:00Z' });
    expect(res.scheduledFor).toBe('2030-04-14T18:30:00.000Z');
  });
});

describe('do-not-call at placement', () => {
  beforeEach(() => {
    now = new Date('2030-03-15T18:30:00.000Z');
  });

  it("refuses a number on the account's list with 422 destination_blocked do_not_call, and stores nothing", async () => {
    await api.db.db.insert(doNotCall).values({ accountId: api.accountId, number: NEW_YORK, source: 'api' });
    const err = await refused({ to: NEW_YORK }, 422);
    expect(err.code).toBe('destination_blocked');
    expect(err.details).toEqual({ category: 'do_not_call', list: 'account' });
    expect(await callCount()).toBe(0);
    // Another number, and another account calling the listed one, are not affected.
    await placed({ to: LOS_ANGELES });
    const other = await api.addAccount('dnc-other', '+14155550177');
    const res = await api.request('/v1/agent/calls', {
      method: 'POST',
      key: other.key,
      body: JSON.stringify({ to: NEW_YORK, objective: 'Another account.' }),
    });
    expect(res.status).toBe(201);
  });

  it("refuses a number on the deployment's list (DNC_LIST_FILE) with list: deployment", async () => {
    const listed = '+13125550142';
    const stack = await startTestApi({
      db: api.db,
      clock: () => now,
      tweak: (deps) => ({ ...deps, doNotCallList: { has: (n: string) => n === listed } }),
    });
    try {
      const res = await stack.request('/v1/agent/calls', {
        method: 'POST',
        body: JSON.stringify({ to: listed, objective: 'Listed by the operator.' }),
      });
      expect(res.status).toBe(422);
      expect(((await res.json()) as ApiErr).error).toMatchObject({
        code: 'destination_blocked',
        details: { category: 'do_not_call', list: 'deployment' },
      });
      expect((await placedOn(stack, { to: CHICAGO })).scheduledFor).toBeNull();
    } finally {
      await stack.close();
    }
  });

  it('checks do-not-call before the calling hours (a listed number is refused, not scheduled)', async () => {
    now = new Date('2030-03-15T12:00:00.000Z'); // outside the window in New York
    await api.db.db.insert(doNotCall).values({ accountId: api.accountId, number: NEW_YORK, source: 'cli' });
    expect((await refused({ to: NEW_YORK }, 422)).code).toBe('destination_blocked');
  });
});

describe('retry policy at placement', () => {
  beforeEach(() => {
    now = new Date('2030-03-15T18:30:00.000Z');
  });

  it('stores the call’s policy with the default outcomes, else the account’s, else none', async () => {
    const own = await placed({ to: NEW_YORK, retry: { maxAttempts: 3, delaySeconds: 600 } });
    expect((await row(own.callId)).retryPolicy).toEqual({
      maxAttempts: 3,
      delaySeconds: 600,
      on: ['no_answer', 'declined/busy', 'failed/network_error'],
    });
    const none = await placed({ to: NEW_YORK });
    expect((await row(none.callId)).retryPolicy).toBeNull();

    const accountPolicy = { maxAttempts: 2, delaySeconds: 3600, on: ['no_answer'] };
    await api.request('/v1/agent/settings', {
      method: 'PATCH',
      body: JSON.stringify({ retryPolicy: accountPolicy }),
    });
    const inherited = await placed({ to: NEW_YORK });
    expect((await row(inherited.callId)).retryPolicy).toEqual(accountPolicy);
    const overridden = await placed({
      to: NEW_YORK,
      retry: { maxAttempts: 5, delaySeconds: 60, on: ['voicemail'] },
    });
    expect((await row(overridden.callId)).retryPolicy).toEqual({
      maxAttempts: 5,
      delaySeconds: 60,
      on: ['voicemail'],
    });
  });

  it('names the field of a bad retry policy', async () => {
    const cases: [unknown, string][] = [
      [{ maxAttempts: 0, delaySeconds: 600 }, 'retry.maxAttempts'],
      [{ maxAttempts: 11, delaySeconds: 600 }, 'retry.maxAttempts'],
      [{ maxAttempts: 3, delaySeconds: 59 }, 'retry.delaySeconds'],
      [{ maxAttempts: 3, delaySeconds: 86_401 }, 'retry.delaySeconds'],
      [{ maxAttempts: 3 }, 'retry.delaySeconds'],
      [{ maxAttempts: 3, delaySeconds: 600, on: ['declined/rejected'] }, 'retry.on[0]'],
      [{ maxAttempts: 3, delaySeconds: 600, on: ['no_answer', 'completed'] }, 'retry.on[1]'],
      [{ maxAttempts: 3, delaySeconds: 600, on: [] }, 'retry.on'],
      [{ maxAttempts: 3, delaySeconds: 600, every: 2 }, 'retry.every'],
    ];
    for (const [retry, field] of cases) {
      const err = await refused({ to: NEW_YORK, retry }, 400);
      expect(err.code).toBe('invalid_request');
      expect(
        err.details.fields.map((f: { field: string }) => f.field),
        JSON.stringify(retry),
      ).toEqual([field]);
    }
    expect(await callCount()).toBe(0);
  });

  it('names the field of a bad call window', async () => {
    const cases: [unknown, string][] = [
      [{ start: '24:00', end: '20:00' }, 'callWindow.start'],
      [{ start: '09:00', end: '9:30' }, 'callWindow.end'],
      [{ start: '09:00', end: '20:00', days: [] }, 'callWindow.days'],
      [{ start: '09:00', end: '20:00', days: ['mon', 'mon'] }, 'callWindow.days'],
      [{ start: '09:00', end: '20:00', days: ['monday'] }, 'callWindow.days[0]'],
    ];
    for (const [callWindow, field] of cases) {
      const err = await refused({ to: NEW_YORK, callWindow }, 400);
      expect(
        err.details.fields.map((f: { field: string }) => f.field),
        JSON.stringify(callWindow),
      ).toEqual([field]);
    }
  });
});

describe('the concurrent-calls cap and calls for later', () => {
  beforeEach(async () => {
    now = new Date('2030-03-15T18:30:00.000Z');
    await api.db.db.update(accounts).set({ capConcurrentCalls: 1 }).where(eq(accounts.id, api.accountId));
  });

  it('counts neither calls scheduled for later nor calls of batches, and a call for later is never refused by it', async () => {
    const later = await placed({ to: NEW_YORK, startAt: '2030-03-15T20:00:00Z' });
    expect(later.scheduledFor).toBe('2030-03-15T20:00:00.000Z');
    // A batch's queued call due now holds no line of the single-call cap.
    const [batch] = await api.db.db
      .insert(batches)
      .values({ accountId: api.accountId, template: {}, totalRows: 1, acceptedRows: 1 })
      .returning({ id: batches.id });
    await api.db.db.insert(calls).values({
      accountId: api.accountId,
      toNumber: LOS_ANGELES,
      callerId: '+14155550100',
      objective: 'Batch row',
      language: 'en-US',
      batchId: batch.id,
      batchRow: 1,
    });

    const due = await placed({ to: NEW_YORK });
    expect(due.scheduledFor).toBeNull();
    // The cap (1) is now held by the due call.
    const err = await refused({ to: NEW_YORK }, 429);
    expect(err).toMatchObject({ code: 'usage_cap_reached', details: { cap: 'concurrent_calls', limit: 1 } });
    // A call for later still goes in.
    expect((await placed({ to: NEW_YORK, startAt: '2030-03-15T21:00:00Z' })).scheduledFor).toBe(
      '2030-03-15T21:00:00.000Z',
    );

    // Once the first call's time has come, it counts like any due call.
    await api.db.db
      .update(calls)
      .set({ status: 'failed', endedReason: 'canceled' })
      .where(eq(calls.id, due.callId));
    now = new Date('2030-03-15T20:00:00.000Z');
    expect((await refused({ to: NEW_YORK }, 429)).details).toMatchObject({ cap: 'concurrent_calls' });
  });

  it("the per-minute cap counts single calls, not a batch's rows", async () => {
    await api.db.db.update(accounts).set({ capCallsPerMinute: 2 }).where(eq(accounts.id, api.accountId));
    try {
      const [batch] = await api.db.db
        .insert(batches)
        .values({ accountId: api.accountId, template: {}, totalRows: 3, acceptedRows: 3 })
        .returning({ id: batches.id });
      await api.db.db.insert(calls).values(
        [1, 2, 3].map((batchRow) => ({
          accountId: api.accountId,
          toNumber: LOS_ANGELES,
          callerId: '+14155550100',
          objective: 'Batch row',
          language: 'en-US',
          batchId: batch.id,
          batchRow,
          createdAt: now,
        })),
      );
      await api.db.db
        .update(accounts)
        .set({ capConcurrentCalls: null })
        .where(eq(accounts.id, api.accountId));
      await placed({ to: NEW_YORK });
      await placed({ to: NEW_YORK });
      const err = await refused({ to: NEW_YORK }, 429);
      expect(err).toMatchObject({ code: 'rate_limited', details: { cap: 'calls_per_minute', limit: 2 } });
    } finally {
      await api.db.db.update(accounts).set({ capCallsPerMinute: null }).where(eq(accounts.id, api.accountId));
    }
  });
});

describe('prepareCall with a context built once (as a batch uses it)', () => {
  it('checks the do-not-call lists from the preloaded numbers and inserts nothing', async () => {
    now = new Date('2030-03-15T12:00:00.000Z');
    const service = createCallService({
      db: api.db.db,
      config: api.deps.config,
      calls: api.deps.calls,
      readiness: api.deps.readiness,
      guardrails: api.deps.guardrails,
      clock: () => now,
      dncList: { has: (n: string) => n === CHICAGO },
    });
    await api.db.db.insert(doNotCall).values({ accountId: api.accountId, number: NEW_YORK, source: 'api' });
    const ctx = await service.createPlacementContext(api.db.db, api.accountId, now, {
      preloadDnc: [NEW_YORK, LOS_ANGELES, CHICAGO],
    });
    expect(ctx.dncListed).toEqual(
      new Map([
        [NEW_YORK, 'account'],
        [CHICAGO, 'deployment'],
      ]),
    );
    const body = (to: string) => PlaceCallBodySchema.parse({ to, objective: 'Row.' });
    await expect(service.prepareCall(api.accountId, body(NEW_YORK), ctx)).rejects.toMatchObject({
      code: 'destination_blocked',
      details: { category: 'do_not_call', list: 'account' },
    });
    await expect(service.prepareCall(api.accountId, body(CHICAGO), ctx)).rejects.toMatchObject({
      code: 'destination_blocked',
      details: { category: 'do_not_call', list: 'deployment' },
    });
    // A number outside the preloaded ones is looked up on its own (here: listed after the context was built).
    const other = '+13125550188';
    await api.db.db.insert(doNotCall).values({ accountId: api.accountId, number: other, source: 'api' });
    await expect(service.prepareCall(api.accountId, body(other), ctx)).rejects.toMatchObject({
      details: { list: 'account' },
    });
    const values = await service.prepareCall(api.accountId, body(LOS_ANGELES), ctx);
    expect(values).toMatchObject({
      accountId: api.accountId,
      status: 'queued',
      toNumber: LOS_ANGELES,
      callerId: '+14155550100',
      timeZones: ['America/Los_Angeles'],
      createdAt: now,
      retryPolicy: null,
    });
    expect(values.scheduledFor?.toISOString()).toBe('2030-03-15T16:00:00.000Z');
    expect(await callCount()).toBe(0);
  });
});
