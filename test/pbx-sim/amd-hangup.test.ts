import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimFixture, startSimFixture } from './sim-fixture.js';

/** Picks up, and hangs up while the dialplan's AMD() is still listening (analysis 8 s, hangup at 1 s). */
const HANGS_UP_DURING_AMD = {
  number: '+14155550190',
  outcome: 'answer' as const,
  ringSeconds: 0.2,
  amd: { status: 'HUMAN' as const, analysisMs: 8000 },
  hangupAfterSeconds: 1,
  states: { start: { say: 'Hello?' } },
};

let f: SimFixture;
beforeAll(async () => {
  f = await startSimFixture({ scenarios: [HANGS_UP_DURING_AMD] });
});
afterAll(async () => {
  await f?.close();
});

describe('a callee who hangs up during answering-machine detection', () => {
  it('still reaches the originating app: the channel is subscribed to it outside Stasis too', async () => {
    const ch = await f.ari.call('POST', '/channels', {
      endpoint: `PJSIP/${HANGS_UP_DURING_AMD.number}@trunk`,
      app: 'test',
      callerId: '"Agent" <+14155550000>',
    });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    await f.ari.call('POST', `/channels/${ch.id}/continue`, {
      context: 'agentline-amd',
      extension: 's',
      priority: 1,
    });
    await f.ari.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === ch.id);
    // Asterisk subscribes the originating app to the channel, so its hangup in the dialplan is seen.
    const request = await f.ari.waitFor((e) => e.type === 'ChannelHangupRequest' && e.channel.id === ch.id);
    expect(request.cause).toBe(16);
    const destroyed = await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
    expect(destroyed).toMatchObject({ cause: 16, channel: { dialplan: { context: 'agentline-amd' } } });
    // It never came back into Stasis.
    expect(
      f.ari.events.some((e) => e.type === 'StasisStart' && e.channel.id === ch.id && e.args[0] === 'amd'),
    ).toBe(false);
  });
});
