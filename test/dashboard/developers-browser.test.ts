import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../src/webhooks/signature.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { type ConsoleUser, signIn, startTestConsole } from './helpers/console.js';

// The Developers page in chromium: a key minted in the browser works against the API until it is
// revoked there; the webhook secret revealed and rotated there is the one that signs webhooks; a
// viewer has no way in.

describe.skipIf(noBrowserReason)('the Developers page (chromium)', () => {
  let consoleApp: Awaited<ReturnType<typeof startTestConsole>>;
  let browser: TestBrowser;
  let viewer: ConsoleUser;
  const logLines: Record<string, any>[] = [];
  const BODY = '{"event":"call.completed","callId":"c1"}';
  const unixNow = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    consoleApp = await startTestConsole({
      tweak: (deps) => ({
        ...deps,
        logger: pino({ level: 'info' }, { write: (s: string) => logLines.push(JSON.parse(s)) }),
      }),
    });
    viewer = await consoleApp.addUser({ role: 'viewer' });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await consoleApp?.close();
  });

  async function ownerPage(): Promise<Page> {
    const { context, page } = await browser.newPage(consoleApp.url);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: consoleApp.url });
    await signIn(page, consoleApp.owner.email, consoleApp.owner.password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Developers' }).click();
    await page.waitForURL((u) => u.pathname === '/developers');
    return page;
  }

  const callsWith = (key: string) =>
    fetch(`${consoleApp.url}/v1/agent/calls`, { headers: { Authorization: `Bearer ${key}` } });

  it('mints a key shown once (copyable) that works against the API, and after revoking it there the API answers 401', async () => {
    const page = await ownerPage();
    await page.getByRole('button', { name: 'Mint a new key' }).click();
    const shown = page.locator('#new-key');
    await shown.waitFor();
    const key = ((await shown.textContent()) ?? '').trim();
    expect(key).toMatch(/^ak_[A-Za-z0-9_-]{40,}$/);
    await browser.screenshot(page, 'developers-key-minted');

    // The copy button (developers.js) puts the key on the clipboard and says so.
    await page.getByRole('button', { name: 'Copy key' }).click();
    await expect.poll(() => page.locator('[data-copy-status]').textContent()).toBe('key copied.');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(key);

    expect((await callsWith(key)).status).toBe(200);

    // Shown once: the page loaded again lists the key by its prefix only.
    await page.goto('/developers');
    expect(await page.content()).not.toContain(key);
    const prefix = key.slice(0, 11);
    const row = page.locator(`tr[data-key-prefix="${prefix}"]`);
    expect(await row.locator('td').nth(3).textContent()).toBe('live');

    await row.getByRole('button', { name: `Revoke key ${prefix}` }).click();
    await page.waitForURL((u) => u.pathname === '/developers');
    await expect.poll(() => page.locator('.flash').textContent()).toContain('The key is revoked');
    expect(await page.locator(`tr[data-key-prefix="${prefix}"] td`).nth(3).textContent()).toMatch(
      /^revoked /,
    );
    await browser.screenshot(page, 'developers-key-revoked');

    const refused = await callsWith(key);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    // The account's other key is untouched.
    expect((await callsWith(consoleApp.key)).status).toBe(200);
  });

  it('reveals the webhook secret that signs webhooks (audited, not logged) and rotates it so the old one no longer matches', async () => {
    const page = await ownerPage();
    expect(await page.locator('#webhook-secret').count()).toBe(0);
    await page.getByRole('button', { name: 'Reveal' }).click();
    const revealed = ((await page.locator('#webhook-secret').textContent()) ?? '').trim();
    expect(revealed).toMatch(/^whsec_/);
    await browser.screenshot(page, 'developers-secret-revealed');

    // What the deliverer signs with the account's stored secret verifies with the revealed one.
    const stored = (await consoleApp.api.accounts.webhookSecret(consoleApp.accountId))!;
    expect(verifyWebhook(BODY, signWebhook(BODY, stored, unixNow()), revealed)).toBe(true);
    expect(logLines.filter((l) => l.audit === 'webhook_secret.revealed')).toHaveLength(1);
    expect(JSON.stringify(logLines)).not.toContain(revealed);

    // Rotate asks first; only the confirmation replaces it.
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('button', { name: 'Yes, rotate it' }).waitFor();
    expect(await consoleApp.api.accounts.webhookSecret(consoleApp.accountId)).toBe(revealed);
    await page.getByRole('button', { name: 'Yes, rotate it' }).click();
    await expect.poll(() => page.locator('.flash').textContent()).toContain('rotated');
    const rotated = ((await page.locator('#webhook-secret').textContent()) ?? '').trim();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(revealed);
    await browser.screenshot(page, 'developers-secret-rotated');

    const signedNow = signWebhook(
      BODY,
      (await consoleApp.api.accounts.webhookSecret(consoleApp.accountId))!,
      unixNow(),
    );
    expect(verifyWebhook(BODY, signedNow, rotated)).toBe(true);
    expect(verifyWebhook(BODY, signedNow, revealed)).toBe(false);
    expect(JSON.stringify(logLines)).not.toContain(rotated);

    // Shown once: a fresh load hides it again.
    await page.goto('/developers');
    expect(await page.content()).not.toContain(rotated);
  });

  it('adds a number (a bad one refused at its field, focused), makes it the default, and offers snippets for this deployment', async () => {
    const page = await ownerPage();
    const input = page.getByLabel('Add a number');
    await input.fill('0415 555 0101');
    await page.getByRole('button', { name: 'Add number' }).click();
    await page.locator('#add-number-error').waitFor();
    expect(await page.locator('#add-number-error').textContent()).toContain(
      'The number must be an E.164 number',
    );
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('add-number');
    expect(await input.inputValue()).toBe('0415 555 0101');
    await browser.screenshot(page, 'developers-number-refused');

    await input.fill('+14155550133');
    await page.getByRole('button', { name: 'Add number' }).click();
    await expect.poll(() => page.locator('.flash').textContent()).toBe('Added +14155550133.');
    await page.getByRole('button', { name: 'Make default: +14155550133' }).click();
    await expect
      .poll(() => page.locator('tr[data-number="+14155550133"] td').nth(1).textContent())
      .toBe('default caller ID');

    const curl = (await page.locator('#snippet-curl').textContent()) ?? '';
    expect(curl).toContain(`'${consoleApp.url}/v1/agent/calls'`);
    await page.getByRole('button', { name: 'Copy curl' }).click();
    await expect.poll(() => page.locator('[data-copy-status]').textContent()).toBe('curl copied.');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(curl);
    await page.setViewportSize({ width: 390, height: 844 });
    await browser.screenshot(page, 'developers-phone-width');
  });

  it('works without script: minting shows the key, and there are no copy buttons', async () => {
    const context = await browser.browser.newContext({ baseURL: consoleApp.url, javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await signIn(page, consoleApp.owner.email, consoleApp.owner.password, '/developers');
      await page.waitForURL((u) => u.pathname === '/developers');
      await page.getByRole('button', { name: 'Mint a new key' }).click();
      const key = ((await page.locator('#new-key').textContent()) ?? '').trim();
      expect((await callsWith(key)).status).toBe(200);
      expect(await page.getByRole('button', { name: 'Copy key' }).count()).toBe(0);
      expect(await page.locator('[data-copy-target] button').count()).toBe(0);
      await browser.screenshot(page, 'developers-no-script');
    } finally {
      await context.close();
    }
  });

  it('a viewer has no Developers link and gets 403 there', async () => {
    const { page } = await browser.newPage(consoleApp.url);
    await signIn(page, viewer.email, viewer.password);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Calls' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Developers' }).count()).toBe(0);
    const res = await page.goto('/developers');
    expect(res?.status()).toBe(403);
    expect(await page.content()).not.toContain('whsec_');
    expect(await page.content()).not.toContain('Mint a new key');
    await browser.screenshot(page, 'developers-viewer-403');
    // Nor can a viewer's session post to it.
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
    const minted = await page.evaluate(
      `fetch('/developers/keys', { method: 'POST', headers: { 'x-csrf-token': ${JSON.stringify(csrf)} } }).then((r) => r.status)`,
    );
    expect(minted).toBe(403);
  });
});
