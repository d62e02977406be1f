/** RTP (RFC 3550) fixed header, CSRC list, header extension and padding. */

export const PAYLOAD_TYPES = { ulaw: 0, alaw: 8, slin16: 118 } as const;

export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  /** 16-bit, wraps at 65536. */
  sequenceNumber: number;
  /** 32-bit unsigned, wraps at 2^32. */
  timestamp: number;
  /** 32-bit unsigned. */
  ssrc: number;
  csrcs: number[];
  /** The header extension when X was set (profile-defined id and its 32-bit words). */
  extension?: { profile: number; data: Uint8Array };
  payload: Uint8Array;
}

export class RtpParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RtpParseError';
  }
}

const HEADER = 12;

/** Parses one datagram; throws `RtpParseError` for anything that is not a well-formed RTP v2 packet. */
export function parseRtpPacket(buf: Uint8Array): RtpPacket {
  if (buf.length < HEADER)
    throw new RtpParseError(`packet of ${buf.length} bytes is shorter than the RTP header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b0 = buf[0];
  const version = b0 >> 6;
  if (version !== 2) throw new RtpParseError(`RTP version ${version} is not 2`);
  const hasPadding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const b1 = buf[1];
  let offset = HEADER + csrcCount * 4;
  if (buf.length < offset) throw new RtpParseError(`packet too short for its ${csrcCount} CSRCs`);
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++) csrcs.push(view.getUint32(HEADER + i * 4));
  let extension: RtpPacket['extension'];
  if (hasExtension) {
    if (buf.length < offset + 4) throw new RtpParseError('packet too short for its header extension');
    const profile = view.getUint16(offset);
    const words = view.getUint16(offset + 2);
    const start = offset + 4;
    offset = start + words * 4;
    if (buf.length < offset) throw new RtpParseError('header extension runs past the end of the packet');
    extension = { profile, data: buf.subarray(start, offset) };
  }
  let end = buf.length;
  if (hasPadding) {
    const pad = buf[buf.length - 1];
    if (pad === 0 || end - pad < offset) throw new RtpParseError(`invalid padding length ${pad}`);
    end -= pad;
  }
  return {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    csrcs,
    extension,
    payload: buf.subarray(offset, end),
  };
}

/** Serializes a packet (no padding); seq and timestamp are taken modulo their field sizes. */
export function serializeRtpPacket(p: RtpPacket): Buffer {
  if (p.csrcs.length > 15) throw new RangeError('at most 15 CSRCs fit in an RTP header');
  if (p.payloadType < 0 || p.payloadType > 127)
    throw new RangeError(`payload type ${p.payloadType} out of range`);
  const extLen = p.extension ? 4 + Math.ceil(p.extension.data.length / 4) * 4 : 0;
  const headerLen = HEADER + p.csrcs.length * 4 + extLen;
  const out = Buffer.alloc(headerLen + p.payload.length);
  out[0] = 0x80 | (p.extension ? 0x10 : 0) | p.csrcs.length;
  out[1] = (p.marker ? 0x80 : 0) | p.payloadType;
  out.writeUInt16BE(p.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  let offset = HEADER;
  for (const c of p.csrcs) {
    out.writeUInt32BE(c >>> 0, offset);
    offset += 4;
  }
  if (p.extension) {
    out.writeUInt16BE(p.extension.profile & 0xffff, offset);
    out.writeUInt16BE((extLen - 4) / 4, offset + 2);
    out.set(p.extension.data, offset + 4);
    offset += extLen;
  }
  out.set(p.payload, offset);
  return out;
}

/** Signed distance a − b between two 16-bit sequence numbers, correct across wrap-around. */
export function seqDistance(a: number, b: number): number {
  const d = (a - b) & 0xffff;
  return d >= 0x8000 ? d - 0x10000 : d;
}
