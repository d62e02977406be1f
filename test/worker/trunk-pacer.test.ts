import crypto from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTrunkPacer, pacing } from '../../src/calls/trunk-pacer.js';
import { type Database, openDatabase, rowsOf } from '../../src/db/client.js';
import { trunkDials } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

/** Most timestamps (ms) that fall in any window of `windowMs` (sliding: each window starts at a timestamp). */
function mostInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** The database's clock, in ms: the one clock every pacer reads. */
async function dbNow(d: Database): Promise<number> {
  const [r] = rowsOf<{ ms: number }>(
    await d.db.execute(sql`select extract(epoch from clock_timestamp()) * 1000 as ms`),
  );
  return Number(r.ms);
}

describe('trunk pacer', () => {
  let t: TestDatabase;
  const extra: Database[] = [];

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(extra.splice(0).map((d) => d.close()));
    await t.close();
  });
  afterEach(async () => {
    await t.db.delete(trunkDials);
  });

  async function secondDb(): Promise<Database> {
    if (!t.url) return t;
    const d = await openDatabase({ url: t.url, maxConnections: 4 });
    extra.push(d);
    return d;
  }

  it('maps TRUNK_MAX_CPS to a whole number of dials per window', () => {
    expect(pacing(10)).toEqual({ limit: 10, windowSeconds: 1 });
    expect(pacing(2.5)).toEqual({ limit: 2, windowSeconds: 1 });
    expect(pacing(0.5)).toEqual({ limit: 1, windowSeconds: 2 });
    expect(() => pacing(0)).toThrow();
  });

  it('two pacers on two connections never let more than maxCps originates into any second', async () => {
    const other = await secondDb();
    const a = createTrunkPacer({ db: t.db, maxCps: 4, workerId: 'a' });
    const b = createTrunkPacer({ db: other.db, maxCps: 4, workerId: 'b' });
    const originates: number[] = [];
    // Each dial: acquire, "originate" (read the database's clock: the PBX's timestamp lies between
    // acquire and done), done. 14 dials at 4/s take about 3 s.
    const dial = async (pacer: typeof a, d: Database) => {
      const slot = await pacer.acquire(crypto.randomUUID());
      originates.push(await dbNow(d));
      await slot.done();
    };
    await Promise.all(Array.from({ length: 14 }, (_, i) => (i % 2 ? dial(a, t) : dial(b, other))));
    expect(originates).toHaveLength(14);
    expect(mostInWindow(originates, 1000)).toBeLessThanOrEqual(4);
    const rows = await t.db.select().from(trunkDials);
    expect(rows).toHaveLength(14);
    expect(rows.every((r) => r.doneAt !== null)).toBe(true);
    expect(new Set(rows.map((r) => r.workerId))).toEqual(new Set(['a', 'b']));
  });

  it('a fractional rate (0.5) allows one dial per two seconds', async () => {
    const p = createTrunkPacer({ db: t.db, maxCps: 0.5, workerId: 'slow' });
    const first = await p.acquire(crypto.randomUUID());
    const firstAt = await dbNow(t);
    await first.done();
    const second = await p.acquire(crypto.randomUUID());
    const secondAt = await dbNow(t);
    await second.done();
    expect(secondAt - firstAt).toBeGreaterThanOrEqual(2000);
  });

  it('a dial in flight holds its slot until done, and an abort ends the wait at once with nothing counted', async () => {
    const lines: { msg: string; callId?: string }[] = [];
    const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s)) });
    const p = createTrunkPacer({ db: t.db, maxCps: 1, workerId: 'w', logger });
    const held = await p.acquire('00000000-0000-4000-8000-000000000001');
    const ac = new AbortController();
    let settled = false;
    const waiting = p.acquire('00000000-0000-4000-8000-000000000002', ac.signal).finally(() => {
      settled = true;
    });
    // The waiter asked the database and found the slot taken (the in-flight row counts).
    await expect
      .poll(() =>
        lines.some((l) => l.msg === 'trunk at its dial rate; waiting' && l.callId?.endsWith('0002')),
      )
      .toBe(true);
    expect(settled).toBe(false);
    ac.abort('canceled');
    await expect(waiting).rejects.toBe('canceled');
    await held.done();
    const rows = await t.db.select().from(trunkDials);
    expect(rows.map((r) => r.callId)).toEqual(['00000000-0000-4000-8000-000000000001']);
    // An already aborted signal never reaches the database.
    const gone = new AbortController();
    gone.abort('shutdown');
    await expect(p.acquire('00000000-0000-4000-8000-000000000003', gone.signal)).rejects.toBe('shutdown');
    expect(await t.db.select().from(trunkDials)).toHaveLength(1);
  });

  it('waiters of one process are served in order, and a waiter behind the head can leave the line', async () => {
    const p = createTrunkPacer({ db: t.db, maxCps: 1, workerId: 'w' });
    const order: string[] = [];
    const ids = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'];
    const leaving = new AbortController();
    const head = p.acquire(ids[0]).then(async (s) => {
      order.push('a');
      await s.done();
    });
    const left = p.acquire('00000000-0000-4000-8000-00000000000f', leaving.signal);
    const tail = p.acquire(ids[1]).then(async (s) => {
      order.push('b');
      await s.done();
    });
    leaving.abort('canceled');
    await expect(left).rejects.toBe('canceled');
    await Promise.all([head, tail]);
    expect(order).toEqual(['a', 'b']);
    const rows = await t.db.select().from(trunkDials);
    expect(rows.map((r) => r.callId).sort()).toEqual([...ids].sort());
  });

  it('an in-flight dial of a dead worker stops counting once stale; old rows are deleted', async () => {
    // A worker died between acquire and done 40 s ago; another row is long done.
    await t.db.execute(sql`insert into trunk_dials (call_id, worker_id, started_at, done_at) values
      (null, 'dead', clock_timestamp() - interval '40 seconds', null),
      (null, 'old', clock_timestamp() - interval '10 minutes', clock_timestamp() - interval '10 minutes')`);
    const p = createTrunkPacer({ db: t.db, maxCps: 1, workerId: 'w', staleSeconds: 30 });
    const slot = await p.acquire(crypto.randomUUID());
    await slot.done();
    const rows = await t.db.select().from(trunkDials);
    expect(rows.map((r) => r.workerId).sort()).toEqual(['dead', 'w']);
  });

  it('done() is idempotent and records when the originate returned', async () => {
    const p = createTrunkPacer({ db: t.db, maxCps: 5, workerId: 'w' });
    const slot = await p.acquire(crypto.randomUUID());
    await slot.done();
    const [first] = await t.db.select().from(trunkDials);
    await slot.done();
    const [again] = await t.db.select().from(trunkDials);
    expect(first.doneAt).toBeInstanceOf(Date);
    expect(again.doneAt).toEqual(first.doneAt);
    expect(first.doneAt!.getTime()).toBeGreaterThanOrEqual(first.startedAt.getTime());
  });
});
