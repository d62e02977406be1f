import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TERMINAL_STATUSES } from '../../src/calls/status.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startStackConsole } from './helpers/console.js';

// The whole product as `npm start` runs it (API, dashboard, worker, simulated PBX with a flite callee,
// pocketsphinx, a random-weight GGUF on llama.cpp) watched in a real browser: a call placed over the
// API appears on the open list and moves there without a reload; its page fills turn by turn while
// the call runs, ends live with its summary, then plays and seeks its recording.

const CALLEE = '+14155550193';
/**
 * Greets from the moment of answer, then listens and never hangs up: the agent ends the call. It rings
 * two seconds first, so the call's page (opened as soon as the API answers) is listening before the
 * callee's first words even on a loaded machine.
 */
const listeningCallee = {
  number: CALLEE,
  description: 'A shop assistant who greets, then only listens.',
  outcome: 'answer',
  ringSeconds: 2,
  amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 0 },
  states: { start: { say: 'Hello, thank you for calling the corner shop. How can I help you today?' } },
};
const TERMINAL_LABELS = TERMINAL_STATUSES.map((s) => s.replace(/_/g, ' '));

describe.skipIf(noBrowserReason)('a live call in the dashboard (full stack, chromium)', () => {
  let dir: string;
  let stack: Awaited<ReturnType<typeof startStackConsole>>;
  let browser: TestBrowser;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-calls-live-'));
    await fs.mkdir(path.join(dir, 'models'));
    await fs.mkdir(path.join(dir, 'scenarios'));
    await fs.writeFile(path.join(dir, 'scenarios', 'listening-callee.json'), JSON.stringify(listeningCallee));
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

  async function placeCall(): Promise<string> {
    const res = await fetch(`${stack.url}/v1/agent/calls`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${stack.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        to: CALLEE,
        objective: 'Ask whether the shop is open today.',
        maxDurationSeconds: 30,
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as { callId: string }).callId;
  }

  /** A mark on the window that a reload or navigation would wipe. */
  const markPage = (page: Page) => page.evaluate('window.__notReloaded = true');
  const stillSamePage = (page: Page) => page.evaluate('window.__notReloaded === true');
  /** Browser-side expressions (strings: this test tree is type-checked without the DOM library). */
  const statusText = "(document.getElementById('call-status')?.textContent ?? '').trim()";
  const player = "document.getElementById('recording')";
  /**
   * Waits until a browser-side expression holds. Not page.waitForFunction: its string predicates run
   * through eval, which the dashboard's Content-Security-Policy (rightly) refuses.
   */
  const until = (page: Page, expression: string, timeout = 30_000) =>
    vi.waitFor(
      async () => {
        if (!(await page.evaluate(expression))) throw new Error(`still not: ${expression}`);
      },
      { timeout, interval: 200 },
    );

  it('lists the new call live, follows its page turn by turn to the end, then plays and seeks the recording', async () => {
    const { context, page: listPage } = await browser.newPage(stack.url);
    await signIn(listPage, stack.owner.email, stack.owner.password, '/calls');
    await listPage.waitForURL((u) => u.pathname === '/calls');
    await markPage(listPage);

    // The list is open before the call exists: the call arrives in it through /ui/events. Its page is
    // opened in a second tab at once, so it follows the whole conversation.
    const callId = await placeCall();
    const page = await context.newPage();
    await page.goto(`/calls/${callId}`);
    await markPage(page);
    // Every turn added is logged with the status shown then, and every partial the callee's line shows.
    await page.evaluate(`(() => {
      const log = [];
      const partials = [];
      window.__turnLog = log;
      window.__partials = partials;
      const list = document.getElementById('transcript');
      const note = () => log.push({ turns: list.children.length, status: ${statusText} });
      note();
      new MutationObserver(note).observe(list, { childList: true });
      const partial = document.getElementById('partial');
      new MutationObserver(() => {
        if (!partial.hidden) partials.push({ text: partial.textContent, turns: list.children.length });
      }).observe(partial, { subtree: true, childList: true, characterData: true, attributes: true });
    })()`);

    const row = listPage.locator(`tr[data-call-id="${callId}"]`);
    await row.waitFor({ timeout: 60_000 });
    expect(await row.locator('td.number').textContent()).toBe(CALLEE);
    await browser.screenshot(listPage, 'calls-list-live');

    await page.locator('#transcript li').first().waitFor({ timeout: 90_000 });
    await browser.screenshot(page, 'call-page-live');

    // The end arrives live: a terminal status, then the summary and the recording's sections.
    await until(page, `${JSON.stringify(TERMINAL_LABELS)}.includes(${statusText})`, 150_000);
    await page.locator('#waveform').waitFor({ timeout: 30_000 });
    expect(await stillSamePage(page)).toBe(true);

    const call = (await (
      await fetch(`${stack.url}/v1/agent/calls/${callId}`, {
        headers: { Authorization: `Bearer ${stack.key}` },
      })
    ).json()) as {
      status: string;
      endedReason: string | null;
      summary: string | null;
      turns: { text: string }[];
    };
    const log = (await page.evaluate('window.__turnLog')) as { turns: number; status: string }[];
    // Turns came one by one while the call was still live, not all at once at its end.
    const whileLive = log.filter((l) => l.turns > 0 && !TERMINAL_LABELS.includes(l.status));
    expect(whileLive.length, JSON.stringify(log)).toBeGreaterThan(0);
    expect(new Set(log.map((l) => l.turns)).size, JSON.stringify(log)).toBeGreaterThan(1);
    expect(await page.locator('#transcript li').count()).toBe(call.turns.length);
    expect(await page.locator('#transcript li .turn-text').allTextContents()).toEqual(
      call.turns.map((t) => t.text),
    );
    expect((await page.locator('#call-status').textContent())?.trim()).toBe(call.status.replace(/_/g, ' '));
    expect((await page.locator('#summary').textContent())?.trim()).toBe(call.summary ?? 'No summary.');
    expect(await page.locator('#cancel-form').count()).toBe(0);
    // Each status change is on the timeline, as it happened.
    expect(await page.locator('#timeline li.change').count()).toBeGreaterThanOrEqual(4);
    await browser.screenshot(page, 'call-page-ended');

    // The callee's words showed while they spoke, before their first turn was stored.
    const partials = (await page.evaluate('window.__partials')) as { text: string; turns: number }[];
    expect(
      partials.some((p) => p.turns === 0 && /Callee, speaking:\s*\S/.test(p.text)),
      JSON.stringify(partials),
    ).toBe(true);
    // The list followed the call to its end in the other tab, without a reload.
    await until(
      listPage,
      `(document.querySelector('tr[data-call-id="${callId}"] [data-col="status"]')?.textContent ?? '') === ${JSON.stringify(call.status.replace(/_/g, ' '))}`,
    );
    expect(await stillSamePage(listPage)).toBe(true);
    expect(await row.locator('[data-col="reason"]').textContent()).toBe(call.endedReason ?? '');
    await browser.screenshot(listPage, 'calls-list-ended');

    // The recording: the player asks for byte ranges, and a click on the waveform seeks it.
    const ranges: (string | undefined)[] = [];
    const statuses: number[] = [];
    page.on('request', (req) => {
      if (req.url().includes(`/calls/${callId}/recording`)) {
        void req.allHeaders().then((h) => ranges.push(h.range));
      }
    });
    page.on('response', (res) => {
      if (res.url().includes(`/calls/${callId}/recording`)) statuses.push(res.status());
    });
    await page.reload();
    await until(page, `Number.isFinite(${player}?.duration)`);
    const duration = (await page.evaluate(`${player}.duration`)) as number;
    expect(duration).toBeGreaterThan(1);
    expect(await page.evaluate(`${player}.currentTime`)).toBe(0);
    const box = (await page.locator('#waveform').boundingBox()) as { width: number; height: number };
    await page.locator('#waveform').click({ position: { x: box.width * 0.6, y: box.height / 2 } });
    await until(page, `${player}.currentTime >= ${duration * 0.55}`);
    // It plays on from there, and the played part of the waveform follows.
    const at = (await page.evaluate(`${player}.currentTime`)) as number;
    await until(page, `${player}.currentTime > ${at}`);
    expect(Number(await page.locator('#waveform-played').getAttribute('width'))).toBeGreaterThan(0);
    expect(ranges.some((r) => r?.startsWith('bytes='))).toBe(true);
    expect(statuses).toContain(206);
    await browser.screenshot(page, 'call-page-recording-seeked');
  }, 400_000);
});
