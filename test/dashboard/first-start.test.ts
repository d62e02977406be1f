import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

// `npm start` on an empty database must let a person with only a browser in: the first start writes the
// dashboard owner's one-time link into the private first-api-key.json, and that link sets a password and
// signs in an owner who is also the instance admin.

let tdb: TestDatabase | null = null;
let dataDir: string;
let app: Agentline;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-first-'));
  const env: Record<string, string> = {
    ...TEST_CALL_WINDOW,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
  };
  if (process.env.DATABASE_URL) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
  app = await startAgentline({ role: 'api', env, logger: silentLogger() });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const cookieOf = (res: Response, name: string) =>
  res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0];

describe('the first start', () => {
  it('writes a one-time sign-in link for an owner and instance admin, which works once', async () => {
    const file = path.join(dataDir, 'first-api-key.json');
    expect(fs.statSync(file).mode & 0o077).toBe(0);
    const first = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      key: string;
      dashboard: { email: string; signInLink: string };
    };
    expect(first.dashboard.email).toBe('admin@agentline.local');
    const link = new URL(first.dashboard.signInLink);
    const linkPath = link.pathname;
    expect(linkPath).toMatch(/^\/sign-in\/link\/.+/);

    const form = await fetch(`${app.url}${linkPath}`);
    expect(form.status).toBe(200);
    const html = await form.text();
    expect(html).toContain('admin@agentline.local');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
    const pre = cookieOf(form, 'agentline_csrf')!;
    const password = 'a long first password 1';
    const set = await fetch(`${app.url}${linkPath}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ _csrf: csrf, password, confirm: password }),
    });
    expect(set.status).toBe(303);
    const session = cookieOf(set, 'agentline_session')!;
    expect(session).toBeTruthy();
    // Owner and instance admin: both the account's pages and the deployment's.
    for (const page of ['/developers', '/admin']) {
      const res = await fetch(`${app.url}${page}`, { headers: { cookie: session } });
      expect(res.status, page).toBe(200);
    }
    // The link worked once.
    expect((await fetch(`${app.url}${linkPath}`)).status).toBe(404);
  });
});
