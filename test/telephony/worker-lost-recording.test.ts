import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accounts, calls } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import { BUNDLED_SCENARIOS_DIR, type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { type AriClient, createAriClient } from '../../src/telephony/ari/client.js';
import type { AriEvent } from '../../src/telephony/ari/types.js';
import { createPbxRecordingRecovery } from '../../src/telephony/recordings.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-db.js';
import { type Engines, loadEngines, NUMBERS, readWav, until } from './helpers/harness.js';

/**
 * A worker died during a call (killed, or wedged and killed, as on the lab's Asterisk 22.10.1): the
 * PBX still has the call's bridge and its running `wav16` recording, and another worker marks the call
 * failed/worker_lost. The recovery finds the recording by the note the call kept, stops it, then
 * fetches it (stored as `<name>.wav16` on the PBX) and deletes it there.
 */
describe("a dead worker's recording on the PBX", () => {
  let engines: Engines;
  let sim: SimulatedPbx;
  let ari: AriClient;
  let tdb: TestDatabase;
  let dir: string;
  const events: AriEvent[] = [];
  beforeAll(async () => {
    engines = await loadEngines();
    sim = await startSimulatedPbx({
      username: 'asterisk',
      password: 'secret',
      scenarios: BUNDLED_SCENARIOS_DIR,
      tts: engines.tts,
      stt: engines.stt,
      logger: silentLogger(),
    });
    ari = createAriClient({
      url: sim.ariUrl,
      username: 'asterisk',
      password: 'secret',
      app: 'agentline-test',
      logger: silentLogger(),
    });
    ari.onEvent((e) => events.push(e));
    await ari.connect();
    tdb = await createTestDatabase();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-lost-'));
  }, 120_000);
  afterAll(async () => {
    await ari?.close();
    await sim?.stop();
    await tdb?.close();
    await engines?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('is stopped, then fetched and deleted once the call is failed/worker_lost; a live call is left alone', async () => {
    const [{ id: accountId }] = await tdb.db.insert(accounts).values({ name: 'a' }).returning();
    const callId = crypto.randomUUID();
    await tdb.db.insert(calls).values({
      id: callId,
      accountId,
      toNumber: NUMBERS.restaurant,
      callerId: '+14155550000',
      objective: 'x',
      language: 'en-US',
      status: 'in_progress',
    });
    // What the dead worker had set up: the callee and a recorded bridge (the media channel went with it).
    const callee = await ari.originate({ endpoint: `PJSIP/${NUMBERS.restaurant}@trunk`, app: ari.app });
    await until('the callee to answer', () =>
      events.some((e) => e.type === 'StasisStart' && e.channel.id === callee.id),
    );
    const bridge = await ari.createBridge({ type: 'mixing' });
    await ari.addChannelToBridge(bridge.id, [callee.id]);
    const name = `agentline-${callId}`;
    await ari.recordBridge(bridge.id, { name, format: 'wav16', ifExists: 'overwrite' });

    const recovery = createPbxRecordingRecovery({ db: tdb.db, ari, dir, logger: silentLogger() });
    // The controller noted it when the recording started.
    recovery.started(callId, name);
    await until('the note', async () => (await row()).pbxRecording === name);
    // While the call is live nothing is touched.
    expect(await recovery.recover()).toEqual({ recovered: [] });
    expect(events.some((e) => e.type === 'RecordingFinished')).toBe(false);

    // Half a second of the call is recorded (25 media ticks) before its worker is found gone.
    const at = sim.calleeHearing(NUMBERS.restaurant)!.ticks;
    await until('half a second of the call', () => sim.calleeHearing(NUMBERS.restaurant)!.ticks >= at + 25);
    // Another worker ends the call: its worker is gone.
    await tdb.db
      .update(calls)
      .set({ status: 'failed', endedReason: 'worker_lost', endedAt: new Date() })
      .where(eq(calls.id, callId));
    expect(await recovery.recover()).toEqual({ recovered: [] });
    await until('the recording to finish', () =>
      events.some((e) => e.type === 'RecordingFinished' && e.recording.name === name),
    );
    expect(await fs.readdir(sim.recordingsDir)).toContain(`${name}.wav16`);
    expect(await recovery.recover()).toEqual({ recovered: [callId] });
    expect(await row()).toMatchObject({ recordingFile: `${callId}.wav`, pbxRecording: null });
    const wav = readWav(await fs.readFile(path.join(dir, `${callId}.wav`)));
    expect(wav.sampleRate).toBe(16_000);
    expect(wav.samples.length).toBeGreaterThan(0);
    expect(await fs.readdir(sim.recordingsDir)).toEqual([]);
    await recovery.stop();
    await ari.hangup(callee.id);
    await ari.destroyBridge(bridge.id);

    async function row() {
      return (await tdb.db.select().from(calls).where(eq(calls.id, callId)))[0];
    }
  }, 60_000);
});
