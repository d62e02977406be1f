import { describe, expect, it } from 'vitest';
import {
  PAYLOAD_TYPES,
  parseRtpPacket,
  RtpParseError,
  seqDistance,
  serializeRtpPacket,
} from './rtp-packet.js';

describe('RTP packets', () => {
  it('round-trips header fields including maximum values', () => {
    const payload = Uint8Array.from({ length: 160 }, (_, i) => i);
    const buf = serializeRtpPacket({
      marker: true,
      payloadType: PAYLOAD_TYPES.slin16,
      sequenceNumber: 65535,
      timestamp: 0xffffffff,
      ssrc: 0xdeadbeef,
      csrcs: [1, 0xffffffff],
      payload,
    });
    expect(buf.length).toBe(12 + 8 + 160);
    expect(buf[0]).toBe(0x82);
    expect(buf[1]).toBe(0x80 | 118);
    const p = parseRtpPacket(buf);
    expect(p).toMatchObject({
      marker: true,
      payloadType: 118,
      sequenceNumber: 65535,
      timestamp: 0xffffffff,
      ssrc: 0xdeadbeef,
      csrcs: [1, 0xffffffff],
    });
    expect(Array.from(p.payload)).toEqual(Array.from(payload));
  });

  it('wraps sequence numbers and timestamps modulo their field sizes', () => {
    const p = parseRtpPacket(
      serializeRtpPacket({
        marker: false,
        payloadType: 0,
        sequenceNumber: 65536 + 5,
        timestamp: 2 ** 32 + 160,
        ssrc: 1,
        csrcs: [],
        payload: new Uint8Array(1),
      }),
    );
    expect(p.sequenceNumber).toBe(5);
    expect(p.timestamp).toBe(160);
  });

  it('parses a hand-built packet with CSRC, header extension and padding', () => {
    const bytes = [
      0xb1,
      0x08,
      0x12,
      0x34,
      0x00,
      0x00,
      0x01,
      0x00,
      0xca,
      0xfe,
      0xba,
      0xbe, // V=2 P X CC=1, PT 8, seq, ts, ssrc
      0x00,
      0x00,
      0x00,
      0x07, // CSRC
      0xbe,
      0xde,
      0x00,
      0x01,
      0x11,
      0x22,
      0x33,
      0x44, // extension: 1 word
      0xd5,
      0xd5,
      0xd5, // payload
      0x00,
      0x00,
      0x03, // 3 bytes of padding
    ];
    const p = parseRtpPacket(Uint8Array.from(bytes));
    expect(p.payloadType).toBe(PAYLOAD_TYPES.alaw);
    expect(p.sequenceNumber).toBe(0x1234);
    expect(p.timestamp).toBe(256);
    expect(p.ssrc).toBe(0xcafebabe);
    expect(p.csrcs).toEqual([7]);
    expect(p.extension?.profile).toBe(0xbede);
    expect(Array.from(p.extension?.data ?? [])).toEqual([0x11, 0x22, 0x33, 0x44]);
    expect(Array.from(p.payload)).toEqual([0xd5, 0xd5, 0xd5]);
  });

  it('serializes an extension that the parser reads back', () => {
    const buf = serializeRtpPacket({
      marker: false,
      payloadType: 0,
      sequenceNumber: 1,
      timestamp: 2,
      ssrc: 3,
      csrcs: [],
      extension: { profile: 0x1000, data: Uint8Array.from([9, 9, 9, 9, 8, 8, 8, 8]) },
      payload: Uint8Array.from([0xff]),
    });
    const p = parseRtpPacket(buf);
    expect(p.extension?.data.length).toBe(8);
    expect(Array.from(p.payload)).toEqual([0xff]);
  });

  it('rejects malformed packets with a clear error', () => {
    expect(() => parseRtpPacket(new Uint8Array(5))).toThrow(RtpParseError);
    expect(() => parseRtpPacket(Uint8Array.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(
      /version 1/,
    );
    expect(() => parseRtpPacket(Uint8Array.from([0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/CSRC/);
    expect(() =>
      parseRtpPacket(Uint8Array.from([0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9])),
    ).toThrow(/extension/);
    expect(() => parseRtpPacket(Uint8Array.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 40]))).toThrow(
      /padding/,
    );
  });

  it('measures sequence distance across the 16-bit wrap', () => {
    expect(seqDistance(2, 65534)).toBe(4);
    expect(seqDistance(65534, 2)).toBe(-4);
    expect(seqDistance(100, 100)).toBe(0);
    expect(seqDistance(0, 65535)).toBe(1);
  });
});
