import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { createApp } from '../../src/api/app.js';
import { startHttpServer } from '../../src/api/http-server.js';
import type { ApiDeps } from '../../src/api/types.js';
import { CallStore } from '../../src/calls/call-store.js';
import { loadIrsfList } from '../../src/calls/guardrails.js';
import { loadConfig } from '../../src/config.js';
import { Readiness, type ReadinessCheck } from '../../src/health.js';
import { silentLogger } from '../../src/logger.js';
import { TEST_CALL_WINDOW } from './test-call-window.js';
import { createTestDatabase, type TestDatabase } from './test-db.js';

/** A number of the US plan that libphonenumber accepts as valid; the test account's default caller ID. */
export const TEST_CALLER_ID = '+14155550100';
/** A valid US destination that passes every guardrail with the default allowed countries. */
export const TEST_DESTINATION = '+14155552671';

export interface StartTestApiOptions {
  /** Environment overrides for loadConfig (CAP_*, WEBHOOK_ALLOW_HTTP, PUBLIC_BASE_URL, ...). */
  env?: Record<string, string>;
  /** Readiness checks; none by default, so calls can be placed. */
  checks?: ReadinessCheck[];
  clock?: () => Date;
  voices?: readonly string[];
  /** The account's default caller ID; null for an account without numbers. */
  callerId?: string | null;
  /** Last chance to swap a dependency (e.g. one that throws) before the app is built. */
  tweak?: (deps: ApiDeps) => ApiDeps;
  /** Reuse a database instead of creating one (it is then not closed by close()). */
  db?: TestDatabase;
}

export interface TestApi {
  url: string;
  key: string;
  accountId: string;
  db: TestDatabase;
  deps: ApiDeps;
  accounts: AccountService;
  /** Directory the recording route serves from (a fresh temp dir). */
  recordingsDir: string;
  /** Another account with its own key and default number, for isolation tests. */
  addAccount(name?: string, callerId?: string | null): Promise<{ accountId: string; key: string }>;
  /** fetch against the API with this account's key; `key: null` sends no Authorization header. */
  request(pathname: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

let numberSeq = 0;

/** Starts the real API on 127.0.0.1:0 over a fresh database with one account, one key and a default number. */
export async function startTestApi(opts: StartTestApiOptions = {}): Promise<TestApi> {
  const ownDb = !opts.db;
  const db = opts.db ?? (await createTestDatabase());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-api-'));
  const recordingsDir = path.join(dataDir, 'recordings');
  fs.mkdirSync(recordingsDir, { recursive: true });
  const config = loadConfig({
    DATA_DIR: dataDir,
    RECORDINGS_DIR: recordingsDir,
    PORT: '0',
    ...TEST_CALL_WINDOW,
    ...opts.env,
  });
  const accounts = new AccountService(db.db, SecretBox.fromKey(crypto.randomBytes(32).toString('hex')));
  const readiness = new Readiness();
  for (const c of opts.checks ?? []) readiness.add(c);

  let deps: ApiDeps = {
    db: db.db,
    config,
    logger: silentLogger(),
    accounts,
    calls: new CallStore(db.db, config.publicBaseUrl, opts.clock),
    readiness,
    guardrails: { allowedCountries: config.ALLOWED_COUNTRIES, irsf: loadIrsfList() },
    clock: opts.clock,
    voices: opts.voices,
  };
  if (opts.tweak) deps = opts.tweak(deps);
  const server = await startHttpServer(createApp(deps), { port: 0, host: '127.0.0.1' });

  const addAccount = async (name = 'other', callerId: string | null = null) => {
    const { accountId } = await accounts.createAccount(name);
    const { key } = await accounts.createApiKey(accountId);
    if (callerId) await accounts.addNumber(accountId, callerId, true);
    return { accountId, key };
  };
  // Numbers are globally unique; a second fixture on the same database gets the next one.
  const ownNumber =
    opts.callerId !== undefined ? opts.callerId : ownDb ? TEST_CALLER_ID : `+1415555${2000 + numberSeq++}`;
  const main = await addAccount('test', ownNumber);

  return {
    url: server.url,
    key: main.key,
    accountId: main.accountId,
    db,
    deps,
    accounts,
    recordingsDir,
    addAccount,
    request: (pathname, init = {}) => {
      const { key = main.key, headers, ...rest } = init;
      const h = new Headers(headers);
      if (key !== null) h.set('authorization', `Bearer ${key}`);
      if (rest.body !== undefined && !h.has('content-type')) h.set('content-type', 'application/json');
      return fetch(`${server.url}${pathname}`, { ...rest, headers: h });
    },
    close: async () => {
      await server.close();
      if (ownDb) await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
