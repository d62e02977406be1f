import { randomInt } from 'node:crypto';
import type dgram from 'node:dgram';
import type { Logger } from '../../logger.js';
import type { CallAudio } from '../call-session.js';
import { createSystemClock, type MediaClock } from './clock.js';
import { getCodec, type MediaFormat } from './codec.js';
import { createFrameTicker } from './frame-ticker.js';
import { createJitterBuffer, type JitterBufferOptions, type JitterBufferStats } from './jitter-buffer.js';
import { createPacer, type PacerStats } from './pacer.js';
import {
  createPlayoutWaits,
  DEFAULT_PLAYOUT_MARGIN_MS,
  type PlayoutOptions,
  type PlayoutResult,
} from './playout.js';
import type { PortPool, RtpPortLease } from './port-pool.js';
import { parseRtpPacket, serializeRtpPacket } from './rtp-packet.js';

export interface RtpEndpoint {
  address: string;
  port: number;
}

export interface RtpCallAudioOptions {
  /** A bound UDP socket this media owns from now on (closed by `close()`); or give `portPool`. */
  socket?: dgram.Socket;
  portPool?: PortPool;
  /** Where to send; `null` learns it from the first valid packet that arrives (symmetric RTP). */
  remote: RtpEndpoint | null;
  format: MediaFormat;
  clock?: MediaClock;
  logger?: Logger;
  /**
   * What goes out while nothing is playing. `silence` (default) keeps 50 packets/s flowing, which an
   * Asterisk mixing bridge needs to keep passing the callee's audio back.
   */
  idle?: 'silence' | 'none';
  jitter?: Omit<JitterBufferOptions, 'samplesPerFrame'>;
  maxBurstFrames?: number;
  voicedRms?: number;
}

export interface RtpCallAudioStats {
  sent: PacerStats & { packets: number; bytes: number; sendErrors: number };
  received: JitterBufferStats & {
    packets: number;
    /** Packets with another payload type or SSRC than the stream's. */
    ignored: number;
    malformed: number;
    framesDelivered: number;
  };
  remote: RtpEndpoint | null;
}

export interface RtpCallAudio extends CallAudio {
  readonly format: MediaFormat;
  readonly localPort: number;
  readonly ssrc: number;
  readonly remote: RtpEndpoint | null;
  /** Sets (or changes) where RTP goes, e.g. from UNICASTRTP_LOCAL_ADDRESS/PORT; starts sending. */
  setRemote(address: string, port: number): void;
  stats(): RtpCallAudioStats;
  /**
   * Resolves once the far end has played everything queued. RTP has no confirmation, and we pace it
   * ourselves: that is when our pacer's queue is empty and the last frame's time on the media clock
   * has passed (a burst after a stall plays out one frame a period at the far end), plus two periods
   * for the far end's mixing tick and arrival jitter. Bounded by that plus `marginMs`; at once when closed.
   */
  drain(opts?: PlayoutOptions): Promise<PlayoutResult>;
  /** Stops sending and receiving, resolves pending plays, and closes the socket. */
  close(): Promise<void>;
}

/** A locked SSRC silent this long may be replaced by a new one (the PBX re-created its stream). */
const SSRC_SWITCH_AFTER_MS = 1000;

/**
 * Call audio over RTP (Asterisk externalMedia with encapsulation=rtp): paced 20 ms packets out,
 * a jitter buffer and a 20 ms playout clock in.
 */
export async function createRtpCallAudio(opts: RtpCallAudioOptions): Promise<RtpCallAudio> {
  let lease: RtpPortLease | null = null;
  let socket: dgram.Socket;
  if (opts.socket) socket = opts.socket;
  else if (opts.portPool) {
    lease = await opts.portPool.allocate();
    socket = lease.socket;
  } else throw new Error('createRtpCallAudio needs a bound socket or a port pool');

  let localPort: number;
  try {
    localPort = socket.address().port;
  } catch (err) {
    await lease?.release();
    throw new Error('createRtpCallAudio needs a bound socket (bind it before passing it in)', { cause: err });
  }
  const codec = getCodec(opts.format, 'rtp');
  const spf = codec.samplesPerFrame;
  const clock = opts.clock ?? createSystemClock();
  const log = opts.logger;
  const ssrc = randomInt(0, 2 ** 32);
  const seq0 = randomInt(0, 65536);
  const ts0 = randomInt(0, 2 ** 32);
  let remote: RtpEndpoint | null = opts.remote ? { ...opts.remote } : null;
  let closed = false;
  let packetsSent = 0;
  let bytesSent = 0;
  let sendErrors = 0;
  const playoutWaits = createPlayoutWaits(clock);

  const pacer = createPacer({
    sampleRate: codec.sampleRate,
    idle: opts.idle ?? 'silence',
    clock,
    maxBurstFrames: opts.maxBurstFrames,
    voicedRms: opts.voicedRms,
    onError: (err) => log?.warn({ err }, 'rtp send listener failed'),
    send(frame, info) {
      if (!remote) return;
      const packet = serializeRtpPacket({
        marker: info.talkspurtStart,
        payloadType: codec.payloadType,
        sequenceNumber: (seq0 + packetsSent) & 0xffff,
        // The RTP clock counts every slot, sent or not: silence and stalls advance it too.
        timestamp: (ts0 + info.slot * spf) >>> 0,
        ssrc,
        csrcs: [],
        payload: codec.encode(frame),
      });
      packetsSent++;
      bytesSent += packet.length;
      socket.send(packet, remote.port, remote.address, (err) => {
        if (err && !closed) {
          sendErrors++;
          if (sendErrors === 1 || sendErrors % 500 === 0) log?.warn({ err, sendErrors }, 'rtp send failed');
        }
      });
    },
  });

  // ---------- receive ----------
  const jitter = createJitterBuffer({ samplesPerFrame: spf, ...opts.jitter });
  const frameListeners = new Set<(frame: Int16Array) => void>();
  let remoteSsrc: number | null = null;
  let lastFromRemoteAt = 0;
  let received = 0;
  let ignored = 0;
  let malformed = 0;
  let delivered = 0;
  // Packets whose ptime is not 20 ms are re-cut into exact 20 ms frames here.
  let carry = new Int16Array(0);

  const deliver = (frame: Int16Array) => {
    delivered++;
    for (const l of frameListeners) {
      try {
        l(frame);
      } catch (err) {
        log?.warn({ err }, 'audio frame listener failed');
      }
    }
  };

  const playout = createFrameTicker({
    periodMs: 20,
    clock,
    maxBurst: 5,
    onError: (err) => log?.warn({ err }, 'rtp playout failed'),
    onTick() {
      while (carry.length < spf) {
        const f = jitter.pop();
        if (!f) return;
        if (carry.length === 0 && f.length === spf) {
          deliver(f);
          return;
        }
        const joined = new Int16Array(carry.length + f.length);
        joined.set(carry, 0);
        joined.set(f, carry.length);
        carry = joined;
      }
      deliver(carry.slice(0, spf));
      carry = carry.slice(spf);
    },
  });

  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (closed) return;
    let packet: ReturnType<typeof parseRtpPacket>;
    try {
      packet = parseRtpPacket(msg);
    } catch (err) {
      malformed++;
      if (malformed === 1 || malformed % 500 === 0)
        log?.debug({ err, from: rinfo.address, malformed }, 'bad rtp');
      return;
    }
    // An empty payload (a keepalive) carries no audio: queued, it would be a frame of no samples.
    if (packet.payloadType !== codec.payloadType || packet.payload.length === 0) {
      ignored++;
      return;
    }
    const now = clock.now();
    if (remoteSsrc !== null && packet.ssrc !== remoteSsrc) {
      if (now - lastFromRemoteAt < SSRC_SWITCH_AFTER_MS) {
        ignored++;
        return;
      }
      log?.info({ from: rinfo.address }, 'rtp stream changed ssrc');
    }
    remoteSsrc = packet.ssrc;
    lastFromRemoteAt = now;
    received++;
    if (!remote) setRemote(rinfo.address, rinfo.port);
    jitter.push(packet.sequenceNumber, codec.decode(packet.payload));
    if (!playout.running) playout.start();
  };
  socket.on('message', onMessage);
  const onSocketError = (err: Error) => log?.warn({ err }, 'rtp socket error');
  socket.on('error', onSocketError);

  function setRemote(address: string, port: number) {
    if (!Number.isInteger(port) || port <= 0 || port > 65535)
      throw new RangeError(`invalid RTP port ${port}`);
    if (!address) throw new RangeError('RTP remote address is empty');
    remote = { address, port };
    if (!closed) pacer.start();
  }

  if (remote) setRemote(remote.address, remote.port);

  let closing: Promise<void> | null = null;
  // RTP has no hangup of its own: the path is gone when it is closed here (the call's teardown).
  const closeListeners = new Set<() => void>();
  return {
    format: opts.format,
    sampleRate: codec.sampleRate,
    localPort,
    ssrc,
    get remote() {
      return remote ? { ...remote } : null;
    },
    setRemote,
    onFrame(listener) {
      frameListeners.add(listener);
      return () => frameListeners.delete(listener);
    },
    play: (samples) => pacer.play(samples),
    flush: () => {
      playoutWaits.endAll('flushed');
      pacer.flush();
    },
    drain(o = {}) {
      // Nothing goes out before the far end's address is known: nobody can be waiting to hear it.
      if (closed || !remote) return Promise.resolve('closed');
      const allowanceMs = 2 * (1000 / 50);
      const pendingMs = pacer.stats().queuedMs + Math.max(0, pacer.playedOutAtMs - clock.now()) + allowanceMs;
      return playoutWaits.wait(pendingMs + (o.marginMs ?? DEFAULT_PLAYOUT_MARGIN_MS), (done) => {
        let cancel: (() => void) | null = null;
        let over = false;
        void pacer.whenEmpty().then(() => {
          if (over) return;
          cancel = clock.setTimer(() => done('played'), pacer.playedOutAtMs + allowanceMs - clock.now());
        });
        return () => {
          over = true;
          cancel?.();
        };
      });
    },
    onFrameSent: (listener) =>
      pacer.onFrameSent(({ voiced, atMs }, frame) => listener({ voiced, atMs, frame })),
    stats: () => ({
      sent: { ...pacer.stats(), packets: packetsSent, bytes: bytesSent, sendErrors },
      received: {
        ...jitter.stats(),
        packets: received,
        ignored,
        malformed,
        framesDelivered: delivered,
      },
      remote: remote ? { ...remote } : null,
    }),
    onClose(listener) {
      if (closed) {
        listener();
        return () => {};
      }
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    close() {
      closing ??= (async () => {
        closed = true;
        playoutWaits.endAll('closed');
        pacer.stop();
        playout.stop();
        for (const l of [...closeListeners]) {
          try {
            l();
          } catch (err) {
            log?.warn({ err }, 'media close listener failed');
          }
        }
        closeListeners.clear();
        frameListeners.clear();
        socket.off('message', onMessage);
        if (lease) await lease.release();
        else
          await new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve(); // its owner closed it already
            }
          });
        socket.off('error', onSocketError);
      })();
      return closing;
    },
  };
}
