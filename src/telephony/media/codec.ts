import { g711 } from '../../audio/g711.js';
import { PAYLOAD_TYPES } from './rtp-packet.js';

export type MediaFormat = 'ulaw' | 'alaw' | 'slin16';

/** Where the bytes go: slin16 is big-endian in RTP and little-endian on chan_websocket. */
export type MediaTransport = 'rtp' | 'websocket';

export interface Codec {
  readonly format: MediaFormat;
  readonly sampleRate: number;
  /** Samples in one 20 ms frame. */
  readonly samplesPerFrame: number;
  /** Bytes of one 20 ms frame on the wire. */
  readonly bytesPerFrame: number;
  readonly payloadType: number;
  encode(pcm: Int16Array): Uint8Array;
  decode(payload: Uint8Array): Int16Array;
}

export const MEDIA_FORMATS: readonly MediaFormat[] = ['ulaw', 'alaw', 'slin16'];

function slin16(littleEndian: boolean): Pick<Codec, 'encode' | 'decode'> {
  return {
    encode(pcm) {
      const out = new Uint8Array(pcm.length * 2);
      const view = new DataView(out.buffer);
      for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i], littleEndian);
      return out;
    },
    decode(payload) {
      // An odd trailing byte is half a sample: it is dropped rather than misread.
      const n = payload.length >> 1;
      const out = new Int16Array(n);
      const view = new DataView(payload.buffer, payload.byteOffset, n * 2);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, littleEndian);
      return out;
    },
  };
}

/** The codec of a media format as carried by a transport. */
export function getCodec(format: MediaFormat, transport: MediaTransport = 'rtp'): Codec {
  switch (format) {
    case 'ulaw':
      return {
        format,
        sampleRate: 8000,
        samplesPerFrame: 160,
        bytesPerFrame: 160,
        payloadType: PAYLOAD_TYPES.ulaw,
        encode: g711.ulawEncode,
        decode: g711.ulawDecode,
      };
    case 'alaw':
      return {
        format,
        sampleRate: 8000,
        samplesPerFrame: 160,
        bytesPerFrame: 160,
        payloadType: PAYLOAD_TYPES.alaw,
        encode: g711.alawEncode,
        decode: g711.alawDecode,
      };
    case 'slin16':
      return {
        format,
        sampleRate: 16000,
        samplesPerFrame: 320,
        bytesPerFrame: 640,
        payloadType: PAYLOAD_TYPES.slin16,
        ...slin16(transport === 'websocket'),
      };
    default:
      throw new Error(
        `unknown media format ${JSON.stringify(format)}; expected one of ${MEDIA_FORMATS.join(', ')}`,
      );
  }
}
