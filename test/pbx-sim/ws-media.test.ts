import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, type SimFixture, startSimFixture, watchWsMedia } from './sim-fixture.js';

// Its own file (own STT engine): see the report on pocketsphinx state carried between streams.
let f: SimFixture;
const sockets: WebSocket[] = [];
beforeAll(async () => {
  f = await startSimFixture();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const ch of await f.ari.call('GET', '/channels')) await f.ari.request('DELETE', `/channels/${ch.id}`);
  for (const b of await f.ari.call('GET', '/bridges')) await f.ari.request('DELETE', `/bridges/${b.id}`);
});
afterAll(async () => {
  await f?.close();
});

async function answeredCallInBridge(number: string) {
  const ch = await f.ari.call('POST', '/channels', { endpoint: `PJSIP/${number}@trunk`, app: 'test' });
  await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
  const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing' });
  await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ch.id });
  return { channelId: ch.id as string, bridgeId: bridge.id as string };
}

describe('externalMedia over websocket (chan_websocket)', () => {
  // The limits guard against a hang: on a loaded machine the callee's recogniser takes its time.
  it('carries slin16 both ways, starts with MEDIA_START, and FLUSH_MEDIA drops queued audio', {
    timeout: 180_000,
  }, async () => {
    const number = '+14155550100';
    const before = f.pbx.calleeLog(number).length;
    const { bridgeId } = await answeredCallInBridge(number);
    const ext = await f.ari.call('POST', '/channels/externalMedia', {
      app: 'test',
      transport: 'websocket',
      encapsulation: 'none',
      connection_type: 'server',
      format: 'slin16',
    });
    const id = ext.channelvars.MEDIA_WEBSOCKET_CONNECTION_ID;
    expect(id).toBeTruthy();
    const media = new WebSocket(`${f.pbx.url.replace('http', 'ws')}/media/${id}`, 'media');
    sockets.push(media);
    const line = watchWsMedia(media);
    await new Promise((r, j) => {
      media.once('open', r);
      media.once('error', j);
    });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ext.id);
    await f.ari.call('POST', `/bridges/${bridgeId}/addChannel`, { channel: ext.id });
    await eventually(() => line.loudFrames > 25, 60_000, 'greeting audio');
    expect(line.texts[0]).toMatch(
      new RegExp(
        `^MEDIA_START connection_id:${id} channel:WebSocket/\\S+ .*format:slin16 optimal_frame_size:640`,
      ),
    );
    // The greeting over (the line quiet for a while), as an agent would wait for it.
    await eventually(() => line.quietMs >= 800, 60_000, 'the greeting to end');

    // A whole utterance queued at once, then flushed: the callee must hear nothing of it. What it
    // hears next, a second later, is the sentinel that shows the flushed one would have been heard.
    const pcm = async (text: string) => {
      const speech = await f.tts.synthesize(text);
      const le = Buffer.alloc(speech.samples.length * 2);
      for (let i = 0; i < speech.samples.length; i++) le.writeInt16LE(speech.samples[i], i * 2);
      return le;
    };
    media.send(await pcm('The weather is nice today, is it not'));
    media.send('FLUSH_MEDIA');
    media.send(Buffer.alloc(32000)); // one second of silence, so two utterances could not run together

    // The sentinel, sent without a flush, is paced out and reaches the callee's STT.
    media.send(await pcm('I would like to book a table for dinner please'));
    media.send(Buffer.alloc(32000)); // one second of trailing silence
    const heardSoFar = () =>
      f.pbx
        .calleeLog(number)
        .slice(before)
        .filter((e) => e.kind === 'heard' && e.text.length > 0);
    const heard = await eventually(
      () => heardSoFar().find((e) => /table|book|dinner/.test(e.text)),
      60_000,
      'the callee to hear the agent',
    );
    expect(heardSoFar()).toEqual([heard]);
    expect(heard.text).toMatch(/table|book|dinner/);
  });
});
