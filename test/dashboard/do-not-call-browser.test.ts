import { and, eq } from 'drizzle-orm';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doNotCall } from '../../src/db/schema.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startTestConsole, type TestConsole } from './helpers/console.js';

// The do-not-call page in chromium over the same service as the API: an owner adds numbers (an
// invalid one is reported, not stored), imports a CSV, removes a number, and a listed number is then
// refused by the API; a viewer reads the list but gets no forms, and a forged POST is refused.

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

describe.skipIf(noBrowserReason)('the do-not-call page in a browser', () => {
  let con: TestConsole & { api: Awaited<ReturnType<typeof startTestConsole>>['api'] };
  let browser: TestBrowser;

  const listed = async (number: string) =>
    con.db
      .select()
      .from(doNotCall)
      .where(and(eq(doNotCall.accountId, con.accountId), eq(doNotCall.number, number)));

  beforeAll(async () => {
    con = await startTestConsole();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await con?.close();
  });

  it('adds a number (and reports an invalid one), imports a CSV, and removes a number', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/do-not-call');
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Do not call');
    expect(await text(page.locator('#dnc-empty'))).toBe('No numbers on the list.');

    await page.getByLabel('Numbers', { exact: true }).fill('+14155552671\nnot-a-number');
    await page.getByLabel('Note (optional)', { exact: true }).fill('asked by phone');
    await submit(page.getByRole('button', { name: 'Add to the list' }));
    const flash = await text(page.getByRole('alert'));
    expect(flash).toContain('Added 1 number');
    expect(flash).toContain('1 not valid: "not-a-number"');
    const row = page.locator('#dnc-list tr[data-number="+14155552671"]');
    expect(await text(row)).toContain('dashboard');
    expect(await text(row)).toContain('asked by phone');
    expect(await listed('+14155552671')).toEqual([
      expect.objectContaining({ source: 'dashboard', note: 'asked by phone' }),
    ]);

    // The API now refuses a call to it.
    const refused = await con.api.request('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: '+14155552671', objective: 'Say hello.' }),
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('destination_blocked');

    await page.getByLabel('CSV file', { exact: true }).setInputFiles({
      name: 'dnc.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('number\n+14155552672\n+14155552671\n'),
    });
    await submit(page.getByRole('button', { name: 'Import' }));
    expect(await text(page.getByRole('status'))).toBe('Added 1 number; 1 already listed.');
    expect(await text(page.locator('#dnc-list tr[data-number="+14155552672"]'))).toContain('CSV import');
    expect(await listed('+14155552672')).toEqual([expect.objectContaining({ source: 'import' })]);

    await submit(page.getByRole('button', { name: 'Remove +14155552671' }));
    expect(await text(page.getByRole('status'))).toBe('Removed +14155552671 from the list.');
    expect(await page.locator('#dnc-list tr[data-number="+14155552671"]').count()).toBe(0);
    expect(await listed('+14155552671')).toEqual([]);
    expect(await page.locator('#dnc-list tr[data-number="+14155552672"]').count()).toBe(1);
    await browser.screenshot(page, 'do-not-call');
  });

  it('shows a viewer the list without any form, and refuses a viewer who posts anyway', async () => {
    await con.db
      .insert(doNotCall)
      .values({ accountId: con.accountId, number: '+14155552673', source: 'api' })
      .onConflictDoNothing();
    const viewer = await con.addUser({ role: 'viewer' });
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password, '/do-not-call');
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Do not call');
    expect(await page.locator('#dnc-list tr[data-number="+14155552673"]').count()).toBe(1);
    expect(await page.locator('form#dnc-add-form, form#dnc-import-form').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Remove/ }).count()).toBe(0);
    expect(await page.getByLabel('Numbers', { exact: true }).count()).toBe(0);
    expect(await text(page.locator('[data-viewer-note]'))).toContain('Only the account');

    // A hand-made POST with the viewer's own CSRF token is still refused by role.
    const token = (await page.locator('meta[name="csrf-token"]').getAttribute('content')) as string;
    for (const [path, form] of [
      ['/do-not-call', { _csrf: token, numbers: '+14155552674' }],
      ['/do-not-call/remove', { _csrf: token, number: '+14155552673' }],
    ] as const) {
      const res = await page.request.post(path, { form, maxRedirects: 0, headers: { accept: 'text/html' } });
      expect(res.status(), path).toBe(403);
      // Refused for the role, not for the token (that refusal says the form expired).
      const body = await res.text();
      expect(body, path).toContain('Not allowed');
      expect(body, path).not.toContain('has expired');
    }
    expect(await listed('+14155552674')).toEqual([]);
    expect(await listed('+14155552673')).toHaveLength(1);
  });
});
