import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { type Db, openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { calls } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { jsonOf, runAgentline } from './run-agentline.js';

// As admin-cli.test.ts (each run opens the database; on the embedded PGlite of a loaded machine that takes
// seconds, hence the long timeouts): this file's own Postgres database with DATABASE_URL, else the embedded PGlite
// under a temp DATA_DIR, opened here only between CLI runs.
let tdb: TestDatabase | null = null;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-cli-admin-'));
  env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  if (process.env.DATABASE_URL) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
});

afterAll(async () => {
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function withDb<T>(fn: (db: Db, s: AccountService) => Promise<T>): Promise<T> {
  const secrets = SecretBox.load({ dataDir });
  if (tdb) return fn(tdb.db, new AccountService(tdb.db, secrets));
  const dir = path.join(dataDir, 'db');
  const lock = acquireEmbeddedLock(dir);
  const d = await openDatabase({ pgliteDir: dir });
  try {
    return await fn(d.db, new AccountService(d.db, secrets));
  } finally {
    await d.close();
    lock.release();
  }
}

const run = (...args: string[]) => runAgentline(args, env);

async function newAccount(name: string): Promise<string> {
  const r = await run('accounts', 'create', '--name', name, '--json');
  expect(r.code, r.stderr).toBe(0);
  return jsonOf<{ accountId: string }>(r).accountId;
}

interface ListedAccount {
  accountId: string;
  disabled: boolean;
  disabledReason: string | null;
  caps: Record<string, number>;
  capOverrides: Record<string, number | null>;
  usage: { callsToday: number; activeCalls: number };
}

describe('agentline accounts: caps, disable, enable', { timeout: 420_000 }, () => {
  it('sets caps, clears one back to the default, and lists caps and usage', async () => {
    const accountId = await newAccount('Caps Co');
    const set = await run(
      'accounts',
      'caps',
      '--account',
      accountId,
      '--concurrent',
      '2',
      '--calls-per-day',
      '40',
      '--json',
    );
    expect(set.code, set.stderr).toBe(0);
    const { account } = jsonOf<{ account: ListedAccount }>(set);
    expect(account.caps).toMatchObject({ concurrentCalls: 2, callsPerDay: 40, callsPerMinute: 10 });
    expect(account.capOverrides).toEqual({
      callsPerMinute: null,
      concurrentCalls: 2,
      callsPerDay: 40,
      minutesPerMonth: null,
    });

    const cleared = await run('accounts', 'caps', '--account', accountId, '--concurrent', 'default');
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stdout).toMatch(/concurrent\s+5\s+default \(CAP_CONCURRENT_CALLS\)/);
    expect(cleared.stdout).toMatch(/calls-per-day\s+40\s+this account/);

    const listed = jsonOf<{ accounts: ListedAccount[] }>(await run('accounts', 'list', '--json'));
    const mine = listed.accounts.find((a) => a.accountId === accountId)!;
    expect(mine.capOverrides.concurrentCalls).toBeNull();
    expect(mine.caps.callsPerDay).toBe(40);
    expect(mine.usage).toMatchObject({ callsToday: 0, activeCalls: 0 });
    expect(mine.disabled).toBe(false);

    const text = await run('accounts', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(`${accountId}\\s+Caps Co\\s+enabled\\s+0/40\\*\\s+0/10000\\s+0/5`),
    );
  });

  it('refuses bad cap values and a caps call without a cap, with exit 2', async () => {
    const accountId = await newAccount('Bad Caps');
    for (const [args, message] of [
      [['--concurrent=-1'], /--concurrent must be a whole number, or "default"/],
      [['--calls-per-minute', '1.5'], /--calls-per-minute must be a whole number/],
      [['--minutes-per-month', '100000001'], /--minutes-per-month must be between 0 and 100000000/],
      [[], /give at least one of --calls-per-minute/],
    ] as const) {
      const r = await run('accounts', 'caps', '--account', accountId, ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const unknown = await run('accounts', 'caps', '--account', 'nope', '--concurrent', '1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no account "nope"');
  });

  it('disables an account (keys refused, queued calls failed) and enables it again', async () => {
    const accountId = await newAccount('Disable Me');
    const minted = jsonOf<{ key: string }>(await run('keys', 'create', '--account', accountId, '--json'));
    const callId = await withDb(async (db) => {
      const [row] = await db
        .insert(calls)
        .values({
          accountId,
          status: 'queued',
          toNumber: '+14155552671',
          callerId: '+14155550100',
          objective: 'x',
          language: 'en-US',
        })
        .returning({ id: calls.id });
      return row.id;
    });
    expect(await withDb((_db, s) => s.authenticate(minted.key))).toMatchObject({ accountId });

    const missingReason = await run('accounts', 'disable', '--account', accountId);
    expect(missingReason.code).toBe(2);
    expect(missingReason.stderr).toMatch(/missing --reason/);

    const off = await run('accounts', 'disable', '--account', accountId, '--reason', 'chargeback');
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/disabled account .*1 queued call failed \(account_disabled\)/);
    expect(await withDb((_db, s) => s.authenticate(minted.key))).toEqual({
      accountDisabled: { reason: 'chargeback' },
    });
    const [failed] = await withDb((db) => db.select().from(calls).where(eq(calls.id, callId)));
    expect(failed).toMatchObject({ status: 'failed', endedReason: 'account_disabled' });

    const listed = jsonOf<{ accounts: ListedAccount[] }>(await run('accounts', 'list', '--json'));
    expect(listed.accounts.find((a) => a.accountId === accountId)).toMatchObject({
      disabled: true,
      disabledReason: 'chargeback',
    });
    expect((await run('accounts', 'list')).stdout).toMatch(/Disable Me\s+disabled: chargeback/);

    const on = await run('accounts', 'enable', '--account', accountId, '--json');
    expect(on.code, on.stderr).toBe(0);
    expect(jsonOf<{ account: ListedAccount }>(on).account.disabled).toBe(false);
    expect(await withDb((_db, s) => s.authenticate(minted.key))).toMatchObject({ accountId });
  });
});

describe('agentline keys across accounts', { timeout: 420_000 }, () => {
  it("lists every account's keys with --all and revokes one by id or by prefix", async () => {
    const a = await newAccount('Keys A');
    const b = await newAccount('Keys B');
    const ka = jsonOf<{ key: string; prefix: string; keyId: string }>(
      await run('keys', 'create', '--account', a, '--json'),
    );
    const kb = jsonOf<{ key: string; prefix: string; keyId: string }>(
      await run('keys', 'create', '--account', b, '--json'),
    );

    const all = jsonOf<{ keys: { keyId: string; accountId: string; accountName: string }[] }>(
      await run('keys', 'list', '--all', '--json'),
    );
    expect(all.keys).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ keyId: ka.keyId, accountId: a, accountName: 'Keys A' }),
        expect.objectContaining({ keyId: kb.keyId, accountId: b, accountName: 'Keys B' }),
      ]),
    );
    expect((await run('keys', 'list', '--all')).stdout).toMatch(
      new RegExp(`${kb.prefix}\\s+live.*${b}\\s+Keys B`),
    );
    const neither = await run('keys', 'list');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give either --account ID or --all');

    const byId = await run('keys', 'revoke', ka.keyId, '--json');
    expect(byId.code, byId.stderr).toBe(0);
    expect(jsonOf(byId)).toEqual({ revoked: 1 });
    expect(await withDb((_db, s) => s.authenticate(ka.key))).toBeNull();
    const again = await run('keys', 'revoke', ka.keyId);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already revoked');

    const byPrefix = await run('keys', 'revoke', kb.prefix);
    expect(byPrefix.code, byPrefix.stderr).toBe(0);
    expect(byPrefix.stdout).toContain(`revoked 1 key with the prefix ${kb.prefix}`);
    expect(await withDb((_db, s) => s.authenticate(kb.key))).toBeNull();

    const bad = await run('keys', 'revoke', 'xyz');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must be the 11-character prefix .* or a key id/);
    const unknownId = await run('keys', 'revoke', '00000000-0000-4000-8000-000000000000');
    expect(unknownId.code).toBe(1);
    expect(unknownId.stderr).toContain('No agent key with id');
  });
});
