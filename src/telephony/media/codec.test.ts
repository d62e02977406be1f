import { describe, expect, it } from 'vitest';
import { getCodec } from './codec.js';

describe('codecs', () => {
  it('describes each format: rate, 20 ms frame, payload type', () => {
    expect(getCodec('ulaw')).toMatchObject({
      sampleRate: 8000,
      samplesPerFrame: 160,
      bytesPerFrame: 160,
      payloadType: 0,
    });
    expect(getCodec('alaw')).toMatchObject({
      sampleRate: 8000,
      samplesPerFrame: 160,
      bytesPerFrame: 160,
      payloadType: 8,
    });
    expect(getCodec('slin16')).toMatchObject({
      sampleRate: 16000,
      samplesPerFrame: 320,
      bytesPerFrame: 640,
      payloadType: 118,
    });
  });

  it('puts slin16 big-endian in RTP and little-endian on chan_websocket', () => {
    const pcm = Int16Array.from([0x1234, -2]);
    expect(Array.from(getCodec('slin16', 'rtp').encode(pcm))).toEqual([0x12, 0x34, 0xff, 0xfe]);
    expect(Array.from(getCodec('slin16', 'websocket').encode(pcm))).toEqual([0x34, 0x12, 0xfe, 0xff]);
    for (const t of ['rtp', 'websocket'] as const) {
      const c = getCodec('slin16', t);
      expect(Array.from(c.decode(c.encode(pcm)))).toEqual([0x1234, -2]);
    }
  });

  it('decodes slin16 from an unaligned view and drops a dangling half sample', () => {
    const bytes = Uint8Array.from([0xaa, 0x01, 0x02, 0x03, 0x04, 0x05]).subarray(1);
    expect(Array.from(getCodec('slin16', 'rtp').decode(bytes))).toEqual([0x0102, 0x0304]);
  });

  it('rejects an unknown format by name', () => {
    expect(() => getCodec('opus' as never)).toThrow(/unknown media format "opus"/);
  });
});
