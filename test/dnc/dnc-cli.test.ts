import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { type Db, openDatabase } from '../../src/db/client.js';
import { acquireEmbeddedLock } from '../../src/db/embedded-lock.js';
import { doNotCall } from '../../src/db/schema.js';
import { jsonOf, runAgentline } from '../cli/run-agentline.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

// As the other CLI tests: this file's own Postgres database with DATABASE_URL, else the embedded PGlite
// under a temp DATA_DIR, opened here only between CLI runs.
let tdb: TestDatabase | null = null;
let dataDir: string;
let env: Record<string, string>;
let accountA: string;
let accountB: string;

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

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-cli-dnc-'));
  fs.writeFileSync(path.join(dataDir, 'dnc.txt'), '+12125550199 # operator\n');
  env = { DATA_DIR: dataDir, LOG_LEVEL: 'silent', DNC_LIST_FILE: path.join(dataDir, 'dnc.txt') };
  if (process.env.DATABASE_URL) {
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url!;
  }
  for (const name of ['a', 'b']) {
    const r = await run('accounts', 'create', '--name', name, '--json');
    expect(r.code, r.stderr).toBe(0);
    const id = jsonOf<{ accountId: string }>(r).accountId;
    if (name === 'a') accountA = id;
    else accountB = id;
  }
}, 180_000);

afterAll(async () => {
  await tdb?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const rowsOf = (accountId: string) =>
  withDb((db) => db.select().from(doNotCall).where(eq(doNotCall.accountId, accountId)));

describe('agentline dnc', { timeout: 180_000 }, () => {
  it('adds numbers with a note (source cli), reporting invalid ones without storing them', async () => {
    const r = await run(
      'dnc',
      'add',
      '--account',
      accountA,
      '+1 415 555 2671',
      '+14155550142',
      'nope',
      '--note',
      'letter',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(jsonOf(r)).toMatchObject({ accountId: accountA, added: 2, alreadyListed: 0, invalidCount: 1 });
    const rows = await rowsOf(accountA);
    expect(rows.map((x) => [x.number, x.source, x.note]).sort()).toEqual([
      ['+14155550142', 'cli', 'letter'],
      ['+14155552671', 'cli', 'letter'],
    ]);
    const human = await run('dnc', 'add', '--account', accountA, '+14155552671', 'x1');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/0 added, 1 already listed, 1 invalid/);
    expect(human.stderr).toMatch(/"x1"/);
    // Nothing valid at all: exit 1.
    const none = await run('dnc', 'add', '--account', accountA, 'x2');
    expect(none.code).toBe(1);
  });

  it('lists, pages, checks and removes, per account', async () => {
    const list = await run('dnc', 'list', '--account', accountA, '--limit', '1', '--json');
    expect(list.code, list.stderr).toBe(0);
    const page = jsonOf<{ numbers: { number: string }[]; nextCursor: string | null }>(list);
    expect(page.numbers.length).toBe(1);
    expect(page.nextCursor).not.toBeNull();
    const next = await run(
      'dnc',
      'list',
      '--account',
      accountA,
      '--limit',
      '1',
      '--cursor',
      page.nextCursor ?? '',
      '--json',
    );
    const page2 = jsonOf<{ numbers: { number: string }[]; nextCursor: string | null }>(next);
    expect([...page.numbers, ...page2.numbers].map((e) => e.number).sort()).toEqual([
      '+14155550142',
      '+14155552671',
    ]);
    expect(page2.nextCursor).toBeNull();
    const table = await run('dnc', 'list', '--account', accountA);
    expect(table.stdout).toMatch(/NUMBER\s+SOURCE/);
    expect(table.stdout).toMatch(/\+14155552671\s+cli/);

    const checked = await run('dnc', 'check', '--account', accountA, '+14155552671', '--json');
    expect(jsonOf(checked)).toMatchObject({ listed: true, list: 'account', source: 'cli', note: 'letter' });
    const otherCheck = await run('dnc', 'check', '--account', accountB, '+14155552671', '--json');
    expect(jsonOf(otherCheck)).toMatchObject({ listed: false, list: null });
    const deployment = await run('dnc', 'check', '--account', accountB, '+12125550199');
    expect(deployment.code).toBe(0);
    expect(deployment.stdout).toMatch(/deployment's do-not-call list/);

    const wrongAccount = await run('dnc', 'remove', '--account', accountB, '+14155552671');
    expect(wrongAccount.code).toBe(1);
    expect(wrongAccount.stderr).toMatch(/not on this account's do-not-call list/);
    const fixed = await run('dnc', 'remove', '--account', accountB, '+12125550199');
    expect(fixed.code).toBe(1);
    expect(fixed.stderr).toMatch(/deployment's do-not-call list/);
    const removed = await run('dnc', 'remove', '--account', accountA, '+1 415 555 2671', '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(jsonOf(removed)).toMatchObject({ removed: '+14155552671' });
    expect((await rowsOf(accountA)).map((x) => x.number)).toEqual(['+14155550142']);
  });

  it('imports a CSV file, naming each bad line', async () => {
    const file = path.join(dataDir, 'list.csv');
    fs.writeFileSync(file, 'number,name\n+14155550300,Ann\n12,Bob\n\n+14155550142,Cid\n+14155550301,Dee\n');
    const r = await run('dnc', 'import', '--account', accountA, file, '--json');
    expect(r.code, r.stderr).toBe(0);
    const body = jsonOf<{ added: number; alreadyListed: number; invalid: { line: number }[] }>(r);
    expect(body).toMatchObject({ added: 2, alreadyListed: 1 });
    expect(body.invalid.map((i) => i.line)).toEqual([3]);
    const rows = await withDb((db) =>
      db
        .select()
        .from(doNotCall)
        .where(and(eq(doNotCall.accountId, accountA), eq(doNotCall.number, '+14155550300'))),
    );
    expect(rows[0]?.source).toBe('import');
    const missing = await run('dnc', 'import', '--account', accountA, path.join(dataDir, 'nope.csv'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read/);
  });

  it('refuses bad usage with exit 2 and an unknown account with exit 1', async () => {
    // Usage errors stop before the database is opened: run side by side.
    const usageErrors = [
      ['dnc'],
      ['dnc', 'frob'],
      ['dnc', 'add', '+14155552671'],
      ['dnc', 'add', '--account', accountA],
      ['dnc', 'check', '--account', accountA],
      ['dnc', 'check', '--account', accountA, '+14155552671', '+14155552672'],
      ['dnc', 'list', '--account', accountA, '--limit', '0'],
      ['dnc', 'list', '--account', accountA, '--bogus'],
    ];
    const results = await Promise.all(usageErrors.map((args) => run(...args)));
    results.forEach((r, i) => {
      expect(r.code, usageErrors[i].join(' ')).toBe(2);
    });
    const unknown = await run('dnc', 'list', '--account', '00000000-0000-0000-0000-000000000000');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no account/);
    const badNumber = await run('dnc', 'check', '--account', accountA, '12345');
    expect(badNumber.code).toBe(1);
    expect(badNumber.stderr).toMatch(/not an E\.164 number/);
  });
});
