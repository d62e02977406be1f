import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { LISTEN_CLOSE, listenUrlPath, NO_WORKER_REASON } from '../../src/dashboard/routes/listen.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { addConsoleUser, type ConsoleUser } from '../dashboard/helpers/console.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

// `serve --role api` (the composition root with no worker in the process): the call's audio is in
// another process, so the listen socket says why it cannot listen instead of failing silently.

let dataDir: string;
let tdb: TestDatabase | null = null;
let app: Agentline;
let key: string;
let user: ConsoleUser;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-listen-split-'));
  const secretKey = crypto.randomBytes(32).toString('hex');
  // Seeded before the start: the embedded database is locked while the server runs.
  let seed: Database;
  let lock: { release(): void } | null = null;
  if (process.env.DATABASE_URL) {
    tdb = await createTestDatabase();
    seed = tdb;
  } else {
    const dir = path.join(dataDir, 'db');
    lock = acquireEmbeddedLock(dir);
    seed = await openDatabase({ pgliteDir: dir });
    await seed.migrate();
  }
  const accounts = new AccountService(seed.db, SecretBox.fromKey(secretKey));
  const { accountId } = await accounts.createAccount('split');
  await accounts.addNumber(accountId, '+14155550199', true);
  ({ key } = await accounts.createApiKey(accountId));
  user = await addConsoleUser(seed.db, accountId, { role: 'viewer' });
  if (!tdb) {
    await seed.close();
    lock?.release();
  }
  app = await startAgentline({
    role: 'api',
    env: {
      ...TEST_CALL_WINDOW,
      // As the rest of the suite (vitest.config.ts): test/worker/auto-capacity.test.ts covers auto.
      WORKER_CONCURRENCY: '4',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      SECRET_KEY: secretKey,
      ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
    },
  });
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await tdb?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

async function signedInCookie(): Promise<string> {
  const form = await fetch(`${app.url}/sign-in`);
  const csrfCookie = (form.headers.get('set-cookie') ?? '').split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  const res = await fetch(`${app.url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: csrfCookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      _csrf: csrf ?? '',
      email: user.email,
      password: user.password,
      next: '/calls',
    }),
  });
  const session = res.headers.getSetCookie().find((c) => c.startsWith('agentline_session='));
  expect(session, `sign-in answered ${res.status} without a session`).toBeTruthy();
  return session!.split(';')[0];
}

describe('live listen on an API process without a worker', () => {
  it('accepts the signed-in user, then closes with the reason: live listen needs role all', async () => {
    const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
    const placed = await fetch(`${app.url}/v1/agent/calls`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ to: '+14155550177', objective: 'Nothing; no worker runs here.' }),
    });
    expect(placed.status, await placed.clone().text()).toBe(201);
    const { callId } = (await placed.json()) as { callId: string };

    const ws = new WebSocket(`${app.url!.replace('http', 'ws')}${listenUrlPath(callId)}`, {
      headers: { Origin: app.url!, Cookie: await signedInCookie() },
    });
    const messages: unknown[] = [];
    ws.on('message', (m) => messages.push(m));
    const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => reject(new Error(`refused: HTTP ${res.statusCode}`)));
      ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
    });
    expect(closed).toEqual({ code: LISTEN_CLOSE.noWorker, reason: NO_WORKER_REASON });
    expect(messages).toEqual([]);

    // Nobody listened, so nothing is noted on the call.
    const call = (await (await fetch(`${app.url}/v1/agent/calls/${callId}`, { headers })).json()) as {
      events: { reason: string | null }[];
    };
    expect(call.events.some((e) => e.reason?.startsWith('listen_'))).toBe(false);
  });
});
