import dgram from 'node:dgram';
import { createResampler } from '../../src/audio/resample.js';
import { getCodec, type MediaFormat } from '../../src/telephony/media/codec.js';
import { parseRtpPacket, serializeRtpPacket } from '../../src/telephony/media/rtp-packet.js';

/** The agent's side of an externalMedia RTP leg, for tests: receives, counts and sends paced RTP. */
export class RtpPeer {
  readonly received: { pt: number; seq: number; ts: number; pcm: Int16Array }[] = [];
  private socket = dgram.createSocket('udp4');
  private timer: NodeJS.Timeout | null = null;

  static async open(): Promise<RtpPeer> {
    const p = new RtpPeer();
    await new Promise<void>((r) => p.socket.bind(0, '127.0.0.1', () => r()));
    p.socket.on('message', (msg) => {
      const pkt = parseRtpPacket(msg);
      const format = pkt.payloadType === 0 ? 'ulaw' : pkt.payloadType === 8 ? 'alaw' : 'slin16';
      p.received.push({
        pt: pkt.payloadType,
        seq: pkt.sequenceNumber,
        ts: pkt.timestamp,
        pcm: getCodec(format).decode(pkt.payload),
      });
    });
    return p;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Packets whose peak level is speech-like (well above line noise). */
  loudPackets(): number {
    return this.received.filter((r) => r.pcm.some((s) => Math.abs(s) > 2000)).length;
  }

  /** Audio time (ms) since the last loud packet, once one came; 0 before any. */
  trailingQuietMs(): number {
    let quiet = 0;
    for (let i = this.received.length - 1; i >= 0; i--) {
      const r = this.received[i];
      if (r.pcm.some((s) => Math.abs(s) > 2000)) return quiet;
      quiet += 20;
    }
    return 0;
  }

  /** Sends `pcm16k` as 20 ms RTP frames in `format`, paced in real time; silence afterwards keeps the line alive. */
  send(
    pcm16k: Int16Array,
    format: MediaFormat,
    host: string,
    port: number,
    trailingSilenceMs = 1500,
  ): Promise<void> {
    const codec = getCodec(format);
    const pcm =
      codec.sampleRate === 16000 ? pcm16k : createResampler(16000, codec.sampleRate).process(pcm16k);
    const total = pcm.length + (trailingSilenceMs * codec.sampleRate) / 1000;
    const all = new Int16Array(total);
    all.set(pcm);
    let seq = 1;
    let ts = 0;
    let off = 0;
    const start = performance.now();
    let sent = 0;
    return new Promise((resolve) => {
      const sendOne = () => {
        const frame = all.subarray(off, off + codec.samplesPerFrame);
        off += codec.samplesPerFrame;
        const packet = serializeRtpPacket({
          marker: seq === 1,
          payloadType: codec.payloadType,
          sequenceNumber: seq++,
          timestamp: ts,
          ssrc: 0x1234abcd,
          csrcs: [],
          payload: codec.encode(frame),
        });
        ts += codec.samplesPerFrame;
        this.socket.send(packet, port, host);
      };
      // Paced by elapsed time, so a late timer sends the frames that are due instead of leaving gaps.
      this.timer = setInterval(() => {
        const due = Math.floor((performance.now() - start) / 20) + 1;
        while (sent < due && off < all.length) {
          sendOne();
          sent++;
        }
        if (off >= all.length) {
          clearInterval(this.timer!);
          this.timer = null;
          resolve();
        }
      }, 20);
    });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.socket.close();
  }
}
