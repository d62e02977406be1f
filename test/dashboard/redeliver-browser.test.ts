import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calls, webhookDeliveries } from '../../src/db/schema.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { type ConsoleUser, signIn, startTestConsole } from './helpers/console.js';

// Redelivering a call's dead webhook event from its page in chromium (API + dashboard, no deliverer
// running, so the event stays waiting where the redeliver put it): the owner's button, its message,
// and the delivery shown pending again; a viewer has no button.

describe.skipIf(noBrowserReason)('redeliver a dead webhook from the call page (chromium)', () => {
  let con: Awaited<ReturnType<typeof startTestConsole>>;
  let browser: TestBrowser;
  let viewer: ConsoleUser;
  let callId: string;
  let deliveryId: string;

  beforeAll(async () => {
    con = await startTestConsole();
    viewer = await con.addUser({ role: 'viewer' });
    const [call] = await con.db
      .insert(calls)
      .values({
        accountId: con.accountId,
        toNumber: '+14155552671',
        callerId: '+14155550100',
        objective: 'Ask whether they are open today.',
        language: 'en-US',
        status: 'completed',
        endedReason: 'objective_met',
        webhookUrl: 'https://hooks.example.com/agentline',
      })
      .returning();
    callId = call.id;
    // Given up on after its retry window: the receiver answered 503 every time.
    const [delivery] = await con.db
      .insert(webhookDeliveries)
      .values({
        accountId: con.accountId,
        callId,
        event: 'call.completed',
        url: 'https://hooks.example.com/agentline',
        payload: { event: 'call.completed', callId },
        status: 'dead',
        attempts: 8,
        lastStatusCode: 503,
        lastError: 'Service Unavailable',
        nextAttemptAt: new Date(Date.now() - 3_600_000),
      })
      .returning();
    deliveryId = delivery.id;
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await con?.close();
  }, 60_000);

  /** The delivery's status cell (its row's second column; the attempts are listed in a row below it). */
  const deliveryStatus = (page: Page) =>
    page.locator('#call-webhooks tr[data-delivery="call.completed"] > td').nth(1);

  it('shows a viewer the dead delivery without a redeliver button', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password, `/calls/${callId}`);
    await expect(deliveryStatus(page).textContent()).resolves.toBe('dead');
    expect(await page.getByRole('button', { name: /redeliver/i }).count()).toBe(0);
  });

  it('lets an owner redeliver it: the message says so and the delivery is pending again', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, `/calls/${callId}`);
    await expect(deliveryStatus(page).textContent()).resolves.toBe('dead');
    await browser.screenshot(page, 'call-webhook-dead');

    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: /redeliver/i }).click()]);
    await expect(
      page.getByRole('status').filter({ hasText: '1 webhook event(s) will be sent again now.' }).count(),
    ).resolves.toBe(1);
    expect(new URL(page.url()).pathname).toBe(`/calls/${callId}`);
    await expect(deliveryStatus(page).textContent()).resolves.toBe('pending');
    await browser.screenshot(page, 'call-webhook-redelivered');

    const [stored] = await con.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.id, deliveryId));
    expect(stored.status).toBe('pending');
    expect(stored.nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now());

    // A second click while it is due sends nothing twice: the event is already on its way.
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: /redeliver/i }).click()]);
    await expect(page.getByRole('status').filter({ hasText: 'Nothing to redeliver' }).count()).resolves.toBe(
      1,
    );
    await expect(deliveryStatus(page).textContent()).resolves.toBe('pending');
  });
});
