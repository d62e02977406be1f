import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts, calls } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { AriError } from '../../src/telephony/ari/client.js';
import {
  createPbxRecordingRecovery,
  createRecordingSweeper,
  type RecoveryAri,
} from '../../src/telephony/recordings.js';
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

describe('recordings left on the PBX (it restarted under the call)', () => {
  let tdb: TestDatabase;
  let dir: string;
  let accountId: string;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-rec-'));
    [{ id: accountId }] = await tdb.db.insert(accounts).values({ name: 'a' }).returning();
  });
  afterAll(async () => {
    await tdb.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function endedCall(endedReason: string, endedAt = new Date()) {
    const id = crypto.randomUUID();
    await tdb.db.insert(calls).values({
      id,
      accountId,
      toNumber: '+14155550100',
      callerId: '+14155550000',
      objective: 'x',
      language: 'en-US',
      status: 'failed',
      endedReason,
      endedAt,
    });
    return id;
  }
  const row = async (id: string) => (await tdb.db.select().from(calls).where(eq(calls.id, id)))[0];

  /** A PBX holding `files`; `down` makes every request fail as an unreachable Asterisk's would. */
  function fakePbx(files: Map<string, Buffer>) {
    const listeners = new Set<(up: boolean) => void>();
    const pbx = {
      connected: false,
      down: false,
      deleted: [] as string[],
      setConnected(up: boolean) {
        pbx.connected = up;
        for (const l of listeners) l(up);
      },
      onConnectionChange(l: (up: boolean) => void) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      async getStoredRecordingFile(name: string) {
        if (pbx.down)
          throw new AriError(0, 'GET', `/recordings/stored/${name}/file`, 'fetch failed', 'unsent');
        const f = files.get(name);
        if (!f) throw new AriError(404, 'GET', `/recordings/stored/${name}/file`, 'Recording not found');
        return f;
      },
      async deleteStoredRecording(name: string) {
        files.delete(name);
        pbx.deleted.push(name);
      },
      /** Recordings still running (a dead worker's call whose callee is on the line). */
      live: new Set<string>(),
      stopped: [] as string[],
      async stopLiveRecording(name: string) {
        if (pbx.down)
          throw new AriError(0, 'POST', `/recordings/live/${name}/stop`, 'fetch failed', 'unsent');
        if (!pbx.live.delete(name))
          throw new AriError(404, 'POST', `/recordings/live/${name}/stop`, 'Recording not found');
        pbx.stopped.push(name);
      },
    };
    return pbx;
  }

  it("after the reconnect: stored as <callId>.wav and deleted on the PBX; a canceled call's is only deleted", async () => {
    const kept = await endedCall('network_error');
    const canceled = await endedCall('canceled');
    const files = new Map([
      [`agentline-${kept}`, Buffer.from('RIFF-kept')],
      [`agentline-${canceled}`, Buffer.from('RIFF-canceled')],
    ]);
    const pbx = fakePbx(files);
    const recovery = createPbxRecordingRecovery({
      db: tdb.db,
      ari: pbx as RecoveryAri,
      dir,
      logger: silentLogger(),
    });
    recovery.start();
    // The calls ended while the PBX was away.
    recovery.remember(kept, `agentline-${kept}`);
    recovery.remember(canceled, `agentline-${canceled}`);
    await until(
      async () =>
        (await row(kept)).pbxRecording === `agentline-${kept}` &&
        (await row(canceled)).pbxRecording === `agentline-${canceled}`,
    );

    pbx.setConnected(true);
    await until(
      async () => (await row(kept)).pbxRecording === null && (await row(canceled)).pbxRecording === null,
    );
    await recovery.stop();
    expect(await row(kept)).toMatchObject({ recordingFile: `${kept}.wav`, pbxRecording: null });
    expect(await row(canceled)).toMatchObject({ recordingFile: null, pbxRecording: null });
    expect(await fs.readFile(path.join(dir, `${kept}.wav`), 'utf8')).toBe('RIFF-kept');
    await expect(fs.access(path.join(dir, `${canceled}.wav`))).rejects.toThrow();
    expect(pbx.deleted.sort()).toEqual([`agentline-${canceled}`, `agentline-${kept}`].sort());
  });

  it('a PBX still away keeps them for the next reconnect; one it does not have is given up a day after the call', async () => {
    const waiting = await endedCall('network_error');
    const lostLongAgo = await endedCall('network_error', new Date(Date.now() - 2 * 86_400_000));
    const lostNow = await endedCall('network_error');
    await tdb.db
      .update(calls)
      .set({ pbxRecording: `agentline-${waiting}` })
      .where(eq(calls.id, waiting));
    await tdb.db.update(calls).set({ pbxRecording: 'gone-1' }).where(eq(calls.id, lostLongAgo));
    await tdb.db.update(calls).set({ pbxRecording: 'gone-2' }).where(eq(calls.id, lostNow));
    const files = new Map([[`agentline-${waiting}`, Buffer.from('RIFF-waiting')]]);
    const pbx = fakePbx(files);
    pbx.connected = true;
    pbx.down = true;
    const recovery = createPbxRecordingRecovery({
      db: tdb.db,
      ari: pbx as RecoveryAri,
      dir,
      logger: silentLogger(),
    });
    expect(await recovery.recover()).toEqual({ recovered: [] });
    expect((await row(waiting)).pbxRecording).toBe(`agentline-${waiting}`);

    pbx.down = false;
    expect((await recovery.recover()).recovered).toContain(waiting);
    expect(await row(waiting)).toMatchObject({ recordingFile: `${waiting}.wav`, pbxRecording: null });
    // Not on this PBX: maybe on another worker's for a while, then given up.
    expect((await row(lostNow)).pbxRecording).toBe('gone-2');
    expect((await row(lostLongAgo)).pbxRecording).toBeNull();
    await recovery.stop();
  });
});

describe('recordings of calls whose worker died (failed/worker_lost)', () => {
  let tdb: TestDatabase;
  let dir: string;
  let accountId: string;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-rec-'));
    [{ id: accountId }] = await tdb.db.insert(accounts).values({ name: 'a' }).returning();
  });
  afterAll(async () => {
    await tdb.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function liveCall() {
    const id = crypto.randomUUID();
    await tdb.db.insert(calls).values({
      id,
      accountId,
      toNumber: '+14155550100',
      callerId: '+14155550000',
      objective: 'x',
      language: 'en-US',
      status: 'in_progress',
    });
    return id;
  }
  const row = async (id: string) => (await tdb.db.select().from(calls).where(eq(calls.id, id)))[0];
  /** What another worker's recovery does to a call of a dead worker. */
  const markWorkerLost = (id: string) =>
    tdb.db
      .update(calls)
      .set({ status: 'failed', endedReason: 'worker_lost', endedAt: new Date() })
      .where(eq(calls.id, id));

  function pbxWith(files: Map<string, Buffer>) {
    const pbx = {
      connected: true,
      deleted: [] as string[],
      stopped: [] as string[],
      live: new Set<string>(),
      onConnectionChange: () => () => {},
      async getStoredRecordingFile(name: string) {
        const f = files.get(name);
        if (!f) throw new AriError(404, 'GET', `/recordings/stored/${name}/file`, 'Recording not found');
        return f;
      },
      async deleteStoredRecording(name: string) {
        files.delete(name);
        pbx.deleted.push(name);
      },
      async stopLiveRecording(name: string) {
        if (!pbx.live.delete(name))
          throw new AriError(404, 'POST', `/recordings/live/${name}/stop`, 'Recording not found');
        pbx.stopped.push(name);
      },
    };
    return pbx;
  }

  it("a live call's note is left alone; once the call is worker_lost its recording is stopped, then fetched and deleted", async () => {
    const id = await liveCall();
    const name = `agentline-${id}`;
    const files = new Map([[name, Buffer.from('RIFF-lost')]]);
    const pbx = pbxWith(files);
    pbx.live.add(name);
    const recovery = createPbxRecordingRecovery({
      db: tdb.db,
      ari: pbx as RecoveryAri,
      dir,
      logger: silentLogger(),
    });
    recovery.started(id, name);
    await until(async () => (await row(id)).pbxRecording === name);
    // The call is live: its controller fetches its recording, not the recovery.
    expect(await recovery.recover()).toEqual({ recovered: [] });
    expect({ stopped: pbx.stopped, deleted: pbx.deleted }).toEqual({ stopped: [], deleted: [] });

    // Its worker died; another worker ended the call. The recording still runs on the PBX (the callee
    // is on the line): stopped first, so that the file fetched is complete, on the next pass.
    await markWorkerLost(id);
    expect(await recovery.recover()).toEqual({ recovered: [] });
    expect(pbx.stopped).toEqual([name]);
    expect(pbx.deleted).toEqual([]);
    expect(await recovery.recover()).toEqual({ recovered: [id] });
    expect(await row(id)).toMatchObject({ recordingFile: `${id}.wav`, pbxRecording: null });
    expect(await fs.readFile(path.join(dir, `${id}.wav`), 'utf8')).toBe('RIFF-lost');
    expect(pbx.deleted).toEqual([name]);
    await recovery.stop();
  });

  it('runs every intervalMs, with no reconnect: a call marked worker_lost later is recovered by itself', async () => {
    const id = await liveCall();
    const name = `agentline-${id}`;
    const pbx = pbxWith(new Map([[name, Buffer.from('RIFF-later')]]));
    const recovery = createPbxRecordingRecovery({
      db: tdb.db,
      ari: pbx as RecoveryAri,
      dir,
      logger: silentLogger(),
      intervalMs: 50,
    });
    recovery.started(id, name);
    recovery.start();
    await until(async () => (await row(id)).pbxRecording === name);
    await markWorkerLost(id);
    await until(async () => (await row(id)).pbxRecording === null);
    await recovery.stop();
    expect(await row(id)).toMatchObject({ recordingFile: `${id}.wav` });
    expect(pbx.deleted).toEqual([name]);
  });

  it('settled clears the note, in order after started however fast they follow each other', async () => {
    const id = await liveCall();
    const name = `agentline-${id}`;
    const pbx = pbxWith(new Map());
    const recovery = createPbxRecordingRecovery({
      db: tdb.db,
      ari: pbx as RecoveryAri,
      dir,
      logger: silentLogger(),
    });
    recovery.started(id, name);
    recovery.settled(id, name);
    // stop() waits for the notes' writes.
    await recovery.stop();
    expect((await row(id)).pbxRecording).toBeNull();
  });
});

async function until(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
