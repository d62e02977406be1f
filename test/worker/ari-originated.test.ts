import os from 'node:os';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerCallControl } from '../../src/calls/call-control.js';
import { createTrunkPacer } from '../../src/calls/trunk-pacer.js';
import { trunkDials, workers } from '../../src/db/schema.js';
import { silentLogger } from '../../src/logger.js';
import {
  type Engines,
  type Harness,
  loadEngines,
  NUMBERS,
  startHarness,
  until,
} from '../telephony/helpers/harness.js';
import { createTestAgent } from '../telephony/helpers/test-agent.js';

describe('the ARI call controller and the trunk pacer', () => {
  let engines: Engines;
  let h: Harness;
  beforeAll(async () => {
    engines = await loadEngines();
    h = await startHarness({
      engines,
      agent: createTestAgent({ tts: engines.tts, script: [], afterScript: 'objective_met' }),
    });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await engines?.close();
  }, 30_000);

  it('frees the trunk slot when the originate returned, while the callee still rings', async () => {
    // The call is this test's, run through its own control with a pacer (the harness's worker has
    // none and leaves a call claimed by a live worker alone).
    await h.db.db.insert(workers).values({ id: 'paced-manual', hostname: os.hostname(), pid: process.pid });
    const callId = await h.place(NUMBERS.noAnswer, { workerId: 'paced-manual', claimedAt: new Date() });
    const pacer = createTrunkPacer({ db: h.db.db, maxCps: 1, workerId: 'paced-manual' });
    const ctl = new WorkerCallControl(await h.get(callId), h.store, silentLogger(), undefined, { pacer });
    const run = h.runner.run(ctl);

    const [slot] = await until('the trunk slot to be done', async () => {
      const rows = await h.db.db.select().from(trunkDials).where(eq(trunkDials.callId, callId));
      return rows.length === 1 && rows[0].doneAt !== null && rows;
    });
    // Nobody answered and nothing ended: only the originate's return could have freed the slot.
    expect((await h.get(callId)).status).toBe('dialing');
    expect(h.sim.channels().length).toBeGreaterThan(0);
    expect(slot.doneAt!.getTime()).toBeGreaterThanOrEqual(slot.startedAt.getTime());

    await h.cancel(callId);
    ctl.markEndedElsewhere();
    await run;
    expect(await h.get(callId)).toMatchObject({ status: 'failed', endedReason: 'canceled' });
  });
});
