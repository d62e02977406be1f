import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallStore } from '../../src/calls/call-store.js';
import { attemptsOf, callView } from '../../src/calls/call-view.js';
import type { CallStatus } from '../../src/calls/status.js';
import {
  accounts,
  type CallRow,
  callEvents,
  calls,
  doNotCall,
  type RetryPolicy,
  usageCounters,
  webhookDeliveries,
} from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

const T0 = new Date('2030-03-04T15:00:00.000Z');
const HOOK = 'https://hooks.example/agentline';
const DEFAULT_ON = ['no_answer', 'declined/busy', 'failed/network_error'];

describe('retries in the call store', () => {
  let t: TestDatabase;
  let store: CallStore;
  let accountId: string;
  /** The store's clock: each step moves it on explicitly. */
  let now = T0;
  const advance = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
    return now;
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'https://agentline.example', () => now);
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    now = T0;
    const [a] = await t.db.insert(accounts).values({ name: 'retries' }).returning();
    accountId = a.id;
  });

  async function placeCall(retryPolicy: RetryPolicy | null, extra: Partial<typeof calls.$inferInsert> = {}) {
    const [c] = await t.db
      .insert(calls)
      .values({
        accountId,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'Confirm the appointment.',
        language: 'en-US',
        webhookUrl: HOOK,
        retryPolicy,
        ...extra,
      })
      .returning();
    return c;
  }

  const row = async (id: string) => (await t.db.select().from(calls).where(eq(calls.id, id)))[0];

  /** One attempt as a worker runs it: claimed, dialed, optionally answered, then ended. */
  async function attempt(
    id: string,
    end: { status: CallStatus; reason: string; answeredFor?: number; ringFor?: number; optOut?: boolean },
  ): Promise<CallRow> {
    await t.db.update(calls).set({ workerId: 'w1', claimedAt: now }).where(eq(calls.id, id));
    expect((await store.transition(id, 'dialing')).ok).toBe(true);
    advance(end.ringFor ?? 20);
    if (end.answeredFor !== undefined) {
      expect((await store.transition(id, 'in_progress')).ok).toBe(true);
      advance(end.answeredFor);
    }
    const res = await store.transition(id, end.status, {
      reason: end.reason,
      patch: end.optOut ? { optOut: true } : undefined,
    });
    expect(res.ok).toBe(true);
    if (!res.ok) throw new Error('refused');
    return res.call;
  }

  const hooks = (callId: string) =>
    t.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.callId, callId))
      .orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.attempt));

  const usage = async () => {
    const rows = await t.db.select().from(usageCounters).where(eq(usageCounters.accountId, accountId));
    return {
      calls: rows.reduce((s, r) => s + r.calls, 0),
      callSeconds: rows.reduce((s, r) => s + r.callSeconds, 0),
    };
  };

  it('retries a no_answer attempt twice under a policy of 3, then ends no_answer with all three attempts', async () => {
    const call = await placeCall({ maxAttempts: 3, delaySeconds: 600, on: DEFAULT_ON });

    const first = await attempt(call.id, { status: 'no_answer', reason: 'no_answer_timeout' });
    const firstEnd = now;
    expect(first).toMatchObject({
      status: 'queued',
      attempt: 2,
      workerId: null,
      claimedAt: null,
      dialedAt: null,
      startedAt: null,
      endedAt: null,
      endedReason: null,
      durationSeconds: null,
    });
    expect(first.scheduledFor?.toISOString()).toBe(new Date(firstEnd.getTime() + 600_000).toISOString());
    expect(first.attempts).toEqual([
      {
        attempt: 1,
        dialedAt: T0.toISOString(),
        startedAt: null,
        endedAt: firstEnd.toISOString(),
        status: 'no_answer',
        endedReason: 'no_answer_timeout',
        durationSeconds: 0,
      },
    ]);
    expect(await row(call.id)).toEqual(first);

    advance(600);
    const second = await attempt(call.id, { status: 'no_answer', reason: 'no_answer_timeout' });
    expect(second).toMatchObject({ status: 'queued', attempt: 3 });
    expect(second.attempts.map((a) => a.attempt)).toEqual([1, 2]);

    advance(600);
    const third = await attempt(call.id, { status: 'no_answer', reason: 'no_answer_timeout' });
    expect(third).toMatchObject({ status: 'no_answer', attempt: 3, endedReason: 'no_answer_timeout' });
    const all = attemptsOf(third);
    expect(all.map((a) => [a.attempt, a.status, a.endedReason])).toEqual([
      [1, 'no_answer', 'no_answer_timeout'],
      [2, 'no_answer', 'no_answer_timeout'],
      [3, 'no_answer', 'no_answer_timeout'],
    ]);
    expect(all[2].endedAt).toBe(now.toISOString());
    const view = callView(third, [], 'https://agentline.example', await store.events(call.id));
    expect(view.attempts).toEqual(all);
    expect(view).toMatchObject({ attempt: 3, retryPolicy: { maxAttempts: 3 }, optOut: false, batchId: null });

    const sent = await hooks(call.id);
    expect(sent.map((h) => [h.event, h.attempt])).toEqual([
      ['call.retrying', 1],
      ['call.retrying', 2],
      ['call.no_answer', 3],
    ]);
    const retrying = sent[0].payload;
    expect(retrying).toMatchObject({
      event: 'call.retrying',
      eventId: sent[0].id,
      callId: call.id,
      status: 'no_answer',
      endedReason: 'no_answer_timeout',
      attempt: 1,
      endedAt: firstEnd.toISOString(),
      nextAttemptAt: new Date(firstEnd.getTime() + 600_000).toISOString(),
      scheduledFor: new Date(firstEnd.getTime() + 600_000).toISOString(),
    });
    expect((retrying.attempts as unknown[]).length).toBe(1);
    expect(sent[1].payload).toMatchObject({ attempt: 2, status: 'no_answer' });
    expect((sent[1].payload.attempts as { attempt: number }[]).map((a) => a.attempt)).toEqual([1, 2]);
    expect(sent[2].payload).toMatchObject({ event: 'call.no_answer', status: 'no_answer', attempt: 3 });
    expect(sent[2].payload).not.toHaveProperty('nextAttemptAt');
    expect((sent[2].payload.attempts as unknown[]).length).toBe(3);

    // The timeline: no terminal status until the last attempt (a live stream would close on one).
    const events = (await store.events(call.id)).map((e) => [e.fromStatus, e.toStatus, e.reason]);
    expect(events).toEqual([
      ['queued', 'dialing', null],
      ['dialing', 'dialing', 'attempt_ended: attempt 1 of 3, no_answer/no_answer_timeout'],
      ['dialing', 'queued', 'retry'],
      ['queued', 'dialing', null],
      ['dialing', 'dialing', 'attempt_ended: attempt 2 of 3, no_answer/no_answer_timeout'],
      ['dialing', 'queued', 'retry'],
      ['queued', 'dialing', null],
      ['dialing', 'no_answer', 'no_answer_timeout'],
    ]);
  });

  it('counts every attempt and its call seconds as usage, and sends call.in_progress once per answered attempt', async () => {
    const call = await placeCall({ maxAttempts: 2, delaySeconds: 60, on: DEFAULT_ON });
    const first = await attempt(call.id, { status: 'failed', reason: 'network_error', answeredFor: 30 });
    expect(first).toMatchObject({ status: 'queued', attempt: 2 });
    expect(first.attempts[0]).toMatchObject({
      status: 'failed',
      endedReason: 'network_error',
      durationSeconds: 30,
    });
    expect(await usage()).toEqual({ calls: 1, callSeconds: 30 });

    advance(60);
    const second = await attempt(call.id, { status: 'completed', reason: 'objective_met', answeredFor: 45 });
    expect(second).toMatchObject({ status: 'completed', attempt: 2, durationSeconds: 45 });
    expect(await usage()).toEqual({ calls: 1, callSeconds: 75 });
    expect((await hooks(call.id)).map((h) => [h.event, h.attempt])).toEqual([
      ['call.in_progress', 1],
      ['call.retrying', 1],
      ['call.in_progress', 2],
      ['call.completed', 2],
    ]);
  });

  it('retries busy but never rejected', async () => {
    const busy = await placeCall({ maxAttempts: 3, delaySeconds: 60, on: DEFAULT_ON });
    expect(await attempt(busy.id, { status: 'declined', reason: 'busy' })).toMatchObject({
      status: 'queued',
      attempt: 2,
    });
    const rejected = await placeCall({ maxAttempts: 3, delaySeconds: 60, on: ['declined'] });
    expect(await attempt(rejected.id, { status: 'declined', reason: 'rejected' })).toMatchObject({
      status: 'declined',
      endedReason: 'rejected',
      attempt: 1,
      attempts: [],
    });
    expect((await hooks(rejected.id)).map((h) => h.event)).toEqual(['call.declined']);
  });

  it('retries voicemail only when the policy lists it', async () => {
    const byDefault = await placeCall({ maxAttempts: 3, delaySeconds: 60, on: DEFAULT_ON });
    expect(
      await attempt(byDefault.id, { status: 'voicemail', reason: 'voicemail_detected', answeredFor: 5 }),
    ).toMatchObject({ status: 'voicemail', attempt: 1 });
    const listed = await placeCall({ maxAttempts: 3, delaySeconds: 60, on: ['voicemail'] });
    expect(
      await attempt(listed.id, { status: 'voicemail', reason: 'voicemail_detected', answeredFor: 5 }),
    ).toMatchObject({ status: 'queued', attempt: 2 });
  });

  it('never retries a canceled call, one that never dialed, or one whose next attempt would be past expiresAt', async () => {
    const wide: RetryPolicy = { maxAttempts: 5, delaySeconds: 600, on: ['failed', 'no_answer'] };
    const canceled = await placeCall(wide);
    expect(await attempt(canceled.id, { status: 'failed', reason: 'canceled' })).toMatchObject({
      status: 'failed',
      endedReason: 'canceled',
    });

    const undialed = await placeCall(wide);
    const res = await store.transition(undialed.id, 'failed', { reason: 'worker_shutdown' });
    expect(res).toMatchObject({ ok: true, call: { status: 'failed', attempt: 1 } });

    const expiring = await placeCall(wide, { expiresAt: new Date(T0.getTime() + 300_000) });
    expect(await attempt(expiring.id, { status: 'no_answer', reason: 'no_answer_timeout' })).toMatchObject({
      status: 'no_answer',
      attempt: 1,
    });
    const roomy = await placeCall(wide, { expiresAt: new Date(T0.getTime() + 3_600_000) });
    expect(await attempt(roomy.id, { status: 'no_answer', reason: 'no_answer_timeout' })).toMatchObject({
      status: 'queued',
      attempt: 2,
    });
  });

  it('never retries without a policy', async () => {
    const call = await placeCall(null);
    expect(await attempt(call.id, { status: 'no_answer', reason: 'no_answer_timeout' })).toMatchObject({
      status: 'no_answer',
      attempt: 1,
    });
  });

  it('stores an opt-out on the call and the account do-not-call list, puts it in the webhook, and never retries it', async () => {
    const call = await placeCall({ maxAttempts: 3, delaySeconds: 60, on: ['failed'] });
    const ended = await attempt(call.id, {
      status: 'failed',
      reason: 'network_error',
      answeredFor: 12,
      optOut: true,
    });
    expect(ended).toMatchObject({ status: 'failed', optOut: true, attempt: 1 });
    const dnc = await t.db
      .select()
      .from(doNotCall)
      .where(and(eq(doNotCall.accountId, accountId), eq(doNotCall.number, '+14155550100')));
    expect(dnc).toEqual([expect.objectContaining({ source: 'opt_out', callId: call.id })]);
    const [hook] = (await hooks(call.id)).filter((h) => h.event === 'call.failed');
    expect(hook.payload).toMatchObject({ optOut: true, status: 'failed' });

    // A second call to the same number that opts out again keeps the first listing.
    const again = await placeCall(null);
    await attempt(again.id, { status: 'completed', reason: 'objective_met', answeredFor: 5, optOut: true });
    const listed = await t.db.select().from(doNotCall).where(eq(doNotCall.accountId, accountId));
    expect(listed).toHaveLength(1);
    expect(listed[0].callId).toBe(call.id);
    expect(await row(again.id)).toMatchObject({ optOut: true, status: 'completed' });
  });

  it('an opt-out that never happened leaves the call and the list alone', async () => {
    const call = await placeCall(null);
    await attempt(call.id, { status: 'completed', reason: 'objective_met', answeredFor: 5 });
    expect(await row(call.id)).toMatchObject({ optOut: false });
    expect(await t.db.select().from(doNotCall).where(eq(doNotCall.accountId, accountId))).toEqual([]);
    const [hook] = await hooks(call.id).then((h) => h.filter((x) => x.event === 'call.completed'));
    expect(hook.payload).toMatchObject({
      optOut: false,
      attempt: 1,
      attempts: [expect.objectContaining({ attempt: 1 })],
    });
  });

  it('refuses a report about an attempt that was already retried', async () => {
    const call = await placeCall({ maxAttempts: 2, delaySeconds: 60, on: DEFAULT_ON });
    await attempt(call.id, { status: 'no_answer', reason: 'no_answer_timeout' });
    advance(60);
    // Attempt 2 is dialing when attempt 1's end, retried through an outage, arrives again.
    expect((await store.transition(call.id, 'dialing', { attempt: 2 })).ok).toBe(true);
    const late = await store.transition(call.id, 'no_answer', { reason: 'no_answer_timeout', attempt: 1 });
    expect(late).toMatchObject({ ok: false, call: { status: 'dialing', attempt: 2 } });
    expect(
      (await store.transition(call.id, 'no_answer', { reason: 'no_answer_timeout', attempt: 2 })).ok,
    ).toBe(true);
  });

  it('writes no events for a retry it refused (a second end of the same attempt)', async () => {
    const call = await placeCall({ maxAttempts: 2, delaySeconds: 60, on: DEFAULT_ON });
    await attempt(call.id, { status: 'no_answer', reason: 'no_answer_timeout' });
    // A late duplicate end for attempt 1: the call is queued now, and queued → no_answer is illegal.
    const dup = await store.transition(call.id, 'no_answer', { reason: 'no_answer_timeout' });
    expect(dup.ok).toBe(false);
    expect(await row(call.id)).toMatchObject({ status: 'queued', attempt: 2 });
    const retries = await t.db
      .select()
      .from(callEvents)
      .where(and(eq(callEvents.callId, call.id), eq(callEvents.reason, 'retry')));
    expect(retries).toHaveLength(1);
  });
});
