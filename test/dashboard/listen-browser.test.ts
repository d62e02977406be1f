import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTerminal } from '../../src/calls/status.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startStackConsole } from './helpers/console.js';

// In real chromium against the whole stack: a signed-in user clicks Listen on a live call and hears
// it (the page counts the frames it played and shows their level), then stops.

/** The page follows the server on its own time: generous for a loaded machine. */
const POLL = { timeout: 30_000 };

const CALLEE = '+14155550178';
const talkingCallee = {
  number: CALLEE,
  description: 'A callee who reads numbers aloud without a pause.',
  outcome: 'answer',
  ringSeconds: 0,
  transcribe: false,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: {
    start: {
      say: Array.from({ length: 40 }, () => 'one two three four five six seven eight nine ten').join(' '),
    },
  },
};

describe.skipIf(noBrowserReason)('live listen in the browser', () => {
  let dir: string;
  let stack: Awaited<ReturnType<typeof startStackConsole>>;
  let browser: TestBrowser;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-listen-browser-'));
    await fs.mkdir(path.join(dir, 'models'));
    await fs.mkdir(path.join(dir, 'scenarios'));
    await fs.writeFile(path.join(dir, 'scenarios', 'talking.json'), JSON.stringify(talkingCallee));
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
  }, 120_000);

  const api = (pathname: string, init: RequestInit = {}) =>
    fetch(`${stack.url}${pathname}`, {
      ...init,
      headers: { Authorization: `Bearer ${stack.key}`, 'Content-Type': 'application/json' },
    });
  const callView = async (id: string) =>
    (await (await api(`/v1/agent/calls/${id}`)).json()) as Record<string, any>;

  it('Listen on a live call plays its audio: the state says listening and the level meter moves', async () => {
    const res = await api('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: CALLEE, objective: 'Listen to the numbers.', maxDurationSeconds: 120 }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { callId } = (await res.json()) as { callId: string };

    const { page } = await browser.newPage(stack.url);
    await signIn(page, stack.owner.email, stack.owner.password);
    // The call's page embeds the control while the call is not over.
    await page.goto(`/calls/${callId}`);
    const control = page.locator('.listen-control');
    await expect.poll(() => control.count(), POLL).toBe(1);
    const button = control.getByRole('button', { name: 'Listen' });
    await expect.poll(() => button.isVisible(), POLL).toBe(true);
    await expect.poll(() => control.getByRole('status').textContent(), POLL).toBe('Not listening.');

    // Clicked before the call is answered, the server says it is not live; once answered, it plays.
    await vi.waitFor(
      async () => {
        const call = await callView(callId);
        if (isTerminal(call.status)) throw new Error(`the call ended first: ${call.endedReason}`);
        if ((await control.getAttribute('data-state')) !== 'listening') {
          await control.getByRole('button').click();
          await expect
            .poll(() => control.getAttribute('data-state'), { timeout: 20_000 })
            .toMatch(/^(listening|closed)$/);
        }
        expect(
          await control.getAttribute('data-state'),
          String(await control.getByRole('status').textContent()),
        ).toBe('listening');
      },
      { timeout: 90_000, interval: 500 },
    );
    await expect.poll(() => control.getByRole('status').textContent(), POLL).toBe('Listening (16 kHz).');
    await expect.poll(() => control.getByRole('button').textContent(), POLL).toBe('Stop');
    await expect
      .poll(async () => Number(await control.getAttribute('data-frames')), { timeout: 30_000 })
      .toBeGreaterThan(50);
    await expect
      .poll(() => control.locator('meter').evaluate((m) => (m as unknown as { value: number }).value), {
        timeout: 30_000,
      })
      .toBeGreaterThan(0.02);
    await browser.screenshot(page, 'listen-live-call');

    // From the keyboard: the control is a plain button.
    await control.getByRole('button', { name: 'Stop' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => control.getAttribute('data-state'), POLL).toBe('stopped');
    await expect.poll(() => control.getByRole('status').textContent(), POLL).toBe('Not listening.');
    await vi.waitFor(
      async () => {
        const reasons = (await callView(callId)).events.map((e: { reason: string }) => e.reason);
        expect(reasons).toContain(`listen_started: ${stack.owner.email}`);
        expect(reasons).toContain(`listen_stopped: ${stack.owner.email}`);
      },
      { timeout: 30_000 },
    );

    // Listening again, then the call ends under it: the control says so, unless the call page has
    // already swapped it out for the finished call's header (which has none); either way it stops.
    await control.getByRole('button', { name: 'Listen' }).click();
    await expect.poll(() => control.getAttribute('data-state'), POLL).toBe('listening');
    expect((await api(`/v1/agent/calls/${callId}/cancel`, { method: 'POST' })).status).toBe(200);
    const finalState = await page.waitForFunction(
      () => {
        const c = (globalThis as any).document.querySelector('.listen-control');
        if (!c) return 'gone';
        const state = c.dataset.state;
        if (state !== 'ended' && state !== 'stopped') return false;
        return `${state}: ${c.querySelector('.listen-state').textContent}`;
      },
      null,
      { timeout: 60_000 },
    );
    expect(['ended: The call ended.', 'stopped: Not listening.', 'gone']).toContain(
      await finalState.jsonValue(),
    );
    await vi.waitFor(
      async () => {
        const reasons = (await callView(callId)).events.map((e: { reason: string }) => e.reason);
        expect(reasons.filter((r: string) => r === `listen_stopped: ${stack.owner.email}`)).toHaveLength(2);
      },
      { timeout: 30_000 },
    );
  }, 240_000);
});
