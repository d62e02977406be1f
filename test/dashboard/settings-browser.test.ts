import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTerminal } from '../../src/calls/status.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { type ConsoleUser, signIn, startStackConsole, startTestConsole } from './helpers/console.js';

// The whole product as `npm start` runs it, read by a viewer on /settings in a real browser: the
// engines and models this deployment really loaded (pocketsphinx, flite, llama.cpp on a random-weight
// GGUF), the live link to the simulated PBX, and the account's usage against its caps after a call.

describe.skipIf(noBrowserReason)('settings in chromium (full stack)', () => {
  let dir: string;
  let stack: Awaited<ReturnType<typeof startStackConsole>>;
  let browser: TestBrowser;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-settings-'));
    await fs.mkdir(path.join(dir, 'models'));
    await writeSyntheticGguf(path.join(dir, 'models', 'tiny.gguf'), { shape: 'tiny', seed: 11 });
    stack = await startStackConsole({
      env: { MODELS_DIR: path.join(dir, 'models'), CAP_CALLS_PER_DAY: '42' },
      users: [{ role: 'viewer' }],
    });
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('shows a viewer the engines, the PBX link and the usage against the caps', {
    timeout: 150_000,
  }, async () => {
    const placed = await fetch(`${stack.url}/v1/agent/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: '+14155552671',
        objective: 'Ask about opening hours.',
        maxDurationSeconds: 30,
      }),
    });
    expect(placed.status, await placed.clone().text()).toBe(201);
    const { callId } = (await placed.json()) as { callId: string };
    // Canceled at once: it counts for the day all the same, and the stack stops with nothing live.
    const canceled = await fetch(`${stack.url}/v1/agent/calls/${callId}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}` },
    });
    expect(canceled.status).toBe(200);
    await vi.waitFor(
      async () => {
        const res = await fetch(`${stack.url}/v1/agent/calls/${callId}`, {
          headers: { authorization: `Bearer ${stack.key}` },
        });
        const { status } = (await res.json()) as { status: string };
        if (!isTerminal(status)) throw new Error(`call still ${status}`);
      },
      { timeout: 60_000, interval: 250 },
    );

    const viewer = stack.users[0];
    const { page } = await browser.newPage(stack.url);
    await signIn(page, viewer.email, viewer.password);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL('**/settings');

    const engine = (kind: string) => page.locator(`tr[data-engine-kind="${kind}"] td`).textContent();
    expect(await engine('stt')).toContain('pocketsphinx');
    expect(await engine('tts')).toContain('flite');
    expect(await engine('dialogue')).toContain('tiny.gguf');
    // The same words /readyz reports.
    const ready = (await (await fetch(`${stack.url}/readyz`)).json()) as {
      checks: Record<string, { detail?: string }>;
    };
    expect(ready.checks.engines.detail).toContain(((await engine('dialogue')) ?? '').trim());

    expect(await page.locator('[data-pbx-state]').getAttribute('data-pbx-state')).toBe('connected');
    expect(await page.locator('[data-pbx-state]').textContent()).toContain('connected to ARI');

    const perDay = page.locator('tr[data-cap="callsPerDay"]');
    expect(await perDay.locator('td[data-cap-limit]').textContent()).toBe('42');
    expect(await perDay.locator('td[data-cap-used]').textContent()).toContain('1 of 42 today');
    expect(await perDay.locator('[data-cap-default]').count()).toBe(1);
    await browser.screenshot(page, 'settings-viewer');

    // A phone-width screen keeps the page usable: the caps table scrolls inside its own box.
    await page.setViewportSize({ width: 390, height: 844 });
    await browser.screenshot(page, 'settings-phone');
    expect(await page.getByRole('heading', { name: 'Engines and models' }).isVisible()).toBe(true);
  });
});

// The account's calling defaults (GET/PATCH /v1/agent/settings) in the browser, over the API and the
// dashboard alone: an owner sets hours, days and retries with the form and the API reads them back; a
// refusal is the API's message at its field; a viewer reads them without a form.
describe.skipIf(noBrowserReason)('calling defaults on /settings in chromium', () => {
  let con: Awaited<ReturnType<typeof startTestConsole>>;
  let browser: TestBrowser;
  let viewer: ConsoleUser;

  beforeAll(async () => {
    con = await startTestConsole();
    viewer = await con.addUser({ role: 'viewer' });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await con?.close();
  }, 60_000);

  const apiSettings = async () => {
    const res = await fetch(`${con.url}/v1/agent/settings`, {
      headers: { authorization: `Bearer ${con.key}` },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { callWindow: unknown; retryPolicy: unknown };
  };

  it('lets an owner set the hours, days and retries that the API then reads', {
    timeout: 90_000,
  }, async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.waitForURL('**/settings');
    expect(await page.locator('[data-default-window]').textContent()).toMatch(
      /^Not set: the deployment's default/,
    );
    expect(await page.locator('[data-default-retry]').textContent()).toBe('None: a call is tried once');

    await page.getByLabel('Calling hours from').fill('10:00');
    await page.getByLabel('Calling hours until').fill('18:30');
    await page.getByLabel('Saturday').uncheck();
    await page.getByLabel('Sunday').uncheck();
    await page.getByLabel('Attempts in all').fill('3');
    await page.getByLabel('Seconds between attempts').fill('900');
    await page.getByLabel('Voicemail').check();
    await Promise.all([
      page.waitForEvent('load'),
      page.getByRole('button', { name: 'Save calling defaults' }).click(),
    ]);
    await expect(
      page.getByRole('status').filter({ hasText: 'Saved the calling defaults.' }).count(),
    ).resolves.toBe(1);
    expect(await page.locator('[data-default-window]').textContent()).toBe(
      '10:00–18:30, Monday, Tuesday, Wednesday, Thursday, Friday',
    );
    expect(await page.getByLabel('Calling hours from').inputValue()).toBe('10:00');
    await browser.screenshot(page, 'settings-calling-defaults-saved');
    expect(await apiSettings()).toEqual(
      expect.objectContaining({
        callWindow: { start: '10:00', end: '18:30', days: ['mon', 'tue', 'wed', 'thu', 'fri'] },
        retryPolicy: {
          maxAttempts: 3,
          delaySeconds: 900,
          on: ['no_answer', 'declined/busy', 'failed/network_error', 'voicemail'],
        },
      }),
    );
  });

  it("shows the API's message at the field it is about, and keeps what was saved", {
    timeout: 90_000,
  }, async () => {
    const before = await apiSettings();
    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, '/settings');
    await page.getByLabel('Calling hours until').fill('');
    await page.getByLabel('Attempts in all').fill('11');
    await Promise.all([
      page.waitForEvent('load'),
      page.getByRole('button', { name: 'Save calling defaults' }).click(),
    ]);
    const end = page.getByLabel('Calling hours until');
    expect(await end.getAttribute('aria-invalid')).toBe('true');
    const described = (await end.getAttribute('aria-describedby')) ?? '';
    expect(described).toContain('field-callWindow-end-error');
    expect(await page.locator('#field-callWindow-end-error').textContent()).toBe(
      'callWindow.end is required',
    );
    expect(await page.locator('#field-retryPolicy-maxAttempts-error').textContent()).toBe(
      'retryPolicy.maxAttempts must be at most 10',
    );
    // The first refused input has the focus, and the rest of the form is as typed.
    expect(await page.evaluate('document.activeElement?.id')).toBe('field-callWindow-end');
    expect(await page.getByLabel('Calling hours from').inputValue()).toBe('10:00');
    await browser.screenshot(page, 'settings-calling-defaults-refused');
    expect(await apiSettings()).toEqual(before);
  });

  it('shows a viewer the calling defaults without a form', { timeout: 90_000 }, async () => {
    const { page } = await browser.newPage(con.url);
    await signIn(page, viewer.email, viewer.password, '/settings');
    expect(await page.locator('[data-default-window]').textContent()).toContain('10:00–18:30');
    expect(await page.locator('[data-default-retry]').textContent()).toContain('3 attempts in all');
    expect(await page.getByRole('button', { name: 'Save calling defaults' }).count()).toBe(0);
    expect(await page.getByLabel('Calling hours from').count()).toBe(0);
    await browser.screenshot(page, 'settings-calling-defaults-viewer');
  });
});
