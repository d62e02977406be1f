import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallStore } from '../../src/calls/call-store.js';
import { accounts, calls } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

describe('CallStore.addTurn', () => {
  let t: TestDatabase;
  let store: CallStore;
  let callId: string;
  beforeAll(async () => {
    t = await createTestDatabase();
    store = new CallStore(t.db, 'http://127.0.0.1');
    const [a] = await t.db.insert(accounts).values({ name: 'turns' }).returning();
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
    callId = c.id;
  });
  afterAll(() => t.close());

  it('keeps every turn reported at the same moment, with distinct numbers, in conversation order', async () => {
    const texts = Array.from({ length: 12 }, (_, i) => `turn ${i}`);
    await Promise.all(
      texts.map((text, i) =>
        store.addTurn(callId, {
          speaker: i % 2 ? 'agent' : 'callee',
          text,
          startMs: i * 100,
          endMs: i * 100 + 50,
        }),
      ),
    );
    const turns = await store.turns(callId);
    expect(turns.map((x) => x.text).sort()).toEqual([...texts].sort());
    expect(turns.map((x) => x.text)).toEqual(texts);
    expect(turns.map((x) => x.seq).sort((a, b) => a - b)).toEqual(texts.map((_, i) => i + 1));
  });
});
