import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { issueSignInLink } from '../../src/dashboard/auth/users.js';
import { calls, webhookAttempts, webhookDeliveries } from '../../src/db/schema.js';
import { auditPage, failures, horizontalOverflow, keyboardWalk } from './helpers/a11y.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { type ConsoleUser, signIn, startTestConsole } from './helpers/console.js';

// Every dashboard page, as an owner and as an instance admin, over an account with calls (one live,
// one ended with turns, latency, a recording and a webhook), users and keys, at a desktop's and at
// a phone's width: nothing scrolls sideways, every control has a name, each page has one h1, a main
// landmark, a language and a title, text meets WCAG contrast, Tab reaches the nav and the page's
// controls with a visible focus, and pictures have words. Screenshots of each page at both widths.

const WIDTHS = [
  { label: 'desktop', width: 1280, height: 800 },
  { label: 'phone', width: 375, height: 740 },
] as const;

describe.skipIf(noBrowserReason)('every dashboard page is accessible and fits a phone (chromium)', () => {
  let con: Awaited<ReturnType<typeof startTestConsole>>;
  let browser: TestBrowser;
  let admin: ConsoleUser;
  let viewer: ConsoleUser;
  let otherAccountId: string;
  let endedCallId: string;
  let liveCallId: string;

  const insertCall = async (values: Partial<typeof calls.$inferInsert>) =>
    (
      await con.db
        .insert(calls)
        .values({
          accountId: con.accountId,
          toNumber: '+14155552671',
          callerId: '+14155550100',
          objective: 'Ask whether they are open today and until when.',
          language: 'en-US',
          ...values,
        })
        .returning()
    )[0];

  beforeAll(async () => {
    con = await startTestConsole();
    const store = con.api.deps.calls;
    admin = await con.addUser({ role: 'owner', instanceAdmin: true });
    viewer = await con.addUser({ role: 'viewer' });
    otherAccountId = (await con.api.addAccount('Customer Ltd', '+14155550161')).accountId;
    const spare = await con.api.accounts.createApiKey(con.accountId);
    await con.api.accounts.revokeApiKey(con.accountId, spare.keyId);
    await con.api.accounts.createApiKey(con.accountId);
    await con.api.accounts.addNumber(con.accountId, '+14155550144', false);

    await insertCall({ status: 'queued', toNumber: '+14155553001' });
    await insertCall({ status: 'failed', endedReason: 'no_answer', toNumber: '+14155553002' });
    liveCallId = (
      await insertCall({ status: 'in_progress', startedAt: new Date(), toNumber: '+14155553003' })
    ).id;

    // An ended call written the way the worker writes one: turns (one cut off, with latency), a note,
    // then the end with its summary, extracted field, recording and webhook delivery.
    const ended = await insertCall({
      status: 'in_progress',
      startedAt: new Date(),
      toNumber: '+14155553004',
      fields: [
        { name: 'open_today', type: 'boolean' },
        { name: 'closing_time', type: 'string' },
      ],
      webhookUrl: 'https://hooks.example.com/agentline',
    });
    endedCallId = ended.id;
    await store.addTurn(ended.id, {
      speaker: 'callee',
      text: 'Corner shop, hello?',
      startMs: 100,
      endMs: 1400,
    });
    await store.addTurn(ended.id, {
      speaker: 'agent',
      text: 'Hello! Are you open today, and until',
      startMs: 2000,
      endMs: 4200,
      interrupted: true,
      latency: {
        calleeSpeechEndMs: 1400,
        sttFinalMs: 1520,
        firstTokenMs: 1700,
        firstTtsAudioMs: 1850,
        firstVoicedFrameMs: 2000,
      },
    });
    await store.addTurn(ended.id, { speaker: 'callee', text: 'Until six.', startMs: 4000, endMs: 4800 });
    await store.note(ended.id, 'transfer_started: desk');
    const samples = Int16Array.from({ length: 8000 * 4 }, (_, i) => Math.round(Math.sin(i / 7) * 6000));
    fs.writeFileSync(path.join(con.api.recordingsDir, 'a11y.wav'), encodeWav({ sampleRate: 8000, samples }));
    const done = await store.transition(ended.id, 'completed', {
      reason: 'agent_hangup',
      patch: {
        summary: 'They are open today until six.',
        extracted: { open_today: true, closing_time: '18:00' },
        recordingFile: 'a11y.wav',
      },
    });
    expect(done.ok).toBe(true);
    // Its webhook tried twice, as the deliverer records tries: no answer, then a long error page.
    const [hook] = await con.db
      .update(webhookDeliveries)
      .set({ attempts: 2, lastStatusCode: 502, lastError: 'receiver answered 502' })
      .where(eq(webhookDeliveries.callId, ended.id))
      .returning();
    await con.db.insert(webhookAttempts).values([
      { deliveryId: hook.id, attempt: 1, durationMs: 10_000, error: 'no response within 10000 ms' },
      {
        deliveryId: hook.id,
        attempt: 2,
        durationMs: 38,
        statusCode: 502,
        error: 'receiver answered 502',
        responseExcerpt: `<html><body><h1>502 Bad Gateway</h1>${'upstream_connect_error '.repeat(20)}</body></html>`,
      },
    ]);
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await con?.close();
  }, 60_000);

  /** Submits the form of the named button and waits for the page it loads. */
  const submit = async (page: Page, button: string) => {
    await Promise.all([
      page.waitForEvent('load'),
      page.getByRole('button', { name: button, exact: true }).click(),
    ]);
  };
  let invites = 0;

  interface PageVisit {
    url: string;
    shot: string;
    /** Brings the page into a state worth checking too (an error said, a secret shown...). */
    act?: (page: Page) => Promise<unknown>;
  }

  /** Loads a page at each width, audits it, saves its screenshot; returns the failures by width. */
  async function auditAtBothWidths(page: Page, url: string, shot: string, act?: PageVisit['act']) {
    const found: Record<string, Record<string, string[]>> = {};
    for (const w of WIDTHS) {
      await page.setViewportSize({ width: w.width, height: w.height });
      await page.goto(url);
      await page.waitForLoadState('load');
      if (act) await act(page);
      const audit = await auditPage(page);
      // Tab must have gone somewhere: an empty walk would pass the reach check vacuously.
      expect(audit.keyboard.reached.length, `Tab reached nothing on ${url}`).toBeGreaterThan(0);
      const f = failures(audit);
      if (Object.keys(f).length) found[w.label] = f;
      await page.evaluate('document.activeElement && document.activeElement.blur()');
      await browser.screenshot(page, `a11y-${shot}-${w.label}`);
    }
    // WCAG 1.4.10 reflows down to 320 CSS px (1280 px zoomed to 400 %): nothing scrolls sideways there either.
    await page.setViewportSize({ width: 320, height: 640 });
    const narrowest = await horizontalOverflow(page);
    if (narrowest.length) found['320px'] = { overflow: narrowest };
    return found;
  }

  it('the checks find each fault on a page built to have them, and pass its fixed twin', async () => {
    const { page } = await browser.newPage(con.url);
    await page.setViewportSize({ width: 375, height: 740 });
    const faulty = `<!doctype html><html><head><style>
        button { display: inline-block; }
        .pale { color: #aaaaaa; }
        .quiet:focus { outline: none; }
        .tiny { width: 16px; height: 16px; padding: 0; }
        .faint:focus-visible { outline: 3px solid #f9ab00; outline-offset: 2px; }
      </style></head><body>
        <nav aria-label="Main"><a href="#a">Calls</a></nav>
        <main><h1>One</h1><h1>Two</h1><h3>Three</h3>
          <div style="width: 600px">wide</div>
          <input id="nameless"><button id="empty"></button>
          <button id="renamed" aria-label="Delete the row">Remove</button>
          <div class="field"><label for="bad">Count</label><input id="bad" aria-invalid="true">
            <p class="field-error">must be a number</p></div>
          <p><button class="tiny">x</button><button class="tiny">y</button></p>
          <p class="pale">pale text</p>
          <button class="quiet">Quiet</button>
          <button class="faint">Faint</button>
          <button id="unreachable" tabindex="-1">Mouse only</button>
          <button id="hidden-shown" hidden>Secret</button>
          <svg id="chart" width="20" height="20"><rect width="20" height="20"/></svg>
          <svg aria-hidden="true" viewBox="0 0 600 20" width="300"><text id="shrunk" y="15" font-size="12">Turn 1</text></svg>
          <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" id="photo">
        </main></body></html>`;
    await page.setContent(faulty);
    const f = failures(await auditPage(page));
    expect(Object.keys(f).sort()).toEqual([
      'contrast',
      'error not tied to its field',
      'focus ring too faint',
      'graphics',
      'hidden but shown',
      'no visible focus',
      'not reached by Tab',
      'overflow',
      'structure',
      'target too small',
      'text too small',
      'unnamed controls',
      'visible label not in name',
    ]);
    expect(f.overflow[0]).toMatch(/^the page is \d+px wide in a 375px viewport: div "wide"/);
    expect(f['unnamed controls']).toEqual([
      'input#nameless has no accessible name',
      'button#empty has no accessible name',
    ]);
    expect(f['visible label not in name']).toEqual([
      'button#renamed "Remove" is named "Delete the row", which does not contain its visible text',
    ]);
    expect(f.structure).toEqual([
      expect.stringMatching(/^2 h1 headings/),
      '<html> has no lang',
      'the page has no <title>',
      'h3 "Three" follows an h1 (a level skipped)',
    ]);
    expect(f.contrast).toEqual([expect.stringMatching(/^p\.pale "pale text": 2\.32:1 \(need 4\.5\)/)]);
    expect(f['error not tied to its field']).toEqual([
      'input#bad is invalid but points at no message',
      'p.field-error "must be a number" (in div.field "Count must be a number") is read by no control',
    ]);
    expect(f['target too small']).toEqual([
      'button.tiny "x" is 16×16px with another target within reach',
      'button.tiny "y" is 16×16px with another target within reach',
    ]);
    expect(f['text too small']).toEqual(['text#shrunk "Turn 1" is drawn at 6.0px']);
    expect(f['not reached by Tab']).toEqual(['button#unreachable "Mouse only"']);
    expect(f['focus ring too faint']).toEqual(['button.faint "Faint": 1.93:1']);
    expect(f['no visible focus']).toEqual(['button.quiet "Quiet"']);
    expect(f['hidden but shown']).toEqual([
      'button#hidden-shown "Secret" has the hidden attribute but is displayed',
    ]);
    expect(f.graphics).toEqual([
      'img#photo has no alt',
      expect.stringMatching(/^svg#chart conveys nothing to a screen reader/),
    ]);

    // The same page without the faults passes every check; Tab starts at the top even past an autofocus.
    await page.setContent(`<!doctype html><html lang="en"><head><title>Fine</title><style>input, button { min-height: 24px; }</style></head><body>
        <nav aria-label="Main"><a href="#a">Calls</a></nav>
        <main><h1>One</h1>
          <label for="named">Name</label> <input id="named" autofocus> <button>Send</button>
          <div class="field"><label for="fixed">Count</label>
            <input id="fixed" aria-invalid="true" aria-describedby="fixed-error">
            <p class="field-error" id="fixed-error">must be a number</p></div>
          <button aria-label="Remove row 3">Remove</button>
          <p>dark text</p>
          <section><svg aria-hidden="true" width="20" height="20"><rect width="20" height="20"/></svg>
            <p>Three calls today, two answered.</p></section>
          <svg role="img" aria-label="Two of three answered" width="20" height="20"></svg>
          <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
        </main></body></html>`);
    expect(failures(await auditPage(page))).toEqual({});
    await page.setContent(
      '<!doctype html><html><body><a href="#x">first</a><input autofocus aria-label="later"></body></html>',
    );
    expect((await keyboardWalk(page)).reached).toEqual(['a "first"', 'input']);
  });

  it('offers a viewer only the pages a viewer may open', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password);
    const links = await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link')
      .evaluateAll((as) => as.map((a) => a.getAttribute('href') as string));
    expect(links).toEqual(['/calls', '/batches', '/do-not-call', '/settings']);
    for (const href of links) expect((await page.goto(href))?.status(), href).toBe(200);
  });

  it('on a phone, the calls list keeps rows short and scrolls in its box; a call shows latency as a table', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto('/calls');
    const rows = (await page.evaluate(
      `[...document.querySelectorAll('#calls-rows tr')].map((tr) => tr.getBoundingClientRect().height / parseFloat(getComputedStyle(tr).lineHeight))`,
    )) as number[];
    expect(rows.length).toBe(4);
    // Each row at most about three lines (the date wraps once), not a column of one-word lines.
    for (const lines of rows) expect(lines).toBeLessThan(3.5);
    expect(
      await page.evaluate(
        `(() => { const s = document.querySelector('.table-scroll'); return s.scrollWidth > s.clientWidth; })()`,
      ),
    ).toBe(true);

    const latency = `({ chart: !!document.querySelector('.latency-chart').getClientRects().length,
      table: document.querySelector('.latency-numbers').getBoundingClientRect().width })`;
    await page.goto(`/calls/${endedCallId}`);
    const phone = (await page.evaluate(latency)) as { chart: boolean; table: number };
    expect(phone.chart).toBe(false);
    expect(phone.table).toBeGreaterThan(200);
    await page.setViewportSize({ width: 1280, height: 800 });
    const desktop = (await page.evaluate(latency)) as { chart: boolean; table: number };
    expect(desktop.chart).toBe(true);
    expect(desktop.table).toBeLessThanOrEqual(1);
  });

  it('the first Tab shows the skip link, and Enter on it moves focus into the page’s main content', async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password);
    for (const w of WIDTHS) {
      await page.setViewportSize({ width: w.width, height: w.height });
      await page.goto('/calls');
      await page.keyboard.press('Tab');
      const skip = (await page.evaluate(
        `(() => { const a = document.activeElement; const r = a.getBoundingClientRect(); return { text: a.textContent.trim(), top: r.top, bottom: r.bottom }; })()`,
      )) as { text: string; top: number; bottom: number };
      expect(skip.text).toBe('Skip to content');
      expect(skip.top).toBeGreaterThanOrEqual(0);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.evaluate('document.activeElement.id')).toBe('main');
      await page.keyboard.press('Tab');
      // The next stop is the page's first control, past the header and its nav.
      expect(await page.evaluate('document.activeElement.closest("main") !== null')).toBe(true);
    }
  });

  it('the sign-in page, and its refusal', async () => {
    const { page } = await browser.newPage(con.url);
    expect(await auditAtBothWidths(page, '/sign-in', 'sign-in')).toEqual({});
    const refused = await auditAtBothWidths(page, '/sign-in', 'sign-in-refused', async (p) => {
      await p.getByLabel('Email').fill('nobody@example.test');
      await p.getByLabel('Password').fill('not the password');
      await submit(p, 'Sign in');
      await p.getByRole('alert').waitFor();
    });
    expect(refused).toEqual({});
  });

  it('the set-password page of a one-time link, its refusal, and a dead link', async () => {
    const invited = await con.addUser({ role: 'viewer' });
    const token = await issueSignInLink(con.db, invited.email);
    const { page } = await browser.newPage(con.url);
    const found: Record<string, unknown> = {};
    for (const v of [
      { url: `/sign-in/link/${token}`, shot: 'set-password' },
      {
        url: `/sign-in/link/${token}`,
        shot: 'set-password-refused',
        act: async (p: Page) => {
          await p.getByLabel('New password').fill('one long password');
          await p.getByLabel('Repeat the password').fill('another long password');
          await submit(p, 'Set password and sign in');
          await p.locator('.field-error').waitFor();
        },
      },
      { url: '/sign-in/link/no-such-token', shot: 'dead-link' },
    ]) {
      const f = await auditAtBothWidths(page, v.url, v.shot, v.act);
      if (Object.keys(f).length) found[v.shot] = f;
    }
    expect(found).toEqual({});
  });

  it('every page a viewer sees', { timeout: 300_000 }, async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password);
    const found: Record<string, unknown> = {};
    for (const v of [
      { url: '/calls', shot: 'calls' },
      { url: `/calls/${endedCallId}`, shot: 'call-ended' },
      { url: `/calls/${liveCallId}`, shot: 'call-live' },
      { url: '/settings', shot: 'settings' },
      { url: '/developers', shot: 'forbidden' },
    ]) {
      const f = await auditAtBothWidths(page, v.url, `viewer-${v.shot}`);
      if (Object.keys(f).length) found[v.shot] = f;
    }
    expect(found).toEqual({});
  });

  const ownerPages = (): PageVisit[] => [
    { url: '/calls', shot: 'calls' },
    { url: '/calls?q=abc', shot: 'calls-invalid-filter' },
    { url: `/calls/${endedCallId}`, shot: 'call-ended' },
    { url: `/calls/${liveCallId}`, shot: 'call-live' },
    { url: '/calls/new', shot: 'place-call' },
    {
      url: '/calls/new',
      shot: 'place-call-refused',
      act: async (p) => {
        await p.getByLabel('To (required)').fill('abc');
        await submit(p, 'Place the call');
        await p.getByRole('alert').first().waitFor();
      },
    },
    { url: '/developers', shot: 'developers' },
    {
      url: '/developers',
      shot: 'developers-key-minted',
      act: async (p) => {
        await submit(p, 'Mint a new key');
        await p.locator('#new-key').waitFor();
      },
    },
    {
      url: '/developers',
      shot: 'developers-secret-revealed',
      act: (p) => submit(p, 'Reveal'),
    },
    {
      url: '/developers',
      shot: 'developers-rotate-confirm',
      act: async (p) => {
        await submit(p, 'Rotate');
        await p.getByRole('button', { name: 'Yes, rotate it' }).waitFor();
      },
    },
    { url: '/settings', shot: 'settings' },
    { url: '/batches', shot: 'batches' },
    { url: '/do-not-call', shot: 'do-not-call' },
    { url: '/users', shot: 'users' },
    {
      url: '/users',
      shot: 'users-invited',
      act: async (p) => {
        await p.getByLabel('Email').fill(`invited${++invites}@example.test`);
        await submit(p, 'Invite');
        await p.locator('#new-sign-in-link').waitFor();
      },
    },
    { url: '/no-such-page', shot: 'not-found' },
  ];

  it('every page an owner sees', { timeout: 300_000 }, async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password);
    const found: Record<string, unknown> = {};
    for (const p of [...ownerPages(), { url: '/admin', shot: 'forbidden' }]) {
      const f = await auditAtBothWidths(page, p.url, `owner-${p.shot}`, p.act);
      if (Object.keys(f).length) found[p.shot] = f;
    }
    expect(found).toEqual({});
  });

  it('every page an instance admin sees, the admin pages included', { timeout: 300_000 }, async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, admin.email, admin.password);
    const found: Record<string, unknown> = {};
    for (const p of [
      ...ownerPages(),
      { url: '/admin', shot: 'admin' },
      { url: `/admin/accounts/${otherAccountId}`, shot: 'admin-account' },
      {
        url: `/admin/accounts/${otherAccountId}`,
        shot: 'admin-account-refused',
        act: async (p: Page) => {
          await p.getByLabel('Concurrent calls', { exact: true }).fill('lots');
          await submit(p, 'Save caps');
          await p.locator('.field-error').first().waitFor();
        },
      },
    ]) {
      const f = await auditAtBothWidths(page, p.url, `admin-${p.shot}`, p.act);
      if (Object.keys(f).length) found[p.shot] = f;
    }
    expect(found).toEqual({});
  });
});
