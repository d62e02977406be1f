import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDialGate, type DialGateOptions } from '../../src/calls/dial-gate.js';
import { accounts, type CallRow, calls, doNotCall } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

const NINE_TO_FIVE = { start: '09:00', end: '17:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const };

describe('dial gate', () => {
  let t: TestDatabase;
  let accountId: string;
  let windowedAccountId: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    const [a] = await t.db.insert(accounts).values({ name: 'acme' }).returning();
    accountId = a.id;
    const [b] = await t.db
      .insert(accounts)
      .values({ name: 'evenings', callWindow: { start: '18:00', end: '21:00', days: ['tue'] } })
      .returning();
    windowedAccountId = b.id;
    await t.db.insert(doNotCall).values({ accountId, number: '+12125550111', source: 'api' });
  });
  afterAll(() => t.close());

  async function call(extra: Partial<typeof calls.$inferInsert> = {}): Promise<CallRow> {
    const [c] = await t.db
      .insert(calls)
      .values({
        accountId,
        toNumber: '+12125550100',
        callerId: '+14155550199',
        objective: 'o',
        language: 'en-US',
        timeZones: ['America/New_York'],
        workerId: 'w',
        ...extra,
      })
      .returning();
    return c;
  }

  function gate(at: string, over: Partial<DialGateOptions> = {}) {
    return createDialGate({
      db: t.db,
      config: { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: undefined },
      clock: () => new Date(at),
      ...over,
    });
  }

  // Tuesday 10 March 2026: New York is on EDT (UTC-4) since the 8th, Los Angeles on PDT (UTC-7).
  it('dials a call inside its window', async () => {
    const c = await call({ callWindow: { ...NINE_TO_FIVE, days: [...NINE_TO_FIVE.days] } });
    expect(await gate('2026-03-10T14:00:00Z').check(c)).toEqual({ action: 'dial' });
  });

  it('an always-open window with no quiet hours needs no time zone; otherwise an unknown zone is an error', async () => {
    const c = await call({ timeZones: null, toNumber: '+19999' });
    expect(await gate('2026-03-10T03:00:00Z').check(c)).toEqual({ action: 'dial' });
    const quiet = gate('2026-03-10T03:00:00Z', {
      config: { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: '21:00-08:00' },
    });
    await expect(quiet.check(c)).rejects.toThrow(/invalid phone number/);
  });

  it('defers a call before its window opens to the opening, in the callee zone (after the DST change)', async () => {
    const c = await call({ callWindow: { ...NINE_TO_FIVE, days: [...NINE_TO_FIVE.days] } });
    // 08:00 in New York.
    expect(await gate('2026-03-10T12:00:00Z').check(c)).toEqual({
      action: 'defer',
      until: new Date('2026-03-10T13:00:00Z'),
    });
    // Friday 17:30 → Monday 09:00.
    expect(await gate('2026-03-13T21:30:00Z').check(c)).toEqual({
      action: 'defer',
      until: new Date('2026-03-16T13:00:00Z'),
    });
  });

  it('a callee who may be in either of two zones is called only when the window is open in both', async () => {
    const c = await call({
      timeZones: ['America/New_York', 'America/Los_Angeles'],
      callWindow: { start: '09:00', end: '20:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
    });
    // 09:00 in New York is 06:00 in Los Angeles; 09:00 there is 16:00 UTC.
    expect(await gate('2026-03-10T13:00:00Z').check(c)).toEqual({
      action: 'defer',
      until: new Date('2026-03-10T16:00:00Z'),
    });
    expect(await gate('2026-03-10T16:00:00Z').check(c)).toEqual({ action: 'dial' });
  });

  it("uses the account's window when the call has none, and the deployment's quiet hours always", async () => {
    const c = await call({ accountId: windowedAccountId });
    // Tuesday 17:00 in New York → 18:00.
    expect(await gate('2026-03-10T21:00:00Z').check(c)).toEqual({
      action: 'defer',
      until: new Date('2026-03-10T22:00:00Z'),
    });
    const quiet = gate('2026-03-10T06:00:00Z', {
      config: { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: '21:00-08:00' },
    });
    const anyTime = await call();
    // 02:00 in New York → 08:00.
    expect(await quiet.check(anyTime)).toEqual({ action: 'defer', until: new Date('2026-03-10T12:00:00Z') });
  });

  it('ends an expired call as expired, before anything else', async () => {
    const c = await call({ expiresAt: new Date('2026-03-10T14:00:00Z'), toNumber: '+12125550111' });
    expect(await gate('2026-03-10T14:00:00Z').check(c)).toEqual({ action: 'end', reason: 'expired' });
    expect(await gate('2026-03-10T13:59:00Z').check(c)).toMatchObject({
      action: 'end',
      reason: 'do_not_call',
    });
  });

  it('ends a call whose next callable time is at or after its expiry as expired now', async () => {
    const c = await call({
      callWindow: { ...NINE_TO_FIVE, days: [...NINE_TO_FIVE.days] },
      expiresAt: new Date('2026-03-10T13:00:00Z'),
    });
    expect(await gate('2026-03-10T12:00:00Z').check(c)).toEqual({ action: 'end', reason: 'expired' });
    const later = await call({
      callWindow: { ...NINE_TO_FIVE, days: [...NINE_TO_FIVE.days] },
      expiresAt: new Date('2026-03-10T13:00:01Z'),
    });
    expect(await gate('2026-03-10T12:00:00Z').check(later)).toEqual({
      action: 'defer',
      until: new Date('2026-03-10T13:00:00Z'),
    });
  });

  it("ends a call to a number on the account's or the deployment's do-not-call list", async () => {
    const listed = await call({ toNumber: '+12125550111' });
    expect(await gate('2026-03-10T14:00:00Z').check(listed)).toEqual({
      action: 'end',
      reason: 'do_not_call',
      list: 'account',
    });
    const deploymentListed = await call({ toNumber: '+12125550122' });
    const withList = gate('2026-03-10T14:00:00Z', { deploymentDnc: new Set(['+12125550122']) });
    expect(await withList.check(deploymentListed)).toEqual({
      action: 'end',
      reason: 'do_not_call',
      list: 'deployment',
    });
    // The account list is the account's own: another account may call the number.
    const other = await call({ accountId: windowedAccountId, toNumber: '+12125550111', callWindow: null });
    expect(await gate('2026-03-10T22:30:00Z').check(other)).toEqual({ action: 'dial' });
  });

  it('with no callable time in 14 days, defers to the horizon, or ends the call if it expires first', async () => {
    // The window lies entirely inside the quiet hours: rules changed after placement.
    const never = { start: '09:00', end: '10:00', days: ['mon' as const] };
    const quiet = { DEFAULT_CALL_WINDOW: 'always', QUIET_HOURS: '08:00-11:00' };
    const c = await call({ callWindow: never });
    expect(await gate('2026-03-10T14:00:00Z', { config: quiet }).check(c)).toEqual({
      action: 'defer',
      until: new Date('2026-03-24T14:00:00Z'),
    });
    const expiring = await call({ callWindow: never, expiresAt: new Date('2026-03-20T00:00:00Z') });
    expect(await gate('2026-03-10T14:00:00Z', { config: quiet }).check(expiring)).toEqual({
      action: 'end',
      reason: 'expired',
    });
  });
});
