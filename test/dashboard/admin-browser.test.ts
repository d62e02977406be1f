import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DESTINATION } from '../helpers/api-fixtures.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { type ConsoleUser, signIn, startTestConsole, type TestConsole } from './helpers/console.js';

// An instance admin in a real browser: finds an account on /admin, sets its concurrent-calls cap to 1
// with the form, and the API obeys it on the next call; a wrong value is refused at its field; an
// owner who is not an instance admin gets the 403 page and no Admin link.

describe.skipIf(noBrowserReason)('admin pages in chromium', () => {
  let con: TestConsole & { api: Awaited<ReturnType<typeof startTestConsole>>['api'] };
  let browser: TestBrowser;
  let admin: ConsoleUser;
  let customer: { accountId: string; key: string };

  beforeAll(async () => {
    // No worker: placed calls stay queued, so they count against the concurrent cap until canceled.
    con = await startTestConsole({ env: { CAP_CALLS_PER_MINUTE: '1000' } });
    admin = await con.addUser({ role: 'owner', instanceAdmin: true });
    customer = await con.api.addAccount('Customer Ltd', '+14155550161');
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await con?.close();
  }, 60_000);

  const place = (key: string) =>
    fetch(`${con.url}/v1/agent/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Ask about opening hours.' }),
    });

  it('sets a cap that the next API call obeys, and clears it again', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, admin.email, admin.password);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.waitForURL('**/admin');
    await browser.screenshot(page, 'admin-accounts');
    await page.getByRole('link', { name: 'Customer Ltd' }).click();
    await page.waitForURL(`**/admin/accounts/${customer.accountId}`);

    await page.getByLabel('Concurrent calls', { exact: true }).fill('1');
    await Promise.all([
      page.waitForURL(`**/admin/accounts/${customer.accountId}`),
      page.getByRole('button', { name: 'Save caps' }).click(),
    ]);
    expect(await page.locator('.flash').textContent()).toContain('Saved the caps of Customer Ltd.');
    expect(await page.locator('tr[data-cap="concurrentCalls"] td[data-cap-limit]').textContent()).toBe('1');
    await browser.screenshot(page, 'admin-account-cap-set');

    const first = await place(customer.key);
    expect(first.status).toBe(201);
    const second = await place(customer.key);
    expect(second.status).toBe(429);
    expect(((await second.json()) as any).error).toMatchObject({
      code: 'usage_cap_reached',
      details: { cap: 'concurrent_calls', limit: 1 },
    });

    await page.reload();
    expect(await page.locator('tr[data-cap="concurrentCalls"] td[data-cap-used]').textContent()).toContain(
      '1 of 1 active now',
    );

    await page.getByLabel('Concurrent calls', { exact: true }).fill('');
    await Promise.all([
      page.waitForURL(`**/admin/accounts/${customer.accountId}`),
      page.getByRole('button', { name: 'Save caps' }).click(),
    ]);
    expect(await page.locator('tr[data-cap="concurrentCalls"] [data-cap-default]').count()).toBe(1);
    expect((await place(customer.key)).status).toBe(201);
  });

  it('shows a wrong value at its field and keeps the cap', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, admin.email, admin.password, `/admin/accounts/${customer.accountId}`);
    await page.getByLabel('Calls per day (UTC)', { exact: true }).fill('many');
    await page.getByRole('button', { name: 'Save caps' }).click();
    const error = page.locator('#field-callsPerDay-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('must be a whole number');
    expect(await page.getByLabel('Calls per day (UTC)', { exact: true }).getAttribute('aria-invalid')).toBe(
      'true',
    );
    await browser.screenshot(page, 'admin-account-cap-error');
    expect(await page.locator('tr[data-cap="callsPerDay"] [data-cap-default]').count()).toBe(1);
  });

  it('gives an owner who is not an instance admin the 403 page and no Admin link', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password);
    expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    const res = await page.goto('/admin');
    expect(res?.status()).toBe(403);
    expect(await page.getByRole('heading', { name: 'Not allowed' }).count()).toBe(1);
    await browser.screenshot(page, 'admin-forbidden');
  });
});
