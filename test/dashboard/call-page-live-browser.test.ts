import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { calls } from '../../src/db/schema.js';
import { launchBrowser, noBrowserReason, type TestBrowser } from './helpers/browser.js';
import { signIn, startTestConsole } from './helpers/console.js';

// A call's page following a call that the test writes through the call store (as the worker does),
// so each live step is exact: an interrupted agent turn with its latency, a held callee turn that
// belongs before it, a note, then the end with summary, extracted fields, recording and webhook.

const until = (page: Page, expression: string, timeout = 30_000) =>
  vi.waitFor(
    async () => {
      if (!(await page.evaluate(expression))) throw new Error(`still not: ${expression}`);
    },
    { timeout, interval: 100 },
  );
const text = (page: Page, selector: string) =>
  page.evaluate(
    `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? '').trim()`,
  ) as Promise<string>;

describe.skipIf(noBrowserReason)('a call’s page, live, in chromium', () => {
  let con: Awaited<ReturnType<typeof startTestConsole>>;
  let browser: TestBrowser;

  beforeAll(async () => {
    con = await startTestConsole();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await con?.close();
  });

  it('appends turns in conversation order, notes the timeline, then fills the results when the call ends', async () => {
    const store = con.api.deps.calls;
    const [call] = await con.db
      .insert(calls)
      .values({
        accountId: con.accountId,
        toNumber: '+14155550166',
        callerId: '+14155550100',
        objective: 'Ask whether they are open today.',
        language: 'en-US',
        status: 'in_progress',
        fields: [{ name: 'open_today', type: 'boolean' }],
        webhookUrl: 'https://hooks.example.com/agentline',
        startedAt: new Date(),
      })
      .returning();
    await store.addTurn(call.id, {
      speaker: 'callee',
      text: 'Corner shop, hello?',
      startMs: 100,
      endMs: 1400,
    });

    const { page } = await browser.newPage(con.url);
    await signIn(page, con.owner.email, con.owner.password, `/calls/${call.id}`);
    await page.evaluate('window.__notReloaded = true');
    expect(await page.locator('#transcript li').count()).toBe(1);
    expect(await text(page, '#extracted td')).toBe('—');

    await store.addTurn(call.id, {
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
    await until(page, `document.querySelectorAll('#transcript li').length === 2`);
    expect(await text(page, 'li[data-seq="2"] .badge-interrupted')).toBe(
      'Interrupted: cut off when the other party spoke',
    );
    // The latency chart follows the agent's turn without a reload: 120, 300, 450, 600 ms.
    await until(page, `document.querySelectorAll('#call-latency tbody tr').length === 1`);
    expect(await page.locator('#call-latency tbody td').allTextContents()).toEqual([
      '120 ms',
      '300 ms',
      '450 ms',
      '600 ms',
    ]);

    // A callee turn stored late (held while the agent spoke) goes where it was said.
    await store.addTurn(call.id, { speaker: 'callee', text: 'We are.', startMs: 1500, endMs: 1900 });
    await until(page, `document.querySelectorAll('#transcript li').length === 3`);
    expect(await page.locator('#transcript li .turn-text').allTextContents()).toEqual([
      'Corner shop, hello?',
      'We are.',
      'Hello! Are you open today, and until',
    ]);

    await store.note(call.id, 'transfer_started: desk');
    await until(
      page,
      `[...document.querySelectorAll('#timeline li.note')].some((li) => li.textContent.includes('transfer_started: desk'))`,
    );

    const samples = Int16Array.from({ length: 16000 }, (_, i) => Math.round(Math.sin(i / 7) * 6000));
    fs.writeFileSync(path.join(con.api.recordingsDir, 'live.wav'), encodeWav({ sampleRate: 8000, samples }));
    const ended = await store.transition(call.id, 'completed', {
      reason: 'agent_hangup',
      patch: { summary: 'They are open today.', extracted: { open_today: true }, recordingFile: 'live.wav' },
    });
    expect(ended.ok).toBe(true);
    await until(page, `document.getElementById('call-status').textContent.trim() === 'completed'`);
    await until(page, `document.getElementById('summary').textContent === 'They are open today.'`);
    expect(await text(page, '#extracted td')).toBe('yes');
    expect(await text(page, '#call-ended-reason')).toBe('agent_hangup');
    // The finished page's sections arrive: the recording with its waveform, and the webhook event.
    await page.locator('#waveform').waitFor({ timeout: 30_000 });
    await until(page, `!!document.querySelector('#call-webhooks tr[data-delivery="call.completed"]')`);
    expect(await page.locator('#cancel-form').count()).toBe(0);
    expect(await page.locator('#timeline li.change').last().textContent()).toMatch(/completed agent_hangup$/);
    expect(await page.evaluate('window.__notReloaded === true')).toBe(true);
    await browser.screenshot(page, 'call-page-live-ended');
  });
});
