import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RtpPeer } from './rtp-peer.js';
import { eventually, type SimFixture, startSimFixture } from './sim-fixture.js';

let f: SimFixture;
const peers: RtpPeer[] = [];
beforeAll(async () => {
  f = await startSimFixture();
});
afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  for (const ch of await f.ari.call('GET', '/channels')) await f.ari.request('DELETE', `/channels/${ch.id}`);
  for (const b of await f.ari.call('GET', '/bridges')) await f.ari.request('DELETE', `/bridges/${b.id}`);
});
afterAll(async () => {
  await f?.close();
});

/** Originates `number`, waits for the answer, and bridges it; returns channel and bridge ids. */
async function answeredCallInBridge(number: string) {
  const ch = await f.ari.call('POST', '/channels', { endpoint: `PJSIP/${number}@trunk`, app: 'test' });
  await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
  const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing' });
  await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ch.id });
  return { channelId: ch.id as string, bridgeId: bridge.id as string };
}

async function rtpLeg(bridgeId: string, format: 'ulaw' | 'alaw' | 'slin16') {
  const peer = await RtpPeer.open();
  peers.push(peer);
  const ext = await f.ari.call('POST', '/channels/externalMedia', {
    app: 'test',
    external_host: `127.0.0.1:${peer.port}`,
    format,
  });
  expect(ext.name).toMatch(/^UnicastRTP\//);
  await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ext.id);
  await f.ari.call('POST', `/bridges/${bridgeId}/addChannel`, { channel: ext.id });
  return {
    peer,
    host: ext.channelvars.UNICASTRTP_LOCAL_ADDRESS as string,
    port: Number(ext.channelvars.UNICASTRTP_LOCAL_PORT),
  };
}

describe('externalMedia over RTP', () => {
  it('ulaw carries the callee greeting out and the agent speech in to the callee STT', async () => {
    const number = '+14155550100';
    const { bridgeId } = await answeredCallInBridge(number);
    const { peer, host, port } = await rtpLeg(bridgeId, 'ulaw');
    // The greeting arrives as speech energy, paced, in order, all PT 0 with 160-byte frames.
    await eventually(() => peer.loudPackets() > 25, 10_000, 'greeting audio');
    expect(peer.received.every((r) => r.pt === 0 && r.pcm.length === 160)).toBe(true);
    for (let i = 1; i < peer.received.length; i++) {
      expect((peer.received[i].seq - peer.received[i - 1].seq) & 0xffff).toBe(1);
      expect(peer.received[i].ts - peer.received[i - 1].ts).toBe(160);
    }
    await eventually(() =>
      f.pbx.calleeLog(number).some((e) => e.kind === 'said' && e.text.includes('How can I help')),
    );
    // Let the greeting finish, as an agent would: the line has been quiet for a while. (Waiting on the
    // audio, not a fixed time, keeps this true when a loaded machine slows the simulator's media clock.)
    await eventually(() => peer.trailingQuietMs() >= 800, 20_000, 'the greeting to end');
    // pocketsphinx decodes 8 kHz telephone audio poorly; "reservation" is a keyword that survives it.
    const speech = await f.tts.synthesize('I want a reservation');
    await peer.send(speech.samples, 'ulaw', host, port);
    const heard = await eventually(
      () => f.pbx.calleeLog(number).find((e) => e.kind === 'heard' && e.text.length > 0),
      15_000,
      'the callee to hear the agent',
    );
    // The utterance reached the callee's STT as one utterance and the callee answered it. (pocketsphinx's
    // 16 kHz model decodes upsampled 8 kHz telephone audio poorly, so the words are checked on slin16 below.)
    expect(f.pbx.calleeLog(number).filter((e) => e.kind === 'heard')).toHaveLength(1);
    await eventually(
      () => f.pbx.calleeLog(number).filter((e) => e.kind === 'said').length >= 2,
      15_000,
      'a reply',
    );
    const reply = f.pbx.calleeLog(number).filter((e) => e.kind === 'said')[1];
    expect(Date.parse(reply.at)).toBeGreaterThanOrEqual(Date.parse(heard.at));
  });

  it('slin16 is send-only: the callee audio arrives as PT 118, audio sent back is dropped', async () => {
    const number = '+14155550100';
    const before = f.pbx.calleeLog(number).length;
    const { bridgeId } = await answeredCallInBridge(number);
    const { peer, host, port } = await rtpLeg(bridgeId, 'slin16');
    await eventually(() => peer.loudPackets() > 25, 10_000, 'greeting audio');
    expect(peer.received.every((r) => r.pt === 118 && r.pcm.length === 320)).toBe(true);
    const speech = await f.tts.synthesize('I would like to book a table');
    await peer.send(speech.samples, 'slin16', host, port, 1000);
    const heard = f.pbx
      .calleeLog(number)
      .slice(before)
      .filter((e) => e.kind === 'heard');
    expect(heard).toEqual([]);
  });
});
