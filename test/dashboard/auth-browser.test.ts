import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, findUserByEmail } from '../../src/dashboard/auth/users.js';
import { userSessions } from '../../src/db/schema.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, signOut, startTestConsole, type TestConsole } from './helpers/console.js';

// Sign-in, sign-out, lockout, CSRF refusal, the one-time link, what a viewer may see, and a sign-in
// done with the keyboard alone, in chromium against the real API + dashboard.

/** Clicks a submit button and resolves with the response of the page it navigates to. */
async function submit(button: Locator) {
  const page = button.page();
  const [res] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'domcontentloaded' }),
    button.click(),
  ]);
  return res;
}

/** A locator's text once it is there (trimmed). */
async function text(l: Locator): Promise<string> {
  await l.first().waitFor();
  return ((await l.first().textContent()) ?? '').trim();
}

describe.skipIf(noBrowserReason)('dashboard sign-in in a browser', () => {
  let con: TestConsole;
  let browser: TestBrowser;

  beforeAll(async () => {
    con = await startTestConsole();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await con?.close();
  });

  it('signs in, goes back where it was sent from, and signs out (the session row goes with it)', async () => {
    const { page, context } = await browser.newPage(con.url);
    const first = await page.goto('/users');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/users');
    expect(first?.headers()['content-security-policy']).toContain("script-src 'self'");
    await browser.screenshot(page, 'auth-sign-in');

    await page.getByLabel('Email').fill(con.owner.email);
    await page.getByLabel('Password').fill(con.owner.password);
    await Promise.all([page.waitForURL('**/users'), page.getByRole('button', { name: 'Sign in' }).click()]);
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Users');
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Calls', 'Place a call', 'Developers', 'Settings', 'Users']) {
      expect(await nav.getByRole('link', { name, exact: true }).count(), name).toBe(1);
    }
    expect(await nav.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    const cookie = (await context.cookies()).find((c) => c.name === 'agentline_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    await browser.screenshot(page, 'auth-signed-in-users');

    const user = await findUserByEmail(con.db, con.owner.email);
    const before = await con.db.select().from(userSessions).where(eq(userSessions.userId, user!.id));
    expect(before).toHaveLength(1);
    await signOut(page);
    expect(await text(page.getByRole('status'))).toBe('You are signed out.');
    expect(await con.db.select().from(userSessions).where(eq(userSessions.userId, user!.id))).toEqual([]);
    await page.goto('/users');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
  });

  it('locks the email after five wrong passwords and says so, even to the right password', async () => {
    const victim = await con.addUser({ role: 'viewer' });
    const { page } = await browser.newPage(con.url);
    await page.goto('/sign-in');
    const button = page.getByRole('button', { name: 'Sign in' });
    for (let i = 0; i < 4; i++) {
      await page.getByLabel('Email').fill(victim.email);
      await page.getByLabel('Password').fill(`wrong ${i}`);
      expect((await submit(button))?.status()).toBe(401);
      expect(await text(page.getByRole('alert'))).toBe('The email or password is not right.');
    }
    await page.getByLabel('Password').fill('wrong 5');
    expect((await submit(button))?.status()).toBe(429);
    expect(await text(page.getByRole('alert'))).toContain('Too many failed sign-ins');
    await page.getByLabel('Password').fill(victim.password);
    expect((await submit(button))?.status()).toBe(429);
    expect(await text(page.getByRole('alert'))).toContain('locked for 15 minutes');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    // The email stays filled in, the password does not.
    expect(await page.getByLabel('Email').inputValue()).toBe(victim.email);
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    await browser.screenshot(page, 'auth-locked');
  });

  it('refuses a form posted without the CSRF token, with a wrong one, or from another site (403, nothing changes)', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/users');
    await page.goto('/users');

    // The invite form with its token taken out, then with a wrong one.
    for (const tamper of ['remove', 'wrong'] as const) {
      const email = `csrf-${tamper}@example.test`;
      await page.getByLabel('Email').fill(email);
      await page
        .locator('form[action="/users"] input[name="_csrf"]')
        .evaluate(
          (el, how) => (how === 'remove' ? el.remove() : el.setAttribute('value', 'x'.repeat(43))),
          tamper,
        );
      const res = await submit(page.getByRole('button', { name: 'Invite', exact: true }));
      expect(res?.status(), tamper).toBe(403);
      expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Not allowed');
      expect(await findUserByEmail(con.db, email), tamper).toBeNull();
      if (tamper === 'wrong') await browser.screenshot(page, 'auth-csrf-refused');
      await page.goto('/users');
    }

    // Another origin (same site: cookies go along) posts the form on its own: refused.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="post" action="${con.url}/users"><input name="email" value="evil@example.test"><input name="role" value="owner"></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${con.url}/users` && r.request().method() === 'POST'),
        page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`),
      ]);
      expect(res.status()).toBe(403);
      expect(await findUserByEmail(con.db, 'evil@example.test')).toBeNull();
    } finally {
      await new Promise((r) => evil.close(r));
    }

    // With the page's own token the same form works.
    await page.goto('/users');
    await page.getByLabel('Email').fill('csrf-ok@example.test');
    expect((await submit(page.getByRole('button', { name: 'Invite', exact: true })))?.status()).toBe(201);
    expect(await text(page.locator('#new-sign-in-link'))).toMatch(/\/sign-in\/link\/[A-Za-z0-9_-]{43}$/);
    expect(await findUserByEmail(con.db, 'csrf-ok@example.test')).not.toBeNull();
  });

  it('takes a one-time link to "set your password", signs in, and the link then stops working', async () => {
    const created = await createUser(con.db, {
      accountId: con.accountId,
      email: 'newbie@example.test',
      role: 'viewer',
    });
    const link = `/sign-in/link/${created.signInToken}`;
    const { page } = await browser.newPage(con.url);
    const res = await page.goto(link);
    expect(res?.headers()['cache-control']).toBe('no-store');
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Set your password');
    expect(await page.getByText('newbie@example.test').isVisible()).toBe(true);

    await page.getByLabel('New password').fill('a brand new password');
    await page.getByLabel('Repeat the password').fill('a different password');
    expect((await submit(page.getByRole('button', { name: 'Set password and sign in' })))?.status()).toBe(
      400,
    );
    expect(await text(page.locator('.field-error'))).toBe('The two passwords are not the same.');
    expect(await page.getByLabel('New password').getAttribute('aria-invalid')).toBe('true');
    await browser.screenshot(page, 'auth-set-password-error');

    await page.getByLabel('New password').fill('a brand new password');
    await page.getByLabel('Repeat the password').fill('a brand new password');
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/calls'),
      page.getByRole('button', { name: 'Set password and sign in' }).click(),
    ]);
    expect((await page.context().cookies()).some((c) => c.name === 'agentline_session')).toBe(true);

    const again = await page.goto(link);
    expect(again?.status()).toBe(404);
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('This sign-in link does not work');

    await page.goto('/users').catch(() => {});
    await signOut(page).catch(() => {});
    const fresh = await browser.newPage(con.url);
    await signIn(fresh.page, 'newbie@example.test', 'a brand new password', '/settings');
    expect(new URL(fresh.page.url()).pathname).toBe('/settings');
  });

  it('shows a viewer neither Developers nor Users, and answers 403 on those pages', async () => {
    const viewer = await con.addUser({ role: 'viewer' });
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password);
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link', { name: 'Calls', exact: true }).isVisible()).toBe(true);
    expect(await nav.getByRole('link', { name: 'Developers' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    for (const path of ['/developers', '/users']) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(403);
      expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Not allowed');
    }
    await browser.screenshot(page, 'auth-viewer-403');
  });

  it('signs in with the keyboard alone: skip link first, labelled fields, Enter submits, focus visible', async () => {
    const { page } = await browser.newPage(con.url);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto('/sign-in?next=%2Fusers');
    const focused = () =>
      page.evaluate<string>(
        "document.activeElement ? document.activeElement.name || document.activeElement.textContent || '' : ''",
      );
    // The email field has the focus at once; going back reaches the skip link, the first stop.
    expect(await focused()).toBe('email');
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toBe('agentline');
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toBe('Skip to content');
    // Hidden above the page until focused, then on screen.
    expect(await page.evaluate("document.querySelector('.skip-link').getBoundingClientRect().top >= 0")).toBe(
      true,
    );
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('email');
    const outline = await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle');
    expect(outline).not.toBe('none');
    await browser.screenshot(page, 'auth-keyboard-phone');
    await page.keyboard.type(con.owner.email);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('password');
    await page.keyboard.type(con.owner.password);
    await Promise.all([page.waitForURL('**/users'), page.keyboard.press('Enter')]);
    expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Users');
  });
});
