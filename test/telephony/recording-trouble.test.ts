import fs from 'node:fs/promises';
import path from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callEvents, calls } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  NUMBERS,
  startHarness,
  until,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

describe("the call's recording when the PBX cannot record, stops early, or restarts", () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  /** The warnings and errors everything logged (JSON lines). */
  const logged: { level: number; msg: string; callId?: string }[] = [];
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const logger = createLogger('warn', {
      write: (line: string) => {
        logged.push(JSON.parse(line));
      },
    });
    h = await startHarness({
      engines,
      agent: createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' }),
      logger,
    });
  }, 120_000);
  afterEach(async () => {
    h.sim.comeBack();
    await fs.mkdir(h.sim.recordingsDir, { recursive: true });
    await until('the client to be connected', () => h.ari.connected, 30_000);
    await until(
      'the PBX to be empty',
      () => h.sim.channels().length === 0 && h.sim.bridges().length === 0,
      10_000,
    );
    await until('the runner to finish its calls', () => h.runner.activeCalls() === 0, 10_000);
  });
  afterAll(async () => {
    await h?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  const events = async (id: string) =>
    (
      await h.db.db.select().from(callEvents).where(eq(callEvents.callId, id)).orderBy(asc(callEvents.id))
    ).map((e) => e.reason ?? `${e.fromStatus}→${e.toStatus}`);
  const onPbx = async () => fs.readdir(h.sim.recordingsDir).catch(() => [] as string[]);

  it('Asterisk without its recordings folder answers the record request 500: the call goes on unrecorded, with a warning and an event', async () => {
    h.setAgent(
      createTestAgent({
        tts: engines.tts,
        script: [{ say: 'Hello, I would like a table.' }],
        afterScript: 'objective_met',
      }),
    );
    await fs.rm(h.sim.recordingsDir, { recursive: true });
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'objective_met',
    });
    expect(call.recordingFile).toBeNull();
    const reasons = await events(id);
    expect(reasons.filter((r) => r.startsWith('recording_failed:'))).toEqual([
      expect.stringMatching(/^recording_failed: POST \/bridges\/[^ ]+\/record → 500 Internal Server Error$/),
    ]);
    expect(reasons.at(-1)).toBe('objective_met');
    expect(logged.some((l) => l.level === 40 && l.callId === id && /goes on unrecorded/.test(l.msg))).toBe(
      true,
    );
  }, 90_000);

  it('the callee hangs up first: stopping the finished recording is answered 404, and the recording is still fetched', async () => {
    h.setAgent(createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' }));
    const id = await h.place(NUMBERS.hangsUp);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    expect(call.recordingFile).toBe(`${id}.wav`);
    const wav = await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`));
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    // Fetched, then deleted on the PBX.
    expect((await onPbx()).filter((f) => f.includes(id))).toEqual([]);
  }, 90_000);

  it('Asterisk restarts mid-call: the call ends failed/network_error, and its recording is fetched and deleted there after the reconnect', async () => {
    h.setAgent(createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' }));
    const id = await h.place(NUMBERS.restaurant);
    await h.waitFor(id, 'in_progress');
    await until('the call to be recorded', () => h.sim.bridges().length > 0);
    await h.sim.goDown('shutdown');
    const call = await h.waitFor(id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });
    // Asterisk kept the file; nothing could fetch it while it was down.
    expect(call.recordingFile).toBeNull();
    expect(await onPbx()).toContain(`agentline-${id}.wav`);
    await until('the call to note the recording left on the PBX', async () => {
      const [row] = await h.db.db.select().from(calls).where(eq(calls.id, id));
      return row.pbxRecording === `agentline-${id}`;
    });

    h.sim.comeBack();
    const recovered = await until(
      'the recording to be recovered',
      async () => {
        const [row] = await h.db.db.select().from(calls).where(eq(calls.id, id));
        // Done once the PBX's copy is deleted too.
        return row.recordingFile && row.pbxRecording === null ? row : null;
      },
      30_000,
    );
    expect(recovered.recordingFile).toBe(`${id}.wav`);
    expect(recovered.pbxRecording).toBeNull();
    const wav = await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`));
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.length).toBeGreaterThan(44);
    await until(
      'the recording to be deleted on the PBX',
      async () => !(await onPbx()).includes(`agentline-${id}.wav`),
    );
  }, 120_000);
});
