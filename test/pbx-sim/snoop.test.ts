import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeWav } from '../../src/audio/wav.js';
import { eventually, type SimFixture, startSimFixture, watchWsMedia } from './sim-fixture.js';

let f: SimFixture;
beforeAll(async () => {
  f = await startSimFixture();
});
afterAll(async () => {
  await f?.close();
});

/** +14155550105 says "Hello?" about 0.3 s after answer and hangs up 3 s after it; AMD (sim) takes 2 s. */
const HELLO_THEN_HANGUP = 'PJSIP/+14155550105@trunk';

describe('snoop channels', () => {
  it('hear the callee while AMD() holds it in the dialplan, enter the app after the answer, and go with the callee', async () => {
    const ch = await f.ari.call('POST', '/channels', { endpoint: HELLO_THEN_HANGUP, app: 'test' });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing', name: 'snooped' });
    const ext = await f.ari.call('POST', '/channels/externalMedia', {
      app: 'test',
      transport: 'websocket',
      encapsulation: 'none',
      connection_type: 'server',
      format: 'slin16',
    });
    const media = new WebSocket(
      `${f.pbx.url.replace('http', 'ws')}/media/${ext.channelvars.MEDIA_WEBSOCKET_CONNECTION_ID}`,
      'media',
    );
    await new Promise((r) => media.once('open', r));
    const line = watchWsMedia(media);
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ext.id);

    const snoop = await f.ari.call('POST', `/channels/${ch.id}/snoop`, {
      app: 'test',
      spy: 'in',
      appArgs: 'snoop',
      snoopId: 'snoop-1',
    });
    expect(snoop).toMatchObject({ id: 'snoop-1' });
    expect(snoop.name).toMatch(new RegExp(`^Snoop/${ch.id}-`));
    const entered = await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'snoop-1');
    expect((entered as unknown as { args: string[] }).args).toEqual(['snoop']);
    await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: `snoop-1,${ext.id}` });
    await f.ari.call('POST', `/bridges/${bridge.id}/record`, { name: 'snooped', format: 'wav16' });

    // AMD() takes the callee out of Stasis; the snoop channel still hears its hello.
    await f.ari.call('POST', `/channels/${ch.id}/continue`, { context: 'agentline-amd', extension: 's' });
    const inDialplan = () =>
      (f.pbx.channels() as { id: string; dialplan: { app_name: string } }[]).find((c) => c.id === ch.id)
        ?.dialplan.app_name === 'AMD';
    expect(inDialplan()).toBe(true);
    await eventually(() => line.loudFrames >= 10, 10_000, 'the hello through the snoop channel');
    expect(inDialplan()).toBe(true);

    // The callee hangs up (3 s after answer): its snoop channel is hung up with it. A snoop channel
    // leaves the app with its StasisEnd and sends no ChannelDestroyed (as on Asterisk 22.10.1).
    await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id, 10_000);
    await f.ari.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === 'snoop-1', 5000);
    expect(f.pbx.channels().some((c) => (c as { id: string }).id === 'snoop-1')).toBe(false);
    expect(
      f.ari.events
        .filter((e) => e.channel?.id === 'snoop-1')
        .map((e) => e.type)
        .slice(-3),
    ).toEqual(['ChannelHangupRequest', 'ChannelLeftBridge', 'StasisEnd']);
    await f.ari.call('POST', '/recordings/live/snooped/stop');
    await f.ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'snooped');
    // Hung up before its socket closes, which would end the channel by itself (and the DELETE 404).
    await f.ari.call('DELETE', `/channels/${ext.id}`);
    media.close();
    await f.ari.call('DELETE', `/bridges/${bridge.id}`);

    // `wav16` is 16 kHz, as Asterisk writes it (`wav` is 8 kHz), and holds the hello.
    expect(await f.ari.call('GET', '/recordings/stored')).toContainEqual({
      name: 'snooped',
      format: 'wav16',
    });
    const res = await fetch(`${f.pbx.ariUrl}/recordings/stored/snooped/file`, {
      headers: { Authorization: f.ari.auth },
    });
    const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
    expect(wav.sampleRate).toBe(16_000);
    let loud = 0;
    for (let i = 0; i + 320 <= wav.samples.length; i += 320) {
      if (wav.samples.subarray(i, i + 320).some((s) => Math.abs(s) > 2000)) loud++;
    }
    expect(loud).toBeGreaterThanOrEqual(10);
    await f.ari.call('DELETE', '/recordings/stored/snooped');
  }, 30_000);

  it('refuses what Asterisk refuses, and what the simulator does not carry', async () => {
    const ch = await f.ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550100@trunk', app: 'test' });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    const snoop = (q: Record<string, string>) => f.ari.request('POST', `/channels/${ch.id}/snoop`, q);
    expect((await snoop({ app: 'test' })).status).toBe(400); // spy and whisper both none
    expect((await snoop({ spy: 'in' })).status).toBe(400); // no app
    expect((await snoop({ app: 'test', spy: 'sideways' })).status).toBe(400);
    expect((await snoop({ app: 'test', spy: 'both' })).status).toBe(400);
    expect((await f.ari.request('POST', '/channels/nope/snoop', { app: 'test', spy: 'in' })).status).toBe(
      404,
    );
    await f.ari.call('DELETE', `/channels/${ch.id}`);
  }, 30_000);
});
