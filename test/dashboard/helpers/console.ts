import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { AccountService } from '../../../src/accounts/account-service.js';
import { SecretBox } from '../../../src/accounts/secret-box.js';
import { createUser } from '../../../src/dashboard/auth/users.js';
import { type Database, type Db, openDatabase } from '../../../src/db/client.js';
import { acquireEmbeddedLock } from '../../../src/db/embedded-lock.js';
import { type Agentline, startAgentline } from '../../../src/main.js';
import { type StartTestApiOptions, startTestApi, type TestApi } from '../../helpers/api-fixtures.js';
import { TEST_CALL_WINDOW } from '../../helpers/test-call-window.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-db.js';

/** A scrypt cost low enough for tests that create many users; sign-in reads the cost from the hash. */
export const TEST_PASSWORD_COST = 12;

export interface ConsoleUser {
  id: string;
  accountId: string;
  email: string;
  password: string;
  role: 'owner' | 'viewer';
  instanceAdmin: boolean;
}

export interface NewUserOptions {
  accountId?: string;
  email?: string;
  role?: 'owner' | 'viewer';
  instanceAdmin?: boolean;
  password?: string;
}

let userSeq = 0;

/** Adds a user with a password to an account (a fresh email unless given). */
export async function addConsoleUser(
  db: Db,
  accountId: string,
  opts: NewUserOptions = {},
): Promise<ConsoleUser> {
  const email = opts.email ?? `user${++userSeq}-${crypto.randomBytes(3).toString('hex')}@example.test`;
  const password = opts.password ?? `pw-${crypto.randomBytes(9).toString('base64url')}`;
  const role = opts.role ?? 'owner';
  const { user } = await createUser(
    db,
    { accountId: opts.accountId ?? accountId, email, role, instanceAdmin: opts.instanceAdmin, password },
    { passwordCost: TEST_PASSWORD_COST },
  );
  return { ...user, password };
}

/**
 * Signs in through the real form, keyboard-free but as a user would: fills the labelled fields and
 * submits; resolves once the browser has left /sign-in (or throws with the page's message).
 */
export async function signIn(page: Page, email: string, password: string, next?: string): Promise<void> {
  await page.goto(next ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page
      .waitForURL((u) => !u.pathname.startsWith('/sign-in'), { timeout: 30_000 })
      .catch(async (err) => {
        const flash = await page
          .locator('.flash')
          .textContent()
          .catch(() => null);
        throw new Error(`sign-in as ${email} did not leave /sign-in: ${flash ?? err}`);
      }),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/** Signs out with the header's button and waits for the sign-in page. */
export async function signOut(page: Page): Promise<void> {
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/sign-in'),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
}

export interface TestConsole {
  /** Base URL of the API + dashboard. */
  url: string;
  db: Db;
  /** The first account (with an agent key and a default caller ID). */
  accountId: string;
  key: string;
  /** An owner of the first account with a known password. */
  owner: ConsoleUser;
  addUser(opts?: NewUserOptions): Promise<ConsoleUser>;
  close(): Promise<void>;
}

/**
 * The API and the dashboard on loopback over a fresh database (startTestApi: no worker, no PBX), with
 * an owner ready to sign in. `api` gives the fixture's extras (addAccount, request...).
 */
export async function startTestConsole(
  opts: StartTestApiOptions = {},
): Promise<TestConsole & { api: TestApi }> {
  const api = await startTestApi(opts);
  try {
    const owner = await addConsoleUser(api.deps.db, api.accountId, { role: 'owner' });
    return {
      url: api.url,
      db: api.deps.db,
      accountId: api.accountId,
      key: api.key,
      owner,
      api,
      addUser: (o = {}) => addConsoleUser(api.deps.db, api.accountId, o),
      close: () => api.close(),
    };
  } catch (err) {
    await api.close();
    throw err;
  }
}

export interface StackConsoleOptions {
  /** Extra environment for startAgentline (MODELS_DIR, SCENARIOS_DIR, CAP_*...). */
  env?: Record<string, string>;
  /** Users created before the stack starts (works with PGlite too); the owner is always made. */
  users?: NewUserOptions[];
}

/**
 * The whole product as `npm start` runs it (`startAgentline({ role: 'all' })`: API, dashboard,
 * worker, webhooks, the simulated PBX) on a fresh database. The account, its key, number and users
 * are seeded before the start; `addUser` afterwards needs DATABASE_URL (the embedded database is
 * locked by the running stack).
 */
export async function startStackConsole(
  opts: StackConsoleOptions = {},
): Promise<TestConsole & { app: Agentline; users: ConsoleUser[]; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-console-'));
  let tdb: TestDatabase | null = null;
  let seedDb: Database | null = null;
  let lock: { release(): void } | null = null;
  let app: Agentline | null = null;
  const secretKey = crypto.randomBytes(32).toString('hex');
  try {
    if (process.env.DATABASE_URL) {
      tdb = await createTestDatabase();
      seedDb = tdb;
    } else {
      const dir = path.join(dataDir, 'db');
      lock = acquireEmbeddedLock(dir);
      seedDb = await openDatabase({ pgliteDir: dir });
      await seedDb.migrate();
    }
    const accounts = new AccountService(seedDb.db, SecretBox.fromKey(secretKey));
    const { accountId } = await accounts.createAccount('console');
    await accounts.addNumber(accountId, '+14155550199', true);
    const { key } = await accounts.createApiKey(accountId);
    const owner = await addConsoleUser(seedDb.db, accountId, { role: 'owner' });
    const users: ConsoleUser[] = [];
    for (const u of opts.users ?? []) users.push(await addConsoleUser(seedDb.db, accountId, u));
    if (!tdb) {
      await seedDb.close();
      seedDb = null;
      lock?.release();
      lock = null;
    }
    app = await startAgentline({
      role: 'all',
      env: {
        ...TEST_CALL_WINDOW,
        // As the rest of the suite (vitest.config.ts): test/worker/auto-capacity.test.ts covers auto.
        WORKER_CONCURRENCY: '4',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
        MODELS_AUTO_FETCH: 'false',
        DATA_DIR: dataDir,
        SECRET_KEY: secretKey,
        ...(tdb?.url ? { DATABASE_URL: tdb.url } : {}),
        ...opts.env,
      },
    });
    const running = app;
    const db = tdb?.db ?? null;
    return {
      url: running.url as string,
      db: db as Db,
      accountId,
      key,
      owner,
      users,
      app: running,
      dataDir,
      addUser: async (o = {}) => {
        if (!db)
          throw new Error('addUser on a running stack needs DATABASE_URL; pass users to startStackConsole');
        return addConsoleUser(db, accountId, o);
      },
      close: async () => {
        await running.stop();
        await tdb?.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await app?.stop();
    if (!tdb) await seedDb?.close();
    lock?.release();
    await tdb?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
