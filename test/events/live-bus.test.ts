import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLiveBus,
  createLocalBus,
  cutUtf8,
  type LiveBus,
  type LiveMessage,
  MAX_PARTIAL_TEXT_BYTES,
} from '../../src/events/live-bus.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

const usePostgres = Boolean(process.env.DATABASE_URL);
const CALL = '11111111-1111-4111-8111-111111111111';
const ACCOUNT = '22222222-2222-4222-8222-222222222222';

/** Collects what a bus delivers and resolves once `n` messages arrived. */
function collector(bus: LiveBus) {
  const got: LiveMessage[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  bus.subscribe((m) => {
    got.push(m);
    for (const w of waiters.filter((w) => got.length >= w.n)) w.resolve();
  });
  return {
    got,
    atLeast: (n: number) =>
      got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

describe('cutUtf8', () => {
  it('cuts on a character boundary within the byte budget', () => {
    expect(cutUtf8('héllo', 100)).toBe('héllo');
    expect(cutUtf8('héllo', 2)).toBe('h');
    expect(Buffer.byteLength(cutUtf8('€'.repeat(5000), MAX_PARTIAL_TEXT_BYTES))).toBeLessThanOrEqual(
      MAX_PARTIAL_TEXT_BYTES,
    );
  });
});

describe('the in-process bus', () => {
  it('delivers to every subscriber, stops after unsubscribe, and tells subscribers when it closes', async () => {
    const bus = createLocalBus(silentLogger());
    const a: LiveMessage[] = [];
    const b: LiveMessage[] = [];
    let closed = 0;
    const offA = bus.subscribe((m) => a.push(m));
    bus.subscribe(
      (m) => b.push(m),
      () => closed++,
    );
    const msg: LiveMessage = { kind: 'changed', callId: CALL, accountId: ACCOUNT };
    bus.publish(msg);
    offA();
    bus.publish(msg);
    expect(a).toEqual([msg]);
    expect(b).toEqual([msg, msg]);
    await bus.close();
    expect(closed).toBe(1);
    bus.publish(msg);
    expect(b).toHaveLength(2);
  });
});

describe.skipIf(!usePostgres)('the PostgreSQL bus (LISTEN/NOTIFY)', () => {
  let db: TestDatabase;
  let other: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    // A second pool on the same database: another process, as far as NOTIFY can tell.
    const { openDatabase } = await import('../../src/db/client.js');
    other = Object.assign(await openDatabase({ url: db.url!, maxConnections: 2 }), { url: db.url });
  });
  afterAll(async () => {
    await other?.close();
    await db?.close();
  });

  it('carries messages between processes once each, partials cut under the NOTIFY limit', async () => {
    const here = await createLiveBus(db, silentLogger());
    const there = await createLiveBus(other, silentLogger());
    const hereGot = collector(here);
    const thereGot = collector(there);
    const changed: LiveMessage = { kind: 'changed', callId: CALL, accountId: ACCOUNT };
    const long: LiveMessage = {
      kind: 'partial',
      callId: CALL,
      accountId: ACCOUNT,
      text: 'word '.repeat(4000),
    };
    here.publish(changed);
    here.publish(long);
    there.publish({ kind: 'partial', callId: CALL, accountId: ACCOUNT, text: 'from there' });
    await thereGot.atLeast(3);
    await hereGot.atLeast(3);
    // Its own messages reach a process at once, not a second time through NOTIFY; the other's through it.
    expect(thereGot.got.map((m) => m.kind)).toEqual(['partial', 'changed', 'partial']);
    expect(thereGot.got[1]).toEqual(changed);
    const cut = thereGot.got[2] as Extract<LiveMessage, { kind: 'partial' }>;
    expect(Buffer.byteLength(cut.text)).toBeLessThanOrEqual(MAX_PARTIAL_TEXT_BYTES);
    expect(long.kind === 'partial' && long.text.startsWith(cut.text)).toBe(true);
    expect(hereGot.got.map((m) => m.kind)).toEqual(['changed', 'partial', 'partial']);
    expect(hereGot.got[2]).toEqual({ kind: 'partial', callId: CALL, accountId: ACCOUNT, text: 'from there' });
    // A round trip after them all: nothing more arrived (no echo of a process's own NOTIFY).
    there.publish({ kind: 'changed', callId: ACCOUNT, accountId: ACCOUNT });
    await hereGot.atLeast(4);
    expect(hereGot.got).toHaveLength(4);
    expect(thereGot.got).toHaveLength(4);
    await here.close();
    await there.close();
  });
});
