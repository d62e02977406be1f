import dgram from 'node:dgram';
import type { Logger } from 'pino';
import { createResampler, type Resampler } from '../audio/resample.js';
import { getCodec, type MediaFormat } from '../telephony/media/codec.js';
import { parseRtpPacket, serializeRtpPacket } from '../telephony/media/rtp-packet.js';
import { FRAME_SAMPLES, MIX_RATE } from './media-clock.js';
import type { MediaPort } from './media-port.js';
import { SampleFifo } from './sample-fifo.js';

export interface RtpPort extends MediaPort {
  readonly localAddress: string;
  readonly localPort: number;
  stats(): { txPackets: number; rxPackets: number; rxDropped: number };
}

export interface RtpPortOptions {
  bindHost: string;
  remoteHost: string;
  remotePort: number;
  format: MediaFormat;
  logger: Logger;
}

/**
 * chan_rtp's UnicastRTP channel: bridged audio goes out as RTP to `external_host`, one packet a
 * tick; RTP that arrives is decoded into the bridge. Like Asterisk without SDP, only static payload
 * types can be received: slin16 (dynamic PT 118) is send-only and inbound slin16 is dropped.
 */
export async function createRtpPort(opts: RtpPortOptions): Promise<RtpPort> {
  const codec = getCodec(opts.format, 'rtp');
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, opts.bindHost, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => opts.logger.warn({ err }, 'pbx-sim: RTP socket error'));

  const toWire: Resampler | null =
    codec.sampleRate === MIX_RATE ? null : createResampler(MIX_RATE, codec.sampleRate);
  const fromWire: Resampler | null =
    codec.sampleRate === MIX_RATE ? null : createResampler(codec.sampleRate, MIX_RATE);
  const outFifo = new SampleFifo(codec.samplesPerFrame * 10);
  // A jitter buffer: audio that arrives faster than it is played out is dropped beyond one second.
  const inFifo = new SampleFifo(FRAME_SAMPLES * 50);
  const receivesInbound = opts.format !== 'slin16';

  const ssrc = (Math.random() * 0xffffffff) >>> 0;
  let seq = Math.floor(Math.random() * 0xffff);
  let ts = (Math.random() * 0xffffffff) >>> 0;
  let first = true;
  let closed = false;
  const counters = { txPackets: 0, rxPackets: 0, rxDropped: 0 };

  socket.on('message', (msg) => {
    let pkt: ReturnType<typeof parseRtpPacket>;
    try {
      pkt = parseRtpPacket(msg);
    } catch {
      counters.rxDropped++;
      return;
    }
    if (!receivesInbound || pkt.payloadType !== codec.payloadType) {
      counters.rxDropped++;
      return;
    }
    counters.rxPackets++;
    const pcm = codec.decode(pkt.payload);
    inFifo.push(fromWire ? fromWire.process(pcm) : pcm);
  });

  const address = socket.address();
  return {
    localAddress: address.address,
    localPort: address.port,
    pull() {
      return inFifo.take(FRAME_SAMPLES);
    },
    push(frame) {
      if (closed) return;
      outFifo.push(toWire ? toWire.process(frame) : frame);
      for (let pcm = outFifo.take(codec.samplesPerFrame); pcm; pcm = outFifo.take(codec.samplesPerFrame)) {
        const packet = serializeRtpPacket({
          marker: first,
          payloadType: codec.payloadType,
          sequenceNumber: seq,
          timestamp: ts,
          ssrc,
          csrcs: [],
          payload: codec.encode(pcm),
        });
        first = false;
        seq = (seq + 1) & 0xffff;
        ts = (ts + codec.samplesPerFrame) >>> 0;
        counters.txPackets++;
        socket.send(packet, opts.remotePort, opts.remoteHost);
      }
    },
    stats: () => ({ ...counters }),
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}
