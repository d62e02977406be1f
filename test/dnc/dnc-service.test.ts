import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { doNotCall } from '../../src/db/schema.js';
import { DoNotCallService } from '../../src/dnc/do-not-call.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

describe('DoNotCallService', () => {
  let tdb: TestDatabase;
  let accounts: AccountService;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    accounts = new AccountService(tdb.db, SecretBox.fromKey('22'.repeat(32)));
  });
  afterAll(() => tdb.close());

  it('two overlapping uploads at once both finish, and each number is added exactly once', async () => {
    const { accountId } = await accounts.createAccount('race');
    const numbers = Array.from({ length: 4_000 }, (_, i) => `+1650555${String(i).padStart(4, '0')}`);
    const service = new DoNotCallService(tdb.db);
    // Opposite orders: inserted as given, the two would wait on each other's rows.
    const [x, y] = await Promise.all([
      service.add(accountId, numbers, 'api'),
      service.importCsv(accountId, [...numbers].reverse().join('\n'), 'import'),
    ]);
    expect(x.added + y.added).toBe(4_000);
    expect(x.alreadyListed + y.alreadyListed).toBe(4_000);
    const [{ n }] = await tdb.db
      .select({ n: count() })
      .from(doNotCall)
      .where(eq(doNotCall.accountId, accountId));
    expect(n).toBe(4_000);
  });

  it('keeps the call of an opt-out and the note of the first add', async () => {
    const { accountId } = await accounts.createAccount('opt-out');
    const service = new DoNotCallService(tdb.db);
    const callId = '5f0c6a4e-8a51-4c3e-9a7e-2f1d0c7b9e11';
    expect(
      await service.add(accountId, ['+14155552671'], 'opt_out', { callId, note: 'said stop' }),
    ).toMatchObject({
      added: 1,
    });
    expect(await service.add(accountId, ['+14155552671'], 'cli', { note: 'later' })).toMatchObject({
      added: 0,
      alreadyListed: 1,
    });
    expect(await service.check(accountId, '+14155552671')).toMatchObject({
      listed: true,
      list: 'account',
      source: 'opt_out',
      callId,
      note: 'said stop',
    });
  });
});
