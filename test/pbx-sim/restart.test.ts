import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawAri } from './ari-test-client.js';
import { type SimFixture, startSimFixture } from './sim-fixture.js';

let f: SimFixture;
beforeAll(async () => {
  f = await startSimFixture();
});
afterAll(async () => {
  await f?.close();
});

const info = () => fetch(`${f.pbx.ariUrl}/asterisk/info?api_key=ari:secret`);

describe('Asterisk going down under its calls', () => {
  it('a shutdown hangs a ringing channel up softly (cause 4), Dial NOANSWER, ChannelDestroyed cause 0; a live recording stays stored', async () => {
    const ringing = await f.ari.call('POST', '/channels', {
      endpoint: 'PJSIP/+14155550101@trunk',
      app: 'test',
    });
    await f.ari.waitFor((e) => e.type === 'Dial' && e.peer.id === ringing.id && e.dialstatus === 'RINGING');
    const bridge = await f.ari.call('POST', '/bridges', { type: 'mixing' });
    await f.ari.call('POST', `/bridges/${bridge.id}/record`, { name: 'restart-1', format: 'wav' });

    await f.pbx.goDown('shutdown');
    const destroyed = await f.ari.waitFor(
      (e) => e.type === 'ChannelDestroyed' && e.channel.id === ringing.id,
    );
    expect(destroyed.cause).toBe(0);
    const mine = f.ari.events.filter((e) => (e.channel ?? e.peer)?.id === ringing.id);
    // The soft hangup is published by the thread that requests it, before the dial thread reports.
    expect(mine.slice(-3).map((e) => e.type)).toEqual(['ChannelHangupRequest', 'Dial', 'ChannelDestroyed']);
    expect(mine.at(-3)).toMatchObject({ cause: 4, soft: true });
    expect(mine.at(-2)?.dialstatus).toBe('NOANSWER');

    // Down: nothing answers, the events socket is gone.
    await expect(info()).rejects.toThrow();
    // The recording was closed and stays in the recordings folder.
    expect(await fs.readdir(f.pbx.recordingsDir)).toContain('restart-1.wav');

    f.pbx.comeBack();
    expect((await info()).status).toBe(200);
    expect(f.pbx.channels()).toEqual([]);
    expect(f.pbx.bridges()).toEqual([]);
    const stored = await fetch(`${f.pbx.ariUrl}/recordings/stored/restart-1/file?api_key=ari:secret`);
    expect(stored.status).toBe(200);
    expect(Buffer.from(await stored.arrayBuffer()).toString('ascii', 0, 4)).toBe('RIFF');
  });

  it('a shutdown under an answered call: soft request (4), StasisEnd, ChannelDestroyed cause 16, as on 22.10.1', async () => {
    const ari = new RawAri(f.pbx.ariUrl);
    await ari.connect();
    try {
      const ch = await ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550100@trunk', app: 'test' });
      await ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
      await f.pbx.goDown('shutdown');
      const destroyed = await ari.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === ch.id);
      expect(destroyed).toMatchObject({ cause: 16 });
      const mine = ari.events.filter((e) => e.channel?.id === ch.id).map((e) => e.type);
      expect(mine.slice(-3)).toEqual(['ChannelHangupRequest', 'StasisEnd', 'ChannelDestroyed']);
      expect(
        ari.events.find((e) => e.type === 'ChannelHangupRequest' && e.channel.id === ch.id),
      ).toMatchObject({
        cause: 4,
        soft: true,
      });
      // Down: nothing answers.
      await expect(info()).rejects.toThrow();
      f.pbx.comeBack();
      expect((await info()).status).toBe(200);
    } finally {
      ari.close();
    }
  });

  it('a crash sends nothing: the event socket just dies', async () => {
    const ari = new RawAri(f.pbx.ariUrl);
    await ari.connect();
    try {
      const ch = await ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550101@trunk', app: 'test' });
      await ari.waitFor((e) => e.type === 'Dial' && e.peer.id === ch.id && e.dialstatus === 'RINGING');
      const seen = ari.events.length;
      await f.pbx.goDown('crash');
      await expect(info()).rejects.toThrow();
      expect(ari.events.slice(seen)).toEqual([]);
      expect(f.pbx.channels()).toEqual([]);
      f.pbx.comeBack();
      expect((await info()).status).toBe(200);
    } finally {
      ari.close();
    }
  });

  it('recording into a recordings folder that does not exist fails with 500, as Asterisk does', async () => {
    const ari = new RawAri(f.pbx.ariUrl);
    await ari.connect();
    try {
      const bridge = await ari.call('POST', '/bridges', { type: 'mixing' });
      await fs.rm(f.pbx.recordingsDir, { recursive: true });
      const res = await ari.request('POST', `/bridges/${bridge.id}/record`, {
        name: 'nofolder',
        format: 'wav',
      });
      expect(res).toMatchObject({ status: 500, json: { message: 'Internal Server Error' } });
      await fs.mkdir(f.pbx.recordingsDir);
      expect(
        (await ari.request('POST', `/bridges/${bridge.id}/record`, { name: 'nofolder', format: 'wav' }))
          .status,
      ).toBe(200);
      await ari.call('DELETE', `/bridges/${bridge.id}`);
    } finally {
      ari.close();
    }
  });
});

describe('a bridge recording whose parties are gone', () => {
  it('stops once the last channel hung up: stop is answered 404, the stored recording is there', async () => {
    const ari = new RawAri(f.pbx.ariUrl);
    await ari.connect();
    try {
      const ch = await ari.call('POST', '/channels', { endpoint: 'PJSIP/+14155550100@trunk', app: 'test' });
      await ari.waitFor((e) => e.type === 'StasisStart' && e.channel.id === ch.id);
      const bridge = await ari.call('POST', '/bridges', { type: 'mixing' });
      await ari.call('POST', `/bridges/${bridge.id}/addChannel`, { channel: ch.id });
      await ari.call('POST', `/bridges/${bridge.id}/record`, { name: 'emptied', format: 'wav' });
      // With a party still there the recording is live.
      expect((await ari.request('GET', '/recordings/live/emptied')).status).toBe(200);
      await ari.call('DELETE', `/channels/${ch.id}`);
      await ari.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'emptied');
      expect(await ari.request('POST', '/recordings/live/emptied/stop')).toMatchObject({
        status: 404,
        json: { message: 'Recording not found' },
      });
      expect((await ari.request('GET', '/recordings/stored/emptied')).status).toBe(200);
      await ari.call('DELETE', `/bridges/${bridge.id}`);
    } finally {
      ari.close();
    }
  });
});
