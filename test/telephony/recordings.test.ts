import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts, calls } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { createRecordingSweeper } from '../../src/telephony/recordings.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';

describe('recording retention sweeper', () => {
  let tdb: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-rec-'));
  });
  afterAll(async () => {
    await tdb.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function callWithRecording(ageDays: number, now: Date) {
    const [account] = await tdb.db.insert(accounts).values({ name: 'a' }).returning();
    const id = crypto.randomUUID();
    const file = `${id}.wav`;
    await tdb.db.insert(calls).values({
      id,
      accountId: account.id,
      toNumber: '+14155550100',
      callerId: '+14155550000',
      objective: 'x',
      language: 'en-US',
      status: 'completed',
      recordingFile: file,
    });
    await fs.writeFile(path.join(dir, file), Buffer.alloc(44));
    const t = new Date(now.getTime() - ageDays * 86_400_000);
    await fs.utimes(path.join(dir, file), t, t);
    return { id, file };
  }

  it('deletes recordings past the retention, clears them on their calls, and keeps the rest', async () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const old = await callWithRecording(31, now);
    const fresh = await callWithRecording(2, now);
    await fs.writeFile(path.join(dir, 'notes.txt'), 'not a recording');
    await fs.utimes(path.join(dir, 'notes.txt'), new Date(0), new Date(0));

    const sweeper = createRecordingSweeper({
      db: tdb.db,
      dir,
      retentionDays: 30,
      logger: silentLogger(),
      clock: () => now,
    });
    const { deleted } = await sweeper.sweep();
    expect(deleted).toEqual([old.file]);
    expect((await fs.readdir(dir)).sort()).toEqual([fresh.file, 'notes.txt'].sort());
    const [oldRow] = await tdb.db.select().from(calls).where(eq(calls.id, old.id));
    const [freshRow] = await tdb.db.select().from(calls).where(eq(calls.id, fresh.id));
    expect(oldRow.recordingFile).toBeNull();
    expect(freshRow.recordingFile).toBe(fresh.file);

    // Later, the fresh one ages out too; start/stop runs a sweep and leaves no timer behind.
    const later = createRecordingSweeper({
      db: tdb.db,
      dir,
      retentionDays: 30,
      logger: silentLogger(),
      clock: () => new Date(now.getTime() + 40 * 86_400_000),
    });
    later.start();
    await later.stop();
    expect(await fs.readdir(dir)).toEqual(['notes.txt']);
  });

  it('treats a missing recordings directory as empty', async () => {
    const sweeper = createRecordingSweeper({
      db: tdb.db,
      dir: path.join(dir, 'absent'),
      retentionDays: 1,
      logger: silentLogger(),
    });
    expect(await sweeper.sweep()).toEqual({ deleted: [] });
  });
});
