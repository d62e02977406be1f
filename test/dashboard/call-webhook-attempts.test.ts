import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { createSession } from '../../src/dashboard/auth/sessions.js';
import { accounts, calls, webhookDeliveries } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { createWebhookDeliverer } from '../../src/webhooks/deliverer.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startTestConsole } from './helpers/console.js';

// A call's webhook attempts on its page, as the real deliverer wrote them against a real receiver on
// loopback: each try under its event, oldest first, with the receiver's answer shown as text (it is
// untrusted: a <script> in it must never run).

const HOSTILE = `<script>document.title='pwned'</script><b>busy</b>, try later`;

describe('a call page lists each webhook attempt with the receiver’s answer', () => {
  let con: Awaited<ReturnType<typeof startTestConsole>>;
  let browser: TestBrowser | null = null;
  let callId: string;
  let receiver: http.Server;

  beforeAll(async () => {
    con = await startTestConsole();
    // The deliverer signs with the account's secret, so it must open it: seal one with a box of ours.
    const secrets = SecretBox.fromKey('1'.repeat(64));
    await con.db
      .update(accounts)
      .set({ webhookSecretEnc: secrets.seal('whsec_test') })
      .where(eq(accounts.id, con.accountId));

    // call.in_progress: the connection drops, then 200. call.completed: a 500 with markup, twice.
    const seen = new Map<string, number>();
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const event = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: string }).event;
        const n = seen.get(event) ?? 0;
        seen.set(event, n + 1);
        if (event === 'call.in_progress' && n === 0) {
          req.socket.destroy();
          return;
        }
        if (event === 'call.in_progress') {
          res.end('thanks');
          return;
        }
        res.statusCode = 500;
        res.end(HOSTILE);
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

    const [call] = await con.db
      .insert(calls)
      .values({
        accountId: con.accountId,
        toNumber: '+14155552671',
        callerId: '+14155550100',
        objective: 'Ask about opening hours.',
        language: 'en-US',
        webhookUrl: url,
      })
      .returning();
    callId = call.id;
    const store = con.api.deps.calls;
    expect((await store.transition(callId, 'dialing')).ok).toBe(true);
    expect((await store.transition(callId, 'in_progress')).ok).toBe(true);
    expect((await store.transition(callId, 'completed', { reason: 'agent_hangup' })).ok).toBe(true);

    const deliverer = createWebhookDeliverer({
      db: con.db,
      secrets,
      logger: silentLogger(),
      timeoutMs: 10_000,
      retryHours: 48,
      allowHttp: true,
      allowPrivate: true,
      backoff: () => 0,
    });
    try {
      // Both events are due each time: two tries of each.
      expect(await deliverer.drainOnce()).toBe(2);
      expect(await deliverer.drainOnce()).toBe(2);
    } finally {
      await deliverer.stop();
    }
    const rows = await con.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.callId, callId));
    expect(rows.map((r) => [r.event, r.status, r.attempts]).sort()).toEqual([
      ['call.completed', 'pending', 2],
      ['call.in_progress', 'delivered', 2],
    ]);
    if (!noBrowserReason) browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    receiver?.closeAllConnections();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    await con?.close();
  });

  it('renders the attempts under each event, oldest first, the answer escaped', async () => {
    const session = await createSession(con.db, con.owner.id, new Date());
    const res = await fetch(`${con.url}/calls/${callId}`, {
      headers: { cookie: `agentline_session=${session.token}`, accept: 'text/html' },
    });
    expect(res.status).toBe(200);
    const html = await res.text();
    const section = html.slice(html.indexOf('id="call-webhooks"'));
    expect(section).not.toContain("<script>document.title='pwned'</script>");
    expect(section).toContain('&lt;script&gt;');

    const attemptsOf = (event: string) => {
      const start = section.indexOf(`data-attempts-of="${event}"`);
      expect(start, event).toBeGreaterThan(0);
      const block = section.slice(start, section.indexOf('</details>', start));
      return [...block.matchAll(/<tr data-attempt="(\d+)">(.*?)<\/tr>/g)].map((m) => ({
        n: Number(m[1]),
        cells: [...m[2].matchAll(/<td>(.*?)<\/td>/g)].map((c) => c[1].replace(/<[^>]+>/g, '')),
      }));
    };
    const progress = attemptsOf('call.in_progress');
    expect(progress.map((a) => a.n)).toEqual([1, 2]);
    // No status: the error in words; then the status and the body.
    expect(progress[0].cells[2]).toMatch(/socket hang up|ECONNRESET/);
    expect(progress[0].cells[4]).toBe('—');
    expect(progress[1].cells[2]).toBe('HTTP 200');
    expect(progress[1].cells[4]).toBe('thanks');
    expect(progress[1].cells[3]).toMatch(/^\d+ ms$/);
    const completed = attemptsOf('call.completed');
    expect(completed.map((a) => [a.n, a.cells[2]])).toEqual([
      [1, 'HTTP 500'],
      [2, 'HTTP 500'],
    ]);
  });

  describe.skipIf(noBrowserReason)('in chromium', () => {
    it('shows the receiver’s markup as text, and the delivered event’s attempts on request', async () => {
      if (!browser) throw new Error('no browser');
      const { page } = await browser.newPage(con.url);
      await signIn(page, con.owner.email, con.owner.password, `/calls/${callId}`);
      await page.waitForURL((u) => u.pathname === `/calls/${callId}`);

      // The undelivered event's attempts are open: a table named for screen readers.
      const failing = page.getByRole('table', { name: 'Attempts to deliver call.completed, oldest first' });
      await failing.waitFor();
      const rows = failing.locator('tbody tr');
      expect(await rows.count()).toBe(2);
      expect(await rows.nth(0).locator('code').textContent()).toBe(HOSTILE);
      expect(await rows.nth(1).locator('td').nth(2).textContent()).toBe('HTTP 500');
      expect(await page.title()).not.toBe('pwned');
      expect(await page.locator('#call-webhooks script, #call-webhooks b').count()).toBe(0);

      // A delivered event's attempts are folded; its summary opens them.
      const delivered = page.getByRole('table', {
        name: 'Attempts to deliver call.in_progress, oldest first',
      });
      expect(await delivered.isVisible()).toBe(false);
      await page.getByText('Attempts of call.in_progress (2)').click();
      await delivered.waitFor();
      expect(await delivered.locator('tbody tr').nth(1).locator('code').textContent()).toBe('thanks');
      await browser.screenshot(page, 'call-webhook-attempts');
    });
  });
});
