import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { type Database, openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { type Agentline, startAgentline } from '../../src/main.js';
import { TEST_CALL_WINDOW } from '../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

// The composition root (serve --role api) reads DNC_LIST_FILE once for the process: the API's check and
// placement see it, an edit of the file reaches them, and a missing file stops the start.

const LISTED = '+12125550199';
const ADDED_LATER = '+12125550142';

let dataDir: string;
let listFile: string;
let secretKey: string;
let tdb: TestDatabase | null = null;
let app: Agentline | null = null;
let key: string;

const envOf = (extra: Record<string, string>) => ({
  ...TEST_CALL_WINDOW,
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  DATA_DIR: dataDir,
  SECRET_KEY: secretKey,
  ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
  ...extra,
});

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-dnc-wiring-'));
  listFile = path.join(dataDir, 'dnc.txt');
  fs.writeFileSync(listFile, `# operator\n${LISTED}\n`);
  secretKey = crypto.randomBytes(32).toString('hex');
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
  const { accountId } = await accounts.createAccount('wiring');
  await accounts.addNumber(accountId, '+14155550100', true);
  ({ key } = await accounts.createApiKey(accountId));
  if (!tdb) {
    await seed.close();
    lock?.release();
  }
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await tdb?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('DNC_LIST_FILE in the server', { timeout: 120_000 }, () => {
  it('refuses to start when the file is missing, naming it', async () => {
    const missing = path.join(dataDir, 'no-such-list.txt');
    await expect(startAgentline({ role: 'api', env: envOf({ DNC_LIST_FILE: missing }) })).rejects.toThrow(
      missing,
    );
  });

  it("blocks the file's numbers for the API, and follows edits of the file", async () => {
    app = await startAgentline({ role: 'api', env: envOf({ DNC_LIST_FILE: listFile }) });
    const get = (p: string, init: RequestInit = {}) =>
      fetch(`${app?.url}${p}`, {
        ...init,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      });
    const check = async (n: string) =>
      (await (await get(`/v1/agent/do-not-call/${encodeURIComponent(n)}`)).json()) as {
        listed: boolean;
        list: string | null;
      };

    expect(await check(LISTED)).toMatchObject({ listed: true, list: 'deployment' });
    const placed = await get('/v1/agent/calls', {
      method: 'POST',
      body: JSON.stringify({ to: LISTED, objective: 'Confirm the appointment.' }),
    });
    expect(placed.status).toBe(422);
    const body = (await placed.json()) as { error: { code: string; details: Record<string, unknown> } };
    expect(body.error.code).toBe('destination_blocked');
    expect(body.error.details).toMatchObject({ category: 'do_not_call', list: 'deployment' });

    expect(await check(ADDED_LATER)).toMatchObject({ listed: false });
    fs.appendFileSync(listFile, `${ADDED_LATER}\n`);
    // The server re-reads the file on its own timer: wait for the change to show, never a fixed sleep.
    const end = Date.now() + 60_000;
    while (!(await check(ADDED_LATER)).listed) {
      if (Date.now() > end) throw new Error('the edited list never reached the API');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await check(ADDED_LATER)).toMatchObject({ listed: true, list: 'deployment' });
  });
});
