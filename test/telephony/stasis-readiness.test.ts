import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { callEvents } from '../../src/db/schema.js';
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

/**
 * Real Asterisk answers `POST /channels/externalMedia` before the channel has entered the application
 * (it runs Stasis() for it on another thread), and refuses `addChannel` until then with
 * `422 Channel not in Stasis application`. The simulated PBX does the same: StasisStart comes 0–50 ms
 * after the answer by default. The controller must wait for it before it bridges the channel.
 */
describe('a channel we create is used only once it is in the application', () => {
  let engines: Engines;
  let before: Record<string, number>;
  let h: Harness;
  let hw: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ tone: { hz: 700, ms: 200 } }],
      afterScript: 'objective_met',
    });
    h = await startHarness({ engines, agent });
    hw = await startHarness({ engines, agent, env: { MEDIA_TRANSPORT: 'websocket' } });
  }, 120_000);
  afterEach(async () => {
    for (const x of [h, hw]) {
      x.sim.impair({});
      await until('the PBX to be empty', () => x.sim.channels().length === 0 && x.sim.bridges().length === 0);
      await until('the runner to finish its calls', () => x.runner.activeCalls() === 0);
    }
  });
  afterAll(async () => {
    await h?.close();
    await hw?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  const steps = async (x: Harness, id: string) =>
    (
      await x.db.db.select().from(callEvents).where(eq(callEvents.callId, id)).orderBy(asc(callEvents.id))
    ).map((e) => `${e.fromStatus}→${e.toStatus}${e.reason ? `:${e.reason}` : ''}`);

  it.each([
    ['RTP', () => h],
    ['chan_websocket', () => hw],
  ])(
    'answered calls (%s media) all connect while the media channel enters the application 5–60 ms after its answer',
    async (_name, harness) => {
      const x = harness();
      // Even the shortest delay may lose the race: widen it so every call meets it.
      x.sim.impair({ stasisEntryDelayMs: { min: 5, max: 60 } });
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push(await x.place(NUMBERS.restaurant));
      const ends = await Promise.all(ids.map((id) => x.waitFor(id, undefined, 120_000)));
      expect(ends.map((c) => `${c.status}/${c.endedReason}`)).toEqual(
        ids.map(() => 'completed/objective_met'),
      );
      for (const id of ids) {
        expect(await steps(x, id)).toEqual([
          'queued→dialing',
          'dialing→in_progress',
          'in_progress→completed:objective_met',
        ]);
      }
    },
    240_000,
  );

  it('a media channel that never enters the application fails the call clearly (failed/network_error, with the reason in its events)', async () => {
    // Longer than the controller waits for it (its stasisEntryTimeoutMs, 5 s by default).
    h.sim.impair({ stasisEntryDelayMs: { min: 30_000, max: 30_000 } });
    const id = await h.place(NUMBERS.restaurant);
    const call = await h.waitFor(id, undefined, 60_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'failed',
      endedReason: 'network_error',
    });
    const path = await steps(h, id);
    expect(path[0]).toBe('queued→dialing');
    expect(path.at(-1)).toBe('dialing→failed:network_error');
    const note = path.find((s) => s.startsWith('dialing→dialing:'));
    expect(note).toMatch(
      /^dialing→dialing:stasis_timeout: the externalMedia channel \S+ did not enter the application within 5000 ms$/,
    );
  }, 90_000);
});
