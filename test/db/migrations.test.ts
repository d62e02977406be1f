import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts, calls } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

describe('migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.close());

  it('apply twice and leave a working schema', async () => {
    await t.migrate();
    const [a] = await t.db.insert(accounts).values({ name: 'x' }).returning();
    const [c] = await t.db
      .insert(calls)
      .values({
        accountId: a.id,
        toNumber: '+14155550100',
        callerId: '+14155550199',
        objective: 'o',
        language: 'en-US',
      })
      .returning();
    expect(c.status).toBe('queued');
    expect(c.voicemail).toEqual({ action: 'hangup' });
  });
});
