import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUserByEmail } from '../../src/dashboard/auth/users.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { addConsoleUser, signIn, startTestConsole, type TestConsole } from './helpers/console.js';

// The /users page of an owner in chromium: invite (the link shown once, and it works), change a role,
// remove someone, the account never left without an owner, and another account's users out of reach.

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
  return ((await l.first().textContent()) ?? '').trim();
}

describe.skipIf(noBrowserReason)('the users page in a browser', () => {
  let con: TestConsole & { api: Awaited<ReturnType<typeof startTestConsole>>['api'] };
  let browser: TestBrowser;

  beforeAll(async () => {
    con = await startTestConsole({ env: { PUBLIC_BASE_URL: 'http://console.example.test' } });
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await con?.close();
  });

  it('invites a user: the one-time link is shown once and opens the set-password page', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/users');
    await page.getByLabel('Email').fill('Invitee@Example.test');
    await page.getByLabel('Role', { exact: true }).selectOption('owner');
    expect((await submit(page.getByRole('button', { name: 'Invite', exact: true })))?.status()).toBe(201);
    expect(await text(page.getByRole('status'))).toBe('Invited invitee@example.test as owner.');
    const link = await text(page.locator('#new-sign-in-link'));
    expect(link).toMatch(/^http:\/\/console\.example\.test\/sign-in\/link\/[A-Za-z0-9_-]{43}$/);
    expect(await text(page.locator('tr[data-user-email="invitee@example.test"]'))).toContain('invited');
    await browser.screenshot(page, 'users-invited');

    await page.goto('/users');
    expect(await page.locator('#new-sign-in-link').count()).toBe(0);
    expect(await page.content()).not.toContain(link.split('/').at(-1));

    const invitee = await browser.newPage(con.url);
    const res = await invitee.page.goto(new URL(link).pathname);
    expect(res?.status()).toBe(200);
    expect(await text(invitee.page.getByRole('heading', { level: 1 }))).toBe('Set your password');
  });

  it('refuses a bad or taken email at the field, and keeps what was typed', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/users');
    await page.getByLabel('Email').fill(con.owner.email.toUpperCase());
    expect((await submit(page.getByRole('button', { name: 'Invite', exact: true })))?.status()).toBe(400);
    expect(await text(page.locator('#field-email-error'))).toContain('already exists');
    expect(await page.getByLabel('Email').getAttribute('aria-describedby')).toBe('field-email-error');
    expect(await page.getByLabel('Email').inputValue()).toBe(con.owner.email.toUpperCase());
  });

  it('changes a role and removes a user, but never the last owner', async () => {
    const [acct] = [await con.api.addAccount('roles')];
    const boss = await addConsoleUser(con.db, acct.accountId, { role: 'owner', email: 'boss@example.test' });
    await addConsoleUser(con.db, acct.accountId, { role: 'viewer', email: 'helper@example.test' });
    const { page } = await browser.newPage(con.url);
    await signIn(page, boss.email, boss.password, '/users');

    const bossRow = page.locator('tr[data-user-email="boss@example.test"]');
    await bossRow.getByLabel('Role of boss@example.test', { exact: true }).selectOption('viewer');
    await submit(bossRow.getByRole('button', { name: 'Change role of boss@example.test' }));
    expect(await text(page.getByRole('alert'))).toContain('last owner');
    expect((await findUserByEmail(con.db, 'boss@example.test'))?.role).toBe('owner');
    await submit(page.getByRole('button', { name: 'Remove boss@example.test' }));
    expect(await text(page.getByRole('alert'))).toContain('cannot be removed');
    await browser.screenshot(page, 'users-last-owner');

    const helperRow = page.locator('tr[data-user-email="helper@example.test"]');
    await helperRow.getByLabel('Role of helper@example.test', { exact: true }).selectOption('owner');
    await submit(helperRow.getByRole('button', { name: 'Change role of helper@example.test' }));
    expect(await text(page.getByRole('status'))).toBe('helper@example.test is now owner.');
    expect((await findUserByEmail(con.db, 'helper@example.test'))?.role).toBe('owner');

    await submit(page.getByRole('button', { name: 'Remove helper@example.test' }));
    expect(await text(page.getByRole('status'))).toBe('Removed helper@example.test.');
    expect(await findUserByEmail(con.db, 'helper@example.test')).toBeNull();
    expect(await page.locator('tr[data-user-email="helper@example.test"]').count()).toBe(0);
  });

  it("never lists or touches another account's users", async () => {
    const other = await con.api.addAccount('elsewhere');
    const stranger = await addConsoleUser(con.db, other.accountId, {
      role: 'owner',
      email: 'stranger@example.test',
    });
    await addConsoleUser(con.db, other.accountId, { role: 'owner', email: 'stranger2@example.test' });
    const { page, context } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/users');
    expect(await page.content()).not.toContain('stranger@example.test');

    const csrf = (await page.locator('meta[name="csrf-token"]').getAttribute('content')) ?? '';
    for (const action of ['remove', 'role']) {
      const res = await context.request.post(`/users/${stranger.id}/${action}`, {
        headers: { 'x-csrf-token': csrf, accept: 'text/html' },
        form: { role: 'viewer' },
        maxRedirects: 0,
      });
      expect(res.status(), action).toBe(404);
    }
    expect(await findUserByEmail(con.db, 'stranger@example.test')).toMatchObject({ role: 'owner' });
  });
});
