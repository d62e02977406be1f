import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { BUNDLED_SCENARIOS_DIR, type SimulatedPbx, startSimulatedPbx } from '../../src/pbx-sim/index.js';
import { createPocketsphinxStt } from '../../src/voice/stt/pocketsphinx.js';
import { createFliteTts } from '../../src/voice/tts/flite.js';
import type { SpeechToText, TextToSpeech } from '../../src/voice/types.js';
import { type AriEvent, RawAri } from './ari-test-client.js';
import { eventually } from './sim-fixture.js';

/**
 * The chaos mode on the wire, as a client of the simulated PBX sees it: events of one channel in
 * their order, events of different channels passing each other, non-essential requests failing with
 * Asterisk's bodies and essential ones never.
 */
describe('the simulated PBX in chaos mode', () => {
  let tts: TextToSpeech;
  let stt: SpeechToText;
  let pbx: SimulatedPbx;
  let ari: RawAri;
  beforeAll(async () => {
    tts = await createFliteTts();
    stt = await createPocketsphinxStt();
    pbx = await startSimulatedPbx({
      username: 'ari',
      password: 'secret',
      scenarios: BUNDLED_SCENARIOS_DIR,
      tts,
      stt,
      logger: silentLogger(),
      // Every non-essential request fails; events are held back up to 150 ms.
      chaos: { seed: 11, maxDelayMs: 150, errorRate: 1 },
    });
    ari = new RawAri(pbx.ariUrl);
    await ari.connect();
  }, 60_000);
  afterAll(async () => {
    ari?.close();
    await pbx?.stop();
    await stt?.close();
    await tts?.close();
  });

  it('reports its chaos settings', () => {
    expect(pbx.chaos).toEqual({ seed: 11, maxDelayMs: 150, errorRate: 1 });
  });

  it("keeps each channel's events in order while different channels' events pass each other", async () => {
    const ids: string[] = [];
    // Busy lines, one after the other: each channel's Dial, hangup request and destruction come in one burst.
    for (let i = 0; i < 10; i++) {
      const ch = await ari.call('POST', '/channels', {
        endpoint: 'PJSIP/+14155550102@trunk',
        app: 'test',
        callerId: '+14155550000',
      });
      ids.push(ch.id);
    }
    const ofChannel = (e: AriEvent) => (e.channel?.id ?? e.peer?.id) as string | undefined;
    await eventually(
      () => ids.every((id) => ari.events.some((e) => e.type === 'ChannelDestroyed' && e.channel.id === id)),
      20_000,
      'every busy channel to be destroyed',
    );
    const mine = ari.events.filter((e) => ids.includes(ofChannel(e) ?? ''));
    for (const id of ids) {
      const types = mine
        .filter((e) => ofChannel(e) === id)
        .map((e) => `${e.type}${e.type === 'Dial' ? `:${e.dialstatus}` : ''}`);
      // As without chaos, and as Asterisk 22.10.1 reports a SIP 486 before any provisional answer: the
      // hangup request first, then the Dial with an empty status, the busy one, the end.
      expect(types, id).toEqual(['ChannelHangupRequest', 'Dial:', 'Dial:BUSY', 'ChannelDestroyed']);
    }
    // Emitted in channel order (channel n's burst before channel n+1's), received in another: some event
    // of a later channel arrived before an event of an earlier one.
    const rank = (e: AriEvent) => ids.indexOf(ofChannel(e) ?? '');
    const passed = mine.some((e, i) => mine.slice(i + 1).some((later) => rank(later) < rank(e)));
    expect(passed).toBe(true);
  }, 30_000);

  it('fails non-essential requests with the status and body Asterisk answers, and never an essential one', async () => {
    const lookups = await Promise.all([
      ari.request('GET', '/channels'),
      ari.request('GET', '/bridges'),
      ari.request('GET', '/channels/nope/variable', { variable: 'X' }),
      ari.request('DELETE', '/recordings/stored/nope'),
      ari.request('POST', '/recordings/live/nope/stop'),
    ]);
    for (const r of lookups) {
      expect([500, 503]).toContain(r.status);
      expect([
        { error: 'Allocation failed' },
        { message: 'Delete failed' },
        { message: 'Recording operation failed' },
        { message: 'Asterisk not booted' },
      ]).toContainEqual(r.json);
    }
    // Essential: carried out (their own answers, 404 for what does not exist, are Asterisk's as usual).
    expect((await ari.request('GET', '/asterisk/info')).status).toBe(200);
    const bridge = await ari.call('POST', '/bridges', { type: 'mixing' });
    expect((await ari.request('DELETE', `/bridges/${bridge.id}`)).status).toBe(204);
    expect((await ari.request('DELETE', '/channels/nope')).status).toBe(404);
    expect((await ari.request('GET', '/recordings/stored/nope/file')).status).toBe(404);
  }, 30_000);
});
