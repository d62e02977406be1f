import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountService } from '../../src/accounts/account-service.js';
import { SecretBox } from '../../src/accounts/secret-box.js';
import { doNotCall } from '../../src/db/schema.js';
import { blockedBy, blockedByMany, DoNotCallService } from '../../src/dnc/do-not-call.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

describe('blockedBy', () => {
  let tdb: TestDatabase;
  let a: string;
  let b: string;
  const deployment = { has: (n: string) => n === '+12125550199' || n === '+14155550142' };

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const accounts = new AccountService(tdb.db, SecretBox.fromKey('11'.repeat(32)));
    a = (await accounts.createAccount('a')).accountId;
    b = (await accounts.createAccount('b')).accountId;
    await new DoNotCallService(tdb.db).add(a, ['+14155552671', '+14155550142'], 'api');
  });
  afterAll(() => tdb.close());

  it("names the account's list first, then the deployment's, else null", async () => {
    expect(await blockedBy(tdb.db, a, '+14155552671')).toBe('account');
    expect(await blockedBy(tdb.db, a, '+14155552671', deployment)).toBe('account');
    expect(await blockedBy(tdb.db, a, '+14155550142', deployment)).toBe('account');
    expect(await blockedBy(tdb.db, b, '+14155550142', deployment)).toBe('deployment');
    expect(await blockedBy(tdb.db, b, '+12125550199', deployment)).toBe('deployment');
    expect(await blockedBy(tdb.db, b, '+14155552671', deployment)).toBeNull();
    expect(await blockedBy(tdb.db, b, '+14155552671')).toBeNull();
    expect(await blockedBy(tdb.db, a, '+14155550100', null)).toBeNull();
  });

  it('sees rows written earlier in the same transaction, which others do not see until it commits', async () => {
    await tdb.db.transaction(async (tx) => {
      expect(await blockedBy(tx, b, '+14155550177')).toBeNull();
      await tx.insert(doNotCall).values({ accountId: b, number: '+14155550177', source: 'api' });
      expect(await blockedBy(tx, b, '+14155550177')).toBe('account');
      // Another connection (Postgres only: PGlite has one, which the transaction holds).
      if (tdb.kind === 'postgres') expect(await blockedBy(tdb.db, b, '+14155550177')).toBeNull();
    });
    expect(await blockedBy(tdb.db, b, '+14155550177')).toBe('account');

    // A rolled back insert lists nothing.
    await expect(
      tdb.db.transaction(async (tx) => {
        await tx.insert(doNotCall).values({ accountId: b, number: '+14155550178', source: 'api' });
        expect(await blockedBy(tx, b, '+14155550178')).toBe('account');
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await blockedBy(tdb.db, b, '+14155550178')).toBeNull();
  });

  it('blockedByMany answers for many numbers at once, the same as blockedBy one by one', async () => {
    const numbers = ['+14155552671', '+14155550142', '+12125550199', '+14155550100', '+14155552671'];
    const many = await blockedByMany(tdb.db, a, numbers, deployment);
    expect(Object.fromEntries(many)).toEqual({
      '+14155552671': 'account',
      '+14155550142': 'account',
      '+12125550199': 'deployment',
    });
    for (const n of numbers) expect(many.get(n) ?? null).toBe(await blockedBy(tdb.db, a, n, deployment));
    const inTx = await tdb.db.transaction((tx) => blockedByMany(tx, b, numbers));
    expect(Object.fromEntries(inTx)).toEqual({});
  });
});
