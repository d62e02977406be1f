import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

describe('voicemail, and calls that outlive a dropped ARI events socket', () => {
  let engines: Engines;
  let before: Record<string, number>;
  /** RTP media; the events socket reconnects after ~3 s, long enough for things to happen meanwhile. */
  let h: Harness;
  /** WebSocket media (16 kHz), so the mailbox's recogniser can transcribe the message left. */
  let hw: Harness;
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' });
    h = await startHarness({ engines, agent, reconnectInitialMs: 3000 });
    hw = await startHarness({ engines, agent, env: { MEDIA_TRANSPORT: 'websocket' } });
  }, 120_000);
  afterEach(async () => {
    for (const x of [h, hw]) {
      await until(
        'the PBX to be empty',
        () => x.sim.channels().length === 0 && x.sim.bridges().length === 0,
        10_000,
      );
      // The runner lets go of a call just after the call's end is stored.
      await until('the runner to finish its calls', () => x.runner.activeCalls() === 0, 10_000);
    }
  });
  afterAll(async () => {
    await h?.close();
    await hw?.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  it('voicemail with action hangup: the beep is heard, the agent never talks, voicemail/voicemail_detected', async () => {
    const agent = createTestAgent({
      tts: engines.tts,
      script: [{ say: 'Hello there' }],
      afterScript: 'objective_met',
    });
    h.setAgent(agent);
    const id = await h.place(NUMBERS.voicemail, { voicemail: { action: 'hangup' } });
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'voicemail',
      endedReason: 'voicemail_detected',
    });
    // The agent listened from answer (it hears a person's greeting) but was stopped at the beep before
    // it was let speak: no words of it on the line.
    expect(agent.ends.map((e) => e.signalReason)).toEqual(['objective_impossible']);
    expect(call.transcript ?? '').not.toContain('Hello there');
    expect(call.startedAt).toBeNull();
    expect(await h.webhookEvents(id)).toEqual(['call.voicemail']);
  }, 90_000);

  it('voicemail with leave_message: the message is spoken after the beep and lands in the mailbox', async () => {
    const message = 'Hello Dana, this is a reminder about your dinner reservation tonight at seven.';
    const id = await hw.place(NUMBERS.voicemail, { voicemail: { action: 'leave_message', message } });
    const call = await hw.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'voicemail',
      endedReason: 'voicemail_message_left',
    });
    expect(call.recordingFile).toBe(`${id}.wav`);
    const left = await until(
      'the mailbox to transcribe the message',
      () => hw.sim.calleeLog(NUMBERS.voicemail).find((e) => e.kind === 'message'),
      60_000,
    );
    const words = left.text.toLowerCase().split(/\s+/);
    expect(
      words.filter((w) => ['dana', 'reminder', 'dinner', 'reservation', 'tonight', 'seven'].includes(w))
        .length,
    ).toBeGreaterThanOrEqual(2);
  }, 150_000);

  it('the events socket drops mid-call: the client reconnects and the call goes on to its normal end', async () => {
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold', goodbye: 'Goodbye.' });
    h.setAgent(agent);
    const changes: boolean[] = [];
    const off = h.ari.onConnectionChange((c) => changes.push(c));
    const id = await h.place(NUMBERS.restaurant, { maxDurationSeconds: 8 });
    await h.waitFor(id, 'in_progress');
    h.sim.dropEventSockets();
    await until('the client to reconnect', () => changes.length >= 2 && h.ari.connected, 15_000);
    off();
    expect(changes.slice(0, 2)).toEqual([false, true]);
    const call = await h.waitFor(id);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'max_duration',
    });
  }, 90_000);

  it('the callee hangs up while the events socket is down: reconciliation ends the call as callee_hung_up', async () => {
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' });
    h.setAgent(agent);
    const id = await h.place(NUMBERS.restaurant);
    await h.waitFor(id, 'in_progress');
    const callee = (await h.ari.listChannels()).find((c) => !/^(UnicastRTP|WebSocket)\//.test(c.name));
    expect(callee).toBeDefined();
    h.sim.dropEventSockets();
    await until('the client to notice the drop', () => !h.ari.connected, 5000);
    // While the events socket is down the deployment reports it cannot place calls.
    expect(await h.runner.readiness.check()).toMatchObject({ ok: false });
    // The hangup's events go nowhere: only the reconciliation after the reconnect can tell.
    await h.ari.hangup(callee?.id ?? '');
    const call = await h.waitFor(id, undefined, 30_000);
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    expect(agent.ends.map((e) => e.end)).toEqual(['callee_hung_up']);
    expect(await h.runner.readiness.check()).toMatchObject({ ok: true });
  }, 90_000);
});
