import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { silentLogger } from '../../src/logger.js';
import { BUNDLED_SCENARIOS_DIR, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { RawAri } from './ari-test-client.js';
import { RtpPeer } from './rtp-peer.js';

let tts: TextToSpeech;
let stt: SpeechToText;
beforeAll(async () => {
  tts = await createFliteTts();
  stt = await createPocketsphinxStt();
});
afterAll(async () => {
  await stt?.close();
  await tts?.close();
});

const count = () => {
  const c: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) c[r] = (c[r] ?? 0) + 1;
  return c;
};

describe('stop()', () => {
  it('ends live calls and leaves no servers, sockets or timers behind', async () => {
    const baseline = count();
    const pbx = await startSimulatedPbx({
      username: 'ari',
      password: 'secret',
      scenarios: BUNDLED_SCENARIOS_DIR,
      tts,
      stt,
      logger: silentLogger(),
    });
    const ari = new RawAri(pbx.ariUrl);
    await ari.connect();
    const ch = await ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550100@trunk', app: 'test' });
    await ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    const ringing = await ari.call('POST', '/channels', {
      endpoint: 'PJSIP/+14155550101@trunk',
      app: 'test',
    });
    const peer = await RtpPeer.open();
    await ari.call('POST', '/channels/externalMedia', {
      app: 'test',
      external_host: `127.0.0.1:${peer.port}`,
      format: 'ulaw',
    });
    const ws = await ari.call('POST', '/channels/externalMedia', {
      app: 'test',
      transport: 'websocket',
      encapsulation: 'none',
      connection_type: 'server',
      format: 'slin16',
    });
    const media = new WebSocket(
      `${pbx.url.replace('http', 'ws')}/media/${ws.channelvars.MEDIA_WEBSOCKET_CONNECTION_ID}`,
      'media',
    );
    await new Promise((r) => media.once('open', r));
    const mediaClosed = new Promise((r) => media.once('close', r));

    await pbx.stop();
    await mediaClosed;
    expect(ari.events.some((e) => e.type === 'ChannelDestroyed' && e.channel.id === ringing.id)).toBe(true);
    await expect(fetch(`${pbx.ariUrl}/channels`)).rejects.toThrow();
    ari.close();
    peer.close();
    // Nothing the simulator opened is still alive once the closes have run (the runner's own
    // timers may come and go, so this waits for the count rather than a fixed time).
    // The poll's own timer has fired before each count, so it is not counted.
    const grown = () => Object.entries(count()).filter(([k, n]) => n > (baseline[k] ?? 0));
    const deadline = performance.now() + 5000;
    while (grown().length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(grown()).toEqual([]);
  });
});
