import { eq } from 'drizzle-orm';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches, calls } from '../../src/db/schema.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startTestConsole, type TestConsole } from './helpers/console.js';

// The batches pages in chromium, over the real API's services (no worker: the calls stay queued):
// an owner uploads a CSV batch with the template fields, sees it listed and its calls (linked to their
// pages), the refused row and why, downloads results.csv behind the session, and cancels it (its queued
// calls end failed/canceled). A viewer sees batches but no upload form and no buttons.

async function submit(button: Locator) {
  const page = button.page();
  const [res] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'domcontentloaded' }),
    button.click(),
  ]);
  return res;
}

async function text(l: Locator): Promise<string> {
  await l.first().waitFor();
  return ((await l.first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

const CSV = 'to,name,metadata.ref\n+14155552671,Dana,r-1\n+14155552672,Sam,r-2\nnot-a-number,Lee,r-3\n';

describe.skipIf(noBrowserReason)('the batches pages in a browser', () => {
  let con: TestConsole & { api: Awaited<ReturnType<typeof startTestConsole>>['api'] };
  let browser: TestBrowser;

  beforeAll(async () => {
    con = await startTestConsole();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await con?.close();
  });

  it('uploads a CSV batch, lists it with its calls, serves results.csv, and cancels it', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/batches');
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Batches');
    expect(
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Batches' }).count(),
    ).toBe(1);

    await page.getByLabel('Name (optional)').fill('Reminders');
    await page
      .getByLabel('Objective (required)')
      .fill('Remind {{name}} of the appointment tomorrow at nine.');
    await page.getByLabel('Context (optional)').fill('Dr Lee, 12 Main Street.');
    await page.getByLabel('Concurrency (optional)').fill('2');
    await page.getByLabel('Calls start at').fill('08:00');
    await page.getByLabel('Calls end by').fill('21:00');
    await page.getByLabel('Rows (CSV file, required)').setInputFiles({
      name: 'rows.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(CSV),
    });
    const res = await submit(page.getByRole('button', { name: 'Upload and start' }));
    expect(res?.status()).toBe(200);
    const batchPath = new URL(page.url()).pathname;
    expect(batchPath).toMatch(/^\/batches\/[0-9a-f-]{36}$/);
    const batchId = batchPath.split('/').at(-1) as string;
    expect(await text(page.getByRole('status'))).toBe(
      'Batch started: 2 of 3 rows accepted, 1 refused (listed below).',
    );
    expect(await text(page.locator('#batch-title'))).toBe('Reminders');
    expect(await text(page.locator('#batch-status'))).toBe('running');
    expect(await text(page.locator('#batch-rows'))).toBe('2 of 3 accepted, 1 refused');
    expect(await text(page.locator('#batch-counts tr[data-status="queued"] [data-count]'))).toBe('2');
    // The refused row says why, with the code a single call would get.
    expect(await text(page.locator('#batch-refused tr[data-row="3"]'))).toContain('invalid_number');

    // What was stored: the template's fields, the batch's concurrency, each call's window and row.
    const [stored] = await con.db.select().from(batches).where(eq(batches.id, batchId));
    expect(stored).toMatchObject({ name: 'Reminders', concurrency: 2, status: 'running', totalRows: 3 });
    const rows = await con.db.select().from(calls).where(eq(calls.batchId, batchId));
    expect(rows.map((r) => [r.batchRow, r.toNumber, r.objective, r.status]).sort()).toEqual([
      [1, '+14155552671', 'Remind Dana of the appointment tomorrow at nine.', 'queued'],
      [2, '+14155552672', 'Remind Sam of the appointment tomorrow at nine.', 'queued'],
    ]);
    expect(rows[0].context).toBe('Dr Lee, 12 Main Street.');
    expect(rows[0].callWindow).toMatchObject({ start: '08:00', end: '21:00' });
    expect(rows[0].callWindow?.days).toHaveLength(7);

    // The calls, in row order, each linked to its call page (which shows the attempt and the batch).
    const callLinks = page.locator('#batch-calls tbody a');
    expect(await callLinks.count()).toBe(2);
    const first = rows.find((r) => r.batchRow === 1)!;
    expect(await callLinks.first().getAttribute('href')).toBe(`/calls/${first.id}`);
    await callLinks.first().click();
    await page.waitForURL(`**/calls/${first.id}`);
    expect(await text(page.locator('#call-attempt'))).toBe('1');
    expect(await text(page.locator('#call-opt-out'))).toBe('No');
    expect(await page.locator(`a[href="/batches/${batchId}"]`).count()).toBe(1);

    // Listed on /batches with its status and progress.
    await page.goto('/batches');
    const listed = page.locator(`#batches-list tr[data-batch-id="${batchId}"]`);
    expect(await text(listed)).toContain('Reminders');
    expect(await text(listed)).toContain('running');
    expect(await text(listed)).toContain('0 of 2 ended');
    expect(await text(listed)).toContain('2 of 3 (1 refused)');

    // results.csv behind the session: one line per call.
    const csv = await page.request.get(`/batches/${batchId}/results.csv`);
    expect(csv.status()).toBe(200);
    expect(csv.headers()['content-type']).toContain('text/csv');
    const lines = (await csv.text()).trim().split(/\r?\n/);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^row,callId,to,status/);
    expect(lines[1]).toContain('+14155552671');
    // Without a session it is the sign-in page, not the file.
    const anon = await browser.newPage(con.url);
    await anon.page.goto(`/batches/${batchId}/results.csv`);
    expect(new URL(anon.page.url()).pathname).toBe('/sign-in');

    // Cancel: the queued calls never dial, they end failed/canceled.
    await page.goto(batchPath);
    await submit(page.getByRole('button', { name: 'Cancel batch' }));
    expect(await text(page.getByRole('status'))).toContain('Batch canceled');
    expect(await text(page.locator('#batch-status'))).toBe('canceled');
    expect(await text(page.locator('#batch-counts tr[data-status="failed"] [data-count]'))).toBe('2');
    expect(await page.getByRole('button', { name: 'Cancel batch' }).count()).toBe(0);
    const after = await con.db.select().from(calls).where(eq(calls.batchId, batchId));
    expect(after.map((r) => [r.status, r.endedReason])).toEqual([
      ['failed', 'canceled'],
      ['failed', 'canceled'],
    ]);
    await browser.screenshot(page, 'batch-canceled');
  });

  it('keeps the form and says why when no row is accepted', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/batches');
    await page.getByLabel('Objective (required)').fill('Remind {{name}} of the appointment.');
    await page.getByLabel('Rows (CSV file, required)').setInputFiles({
      name: 'rows.csv',
      mimeType: 'text/csv',
      // The objective needs {{name}}; this row has none.
      buffer: Buffer.from('to\n+14155552671\n'),
    });
    const res = await submit(page.getByRole('button', { name: 'Upload and start' }));
    expect(res?.status()).toBe(400);
    expect(await text(page.locator('#batch-upload-error'))).toContain('No row was accepted');
    expect(await text(page.locator('#batch-refused tr[data-row="1"]'))).toContain('invalid_request');
    expect(await page.getByLabel('Objective (required)').inputValue()).toBe(
      'Remind {{name}} of the appointment.',
    );
  });

  it("shows a call's attempts, when it dials next and its opt-out on the call page", async () => {
    const placed = await con.api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: '+14155552673', objective: 'Confirm the delivery.' }),
    });
    expect(placed.status).toBe(201);
    const { callId } = (await placed.json()) as { callId: string };
    // As the store leaves a call whose first attempt went unanswered and waits for its retry.
    const next = new Date('2030-01-02T10:30:00Z');
    await con.db
      .update(calls)
      .set({
        attempt: 2,
        scheduledFor: next,
        retryPolicy: { maxAttempts: 3, delaySeconds: 600, on: ['no_answer'] },
        attempts: [
          {
            attempt: 1,
            dialedAt: '2030-01-02T10:19:00.000Z',
            startedAt: null,
            endedAt: '2030-01-02T10:20:00.000Z',
            status: 'no_answer',
            endedReason: 'no_answer_timeout',
            durationSeconds: null,
          },
        ],
      })
      .where(eq(calls.id, callId));
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, `/calls/${callId}`);
    expect(await text(page.locator('#call-attempt'))).toBe('2 of at most 3');
    expect(await text(page.locator('#call-scheduled-for'))).toBe('2030-01-02 10:30:00 UTC');
    expect(await text(page.locator('#call-attempts tr[data-attempt="1"]'))).toContain('no_answer_timeout');
    expect(await text(page.locator('#call-opt-out'))).toBe('No');

    await con.db.update(calls).set({ optOut: true }).where(eq(calls.id, callId));
    await page.reload();
    expect(await text(page.locator('#call-opt-out'))).toMatch(
      /^Yes: the callee asked not to be called again/,
    );
  });

  it('shows a viewer the batches but no upload form and no buttons', async () => {
    const viewer = await con.addUser({ role: 'viewer' });
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password, '/batches');
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Batches');
    expect(await page.locator('#batch-upload-form').count()).toBe(0);
    const link = page.locator('#batches-list tbody a').first();
    await link.click();
    await page.waitForURL(/\/batches\/[0-9a-f-]{36}$/);
    expect(await page.locator('#batch-calls tbody tr').count()).toBe(2);
    for (const name of ['Pause', 'Resume', 'Cancel batch']) {
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    }
  });
});
