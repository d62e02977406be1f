import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentlineError, type BatchRow, Client } from '../../sdk/node/agentline.js';
import { DeploymentDncList } from '../../src/dnc/deployment-list.js';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// Valid US numbers of the 415 plan, apart from the fixture's destination.
const N = (i: number) => `+1415555${3000 + i}`;

const TEMPLATE = {
  objective: 'Remind {{name}} of the appointment on {{date}}',
  context: 'Clinic: {{clinic}}',
  fields: [{ name: 'confirmed', type: 'boolean' as const }],
  metadata: { campaign: 'reminders' },
};

describe('Node SDK: batches, do-not-call and settings against the real API', () => {
  let api: TestApi;
  let client: Client;
  let dncDir: string;
  let deploymentList: DeploymentDncList;
  const deploymentListed = N(90);
  beforeAll(async () => {
    dncDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-dnc-'));
    const file = path.join(dncDir, 'dnc.txt');
    fs.writeFileSync(file, `# numbers this deployment never calls\n${deploymentListed}\n`);
    // The deployment's list as src/main.ts opens it from DNC_LIST_FILE.
    deploymentList = await DeploymentDncList.open(file);
    api = await startTestApi({
      env: { CAP_CALLS_PER_MINUTE: '1000', CAP_CONCURRENT_CALLS: '100', DNC_LIST_FILE: file },
      tweak: (deps) => ({ ...deps, doNotCallList: deploymentList }),
    });
    client = new Client(api.key, api.url);
  });
  afterAll(async () => {
    await api.close();
    deploymentList.close();
    fs.rmSync(dncDir, { recursive: true, force: true });
  });

  it('creates a batch with per-row refusals, reads it page by page and replays an idempotent create', async () => {
    const rows: BatchRow[] = [
      { to: N(1), variables: { name: 'Ada', date: 'Monday', clinic: 'North' }, metadata: { patient: 1 } },
      { to: '+999', variables: { name: 'Bad', date: 'Monday', clinic: 'North' } },
      { to: N(2), variables: { name: 'Bo', date: 'Tuesday' } },
      { to: N(3), variables: { name: 'Cy', date: 'Friday', clinic: 'South' } },
    ];
    const key = crypto.randomUUID();
    const created = await client.createBatch(
      { name: 'reminders', template: TEMPLATE, rows, concurrency: 2, metadata: { run: 1 } },
      { idempotencyKey: key },
    );
    expect(created).toMatchObject({ status: 'running', totalRows: 4, acceptedRows: 2, refusedRows: 2 });
    expect(created.accepted.map((a) => a.row)).toEqual([1, 4]);
    const refused = Object.fromEntries(created.refused.map((r) => [r.row, r]));
    expect(refused[2]).toMatchObject({ to: '+999', code: 'invalid_number' });
    expect(refused[3]).toMatchObject({ to: N(2), code: 'invalid_request' });
    expect(JSON.stringify(refused[3].details)).toContain('clinic');

    const again = await client.createBatch(
      { name: 'reminders', template: TEMPLATE, rows, concurrency: 2, metadata: { run: 1 } },
      { idempotencyKey: key },
    );
    expect(again.batchId).toBe(created.batchId);
    const conflict = await client
      .createBatch({ template: TEMPLATE, rows: rows.slice(0, 1) }, { idempotencyKey: key })
      .catch((e) => e);
    expect([conflict.code, conflict.status]).toEqual(['idempotency_conflict', 409]);

    const first = created.accepted[0].callId;
    const call = await client.getCall(first);
    expect(call).toMatchObject({
      objective: 'Remind Ada of the appointment on Monday',
      context: 'Clinic: North',
      batchId: created.batchId,
      status: 'queued',
      attempt: 1,
      optOut: false,
    });
    expect(call.metadata).toMatchObject({ patient: 1 });

    const batch = await client.getBatch(created.batchId, { limit: 1 });
    expect(batch).toMatchObject({
      batchId: created.batchId,
      id: created.batchId,
      name: 'reminders',
      status: 'running',
      concurrency: 2,
      metadata: { run: 1 },
      totalRows: 4,
      acceptedRows: 2,
      refusedRows: 2,
      progress: { ended: 0, total: 2 },
      completedAt: null,
    });
    expect(batch.counts.queued).toBe(2);
    expect(batch.refused.map((r) => r.row).sort()).toEqual([2, 3]);
    expect(batch.calls).toHaveLength(1);
    expect(batch.calls[0]).toMatchObject({ row: 1, callId: first, to: N(1), status: 'queued', attempt: 1 });
    expect(batch.nextCursor).toBeTruthy();

    const all = [];
    for await (const c of client.iterateBatchCalls(created.batchId, { pageSize: 1 })) all.push(c);
    expect(all.map((c) => c.callId)).toEqual(created.accepted.map((a) => a.callId));

    const listed = await client.listBatches({ limit: 100 });
    expect(listed.batches.map((b) => b.batchId)).toContain(created.batchId);
  });

  it('refuses a batch whose every row is refused, with the rows in details', async () => {
    const err = await client
      .createBatch({
        template: TEMPLATE,
        rows: [{ to: '+999', variables: { name: 'x', date: 'y', clinic: 'z' } }],
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(AgentlineError);
    expect([err.code, err.status]).toEqual(['invalid_request', 422]);
    expect(err.details.refused).toEqual([expect.objectContaining({ row: 1, code: 'invalid_number' })]);
  });

  it('creates a batch from CSV text, with metadata columns', async () => {
    const csv = `to,name,date,clinic,metadata.patient\n${N(10)},Dee,Monday,East,41\n${N(11)},Eve,Tuesday,West,42\n`;
    const created = await client.createBatchFromCsv(csv, { template: TEMPLATE, name: 'from csv' });
    expect(created).toMatchObject({ totalRows: 2, acceptedRows: 2, refusedRows: 0 });
    const second = await client.getCall(created.accepted[1].callId);
    expect(second.objective).toBe('Remind Eve of the appointment on Tuesday');
    expect(second.metadata).toMatchObject({ patient: '42' });
  });

  it('pauses, resumes and cancels a batch; waitForBatch returns once every call ended; results come as CSV', async () => {
    const created = await client.createBatch({
      template: TEMPLATE,
      rows: [1, 2, 3].map((i) => ({
        to: N(20 + i),
        variables: { name: `P${i}`, date: 'Sunday', clinic: 'C' },
      })),
    });
    const id = created.batchId;
    expect((await client.pauseBatch(id)).status).toBe('paused');
    expect((await client.getBatch(id)).pausedAt).toBeTruthy();
    expect((await client.resumeBatch(id)).status).toBe('running');

    const timeout = await client
      .waitForBatch(id, { timeoutSeconds: 0.3, intervalSeconds: 0.1 })
      .catch((e) => e);
    expect([timeout.code, timeout.status]).toEqual(['timeout', 0]);

    const canceled = await client.cancelBatch(id);
    expect(canceled.status).toBe('canceled');
    const done = await client.waitForBatch(id, { timeoutSeconds: 10, intervalSeconds: 0.1 });
    expect(done.completedAt).toBeTruthy();
    expect(done.counts.failed).toBe(3);
    expect(done.progress).toEqual({ ended: 3, total: 3 });
    for (const c of done.calls) expect(c).toMatchObject({ status: 'failed', endedReason: 'canceled' });

    const ended = await client.pauseBatch(id).catch((e) => e);
    expect([ended.code, ended.status]).toEqual(['batch_already_ended', 409]);

    const csv = await client.batchResultsCsv(id);
    const lines = csv.trim().split(/\r?\n/);
    expect(lines).toHaveLength(4);
    const header = lines[0].split(',');
    expect(header.slice(0, 5)).toEqual(['row', 'callId', 'to', 'status', 'endedReason']);
    expect(header).toEqual(expect.arrayContaining(['name', 'date', 'clinic', 'extracted.confirmed']));
    expect(lines[1]).toContain(created.accepted[0].callId);
    expect(lines[1]).toContain('canceled');

    const missing = await client.getBatch(crypto.randomUUID()).catch((e) => e);
    expect([missing.code, missing.status]).toEqual(['not_found', 404]);
  });

  it('adds, checks, lists, imports and removes do-not-call numbers; a listed number is refused', async () => {
    const added = await client.addDoNotCall([N(40), N(41), 'not-a-number'], { note: 'asked by letter' });
    expect(added.added).toBe(2);
    expect(added.alreadyListed).toBe(0);
    expect(added.invalid).toEqual([expect.objectContaining({ value: 'not-a-number' })]);
    expect((await client.addDoNotCall([N(40)])).alreadyListed).toBe(1);

    expect(await client.checkDoNotCall(N(40))).toMatchObject({
      number: N(40),
      listed: true,
      list: 'account',
    });
    expect(await client.checkDoNotCall(deploymentListed)).toMatchObject({ listed: true, list: 'deployment' });
    expect(await client.checkDoNotCall(N(49))).toMatchObject({ listed: false, list: null });

    const blocked = await client.placeCall({ to: N(41), objective: 'Should not ring' }).catch((e) => e);
    expect([blocked.code, blocked.status]).toEqual(['destination_blocked', 422]);
    expect(blocked.details).toMatchObject({ category: 'do_not_call', list: 'account' });
    const fromFile = await client.placeCall({ to: deploymentListed, objective: 'Nor this' }).catch((e) => e);
    expect(fromFile.details).toMatchObject({ category: 'do_not_call', list: 'deployment' });

    const imported = await client.importDoNotCallCsv(`number\n${N(42)}\n${N(43)}\n`);
    expect(imported.added).toBe(2);

    const page = await client.listDoNotCall({ limit: 100 });
    const byNumber = Object.fromEntries(page.numbers.map((n) => [n.number, n]));
    expect(byNumber[N(40)]).toMatchObject({ source: 'api', note: 'asked by letter' });
    expect(Object.keys(byNumber)).toEqual(expect.arrayContaining([N(41), N(42), N(43)]));

    await client.removeDoNotCall(N(41));
    expect((await client.checkDoNotCall(N(41))).listed).toBe(false);
    expect((await client.placeCall({ to: N(41), objective: 'Allowed again' })).status).toBe('queued');
    const gone = await client.removeDoNotCall(N(41)).catch((e) => e);
    expect([gone.code, gone.status]).toEqual(['not_found', 404]);
    const fixed = await client.removeDoNotCall(deploymentListed).catch((e) => e);
    expect([fixed.code, fixed.status]).toEqual(['dnc_deployment_list', 409]);
  });

  it('reads and changes the account defaults; null clears them', async () => {
    const initial = await client.getSettings();
    expect(initial).toMatchObject({ callWindow: null, retryPolicy: null });
    // The test stack's DEFAULT_CALL_WINDOW is "always".
    expect(initial.effective.callWindow).toEqual({ start: '00:00', end: '00:00', days: expect.any(Array) });
    expect(initial.deployment).toMatchObject({ quietHours: null });
    const window = { start: '10:00', end: '18:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const };
    const set = await client.updateSettings({
      callWindow: { ...window, days: [...window.days] },
      retryPolicy: { maxAttempts: 3, delaySeconds: 600 },
    });
    expect(set.callWindow).toEqual(window);
    expect(set.retryPolicy).toMatchObject({ maxAttempts: 3, delaySeconds: 600 });
    expect(set.retryPolicy?.on).toEqual(['no_answer', 'declined/busy', 'failed/network_error']);
    const kept = await client.updateSettings({ retryPolicy: null });
    expect(kept).toMatchObject({ callWindow: window, retryPolicy: null });
    expect(await client.updateSettings({ callWindow: null })).toMatchObject({
      callWindow: null,
      retryPolicy: null,
    });
    const bad = await client
      .updateSettings({ retryPolicy: { maxAttempts: 2, delaySeconds: 600, on: ['declined/rejected'] } })
      .catch((e) => e);
    expect([bad.code, bad.status]).toEqual(['invalid_request', 400]);
  });

  it('places a call with a calling window, start and expiry times and a retry policy', async () => {
    const startAt = new Date(Date.now() + 3_600_000);
    startAt.setUTCSeconds(0, 0);
    const expiresAt = new Date(startAt.getTime() + 86_400_000);
    const callWindow = {
      start: '00:00',
      end: '00:00',
      days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
    };
    const placed = await client.placeCall({
      to: TEST_DESTINATION,
      objective: 'Later',
      callWindow: callWindow as never,
      startAt: startAt.toISOString(),
      expiresAt: expiresAt.toISOString(),
      retry: { maxAttempts: 2, delaySeconds: 120, on: ['no_answer', 'voicemail'] },
    });
    expect(placed.status).toBe('queued');
    expect(Date.parse(placed.scheduledFor ?? '')).toBe(startAt.getTime());
    const call = await client.getCall(placed.callId);
    expect(call).toMatchObject({
      callWindow,
      retryPolicy: { maxAttempts: 2, delaySeconds: 120, on: ['no_answer', 'voicemail'] },
      attempt: 1,
      batchId: null,
      optOut: false,
    });
    expect(Date.parse(call.startAt ?? '')).toBe(startAt.getTime());
    expect(Date.parse(call.expiresAt ?? '')).toBe(expiresAt.getTime());
    expect(Date.parse(call.scheduledFor ?? '')).toBe(startAt.getTime());
    expect(call.timeZones).toContain('America/Los_Angeles');

    const late = await client
      .placeCall({
        to: TEST_DESTINATION,
        objective: 'x',
        expiresAt: new Date(Date.now() - 60_000).toISOString(),
      })
      .catch((e) => e);
    expect([late.code, late.status]).toEqual(['invalid_request', 400]);
    expect(JSON.stringify(late.details)).toContain('expiresAt');
  });

  it('shows a retried attempt in attempts[] and the next one scheduled, under the same callId', async () => {
    const placed = await client.placeCall({
      to: N(60),
      objective: 'Retry me',
      retry: { maxAttempts: 2, delaySeconds: 300 },
    });
    // The worker's side of the first attempt, written as the worker writes it.
    expect((await api.deps.calls.transition(placed.callId, 'dialing')).ok).toBe(true);
    const ended = await api.deps.calls.transition(placed.callId, 'no_answer', {
      reason: 'no_answer_timeout',
    });
    expect(ended.ok).toBe(true);
    const call = await client.getCall(placed.callId);
    expect(call).toMatchObject({ status: 'queued', attempt: 2, endedReason: null });
    expect(call.attempts).toEqual([
      expect.objectContaining({ attempt: 1, status: 'no_answer', endedReason: 'no_answer_timeout' }),
    ]);
    const endedAt = Date.parse(call.attempts[0].endedAt ?? '');
    expect(Date.parse(call.scheduledFor ?? '')).toBe(endedAt + 300_000);
    // The last attempt's end is the call's.
    expect((await api.deps.calls.transition(placed.callId, 'dialing')).ok).toBe(true);
    await api.deps.calls.transition(placed.callId, 'no_answer', { reason: 'no_answer_timeout' });
    const last = await client.waitForCall(placed.callId, { timeoutSeconds: 5, intervalSeconds: 0.1 });
    expect(last).toMatchObject({ status: 'no_answer', attempt: 2 });
    expect(last.attempts.map((a) => a.attempt)).toEqual([1, 2]);
  });
});
