import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createAutoMediaTransport, hasWebSocketMedia } from '../../src/telephony/ari/media-transport.js';
import type { PortPool } from '../../src/telephony/media/port-pool.js';
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

describe('the media chosen by version', () => {
  /** An ARI client as the auto transport sees it: the version it reports, and its connection. */
  function fakeAri(version: string | Error) {
    const listeners = new Set<(up: boolean) => void>();
    const ari = {
      version,
      asked: 0,
      connected: true,
      authorization: 'Basic x',
      mediaWebSocketUrl: (id: string) => `ws://pbx/media/${id}`,
      async asteriskInfo() {
        ari.asked++;
        if (ari.version instanceof Error) throw ari.version;
        return { system: { version: ari.version } };
      },
      onConnectionChange(l: (up: boolean) => void) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      reconnect() {
        for (const l of [...listeners]) l(true);
      },
      listeners,
    };
    return ari;
  }
  const transportFor = (ari: ReturnType<typeof fakeAri>) =>
    createAutoMediaTransport({
      ari,
      mediaHost: '127.0.0.1',
      portPool: {} as PortPool,
      logger: silentLogger(),
    });

  it('asks once the events socket is up, keeps the answer, and asks again after a reconnect', async () => {
    const ari = fakeAri('22.6.0');
    const media = transportFor(ari);
    expect(await media.resolve()).toBe('websocket');
    expect(await media.resolve()).toBe('websocket');
    expect(ari.asked).toBe(1);
    // Asterisk was downgraded while the socket was down.
    ari.version = '22.5.2';
    ari.reconnect();
    expect(await media.resolve()).toBe('rtp');
    expect(ari.asked).toBe(2);
    media.close();
    expect(ari.listeners.size).toBe(0);
  });

  it('when Asterisk cannot be asked, that call gets RTP and the next one asks again', async () => {
    const ari = fakeAri(new Error('connect ECONNREFUSED'));
    const media = transportFor(ari);
    expect(await media.resolve()).toBe('rtp');
    ari.version = '22.10.1';
    expect(await media.resolve()).toBe('websocket');
    media.close();
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
