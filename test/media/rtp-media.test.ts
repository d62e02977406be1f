import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MediaFormat } from '../../src/telephony/media/codec.js';
import { getCodec } from '../../src/telephony/media/codec.js';
import { isVoiced } from '../../src/telephony/media/pacer.js';
import { createPortPool, type PortPool } from '../../src/telephony/media/port-pool.js';
import { createRtpCallAudio } from '../../src/telephony/media/rtp-media.js';
import { parseRtpPacket, type RtpPacket, serializeRtpPacket } from '../../src/telephony/media/rtp-packet.js';
import { concat, dbRatio, locate, rms, speechLike } from './signals.js';

/** Waits for a condition the media path brings about; no fixed sleeps, so a slow machine only takes longer. */
const until = (what: string, cond: () => boolean, timeout = 10_000) =>
  vi.waitFor(
    () => {
      if (!cond()) throw new Error(`still waiting for ${what}`);
    },
    { timeout, interval: 10 },
  );
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

async function media(
  format: MediaFormat,
  remote: { address: string; port: number } | null,
  socket?: dgram.Socket,
) {
  const audio = await createRtpCallAudio({ socket: socket ?? (await udp()), remote, format });
  cleanup.push(() => audio.close());
  return audio;
}

/** A plain UDP socket that records every RTP packet it gets, with arrival time. */
async function recorder() {
  const socket = await udp();
  const packets: { p: RtpPacket; at: number }[] = [];
  socket.on('message', (m) => packets.push({ p: parseRtpPacket(m), at: performance.now() }));
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { socket, packets, port: socket.address().port };
}

async function exchange(format: MediaFormat) {
  const sockA = await udp();
  const sockB = await udp();
  const a = await media(format, { address: '127.0.0.1', port: sockB.address().port }, sockA);
  const b = await media(format, null, sockB); // learns A's address from A's first packet
  const got: Int16Array[] = [];
  b.onFrame((f) => got.push(f));
  const signal = speechLike(a.sampleRate, 1.5);
  await until("B to learn A's address from its comfort silence", () => b.remote !== null);
  const result = await a.play(signal);
  // B has played out the whole signal once two frames follow its first voiced frame's 75.
  const frames = Math.ceil(signal.length / (a.sampleRate / 50));
  await until('the signal to play out at B', () => {
    const first = got.findIndex((f) => isVoiced(f));
    return first >= 0 && got.length - first >= frames + 2;
  });
  return { a, b, signal, result, received: concat(got) };
}

describe('RTP call audio over loopback', () => {
  for (const format of ['ulaw', 'alaw', 'slin16'] as const) {
    it(`carries speech-like audio intact in ${format}`, async () => {
      const { a, b, signal, result, received } = await exchange(format);
      expect(result).toEqual({ completed: true, playedMs: 1500 });
      expect(b.sampleRate).toBe(format === 'slin16' ? 16000 : 8000);
      const { corr, lag } = locate(signal, received);
      expect(corr).toBeGreaterThan(format === 'slin16' ? 0.9999 : 0.99);
      const heard = received.subarray(lag, lag + signal.length);
      expect(Math.abs(dbRatio(rms(heard), rms(signal)))).toBeLessThan(0.5);
      // B learned where A is and answers there with comfort silence.
      expect(b.remote).toEqual({ address: '127.0.0.1', port: a.localPort });
      await until("B's comfort silence to reach A", () => a.stats().received.packets > 0);
      expect(b.stats().received).toMatchObject({ lost: 0, late: 0, malformed: 0 });
    });
  }

  it('numbers packets and timestamps continuously and marks the talkspurt', async () => {
    const rec = await recorder();
    const a = await media('ulaw', { address: '127.0.0.1', port: rec.port });
    await until('comfort silence to flow', () => rec.packets.length >= 5);
    await a.play(speechLike(8000, 0.5));
    // Silence again after the talkspurt: five more packets, and every one sent before them, arrived.
    const target = a.stats().sent.packets + 5;
    await until('silence after the talkspurt', () => rec.packets.length >= target);
    const ps = rec.packets.map((x) => x.p);
    expect(ps.length).toBeGreaterThan(30);
    for (let i = 1; i < ps.length; i++) {
      expect((ps[i].sequenceNumber - ps[i - 1].sequenceNumber) & 0xffff).toBe(1);
      expect((ps[i].timestamp - ps[i - 1].timestamp) >>> 0).toBe(160);
      expect(ps[i].ssrc).toBe(a.ssrc);
      expect(ps[i].payloadType).toBe(0);
    }
    const marked = ps.filter((p) => p.marker);
    expect(marked.length).toBe(1);
    const codec = getCodec('ulaw');
    const firstVoiced = ps.findIndex((p) => isVoiced(codec.decode(p.payload)));
    expect(ps[firstVoiced].marker).toBe(true);
  });

  it('keeps sequence and timestamps right when the event loop is blocked', async () => {
    const rec = await recorder();
    const a = await media('ulaw', { address: '127.0.0.1', port: rec.port });
    const play = a.play(speechLike(8000, 2));
    const block = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // Busy: stands in for a blocking inference call on the event loop.
      }
    };
    const framesSent = () => a.stats().sent.framesSent;
    await until('the play to be under way', () => framesSent() >= 15);
    block(50); // shorter than the burst allowance: caught up without a gap
    const afterFirst = framesSent();
    await until('15 more frames', () => framesSent() >= afterFirst + 15);
    block(300); // longer: the oldest slots are skipped, the RTP clock jumps with wall time
    await play;
    const packetsSent = a.stats().sent.packets;
    await until('every packet sent to arrive', () => rec.packets.length >= packetsSent);
    const ps = rec.packets.map((x) => x.p);
    let jumps = 0;
    let skippedFrames = 0;
    for (let i = 1; i < ps.length; i++) {
      expect((ps[i].sequenceNumber - ps[i - 1].sequenceNumber) & 0xffff).toBe(1);
      const dts = (ps[i].timestamp - ps[i - 1].timestamp) >>> 0;
      expect(dts % 160).toBe(0);
      expect(dts).toBeGreaterThanOrEqual(160);
      if (dts > 160) {
        jumps++;
        skippedFrames += dts / 160 - 1;
      }
    }
    const { sent } = a.stats();
    expect(skippedFrames).toBe(sent.skippedSlots);
    expect(jumps).toBeGreaterThanOrEqual(1);
    // Timestamps span exactly the slots that passed: packets sent plus slots skipped.
    const span = ((ps[ps.length - 1].timestamp - ps[0].timestamp) >>> 0) / 160;
    expect(span).toBe(ps.length - 1 + skippedFrames);
    // Spacing statistics, for the report: bursts after each block, 20 ms otherwise.
    const gaps = rec.packets.slice(1).map((x, i) => x.at - rec.packets[i].at);
    const sorted = [...gaps].sort((x, y) => x - y);
    console.info(
      `rtp spacing ms: median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)}, p95 ${sorted[Math.floor(sorted.length * 0.95)].toFixed(2)}, max ${sorted[sorted.length - 1].toFixed(1)}; skipped slots ${sent.skippedSlots}`,
    );
  });

  it('flush stops the audio at once and resolves the play as interrupted', async () => {
    const rec = await recorder();
    const a = await media('ulaw', { address: '127.0.0.1', port: rec.port });
    let voicedSent = 0;
    let voicedAfterFlush = 0;
    let flushed = false;
    a.onFrameSent(({ voiced }) => {
      if (voiced) voicedSent++;
      if (voiced && flushed) voicedAfterFlush++;
    });
    const play = a.play(speechLike(8000, 3));
    await until('some speech to go out', () => voicedSent >= 10);
    a.flush();
    flushed = true;
    const result = await play;
    expect(result.completed).toBe(false);
    expect(result.playedMs).toBeGreaterThan(0);
    expect(result.playedMs).toBeLessThan(3000);
    // The marker that time went on: ten frames of comfort silence sent since the flush, all arrived.
    const target = a.stats().sent.packets + 10;
    await until('ten more frames to arrive', () => rec.packets.length >= target);
    expect(voicedAfterFlush).toBe(0);
    const codec = getCodec('ulaw');
    const voicedReceived = rec.packets.filter((x) => isVoiced(codec.decode(x.p.payload))).length;
    // Only what had been handed to the socket before flush arrived; silence since.
    expect(voicedReceived).toBe(voicedSent);
    expect(rec.packets.length).toBeGreaterThan(voicedReceived + 5);
    expect(a.stats().sent.queuedMs).toBe(0);
  });

  it('ignores packets of other payload types or streams, and garbage', async () => {
    const sock = await udp();
    const b = await media('ulaw', null, sock);
    const frames: Int16Array[] = [];
    b.onFrame((f) => frames.push(f));
    const sender = await udp();
    cleanup.push(() => new Promise<void>((r) => sender.close(() => r())));
    const codec = getCodec('ulaw');
    const loud = codec.encode(new Int16Array(160).fill(12000));
    const send = (buf: Uint8Array) =>
      new Promise<void>((r) => sender.send(buf, sock.address().port, '127.0.0.1', () => r()));
    const pkt = (seq: number, ssrc: number, pt: number, payload = loud) =>
      serializeRtpPacket({
        marker: false,
        payloadType: pt,
        sequenceNumber: seq,
        timestamp: seq * 160,
        ssrc,
        csrcs: [],
        payload,
      });
    for (let i = 0; i < 10; i++) {
      await send(pkt(i, 1111, 0, codec.encode(new Int16Array(160))));
      await send(pkt(i, 2222, 0)); // another stream: ignored
      await send(pkt(i, 1111, 8)); // A-law on a μ-law stream: ignored
      await send(Buffer.from('not rtp at all'));
      // Paced like a real stream, so the jitter buffer plays each packet out.
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('all 40 datagrams to be read', () => {
      const r = b.stats().received;
      return r.packets + r.ignored + r.malformed >= 40;
    });
    await until('the packets to play out', () => frames.length > 5);
    const s = b.stats().received;
    expect(s.packets).toBe(10);
    expect(s.ignored).toBe(20);
    expect(s.malformed).toBe(10);
    expect(frames.length).toBeGreaterThan(5);
    expect(frames.every((f) => f.every((v) => v === 0))).toBe(true);
  });

  it('allocates from a port pool and gives the port back on close', async () => {
    const probe = await udp();
    const base = probe.address().port & ~1;
    probe.close();
    const pool: PortPool = createPortPool({ min: base, max: base + 3, host: '127.0.0.1' });
    cleanup.push(() => pool.close());
    const a = await createRtpCallAudio({ portPool: pool, remote: null, format: 'alaw' });
    expect(a.localPort % 2).toBe(0);
    expect(pool.inUse).toBe(1);
    await a.close();
    expect(pool.inUse).toBe(0);
    // Closed: a play is answered at once, and says why (a caller must stop, not play it again).
    expect(await a.play(new Int16Array(160))).toEqual({ completed: false, playedMs: 0, closed: true });
  });

  it('rejects an invalid remote with a clear error', async () => {
    const a = await media('ulaw', null);
    expect(() => a.setRemote('127.0.0.1', 70000)).toThrow(/invalid RTP port/);
    await expect(createRtpCallAudio({ remote: null, format: 'ulaw' })).rejects.toThrow(
      /socket or a port pool/,
    );
  });
});
