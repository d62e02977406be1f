import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeWav } from '../../src/audio/wav.js';
import { BUNDLED_SCENARIOS_DIR } from '../../src/pbx-sim/index.js';
import { loadScenarioDir } from '../../src/pbx-sim/scenario.js';
import type { AriEvent } from './ari-test-client.js';
import { eventually, type SimFixture, startSimFixture } from './sim-fixture.js';

/**
 * The sequences a real Asterisk 22.10.1 sent where the simulator used to differ (the lab's findings,
 * issue 12): unanswered calls over SIP, the originate timeout, tech_cause, snoop channels, `wav16`
 * recordings, and the bridge's media with two parties and with the recorder.
 */
/** Says hello at answer, then listens for good: it never hangs up on its own (the bundled callees may). */
const QUIET = '+14155550191';

let f: SimFixture;
beforeAll(async () => {
  f = await startSimFixture({
    scenarios: [
      ...(await loadScenarioDir(BUNDLED_SCENARIOS_DIR)),
      { number: QUIET, outcome: 'answer', ringSeconds: 0, states: { start: { say: 'Hello?' } } },
    ],
  });
});
afterAll(async () => {
  await f?.close();
});

const ofChannel = (id: string) => (e: AriEvent) => (e.channel ?? e.peer)?.id === id;
const label = (e: AriEvent) => `${e.type}${e.type === 'Dial' ? `:${e.dialstatus}` : ''}`;

async function unanswered(number: string, timeout?: number) {
  const ch = await f.ari.call('POST', '/channels', {
    endpoint: `PJSIP/${number}@trunk`,
    app: 'test',
    callerId: '+14155550000',
    ...(timeout ? { timeout } : {}),
  });
  const destroyed = await f.ari.waitFor(
    (e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id,
    15_000,
  );
  const mine = f.ari.events.filter(ofChannel(ch.id));
  return { destroyed, mine, seen: mine.map(label) };
}

describe('unanswered over SIP, as Asterisk 22.10.1 reports them', () => {
  it('a fast 486: the hangup request comes before even the first Dial, with tech_cause 486', async () => {
    const { destroyed, mine, seen } = await unanswered('+14155550102');
    expect(seen).toEqual(['ChannelHangupRequest', 'Dial:', 'Dial:BUSY', 'ChannelDestroyed']);
    expect(mine[0]).toMatchObject({ cause: 17, tech_cause: 486 });
    expect(mine[0].soft).toBeUndefined();
    expect(destroyed).toMatchObject({ cause: 17, tech_cause: 486, cause_txt: 'User busy' });
  });

  for (const [what, number, cause, tech, dialstatus, text] of [
    ['404', '+14155550106', 1, 404, 'NOANSWER', 'Unallocated (unassigned) number'],
    ['503', '+14155550120', 34, 503, 'CONGESTION', 'Circuit/channel congestion'],
    ['603', '+14155550103', 21, 603, 'NOANSWER', 'Call Rejected'],
  ] as const) {
    it(`SIP ${what}: ChannelHangupRequest, then Dial ${dialstatus}, then ChannelDestroyed, cause ${cause}`, async () => {
      const { destroyed, mine, seen } = await unanswered(number);
      const tail = seen.slice(-3);
      expect(tail).toEqual(['ChannelHangupRequest', `Dial:${dialstatus}`, 'ChannelDestroyed']);
      expect(seen[0]).toBe('Dial:');
      expect(mine.at(-3)).toMatchObject({ cause, tech_cause: tech });
      expect(destroyed).toMatchObject({ cause, tech_cause: tech, cause_txt: text });
    });
  }

  it('the originate timeout: Dial RINGING, then ChannelDestroyed cause 19 (tech_cause 480), no hangup request, no final Dial', async () => {
    const { destroyed, seen } = await unanswered('+14155550101', 1);
    expect(seen.filter((s) => s.startsWith('Dial'))).toEqual(['Dial:', 'Dial:RINGING']);
    expect(seen).not.toContain('ChannelHangupRequest');
    expect(destroyed).toMatchObject({ cause: 19, tech_cause: 480, cause_txt: 'User alerting, no answer' });
  });

  it('we give up ringing (DELETE): the soft request first, then Dial CANCEL, then the end, no tech_cause', async () => {
    const ch = await f.ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550101@trunk', app: 'test' });
    await f.ari.waitFor((e) => e.type === 'Dial' && e.peer.id === ch.id && e.dialstatus === 'RINGING');
    await f.ari.call('DELETE', `/channels/${ch.id}`);
    const destroyed = await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
    const mine = f.ari.events.filter(ofChannel(ch.id));
    expect(mine.map(label).slice(-3)).toEqual(['ChannelHangupRequest', 'Dial:CANCEL', 'ChannelDestroyed']);
    expect(mine.at(-3)).toMatchObject({ cause: 32, soft: true });
    expect(destroyed.tech_cause).toBeUndefined();
  });
});

/** An answered call in a mixing bridge with a chan_websocket media channel; `frames` counts what the media socket gets. */
async function answeredWithWebsocketMedia(number: string) {
  const ch = await f.ari.call('POST', '/channels', { endpoint: `PJSIP/${number}@trunk`, app: 'test' });
  await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
  const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing' });
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
  return { ch, bridge, ext, media };
}

describe('snoop channels and recordings, as Asterisk 22.10.1 sends them', () => {
  it('a snoop channel we hang up: soft request (32), ChannelLeftBridge, StasisEnd, and no ChannelDestroyed', async () => {
    const { ch, bridge, ext, media } = await answeredWithWebsocketMedia(QUIET);
    await f.ari.call('POST', `/channels/${ch.id}/snoop`, { app: 'test', spy: 'in', snoopId: 'snoop-del' });
    await f.ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'snoop-del');
    await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: `snoop-del,${ext.id}` });
    await f.ari.call('DELETE', '/channels/snoop-del');
    await f.ari.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === 'snoop-del');
    // Events of one application come in order: once the callee's ChannelDestroyed is here, a
    // ChannelDestroyed of the snoop (sent before it, if at all) would be too.
    await f.ari.call('DELETE', `/channels/${ch.id}`);
    await f.ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
    const snoop = f.ari.events.filter((e) => e.channel?.id === 'snoop-del' && e.type !== 'StasisStart');
    expect(snoop.map((e) => e.type)).toEqual([
      'ChannelEnteredBridge',
      'ChannelHangupRequest',
      'ChannelLeftBridge',
      'StasisEnd',
    ]);
    expect(snoop[1]).toMatchObject({ cause: 32, soft: true });
    expect((await f.ari.request('GET', '/channels/snoop-del')).status).toBe(404);
    // Hung up before its socket closes, which would end the channel by itself (and the DELETE 404).
    await f.ari.call('DELETE', `/channels/${ext.id}`);
    media.close();
    await f.ari.call('DELETE', `/bridges/${bridge.id}`);
  }, 30_000);

  it('wav16 is stored as <name>.wav16 (16 kHz), and RecordingFinished reports twice its length, as app.c computes it', async () => {
    const { ch, bridge, ext, media } = await answeredWithWebsocketMedia(QUIET);
    await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: `${ch.id},${ext.id}` });
    const started = await f.ari.call('POST', `/bridges/${bridge.id}/record`, {
      name: 'double',
      format: 'wav16',
    });
    // Asterisk knows no duration while the recording runs.
    expect(started.duration).toBeUndefined();
    await f.ari.waitFor((e) => e.type === 'ChannelEnteredBridge' && e.channel.id === ext.id);
    // Some seconds of the call: this callee's greeting is in the recording.
    await eventually(
      () => f.pbx.calleeLog(QUIET).some((l) => l.kind === 'said' && l.channelId === ch.id),
      15_000,
      'the greeting',
    );
    await f.ari.call('POST', '/recordings/live/double/stop');
    const done = await f.ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'double');
    expect(await f.ari.call('GET', '/recordings/stored/double')).toEqual({ name: 'double', format: 'wav16' });
    expect(await f.ari.call('GET', '/recordings/stored')).toContainEqual({ name: 'double', format: 'wav16' });
    const res = await fetch(`${f.pbx.ariUrl}/recordings/stored/double/file`, {
      headers: { Authorization: f.ari.auth },
    });
    const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
    expect(wav.sampleRate).toBe(16_000);
    expect(done.recording.duration).toBe(Math.floor(wav.samples.length / 8000));
    expect(done.recording.duration).toBeGreaterThanOrEqual(2 * Math.floor(wav.samples.length / 16_000));
    await f.ari.call('DELETE', '/recordings/stored/double');
    // Hung up before its socket closes: a closed media socket ends the channel by itself, and a
    // DELETE that came after it would find nothing (404).
    await f.ari.call('DELETE', `/channels/${ch.id}`);
    await f.ari.call('DELETE', `/channels/${ext.id}`);
    media.close();
    await f.ari.call('DELETE', `/bridges/${bridge.id}`);
  }, 30_000);
});

describe("a bridge's media: simple_bridge with two parties, softmix with the recorder", () => {
  it('a callee gets no frames from a silent media channel until the recorder joins; then one a tick', async () => {
    const number = QUIET;
    const { ch, bridge, ext, media } = await answeredWithWebsocketMedia(number);
    await f.ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: `${ch.id},${ext.id}` });
    expect((await f.ari.call('GET', `/bridges/${bridge.id}`)).technology).toBe('simple_bridge');
    // We send nothing on the media socket: 50 ticks (1 s of media time) pass with nothing for the callee.
    const start = f.pbx.calleeHearing(number)!;
    await eventually(() => f.pbx.calleeHearing(number)!.ticks >= start.ticks + 50, 15_000, '50 ticks');
    const quiet = f.pbx.calleeHearing(number)!;
    expect(quiet.frames).toBe(start.frames);

    await f.ari.call('POST', `/bridges/${bridge.id}/record`, { name: 'softmix', format: 'wav' });
    expect((await f.ari.call('GET', `/bridges/${bridge.id}`)).technology).toBe('softmix');
    // Counted from when the record request has answered: on a loaded machine ticks pass during its round trip.
    const joined = f.pbx.calleeHearing(number)!;
    await eventually(() => f.pbx.calleeHearing(number)!.ticks >= joined.ticks + 50, 15_000, '50 more ticks');
    const mixed = f.pbx.calleeHearing(number)!;
    // softmix sends every member a frame each tick, silence included (the tick the recorder joined in may go either way).
    expect(mixed.frames - joined.frames).toBeGreaterThanOrEqual(mixed.ticks - joined.ticks - 1);

    await f.ari.call('POST', '/recordings/live/softmix/stop');
    await f.ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'softmix');
    await f.ari.call('DELETE', '/recordings/stored/softmix');
    // Hung up before its socket closes: a closed media socket ends the channel by itself, and a
    // DELETE that came after it would find nothing (404).
    await f.ari.call('DELETE', `/channels/${ch.id}`);
    await f.ari.call('DELETE', `/channels/${ext.id}`);
    media.close();
    await f.ari.call('DELETE', `/bridges/${bridge.id}`);
  }, 30_000);
});
