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

/** Share of a window's energy at `hz` (Goertzel), in [0, 1]. */
function toneShare(x: Int16Array, rate: number, hz: number): number {
  const w = (2 * Math.PI * hz) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x[i] * x[i];
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return energy === 0 ? 0 : (2 * power) / (x.length * energy);
}

describe('bridge recording', () => {
  it('writes one mixed WAV holding the callee greeting and the agent audio', async () => {
    const ch = await f.ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550100@trunk', app: 'test' });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing', name: 'rec' });
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
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ext.id);
    await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: `${ch.id},${ext.id}` });
    const live = await f.ari.call('POST', `/bridges/${bridge.id}/record`, {
      name: 'call-rec-1',
      format: 'wav',
      ifExists: 'overwrite',
    });
    expect(live).toMatchObject({
      name: 'call-rec-1',
      format: 'wav',
      state: 'recording',
      target_uri: `bridge:${bridge.id}`,
    });
    await f.ari.waitFor((e) => e.type === 'RecordingStarted' && e.recording.name === 'call-rec-1');
    // The greeting plays first; once the agent has heard it end, it sends one second of 440 Hz and
    // stops the recording when chan_websocket reports the tone played. Waiting on what the media
    // says, not on fixed sleeps, keeps this true on a loaded machine whose media clock falls behind.
    const line = watchWsMedia(media);
    await eventually(() => line.quietMs >= 1000, 20_000, 'the greeting to end');
    const tone = Buffer.alloc(32000);
    for (let i = 0; i < 16000; i++)
      tone.writeInt16LE(Math.round(9000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
    media.send(tone);
    media.send('MARK_MEDIA correlation_id:tone-end');
    await eventually(
      () => line.texts.includes('MEDIA_MARK_PROCESSED correlation_id:tone-end'),
      20_000,
      'the tone to play out',
    );
    // The mark is reported on the tick that played the tone's last frame, which the same tick mixed into the recording.
    expect((await f.ari.request('POST', '/recordings/live/nope/stop')).status).toBe(404);
    await f.ari.call('POST', '/recordings/live/call-rec-1/stop');
    const done = await f.ari.waitFor(
      (e) => e.type === 'RecordingFinished' && e.recording.name === 'call-rec-1',
    );
    expect(done.recording.state).toBe('done');
    media.close();
    await f.ari.call('DELETE', `/channels/${ch.id}`);
    await f.ari.call('DELETE', `/bridges/${bridge.id}`);

    expect(await f.ari.call('GET', '/recordings/stored')).toContainEqual({
      name: 'call-rec-1',
      format: 'wav',
    });
    const res = await fetch(`${f.pbx.ariUrl}/recordings/stored/call-rec-1/file`, {
      headers: { Authorization: f.ari.auth },
    });
    expect(res.status).toBe(200);
    const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
    expect(wav.sampleRate).toBe(8000);
    const win = 800; // 100 ms
    let speechWindows = 0;
    let toneWindows = 0;
    for (let off = 0; off + win <= wav.samples.length; off += win) {
      const w = wav.samples.subarray(off, off + win);
      const peak = w.reduce((m, s) => Math.max(m, Math.abs(s)), 0);
      if (peak < 2000) continue;
      const share = toneShare(w, 8000, 440);
      if (share > 0.8) toneWindows++;
      else if (share < 0.3) speechWindows++;
    }
    expect(toneWindows).toBeGreaterThanOrEqual(5);
    expect(speechWindows).toBeGreaterThanOrEqual(10);

    expect((await f.ari.request('DELETE', '/recordings/stored/call-rec-1')).status).toBe(204);
    expect((await f.ari.request('GET', '/recordings/stored/call-rec-1')).status).toBe(404);
  });
});

describe('DTMF', () => {
  it('reaches the IVR, which hands the call to the restaurant host', async () => {
    const number = '+14155550107';
    const ch = await f.ari.call('POST', '/channels', { endpoint: `PJSIP/${number}@trunk`, app: 'test' });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
    await eventually(() =>
      f.pbx.calleeLog(number).some((e) => e.kind === 'said' && e.text.includes('press 1')),
    );
    expect((await f.ari.request('POST', `/channels/${ch.id}/dtmf`)).status).toBe(400);
    expect((await f.ari.request('POST', `/channels/${ch.id}/dtmf`, { dtmf: '1', between: 150 })).status).toBe(
      204,
    );
    await eventually(
      () => f.pbx.calleeLog(number).some((e) => e.kind === 'dtmf' && e.text === '1'),
      5000,
      'the digit',
    );
    await eventually(
      () =>
        f.pbx
          .calleeLog(number)
          .some((e) => e.kind === 'said' && e.text.startsWith('Hello, thank you for calling')),
      15_000,
      'the host to answer',
    );
    await f.ari.call('DELETE', `/channels/${ch.id}`);
  });
});
