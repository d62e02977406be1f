import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  accounts,
  batches,
  callEvents,
  calls,
  doNotCall,
  idempotencyKeys,
  usageCounters,
  webhookDeliveries,
} from '../../src/db/schema.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({
    env: { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOW_PRIVATE: 'true', CAP_CALLS_PER_DAY: '100000' },
  });
});
afterAll(async () => {
  await api?.close();
});
beforeEach(async () => {
  await api.db.db.delete(webhookDeliveries);
  await api.db.db.delete(calls);
  await api.db.db.delete(batches);
  await api.db.db.delete(usageCounters);
  await api.db.db.delete(idempotencyKeys);
  await api.db.db.delete(doNotCall);
  await api.db.db.update(accounts).set({ capCallsPerDay: null, capMinutesPerMonth: null });
});

/** A distinct valid US number for row i (415-555-0000 … 415-555-9999, then 212-555-…). */
const numberFor = (i: number) => `+1${i < 10_000 ? '415' : '212'}555${String(i % 10_000).padStart(4, '0')}`;

const template = {
  objective: 'Remind {{name}} of the appointment at {{ time }}.',
  context: 'Clinic: {{clinic}}.',
  fields: [{ name: 'confirmed', type: 'boolean' as const }],
  metadata: { campaign: 'spring' },
};

const post = (body: unknown, headers: Record<string, string> = {}, key?: string) =>
  api.request('/v1/agent/batches', { method: 'POST', body: JSON.stringify(body), headers, key });

const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; details?: any } }).error;

interface CreateAnswer {
  batchId: string;
  status: string;
  totalRows: number;
  acceptedRows: number;
  refusedRows: number;
  accepted: { row: number; callId: string }[];
  refused: { row: number; to: string | null; code: string; message: string; details?: any }[];
}

async function create(body: unknown, headers: Record<string, string> = {}): Promise<CreateAnswer> {
  const res = await post(body, headers);
  const json = await res.json();
  expect(res.status, JSON.stringify(json).slice(0, 2000)).toBe(201);
  return json as CreateAnswer;
}

const vars = (name: string) => ({ name, time: '9 am', clinic: 'North' });

describe('POST /v1/agent/batches (JSON rows)', () => {
  it('accepts the good rows and refuses each bad one with the code a single call would get', async () => {
    await api.db.db
      .insert(doNotCall)
      .values({ accountId: api.accountId, number: '+14155550177', source: 'api' });
    const rows = [
      { to: TEST_DESTINATION, variables: vars('Dana'), metadata: { patient: 7 } },
      { to: '+1415', variables: vars('Short') },
      { to: '+33612345678', variables: vars('Pierre') },
      { to: '+19005550100', variables: vars('Premium') },
      { to: '+14155550177', variables: vars('Listed') },
      { to: '+14155550123', variables: { name: 'NoTime', clinic: 'North' } },
      { to: '+14155550124', variables: { name: 'Lee', time: 10, clinic: true } },
      // A second row to the same number is a second call.
      { to: TEST_DESTINATION, variables: vars('Dana again') },
    ];
    const res = await post({ name: 'spring reminders', template, rows, concurrency: 3 });
    expect(res.status).toBe(201);
    const out = (await res.json()) as CreateAnswer;
    expect(res.headers.get('location')).toBe(`/v1/agent/batches/${out.batchId}`);
    expect(out).toMatchObject({ status: 'running', totalRows: 8, acceptedRows: 3, refusedRows: 5 });
    expect(out.accepted.map((a) => a.row)).toEqual([1, 7, 8]);
    const byRow = Object.fromEntries(out.refused.map((r) => [r.row, r]));
    expect(Object.keys(byRow).map(Number)).toEqual([2, 3, 4, 5, 6]);
    expect(byRow[2]).toMatchObject({ to: '+1415', code: 'invalid_number' });
    expect(byRow[3]).toMatchObject({ code: 'destination_not_allowed', details: { country: 'FR' } });
    expect(byRow[4]).toMatchObject({ code: 'destination_blocked', details: { category: 'premium_rate' } });
    expect(byRow[5]).toMatchObject({
      code: 'destination_blocked',
      details: { category: 'do_not_call', list: 'account' },
    });
    expect(byRow[6].code).toBe('invalid_request');
    expect(byRow[6].details.missingVariables).toEqual(['time']);
    expect(byRow[6].message).toContain("'time'");

    const stored = await api.db.db
      .select()
      .from(calls)
      .where(eq(calls.batchId, out.batchId))
      .orderBy(calls.batchRow);
    expect(stored.map((c) => [c.batchRow, c.id])).toEqual(out.accepted.map((a) => [a.row, a.callId]));
    expect(stored[0]).toMatchObject({
      status: 'queued',
      toNumber: TEST_DESTINATION,
      objective: 'Remind Dana of the appointment at 9 am.',
      context: 'Clinic: North.',
      metadata: { campaign: 'spring', patient: 7 },
      accountId: api.accountId,
    });
    // Values are stringified: a number and a boolean.
    expect(stored[1].objective).toBe('Remind Lee of the appointment at 10.');
    expect(stored[1].context).toBe('Clinic: true.');
    expect(stored[1].metadata).toEqual({ campaign: 'spring' });

    // Each call starts its history as a single call does (null → queued).
    const events = await api.db.db
      .select()
      .from(callEvents)
      .where(
        inArray(
          callEvents.callId,
          out.accepted.map((a) => a.callId),
        ),
      );
    expect(events).toHaveLength(3);
    expect(events.every((e) => e.fromStatus === null && e.toStatus === 'queued')).toBe(true);

    const [usage] = await api.db.db
      .select()
      .from(usageCounters)
      .where(eq(usageCounters.accountId, api.accountId));
    expect(usage.calls).toBe(3);

    const [b] = await api.db.db.select().from(batches).where(eq(batches.id, out.batchId));
    expect(b).toMatchObject({ name: 'spring reminders', concurrency: 3, totalRows: 8, acceptedRows: 3 });
    expect(b.refused).toHaveLength(5);
  });

  it('answers 422 with every refusal and stores nothing when no row is accepted', async () => {
    const res = await post({
      template: { ...template, callerId: '+14155550199' },
      rows: [
        { to: TEST_DESTINATION, variables: vars('A') },
        { to: '+14155550111', variables: vars('B') },
      ],
    });
    expect(res.status).toBe(422);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    expect(err.message).toMatch(/no row was accepted/i);
    expect(err.details.refused.map((r: { row: number; code: string }) => [r.row, r.code])).toEqual([
      [1, 'caller_id_not_owned'],
      [2, 'caller_id_not_owned'],
    ]);
    expect(await api.db.db.select().from(batches)).toHaveLength(0);
    expect(await api.db.db.select().from(calls)).toHaveLength(0);
  });

  it('refuses a rendered row that breaks the single call schema, naming the field', async () => {
    const out = await create({
      template: { objective: '{{text}}' },
      rows: [
        { to: TEST_DESTINATION, variables: { text: 'Ask about the hours.' } },
        { to: TEST_DESTINATION, variables: { text: '   ' } },
        { to: TEST_DESTINATION, variables: { text: 'x'.repeat(2_001) } },
      ],
    });
    expect(out.acceptedRows).toBe(1);
    expect(out.refused.map((r) => [r.row, r.code, r.details.fields[0].field])).toEqual([
      [2, 'invalid_request', 'objective'],
      [3, 'invalid_request', 'objective'],
    ]);
  });

  it('refuses rows past what the daily cap leaves with usage_cap_reached', async () => {
    await api.db.db.update(accounts).set({ capCallsPerDay: 3 }).where(eq(accounts.id, api.accountId));
    const out = await create({
      template,
      rows: Array.from({ length: 5 }, (_, i) => ({ to: numberFor(i + 200), variables: vars(`P${i}`) })),
    });
    expect(out.acceptedRows).toBe(3);
    expect(out.refused.map((r) => [r.row, r.code, r.details.cap])).toEqual([
      [4, 'usage_cap_reached', 'calls_per_day'],
      [5, 'usage_cap_reached', 'calls_per_day'],
    ]);
    const res = await post({ template, rows: [{ to: TEST_DESTINATION, variables: vars('Late') }] });
    expect(res.status).toBe(422);
    expect((await errorOf(res)).details.refused[0].code).toBe('usage_cap_reached');
  });

  it('refuses a request shape error as 400 (no rows, both rows and csv, unknown field)', async () => {
    for (const body of [
      { template },
      { template, rows: [{ to: TEST_DESTINATION }], csv: 'to\n+14155552671\n' },
      { template, rows: [] },
      { template, rows: [{ to: TEST_DESTINATION }], extra: 1 },
      { template: { ...template, to: TEST_DESTINATION }, rows: [{ to: TEST_DESTINATION }] },
    ]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await errorOf(res)).code).toBe('invalid_request');
    }
  });
});

describe('CSV rows', () => {
  const csv =
    '\ufeffto,name,time,clinic,metadata.customerId\r\n' +
    `${TEST_DESTINATION},Dana,9 am,North,c-1\r\n` +
    '\r\n' +
    '+14155550142,"Lee, Jr.",10 am,South,\r\n' +
    '+14155550143,Kim,,West,c-3\r\n';

  it('reads CSV text in JSON: header names the variables, metadata.<key> columns, BOM, CRLF and blank lines', async () => {
    const out = await create({ template, csv });
    expect(out.totalRows).toBe(3);
    expect(out.acceptedRows).toBe(2);
    // An empty cell is no value: row 3 lacks `time`.
    expect(out.refused).toHaveLength(1);
    expect(out.refused[0]).toMatchObject({ row: 3, to: '+14155550143', code: 'invalid_request' });
    expect(out.refused[0].details.missingVariables).toEqual(['time']);
    const stored = await api.db.db
      .select()
      .from(calls)
      .where(eq(calls.batchId, out.batchId))
      .orderBy(calls.batchRow);
    expect(stored.map((c) => [c.batchRow, c.objective, c.metadata])).toEqual([
      [1, 'Remind Dana of the appointment at 9 am.', { campaign: 'spring', customerId: 'c-1' }],
      [2, 'Remind Lee, Jr. of the appointment at 10 am.', { campaign: 'spring' }],
    ]);
  });

  it('reads a multipart upload: part batch (JSON) and part rows (CSV file)', async () => {
    const form = new FormData();
    form.append('batch', JSON.stringify({ name: 'from a file', template }));
    form.append('rows', new Blob([csv], { type: 'text/csv' }), 'rows.csv');
    const req = new Request('http://x/', { method: 'POST', body: form });
    const res = await api.request('/v1/agent/batches', {
      method: 'POST',
      body: await req.arrayBuffer(),
      headers: { 'content-type': req.headers.get('content-type') as string },
    });
    const out = (await res.json()) as CreateAnswer;
    expect(res.status, JSON.stringify(out)).toBe(201);
    expect([out.totalRows, out.acceptedRows]).toEqual([3, 2]);
    const [b] = await api.db.db.select().from(batches).where(eq(batches.id, out.batchId));
    expect(b.name).toBe('from a file');
  });

  it('refuses a multipart upload without its rows part, and one with rows in the batch part', async () => {
    const form = new FormData();
    form.append('batch', JSON.stringify({ template }));
    const req = new Request('http://x/', { method: 'POST', body: form });
    const res = await api.request('/v1/agent/batches', {
      method: 'POST',
      body: await req.arrayBuffer(),
      headers: { 'content-type': req.headers.get('content-type') as string },
    });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).details.fields[0].field).toBe('rows');
  });

  it.each([
    ['an unclosed quote', 'to,name\n+14155552671,"Dana\n', 2],
    ['a row with an extra cell', 'to,name\n+14155552671,Dana\n+14155552672,Lee,extra\n', 3],
    ['no to column', 'phone,name\n+14155552671,Dana\n', 1],
    ['a header only', 'to,name\n', 1],
    ['a column named twice', 'to,name,name\n+14155552671,a,b\n', 1],
  ])('answers 400 invalid_request naming the line for %s', async (_n, text, line) => {
    const res = await post({ template, csv: text });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    expect(err.code).toBe('invalid_request');
    expect(err.details.line).toBe(line);
    expect(err.details.fields[0].field).toBe('csv');
  });
});

describe('Idempotency-Key', () => {
  const body = { template, rows: [{ to: TEST_DESTINATION, variables: vars('Dana') }] };

  it('replays the first answer and stores one batch; another body with the key is a conflict', async () => {
    const first = await post(body, { 'idempotency-key': 'batch-1' });
    expect(first.status).toBe(201);
    const firstBody = await first.json();
    const again = await post(body, { 'idempotency-key': 'batch-1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(await again.json()).toEqual(firstBody);
    expect(await api.db.db.select().from(batches)).toHaveLength(1);
    expect(await api.db.db.select().from(calls)).toHaveLength(1);

    const other = await post({ ...body, name: 'changed' }, { 'idempotency-key': 'batch-1' });
    expect(other.status).toBe(409);
    expect((await errorOf(other)).code).toBe('idempotency_conflict');
    expect(await api.db.db.select().from(batches)).toHaveLength(1);
  });

  it('stores one batch for concurrent identical requests', async () => {
    const results = await Promise.all(
      Array.from({ length: 3 }, () => post(body, { 'idempotency-key': 'race' })),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    const ids = new Set(
      await Promise.all(results.map(async (r) => ((await r.json()) as CreateAnswer).batchId)),
    );
    expect(ids.size).toBe(1);
    expect(await api.db.db.select().from(batches)).toHaveLength(1);
  });
});

describe('reading, pausing, canceling', () => {
  it('lists and reads a batch with counts, progress and paged calls; another account sees nothing', async () => {
    const out = await create({
      name: 'paged',
      template,
      rows: [
        ...Array.from({ length: 5 }, (_, i) => ({ to: numberFor(i + 300), variables: vars(`R${i}`) })),
        { to: '+1415', variables: vars('bad') },
      ],
    });
    await api.db.db
      .update(calls)
      .set({ status: 'failed', endedReason: 'network_error' })
      .where(and(eq(calls.batchId, out.batchId), eq(calls.batchRow, 2)));

    const list = await api.request('/v1/agent/batches?limit=10');
    const page = (await list.json()) as { batches: { batchId: string; counts: Record<string, number> }[] };
    expect(page.batches.map((b) => b.batchId)).toEqual([out.batchId]);

    const seen: number[] = [];
    let cursor: string | null = null;
    let detail: any;
    do {
      const res = await api.request(
        `/v1/agent/batches/${out.batchId}?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      detail = await res.json();
      seen.push(...detail.calls.map((c: { row: number }) => c.row));
      cursor = detail.nextCursor;
    } while (cursor);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(detail).toMatchObject({
      batchId: out.batchId,
      id: out.batchId,
      name: 'paged',
      status: 'running',
      totalRows: 6,
      acceptedRows: 5,
      refusedRows: 1,
      progress: { ended: 1, total: 5 },
    });
    expect(detail.counts).toMatchObject({ queued: 4, failed: 1, completed: 0 });
    expect(detail.refused[0]).toMatchObject({ row: 6, code: 'invalid_number' });

    const bad = await api.request(`/v1/agent/batches/${out.batchId}?cursor=nope`);
    expect(bad.status).toBe(400);

    const other = await api.addAccount('batch-other', '+14155550166');
    for (const [method, path] of [
      ['GET', `/v1/agent/batches/${out.batchId}`],
      ['GET', `/v1/agent/batches/${out.batchId}/results.csv`],
      ['POST', `/v1/agent/batches/${out.batchId}/pause`],
      ['POST', `/v1/agent/batches/${out.batchId}/resume`],
      ['POST', `/v1/agent/batches/${out.batchId}/cancel`],
    ]) {
      const res = await api.request(path, { method, key: other.key });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect((await errorOf(res)).code).toBe('not_found');
    }
    const theirs = await api.request('/v1/agent/batches', { key: other.key });
    expect(((await theirs.json()) as { batches: unknown[] }).batches).toEqual([]);
    const [b] = await api.db.db.select().from(batches).where(eq(batches.id, out.batchId));
    expect(b.status).toBe('running');
    expect((await api.request('/v1/agent/batches/not-a-uuid')).status).toBe(404);
  });

  it('pauses (the queue skips it) and resumes', async () => {
    const out = await create({ template, rows: [{ to: TEST_DESTINATION, variables: vars('P') }] });
    const paused = await api.request(`/v1/agent/batches/${out.batchId}/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);
    const pv = (await paused.json()) as { status: string; pausedAt: string | null; calls?: unknown };
    expect(pv.status).toBe('paused');
    expect(pv.pausedAt).not.toBeNull();
    expect(pv.calls).toBeUndefined();
    // What the worker's claim asks of a batch call: its batch is running.
    const claimable = async () =>
      (
        await api.db.db
          .select({ id: calls.id })
          .from(calls)
          .innerJoin(batches, eq(batches.id, calls.batchId))
          .where(and(eq(calls.status, 'queued'), eq(batches.status, 'running')))
      ).length;
    expect(await claimable()).toBe(0);
    // Pausing twice changes nothing.
    expect((await api.request(`/v1/agent/batches/${out.batchId}/pause`, { method: 'POST' })).status).toBe(
      200,
    );

    const resumed = await api.request(`/v1/agent/batches/${out.batchId}/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toMatchObject({ status: 'running', pausedAt: null });
    expect(await claimable()).toBe(1);
  });

  it('cancel ends the queued calls failed/canceled with their webhooks; a live call finishes; then 409', async () => {
    const out = await create({
      template: { ...template, webhookUrl: 'http://127.0.0.1:9/hook' },
      rows: Array.from({ length: 4 }, (_, i) => ({ to: numberFor(i + 400), variables: vars(`C${i}`) })),
    });
    const live = out.accepted[1].callId;
    expect((await api.deps.calls.transition(live, 'dialing')).ok).toBe(true);
    // Row 4 waits for its second attempt: the store ends it, as a single cancel would.
    const retried = out.accepted[3].callId;
    await api.db.db
      .update(calls)
      .set({
        attempt: 2,
        attempts: [
          {
            attempt: 1,
            dialedAt: '2030-01-01T10:00:00.000Z',
            startedAt: null,
            endedAt: '2030-01-01T10:00:30.000Z',
            status: 'no_answer',
            endedReason: 'no_answer_timeout',
            durationSeconds: 0,
          },
        ],
      })
      .where(eq(calls.id, retried));

    const res = await api.request(`/v1/agent/batches/${out.batchId}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    const view = (await res.json()) as any;
    expect(view.status).toBe('canceled');
    expect(view.canceledAt).not.toBeNull();
    expect(view.completedAt).toBeNull();
    expect(view.counts).toMatchObject({ failed: 3, dialing: 1, queued: 0 });

    const rows = await api.db.db
      .select()
      .from(calls)
      .where(eq(calls.batchId, out.batchId))
      .orderBy(calls.batchRow);
    expect(rows.map((c) => [c.status, c.endedReason])).toEqual([
      ['failed', 'canceled'],
      ['dialing', null],
      ['failed', 'canceled'],
      ['failed', 'canceled'],
    ]);
    const canceledIds = rows.filter((c) => c.status === 'failed').map((c) => c.id);
    const events = await api.db.db
      .select()
      .from(callEvents)
      .where(and(inArray(callEvents.callId, canceledIds), eq(callEvents.toStatus, 'failed')));
    expect(events.map((e) => [e.fromStatus, e.reason])).toEqual(Array(3).fill(['queued', 'canceled']));
    const hooks = await api.db.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.event, 'call.failed'));
    expect(hooks.map((h) => h.callId).sort()).toEqual([...canceledIds].sort());
    expect(hooks[0].payload).toMatchObject({
      status: 'failed',
      endedReason: 'canceled',
      batchId: out.batchId,
    });
    const retriedHook = hooks.find((h) => h.callId === retried);
    expect(retriedHook?.attempt).toBe(2);
    expect(retriedHook?.payload).toMatchObject({
      attempt: 2,
      attempts: [{ attempt: 1, status: 'no_answer' }],
    });

    // The live call finishes as usual and was not retried; its end completes the canceled batch.
    expect((await api.deps.calls.transition(live, 'no_answer', { reason: 'no_answer_timeout' })).ok).toBe(
      true,
    );
    const [b] = await api.db.db.select().from(batches).where(eq(batches.id, out.batchId));
    expect(b.status).toBe('canceled');
    expect(b.completedAt).not.toBeNull();

    // A cancel cut off half way (a queued call left in the canceled batch) is finished by canceling again.
    const [leftover] = await api.db.db
      .insert(calls)
      .values({
        accountId: api.accountId,
        toNumber: TEST_DESTINATION,
        callerId: rows[0].callerId,
        objective: 'left over',
        language: 'en-US',
        batchId: out.batchId,
        batchRow: 5,
      })
      .returning();
    const again = await api.request(`/v1/agent/batches/${out.batchId}/cancel`, { method: 'POST' });
    expect(again.status).toBe(200);
    const [after] = await api.db.db.select().from(calls).where(eq(calls.id, leftover.id));
    expect([after.status, after.endedReason]).toEqual(['failed', 'canceled']);

    for (const a of ['cancel', 'pause', 'resume']) {
      const again = await api.request(`/v1/agent/batches/${out.batchId}/${a}`, { method: 'POST' });
      expect(again.status).toBe(409);
      expect((await errorOf(again)).code).toBe('batch_already_ended');
    }
  });

  it('cancel of a batch with nothing live completes it at once and sends batch.completed', async () => {
    const out = await create({
      template: { ...template, webhookUrl: 'http://127.0.0.1:9/hook' },
      rows: [{ to: TEST_DESTINATION, variables: vars('Solo') }],
    });
    const res = await api.request(`/v1/agent/batches/${out.batchId}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    const view = (await res.json()) as any;
    expect(view.status).toBe('canceled');
    expect(view.completedAt).not.toBeNull();
    const [done] = await api.db.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.event, 'batch.completed'));
    expect(done.batchId).toBe(out.batchId);
    expect(done.payload).toMatchObject({ status: 'canceled', counts: { failed: 1 } });
  });
});

describe('results.csv', () => {
  it('has one line per call with the variables and the extracted fields as columns', async () => {
    const out = await create({
      template: {
        ...template,
        fields: [
          { name: 'confirmed', type: 'boolean' },
          { name: 'note', type: 'string' },
        ],
      },
      rows: [
        { to: TEST_DESTINATION, variables: vars('Dana') },
        { to: '+14155550150', variables: { ...vars('Lee, "Jr"'), extra: 'x' } },
        { to: '+1415', variables: vars('bad') },
      ],
    });
    await api.db.db
      .update(calls)
      .set({
        status: 'completed',
        endedReason: 'completed',
        dialedAt: new Date(),
        durationSeconds: 42,
        summary: 'Confirmed, will come.',
        extracted: { confirmed: true, note: 'bring forms' },
      })
      .where(eq(calls.id, out.accepted[0].callId));
    const res = await api.request(`/v1/agent/batches/${out.batchId}/results.csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await res.text();
    expect(text.split('\r\n')).toEqual([
      'row,callId,to,status,endedReason,attempts,durationSeconds,optOut,summary,name,time,clinic,extra,extracted.confirmed,extracted.note',
      `1,${out.accepted[0].callId},${TEST_DESTINATION},completed,completed,1,42,false,"Confirmed, will come.",Dana,9 am,North,,true,bring forms`,
      `2,${out.accepted[1].callId},+14155550150,queued,,0,,false,,"Lee, ""Jr""",9 am,North,x,,`,
      '',
    ]);
  });
});

describe('limits and scale', () => {
  it('accepts 10,000 rows in one request, each a queued call with its first event', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => ({
      to: numberFor(i),
      variables: { name: `P${i}` },
    }));
    const started = performance.now();
    const out = await create({ template: { objective: 'Remind {{name}} of the visit.' }, rows });
    const ms = performance.now() - started;
    console.log(`10,000-row batch accepted in ${Math.round(ms)} ms`);
    expect(out.acceptedRows).toBe(10_000);
    expect(out.refused).toEqual([]);
    const [n] = await api.db.db
      .select({
        calls: sql<number>`count(*)::int`,
        rows: sql<number>`count(distinct ${calls.batchRow})::int`,
      })
      .from(calls)
      .where(eq(calls.batchId, out.batchId));
    expect(n).toEqual({ calls: 10_000, rows: 10_000 });
    const [ev] = await api.db.db
      .select({ n: sql<number>`count(*)::int` })
      .from(callEvents)
      .innerJoin(calls, eq(calls.id, callEvents.callId))
      .where(eq(calls.batchId, out.batchId));
    expect(ev.n).toBe(10_000);
    const [u] = await api.db.db
      .select()
      .from(usageCounters)
      .where(eq(usageCounters.accountId, api.accountId));
    expect(u.calls).toBe(10_000);

    const cancelStarted = performance.now();
    const res = await api.request(`/v1/agent/batches/${out.batchId}/cancel`, { method: 'POST' });
    console.log(`10,000 queued calls canceled in ${Math.round(performance.now() - cancelStarted)} ms`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'canceled', counts: { failed: 10_000, queued: 0 } });
  }, 120_000);

  it('refuses a row count over 10,000', async () => {
    const rows = Array.from({ length: 10_001 }, () => ({ to: TEST_DESTINATION }));
    const res = await post({ template: { objective: 'Hi.' }, rows });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).details.fields[0].field).toBe('rows');
  });

  it('takes a body over 64 KB for a batch but refuses one over 8 MB with payload_too_large; calls keep 64 KB', async () => {
    const padded = (bytes: number) => ({
      template: { objective: 'Hi {{name}}.' },
      csv: `to,name,pad\n${TEST_DESTINATION},Dana,${'x'.repeat(bytes)}\n`,
    });
    const ok = await post(padded(200_000));
    expect(ok.status).toBe(201);

    const big = await post(padded(8 * 1024 * 1024));
    expect(big.status).toBe(413);
    const err = await errorOf(big);
    expect(err.code).toBe('payload_too_large');
    expect(err.details.limitBytes).toBe(8 * 1024 * 1024);

    const call = await api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Hi.', context: 'x'.repeat(70_000) }),
    });
    expect(call.status).toBe(413);
    // Another route under /v1/agent/batches keeps the small limit too.
    const other = await api.request('/v1/agent/batches/00000000-0000-0000-0000-000000000000/cancel', {
      method: 'POST',
      body: JSON.stringify({ pad: 'x'.repeat(70_000) }),
    });
    expect(other.status).toBe(413);
  });
});
