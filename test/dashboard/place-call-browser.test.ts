import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TERMINAL_STATUSES } from '../../src/calls/status.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startStackConsole } from './helpers/console.js';

// Place a call from the form, in chromium, on the whole product as `npm start` runs it (API,
// dashboard, worker, the simulated PBX with a flite callee, pocketsphinx, a random-weight GGUF on
// llama.cpp): refusals land at their fields, then a good form dials a simulator number and the call's
// page shows it finish.

const CALLEE = '+14155550194';
/** Answers at once, says hello and hangs up: the call ends completed/callee_hung_up whatever the model says. */
const briefCallee = {
  number: CALLEE,
  description: 'Answers, says hello, and hangs up a second after answering.',
  outcome: 'answer',
  ringSeconds: 0,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  hangupAfterSeconds: 1,
  states: { start: { say: 'Hello?' } },
};

/** Browser-side expressions are strings: this test tree is type-checked without the DOM library. */
const focusedId = "document.activeElement ? document.activeElement.id : ''";
const statusText = "(document.getElementById('call-status')?.textContent ?? '').trim()";
const TERMINAL_LABELS = TERMINAL_STATUSES.map((s) => s.replace(/_/g, ' '));

describe.skipIf(noBrowserReason)('Place a call (full stack, chromium)', () => {
  let dir: string;
  let stack: Awaited<ReturnType<typeof startStackConsole>>;
  let browser: TestBrowser;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-place-call-'));
    await fs.mkdir(path.join(dir, 'models'));
    await fs.mkdir(path.join(dir, 'scenarios'));
    await fs.writeFile(path.join(dir, 'scenarios', 'brief-callee.json'), JSON.stringify(briefCallee));
    await writeSyntheticGguf(path.join(dir, 'models', 'tiny.gguf'), { shape: 'tiny', seed: 7 });
    stack = await startStackConsole({
      env: { MODELS_DIR: path.join(dir, 'models'), SCENARIOS_DIR: path.join(dir, 'scenarios') },
    });
    browser = await launchBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  async function openForm(): Promise<Page> {
    const { page } = await browser.newPage(stack.url);
    await signIn(page, stack.owner.email, stack.owner.password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Place a call' }).click();
    await page.waitForURL((u) => u.pathname === '/calls/new');
    return page;
  }

  it('shows a bad number and a missing objective at their fields, focuses the first, and keeps what was typed', async () => {
    const page = await openForm();
    await page.getByLabel('To (required)').fill('555-0100');
    await page.getByLabel('Context').fill('Dana prefers a window seat.');
    await page.getByRole('button', { name: 'Place the call' }).click();
    await page.locator('#f-to-error').waitFor();

    expect(await page.locator('#f-to-error').textContent()).toBe(
      "to must be an E.164 number: '+' followed by 8 to 15 digits, such as +14155552671",
    );
    expect(await page.locator('#f-objective-error').textContent()).toBe('objective is required');
    const to = page.getByLabel('To (required)');
    const objective = page.getByLabel('Objective (required)');
    expect(await to.getAttribute('aria-invalid')).toBe('true');
    expect(await objective.getAttribute('aria-invalid')).toBe('true');
    // The error is part of each input's accessible description.
    expect(await to.getAttribute('aria-describedby')).toContain('f-to-error');
    expect(await page.evaluate(focusedId)).toBe('f-to');
    expect(await to.inputValue()).toBe('555-0100');
    expect(await page.getByLabel('Context').inputValue()).toBe('Dana prefers a window seat.');
    // The summary lists both and links to each field.
    const summary = page.getByRole('alert');
    expect(await summary.getByRole('link').count()).toBe(2);
    await summary.getByRole('link', { name: 'objective is required' }).click();
    expect(new URL(page.url()).hash).toBe('#f-objective');
    await browser.screenshot(page, 'place-call-errors');
    await page.setViewportSize({ width: 390, height: 844 });
    await browser.screenshot(page, 'place-call-errors-phone');
  });

  it('adds and removes field rows with the script', async () => {
    const page = await openForm();
    await page.getByLabel('Field 1 name').fill('open_today');
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Field 2 name').fill('closing_time');
    // Adding stays on the page (no post) and moves focus to the new row.
    expect(new URL(page.url()).pathname).toBe('/calls/new');
    expect(await page.evaluate(focusedId)).toBe('f-fields-1-name');
    await page.getByRole('button', { name: 'Add a field' }).click();
    expect(await page.locator('[data-field-row]').count()).toBe(3);
    await page.getByRole('button', { name: 'Remove Field 3' }).click();
    expect(await page.locator('[data-field-row]').count()).toBe(2);
    expect(await page.getByLabel('Field 2 name').inputValue()).toBe('closing_time');
  });

  it('without script, "Add a field" posts the form back with one more row and keeps what was typed', async () => {
    const context = await browser.browser.newContext({ baseURL: stack.url, javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await signIn(page, stack.owner.email, stack.owner.password, '/calls/new');
      await page.waitForURL((u) => u.pathname === '/calls/new');
      await page.getByLabel('Objective (required)').fill('Kept across the round trip.');
      await page.getByLabel('Field 1 name').fill('open_today');
      await page.getByRole('button', { name: 'Add a field' }).click();
      await page.getByLabel('Field 2 name').waitFor();
      expect(await page.getByLabel('Field 1 name').inputValue()).toBe('open_today');
      expect(await page.getByLabel('Objective (required)').inputValue()).toBe('Kept across the round trip.');
      // No Remove buttons without script: an emptied row is skipped instead.
      expect(await page.getByRole('button', { name: /^Remove/ }).count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  it('places a call to a simulator number from the form and shows it finish on its page', async () => {
    const page = await openForm();
    await page.getByLabel('To (required)').fill(CALLEE);
    await page.getByLabel('From (caller ID)').selectOption('+14155550199');
    await page.getByLabel('Objective (required)').fill('Ask whether the shop is open today.');
    await page.getByLabel('Field 1 name').fill('open_today');
    await page.getByLabel('Field 1 type').selectOption('boolean');
    await page.getByLabel('Longest call, in seconds').fill('60');
    await page.getByLabel('Metadata (JSON object)').fill('{"source": "dashboard test"}');
    await browser.screenshot(page, 'place-call-form');
    await page.getByRole('button', { name: 'Place the call' }).click();
    await page.waitForURL((u) => /^\/calls\/[0-9a-f-]{36}$/.test(u.pathname), { timeout: 30_000 });
    const callId = new URL(page.url()).pathname.split('/').pop() as string;

    // The API shows the call as the form described it.
    const res = await fetch(`${stack.url}/v1/agent/calls/${callId}`, {
      headers: { Authorization: `Bearer ${stack.key}` },
    });
    const call = (await res.json()) as Record<string, any>;
    expect(call).toMatchObject({
      to: CALLEE,
      callerId: '+14155550199',
      objective: 'Ask whether the shop is open today.',
      fields: [{ name: 'open_today', type: 'boolean' }],
      maxDurationSeconds: 60,
      metadata: { source: 'dashboard test' },
    });

    // The page follows the call live (no reload) until a terminal status shows; the callee hung up, so
    // the call completed.
    await page.evaluate('window.__notReloaded = true');
    let shown = '';
    await vi.waitFor(
      async () => {
        shown = String(await page.evaluate(statusText));
        if (!TERMINAL_LABELS.includes(shown)) throw new Error(`still ${shown}`);
      },
      { timeout: 150_000, interval: 250 },
    );
    const ended = (await (
      await fetch(`${stack.url}/v1/agent/calls/${callId}`, {
        headers: { Authorization: `Bearer ${stack.key}` },
      })
    ).json()) as Record<string, any>;
    expect(shown, `${ended.status}/${ended.endedReason}`).toBe('completed');
    expect(ended.endedReason).toBe('callee_hung_up');
    expect(await page.evaluate('window.__notReloaded === true')).toBe(true);
    await browser.screenshot(page, 'place-call-finished');
  }, 180_000);

  it("shows a bad calling window at its fields, then queues a call whose window is closed now in the callee's zone with its scheduled time", async () => {
    const page = await openForm();
    await page.getByLabel('To (required)').fill(CALLEE);
    await page.getByLabel('Objective (required)').fill('Remind Dana of the visit.');
    await page.getByLabel('Calling hours from').fill('09:00');
    for (const day of ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']) {
      await page.getByLabel(day).uncheck();
    }
    await page.getByRole('button', { name: 'Place the call' }).click();
    await page.locator('#f-callWindow-end-error').waitFor();
    expect(await page.locator('#f-callWindow-end-error').textContent()).toBe('callWindow.end is required');
    expect(await page.locator('#f-callWindow-days-error').textContent()).toBe(
      'callWindow.days must name at least one day',
    );
    expect(await page.getByLabel('Calling hours until').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate(focusedId)).toBe('f-callWindow-end');
    expect(await page.getByLabel('Calling hours from').inputValue()).toBe('09:00');
    await browser.screenshot(page, 'place-call-window-errors');

    // Two hours from now on the callee's clock (San Francisco) the window opens: closed now.
    const now = new Date();
    const clock = (at: Date) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'America/Los_Angeles',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(at);
    const start = clock(new Date(now.getTime() + 120 * 60_000));
    const end = clock(new Date(now.getTime() + 180 * 60_000));
    await page.getByLabel('Calling hours from').fill(start);
    await page.getByLabel('Calling hours until').fill(end);
    for (const day of ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']) {
      await page.getByLabel(day).check();
    }
    await page.getByLabel('Time zone of Start at and Expires at').selectOption('America/New_York');
    await page.getByLabel('Attempts in all').fill('2');
    await page.getByLabel('Seconds between attempts').fill('900');
    await page.getByRole('button', { name: 'Place the call' }).click();
    await page.waitForURL((u) => /^\/calls\/[0-9a-f-]{36}$/.test(u.pathname), { timeout: 30_000 });
    const callId = new URL(page.url()).pathname.split('/').pop() as string;
    const call = (await (
      await fetch(`${stack.url}/v1/agent/calls/${callId}`, {
        headers: { Authorization: `Bearer ${stack.key}` },
      })
    ).json()) as Record<string, any>;
    expect(call).toMatchObject({
      status: 'queued',
      callWindow: { start, end },
      timeZones: ['America/Los_Angeles'],
      retryPolicy: { maxAttempts: 2, delaySeconds: 900 },
    });
    const scheduled = new Date(call.scheduledFor);
    expect(clock(scheduled)).toBe(start);
    expect(scheduled.getTime()).toBeGreaterThan(now.getTime());
    expect(await page.evaluate(statusText)).toBe('queued');
    const iso = scheduled.toISOString();
    expect((await page.locator('#call-scheduled-for').textContent())?.trim()).toBe(
      `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`,
    );
    await browser.screenshot(page, 'place-call-scheduled');
    // Cancel it: nothing is left waiting in the queue when the stack stops.
    await fetch(`${stack.url}/v1/agent/calls/${callId}/cancel`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${stack.key}` },
    });
  }, 60_000);
});
