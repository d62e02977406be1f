import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasWebSocketMedia } from '../../src/telephony/ari/media-transport.js';
import {
  type Engines,
  expectNoLeakedHandles,
  type Harness,
  handleCounts,
  loadEngines,
  NUMBERS,
  readWav,
  startHarness,
} from './helpers/harness.js';
import { createTestAgent } from './helpers/test-agent.js';

describe('which Asterisk carries chan_websocket media', () => {
  it('22.6 and every later release do; earlier ones do not; a development build cannot tell', () => {
    expect(hasWebSocketMedia('22.6.0')).toBe(true);
    expect(hasWebSocketMedia('22.10.1')).toBe(true);
    expect(hasWebSocketMedia('23.0.0-rc1')).toBe(true);
    expect(hasWebSocketMedia('22.5.2')).toBe(false);
    expect(hasWebSocketMedia('21.12.0')).toBe(false);
    expect(hasWebSocketMedia('certified-20.7-cert5')).toBe(false);
    expect(hasWebSocketMedia('GIT-master-1a2b3c4')).toBeNull();
    expect(hasWebSocketMedia(undefined)).toBeNull();
  });
});

/**
 * The media a call gets with ARI_URL set (a real Asterisk, here the simulated PBX reporting a version),
 * and the recording made of it: Asterisk's `wav` is 8 kHz, so 16 kHz media must be recorded as `wav16`.
 */
describe('default media by Asterisk version, and the recording rate that follows from the media', () => {
  let engines: Engines;
  let before: Record<string, number>;
  const harnesses: Harness[] = [];
  beforeAll(async () => {
    before = handleCounts();
    engines = await loadEngines();
  }, 60_000);
  afterAll(async () => {
    for (const h of harnesses) await h.close();
    await engines?.close();
    await expectNoLeakedHandles(before);
  }, 30_000);

  async function harness(asteriskVersion: string, env: Record<string, string> = {}): Promise<Harness> {
    const agent = createTestAgent({ tts: engines.tts, script: [], afterScript: 'hold' });
    const h = await startHarness({ engines, agent, asteriskVersion, productionMediaDefault: true, env });
    harnesses.push(h);
    return h;
  }

  /** Places a call to the callee who says hello and hangs up; the media channel's name and the recording. */
  async function callThrough(h: Harness) {
    const names: string[] = [];
    const off = h.ari.on('StasisStart', (ev) => names.push(ev.channel.name));
    const id = await h.place(NUMBERS.hangsUp);
    const call = await h.waitFor(id, undefined, 60_000);
    off();
    expect({ status: call.status, endedReason: call.endedReason }).toEqual({
      status: 'completed',
      endedReason: 'callee_hung_up',
    });
    expect(call.recordingFile).toBe(`${id}.wav`);
    const wav = readWav(await fs.readFile(path.join(h.config.recordingsDir, `${id}.wav`)));
    const media = names.filter((n) => /^(WebSocket|UnicastRTP)\//.test(n));
    expect(media).toHaveLength(1);
    return { media: media[0], sampleRate: wav.sampleRate };
  }

  it('Asterisk 22.6: chan_websocket with slin16, recorded at 16 kHz', async () => {
    const r = await callThrough(await harness('22.6.0'));
    expect(r.media).toMatch(/^WebSocket\//);
    expect(r.sampleRate).toBe(16_000);
  }, 90_000);

  it('Asterisk 22.5: RTP with ulaw, recorded at 8 kHz', async () => {
    const r = await callThrough(await harness('22.5.2'));
    expect(r.media).toMatch(/^UnicastRTP\//);
    expect(r.sampleRate).toBe(8000);
  }, 90_000);

  it('MEDIA_TRANSPORT still wins over the version: RTP on 22.6, and slin16 over RTP is recorded at 16 kHz', async () => {
    const r = await callThrough(await harness('22.6.0', { MEDIA_TRANSPORT: 'rtp', MEDIA_FORMAT: 'slin16' }));
    expect(r.media).toMatch(/^UnicastRTP\//);
    expect(r.sampleRate).toBe(16_000);
  }, 90_000);
});
