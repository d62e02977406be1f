import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTerminal } from '../../src/calls/status.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startStackConsole } from './helpers/console.js';

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
