import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { PAGE_SIZE } from '../../src/dashboard/calls/list-filters.js';
import { type CallRow, calls, callTurns } from '../../src/db/schema.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import {
  addConsoleUser,
  type ConsoleUser,
  signIn,
  startTestConsole,
  type TestConsole,
} from './helpers/console.js';

// The calls pages in chromium over stored calls (API + dashboard, no worker): the list's form filters,
// searches and pages; one account never sees another's calls, in the list or by URL; the recording
// seeks where the waveform is clicked, over byte ranges; an owner cancels a live call with its button.

const player = "document.getElementById('recording')";
/** Waits until a browser-side expression holds (page.waitForFunction's string predicates need eval, which CSP refuses). */
const until = (page: Page, expression: string, timeout = 30_000) =>
  vi.waitFor(
    async () => {
      if (!(await page.evaluate(expression))) throw new Error(`still not: ${expression}`);
    },
    { timeout, interval: 100 },
  );

describe.skipIf(noBrowserReason)('the calls pages in a browser', () => {
  let con: TestConsole & { api: Awaited<ReturnType<typeof startTestConsole>>['api'] };
  let browser: TestBrowser;
  let otherUser: ConsoleUser;
  let viewer: ConsoleUser;
  let otherCall: CallRow;
  let recorded: CallRow;
  let live: CallRow;

  const insertCall = async (values: Partial<typeof calls.$inferInsert> & { accountId: string }) =>
    (
      await con.db
        .insert(calls)
        .values({
          toNumber: '+14155552671',
          callerId: '+14155550100',
          objective: 'Ask.',
          language: 'en-US',
          ...values,
        })
        .returning()
    )[0];

  const rowCount = (page: Page) => page.locator('#calls-rows tr').count();

  beforeAll(async () => {
    con = await startTestConsole();
    for (let i = 1; i <= 28; i++) {
      await insertCall({
        accountId: con.accountId,
        toNumber: `+1415555${3000 + i}`,
        status: i % 4 === 0 ? 'no_answer' : 'completed',
        createdAt: new Date(`2026-11-${String(i).padStart(2, '0')}T12:00:00.000Z`),
      });
    }
    // Four seconds of silence, then four of tone: the waveform shows where the sound is.
    const samples = Int16Array.from({ length: 8000 * 8 }, (_, i) =>
      i < 32000 ? 0 : Math.round(Math.sin(i / 5) * 9000),
    );
    fs.writeFileSync(
      path.join(con.api.recordingsDir, 'recorded.wav'),
      encodeWav({ sampleRate: 8000, samples }),
    );
    recorded = await insertCall({
      accountId: con.accountId,
      toNumber: '+14155550188',
      status: 'completed',
      recordingFile: 'recorded.wav',
      createdAt: new Date('2026-12-01T09:00:00.000Z'),
    });
    await con.db.insert(callTurns).values([
      {
        callId: recorded.id,
        seq: 1,
        speaker: 'agent',
        text: 'Hello, is this the shop?',
        startMs: 0,
        endMs: 3000,
        interrupted: true,
      },
      { callId: recorded.id, seq: 2, speaker: 'callee', text: 'Yes it is.', startMs: 2800, endMs: 4000 },
    ]);
    live = await insertCall({
      accountId: con.accountId,
      toNumber: '+14155550177',
      status: 'in_progress',
      startedAt: new Date(),
      createdAt: new Date('2026-12-02T09:00:00.000Z'),
    });
    const other = await con.api.addAccount('other-co', '+14155550111');
    otherUser = await addConsoleUser(con.db, other.accountId, { role: 'owner' });
    viewer = await con.addUser({ role: 'viewer' });
    otherCall = await insertCall({
      accountId: other.accountId,
      toNumber: '+14155559999',
      status: 'completed',
    });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await con?.close();
  });

  it('filters by status, number and dates through the form, and pages with the filters kept', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password, '/calls');
    expect(await rowCount(page)).toBe(PAGE_SIZE);
    await expect(page.locator('#calls-rows tr').first().locator('td.number').textContent()).resolves.toBe(
      '+14155550177',
    );

    await page.getByRole('link', { name: 'Older calls' }).click();
    await page.waitForURL(/cursor=/);
    expect(await rowCount(page)).toBe(30 - PAGE_SIZE);
    await page.getByRole('link', { name: 'Newest calls' }).click();
    await page.waitForURL((u) => !u.search.includes('cursor'));

    await page.getByLabel('Status').selectOption('no_answer');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=no_answer/);
    expect(await rowCount(page)).toBe(7);

    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Number called').fill('555 3012');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/q=555/);
    expect(await page.locator('#calls-rows td.number').allTextContents()).toEqual(['+14155553012']);

    await page.getByLabel('Number called').fill('');
    await page.getByLabel('From (UTC day)').fill('2026-11-20');
    await page.getByLabel('Until (UTC day, inclusive)').fill('2026-11-22');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/from=2026-11-20/);
    expect(await page.locator('#calls-rows td.number').allTextContents()).toEqual([
      '+14155553022',
      '+14155553021',
      '+14155553020',
    ]);
    await browser.screenshot(page, 'calls-list-filtered');

    // A bad value is said at its field, which names the message for screen readers.
    await page.goto('/calls?q=abc');
    await expect(page.getByLabel('Number called').getAttribute('aria-describedby')).resolves.toBe(
      'f-q-error',
    );
    await expect(page.locator('#f-q-error').textContent()).resolves.toBe('must be digits of a phone number');
  });

  it('never shows one account’s calls to another, in the list or by URL', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, otherUser.email, otherUser.password, '/calls');
    expect(
      await page
        .locator('#calls-rows tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-call-id'))),
    ).toEqual([otherCall.id]);
    const res = await page.goto(`/calls/${recorded.id}`);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Not found');
    expect(await page.content()).not.toContain('+14155550188');
    await browser.screenshot(page, 'call-of-another-account');
    expect((await page.goto(`/calls/${recorded.id}/recording`))?.status()).toBe(404);
  });

  it('seeks the recording where the waveform is clicked, over byte ranges, and marks the interrupted turn', async () => {
    const { page } = await browser.newPage(con.url);
    const ranges: string[] = [];
    const statuses: number[] = [];
    page.on('request', (req) => {
      if (req.url().endsWith(`/calls/${recorded.id}/recording`))
        void req.allHeaders().then((h) => ranges.push(h.range ?? ''));
    });
    page.on('response', (res) => {
      if (res.url().endsWith(`/calls/${recorded.id}/recording`)) statuses.push(res.status());
    });
    await signIn(page, con.owner.email, con.owner.password, `/calls/${recorded.id}`);
    await expect(page.locator('li.turn-interrupted .badge-interrupted').textContent()).resolves.toBe(
      'Interrupted: cut off when the other party spoke',
    );
    await until(page, `Number.isFinite(${player}?.duration)`);
    expect(await page.evaluate(`${player}.duration`)).toBeCloseTo(8, 1);
    expect(await page.evaluate(`${player}.currentTime`)).toBe(0);
    const box = (await page.locator('#waveform').boundingBox()) as { width: number; height: number };
    await page.locator('#waveform').click({ position: { x: box.width * 0.75, y: box.height / 2 } });
    await until(page, `${player}.currentTime >= 5.5`);
    // It plays on from there (the click starts a paused player), and the played overlay follows.
    const at = (await page.evaluate(`${player}.currentTime`)) as number;
    await until(page, `${player}.currentTime > ${at}`);
    expect(Number(await page.locator('#waveform-played').getAttribute('width'))).toBeGreaterThan(0);
    expect(ranges.some((r) => r.startsWith('bytes='))).toBe(true);
    expect(statuses).toContain(206);
    await browser.screenshot(page, 'call-recording-seeked');

    // On a phone's width nothing runs off the side: the page reflows and wide tables scroll in place.
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await browser.screenshot(page, 'call-page-phone');
    await page.goto('/calls');
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await browser.screenshot(page, 'calls-list-phone');
  });

  it('lets an owner cancel a live call from its page; a viewer has no button', async () => {
    const viewerPage = (await browser.newPage(con.url)).page;
    await signIn(viewerPage, viewer.email, viewer.password, `/calls/${live.id}`);
    expect(await viewerPage.getByRole('button', { name: 'Cancel call' }).count()).toBe(0);

    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, `/calls/${live.id}`);
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Cancel call' }).click()]);
    await expect(
      page.getByRole('status').filter({ hasText: 'The call was canceled.' }).count(),
    ).resolves.toBe(1);
    await expect(page.locator('#call-status').textContent()).resolves.toBe('failed');
    await expect(page.locator('#call-ended-reason').textContent()).resolves.toBe('canceled');
    expect(await page.getByRole('button', { name: 'Cancel call' }).count()).toBe(0);
  });
});
