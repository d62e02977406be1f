import fs from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium (no browser download); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ??
  ['/usr/bin/chromium', '/usr/lib/chromium/chromium', '/usr/bin/chromium-browser'].find((p) =>
    fs.existsSync(p),
  ) ??
  null;

/** Why the browser tests cannot run here, or null when they can; use with `describe.skipIf`. */
export const noBrowserReason: string | null = CHROMIUM_PATH
  ? null
  : 'chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH): the dashboard browser tests are skipped';
if (noBrowserReason) console.warn(noBrowserReason);

/** Where screenshots go; CI keeps this folder as the tests' artefacts. */
export const ARTEFACTS_DIR = path.resolve('test-artifacts', 'dashboard');

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (its own cookies) on `baseURL`. */
  newPage(baseURL: string): Promise<{ context: BrowserContext; page: Page }>;
  /** Saves a full-page screenshot as test-artifacts/dashboard/<name>.png. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/** Launches headless chromium; every context and the browser close with `close()`. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!CHROMIUM_PATH) throw new Error(noBrowserReason ?? 'no chromium');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Running as root in CI needs --no-sandbox; the autoplay flag lets the recording and live-listen
    // players start without a user gesture the test cannot give.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async newPage(baseURL) {
      const context = await browser.newContext({ baseURL });
      contexts.push(context);
      const page = await context.newPage();
      return { context, page };
    },
    async screenshot(page, name) {
      fs.mkdirSync(ARTEFACTS_DIR, { recursive: true });
      const file = path.join(ARTEFACTS_DIR, `${name.replace(/[^a-z0-9_-]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}
