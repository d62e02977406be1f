import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerCallControl } from '../../src/calls/call-control.js';
import type { CallOutcome } from '../../src/calls/call-runner.js';
import { CallStore } from '../../src/calls/call-store.js';
import { accounts, type CallRow, callEvents, calls, webhookDeliveries } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

describe('WorkerCallControl', () => {
  let t: TestDatabase;
  let store: CallStore;
  let accountId: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'https://agentline.example');
    const [a] = await t.db.insert(accounts).values({ name: 'acme' }).returning();
    accountId = a.id;
  });
  afterAll(() => t.close());

  async function control(seen: string[] = []) {
    const [call] = await t.db
      .insert(calls)
      .values({
        accountId,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'o',
        language: 'en-US',
        webhookUrl: 'https://hooks.example/x',
        workerId: 'w',
      })
      .returning();
    return new WorkerCallControl(call, store, silentLogger(), (c: CallRow) => seen.push(c.status));
  }
  const events = async (id: string) =>
    (await t.db.select().from(callEvents).where(eq(callEvents.callId, id))).map((e) => e.toStatus);

  it('turns reports into transitions and carries the results on the end', async () => {
    const seen: string[] = [];
    const ctl = await control(seen);
    await ctl.dialing();
    expect(ctl.call.dialedAt).toBeInstanceOf(Date);
    await ctl.answered();
    await ctl.addTurn({ speaker: 'callee', text: 'Yes, seven works.', startMs: 100, endMs: 1200 });
    await ctl.end({
      status: 'completed',
      endedReason: 'objective_met',
      summary: 'Table booked for 7pm.',
      extracted: { booked: true },
      recordingFile: 'rec.wav',
    });
    expect(ctl.settled).toBe(true);
    expect(ctl.signal.aborted).toBe(false);
    expect(ctl.call).toMatchObject({
      status: 'completed',
      endedReason: 'objective_met',
      summary: 'Table booked for 7pm.',
      extracted: { booked: true },
      recordingFile: 'rec.wav',
      transcript: 'Callee: Yes, seven works.',
    });
    expect(seen).toEqual(['dialing', 'in_progress', 'completed']);
    expect(await events(ctl.call.id)).toEqual(['dialing', 'in_progress', 'completed']);
  });

  it('honours only the first end', async () => {
    const ctl = await control();
    await ctl.dialing();
    expect(ctl.ending).toBe(false);
    const first = ctl.end({ status: 'no_answer', endedReason: 'no_answer_timeout' });
    // From the first end on, the worker's cancel watch must not mistake this end for a cancel.
    expect(ctl.ending).toBe(true);
    const second = ctl.end({ status: 'declined', endedReason: 'busy' });
    await Promise.all([first, second]);
    expect(await store.get(ctl.call.id)).toMatchObject({
      status: 'no_answer',
      endedReason: 'no_answer_timeout',
    });
    const hooks = await t.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.callId, ctl.call.id));
    expect(hooks.map((h) => h.event)).toEqual(['call.no_answer']);
  });

  it('a report after a cancel changes nothing and aborts the signal with canceled', async () => {
    const ctl = await control();
    await ctl.dialing();
    await store.transition(ctl.call.id, 'failed', { reason: 'canceled' });
    await ctl.answered();
    // answered() lets a live call go on after a short wait even if its write is slow; the refusal follows.
    await expect.poll(() => ctl.signal.aborted).toBe(true);
    expect(ctl.signal.reason).toBe('canceled');
    expect(ctl.settled).toBe(true);
    await ctl.end({ status: 'completed', endedReason: 'objective_met' });
    expect(await store.get(ctl.call.id)).toMatchObject({ status: 'failed', endedReason: 'canceled' });
    expect(await events(ctl.call.id)).toEqual(['dialing', 'failed']);
  });

  it('an end with a status that is not terminal still ends the call, as failed/internal_error', async () => {
    const ctl = await control();
    await ctl.dialing();
    await ctl.end({ status: 'in_progress', endedReason: 'oops' } as unknown as CallOutcome);
    expect(await store.get(ctl.call.id)).toMatchObject({ status: 'failed', endedReason: 'internal_error' });
  });

  it('a released control touches nothing', async () => {
    const ctl = await control();
    ctl.release();
    expect(ctl.signal.reason).toBe('shutdown');
    await ctl.dialing();
    await ctl.addTurn({ speaker: 'agent', text: 'hello', startMs: 0, endMs: 10 });
    await ctl.end({ status: 'failed', endedReason: 'network_error' });
    expect(await store.get(ctl.call.id)).toMatchObject({ status: 'queued' });
    expect(await store.turns(ctl.call.id)).toEqual([]);
  });
});
