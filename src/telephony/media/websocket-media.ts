import WebSocket from 'ws';
import type { Logger } from '../../logger.js';
import type { CallAudio } from '../call-session.js';
import { createSystemClock, type MediaClock } from './clock.js';
import { type Codec, getCodec, MEDIA_FORMATS, type MediaFormat } from './codec.js';
import { createPacer, type PacerStats } from './pacer.js';
import {
  createPlayoutWaits,
  DEFAULT_PLAYOUT_MARGIN_MS,
  type PlayoutOptions,
  type PlayoutResult,
} from './playout.js';

/** The fields of chan_websocket's MEDIA_START event. */
export interface MediaStartInfo {
  connectionId?: string;
  channel?: string;
  channelId?: string;
  format: string;
  optimalFrameSize?: number;
  ptime?: number;
  /** Every field as sent (plain-text key:value pairs or the JSON object). */
  raw: Record<string, unknown>;
  /** How Asterisk frames control messages on this connection; commands are answered alike. */
  controlFormat: 'plain-text' | 'json';
}

export interface MediaControlEvent {
  event: string;
  fields: Record<string, unknown>;
}

export interface WebSocketCallAudioOptions {
  /** ws(s)://<asterisk http>/media/<MEDIA_WEBSOCKET_CONNECTION_ID> */
  url: string;
  headers?: Record<string, string>;
  /** The format the channel was created with; MEDIA_START must agree. */
  format?: MediaFormat;
  clock?: MediaClock;
  logger?: Logger;
  /** Connection plus MEDIA_START must arrive within this time. */
  connectTimeoutMs?: number;
  maxBurstFrames?: number;
  voicedRms?: number;
}

export interface WebSocketCallAudioStats {
  sent: PacerStats & { messages: number; bytes: number };
  received: { messages: number; bytes: number; framesDelivered: number; controlEvents: number };
  xoff: boolean;
}

export interface WebSocketCallAudio extends CallAudio {
  readonly format: MediaFormat;
  readonly mediaStart: MediaStartInfo;
  /** Control events other than MEDIA_START/XOFF/XON (DTMF_END, STATUS, QUEUE_DRAINED …). */
  onEvent(listener: (event: MediaControlEvent) => void): () => void;
  /** Called once when the connection ends (Asterisk hung up the channel, or `close()`). */
  onClose(listener: (info: { code: number; reason: string }) => void): () => void;
  stats(): WebSocketCallAudioStats;
  /**
   * Resolves once Asterisk has played everything we queued: after our pacer sent the last frame, a
   * `MARK_MEDIA` behind it comes back as `MEDIA_MARK_PROCESSED` when chan_websocket's queue reaches it.
   * Bounded by the queued audio's duration plus `marginMs`; at once when the connection is gone.
   */
  drain(opts?: PlayoutOptions): Promise<PlayoutResult>;
  close(): Promise<void>;
}

export class MediaWebSocketError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaWebSocketError';
  }
}

/** Parses a chan_websocket control message, plain-text (`NAME k:v k:v`) or JSON (`{"event": …}`). */
export function parseControlMessage(text: string): MediaControlEvent & { json: boolean } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch {
      throw new MediaWebSocketError(`unparseable JSON control message: ${trimmed.slice(0, 80)}`);
    }
    if (!obj || typeof obj !== 'object' || typeof (obj as { event?: unknown }).event !== 'string') {
      throw new MediaWebSocketError('JSON control message has no "event"');
    }
    const { event, ...fields } = obj as { event: string } & Record<string, unknown>;
    return { event, fields, json: true };
  }
  const [event = '', ...pairs] = trimmed.split(/\s+/);
  const fields: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf(':');
    if (i > 0) fields[pair.slice(0, i)] = pair.slice(i + 1);
    else if (pair) fields[pair] = true;
  }
  return { event, fields, json: false };
}

const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
const num = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : Number(v));

/**
 * Call audio over Asterisk's chan_websocket (externalMedia transport=websocket,
 * connection_type=server): binary frames of little-endian slin16 (or G.711) both ways, text
 * control messages. Asterisk re-times what it gets, but whatever we send ahead sits in its queue
 * where only FLUSH_MEDIA can reach it, so frames still go out in real time from our pacer: a
 * barge-in then cuts the agent off within a frame.
 */
export async function createWebSocketCallAudio(opts: WebSocketCallAudioOptions): Promise<WebSocketCallAudio> {
  const log = opts.logger;
  const ws = new WebSocket(opts.url, 'media', { headers: opts.headers, perMessageDeflate: false });
  ws.binaryType = 'nodebuffer';
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;

  // Messages that arrive right behind MEDIA_START, before the caller has listeners, wait here.
  const early: { data: Buffer; binary: boolean }[] = [];
  const start = await new Promise<MediaStartInfo>((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new MediaWebSocketError(`no MEDIA_START from ${redact(opts.url)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    ws.once('error', (err) =>
      fail(new MediaWebSocketError(`media websocket failed: ${err.message}`, { cause: err })),
    );
    ws.once('unexpected-response', (_req, res) =>
      fail(
        new MediaWebSocketError(`media websocket refused: HTTP ${res.statusCode} from ${redact(opts.url)}`),
      ),
    );
    ws.once('close', (code, reason) =>
      fail(
        new MediaWebSocketError(`media websocket closed before MEDIA_START (${code} ${reason.toString()})`),
      ),
    );
    ws.once('open', () => {
      if (ws.protocol !== 'media') fail(new MediaWebSocketError(`server did not accept subprotocol "media"`));
    });
    let started: MediaStartInfo | null = null;
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (started) {
        early.push({ data, binary });
        return;
      }
      if (binary) return; // media before MEDIA_START has no known format: dropped
      let msg: ReturnType<typeof parseControlMessage>;
      try {
        msg = parseControlMessage(data.toString('utf8'));
      } catch (err) {
        log?.warn({ err }, 'bad media control message');
        return;
      }
      if (msg.event !== 'MEDIA_START') return;
      const f = msg.fields;
      started = {
        connectionId: str(f.connection_id),
        channel: str(f.channel),
        channelId: str(f.channel_id),
        format: str(f.format) ?? opts.format ?? 'slin16',
        optimalFrameSize: num(f.optimal_frame_size),
        ptime: num(f.ptime),
        raw: f,
        controlFormat: msg.json ? 'json' : 'plain-text',
      };
      clearTimeout(timer);
      ws.removeAllListeners('error');
      ws.removeAllListeners('close');
      ws.removeAllListeners('unexpected-response');
      resolve(started);
    });
  });

  const format = start.format as MediaFormat;
  if (!MEDIA_FORMATS.includes(format)) {
    ws.close(1003, 'unsupported format');
    throw new MediaWebSocketError(
      `MEDIA_START announced format ${start.format}, which this media path cannot carry`,
    );
  }
  if (opts.format && opts.format !== format) {
    ws.close(1003, 'format mismatch');
    throw new MediaWebSocketError(
      `MEDIA_START announced ${format} but the channel was created for ${opts.format}`,
    );
  }
  ws.removeAllListeners('message');
  const codec: Codec = getCodec(format, 'websocket');
  const spf = codec.samplesPerFrame;

  let closed = false;
  let xoff = false;
  let sentMessages = 0;
  let sentBytes = 0;
  let recvMessages = 0;
  let recvBytes = 0;
  let delivered = 0;
  let controlEvents = 0;
  const frameListeners = new Set<(f: Int16Array) => void>();
  const eventListeners = new Set<(e: MediaControlEvent) => void>();
  const closeListeners = new Set<(i: { code: number; reason: string }) => void>();

  /** Sends a command; plain-text parameters go as `key:value`, which Asterisk echoes back verbatim. */
  const command = (name: string, params: Record<string, string> = {}) => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    const plain = [name, ...Object.entries(params).map(([k, v]) => `${k}:${v}`)].join(' ');
    ws.send(start.controlFormat === 'json' ? JSON.stringify({ command: name, ...params }) : plain);
    return true;
  };

  const clock = opts.clock ?? createSystemClock();
  const playout = createPlayoutWaits(clock);
  /** Marks sent and not yet reported, by correlation id. */
  const marks = new Map<string, () => void>();
  let markSeq = 0;

  const pacer = createPacer({
    sampleRate: codec.sampleRate,
    // Silence while the agent has nothing to say, as the RTP path sends. chan_websocket makes none of
    // its own, and a two-party bridge (callee + this channel, unrecorded) is Asterisk's simple_bridge,
    // which forwards only frames we send: the callee's line went silent at the RTP level, so a carrier's
    // inactivity timer or a callee waiting for silence (an IVR, a voicemail) never got any (seen on
    // Asterisk 22.10.1: an unrecorded call ended silence_timeout).
    idle: 'silence',
    clock,
    maxBurstFrames: opts.maxBurstFrames,
    voicedRms: opts.voicedRms,
    onError: (err) => log?.warn({ err }, 'media frame listener failed'),
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN) return;
      const bytes = codec.encode(frame);
      ws.send(bytes, { binary: true });
      sentMessages++;
      sentBytes += bytes.length;
    },
  });

  let carry = new Int16Array(0);
  const onBinary = (data: Buffer) => {
    recvMessages++;
    recvBytes += data.length;
    const samples = codec.decode(new Uint8Array(data.buffer, data.byteOffset, data.length));
    let buf = samples;
    if (carry.length) {
      buf = new Int16Array(carry.length + samples.length);
      buf.set(carry, 0);
      buf.set(samples, carry.length);
    }
    let o = 0;
    for (; o + spf <= buf.length; o += spf) {
      const frame = buf.slice(o, o + spf);
      delivered++;
      for (const l of frameListeners) {
        try {
          l(frame);
        } catch (err) {
          log?.warn({ err }, 'audio frame listener failed');
        }
      }
    }
    carry = buf.slice(o);
  };

  const onText = (text: string) => {
    let msg: ReturnType<typeof parseControlMessage>;
    try {
      msg = parseControlMessage(text);
    } catch (err) {
      log?.warn({ err }, 'bad media control message');
      return;
    }
    controlEvents++;
    if (msg.event === 'MEDIA_XOFF') {
      // Asterisk's queue is at its high-water mark: hold (not drop) our audio until XON.
      xoff = true;
      pacer.pause();
      return;
    }
    if (msg.event === 'MEDIA_XON') {
      xoff = false;
      pacer.resume();
      return;
    }
    if (msg.event === 'MEDIA_MARK_PROCESSED') {
      const id = str(msg.fields.correlation_id);
      if (id !== undefined) marks.get(id)?.();
    }
    for (const l of eventListeners) {
      try {
        l({ event: msg.event, fields: msg.fields });
      } catch (err) {
        log?.warn({ err }, 'media event listener failed');
      }
    }
  };

  const onMessage = (data: Buffer, binary: boolean) => {
    if (binary) onBinary(data);
    else onText(data.toString('utf8'));
  };

  let closeInfo: { code: number; reason: string } | null = null;
  const finished = new Promise<void>((resolve) => {
    ws.on('close', (code, reason) => {
      closed = true;
      playout.endAll('closed');
      pacer.stop();
      closeInfo = { code, reason: reason.toString() };
      for (const l of closeListeners) l(closeInfo);
      closeListeners.clear();
      resolve();
    });
  });
  ws.on('error', (err) => log?.warn({ err }, 'media websocket error'));
  ws.on('message', onMessage);
  // Replayed on the next turn, once the caller had the chance to attach its listeners.
  setImmediate(() => {
    for (const m of early.splice(0)) onMessage(m.data, m.binary);
  });
  pacer.start();

  return {
    format,
    sampleRate: codec.sampleRate,
    mediaStart: start,
    onFrame(listener) {
      frameListeners.add(listener);
      return () => frameListeners.delete(listener);
    },
    // Once the socket closed (the pacer is stopped then too) every play is answered at once, `closed`.
    play: (samples) =>
      closed ? Promise.resolve({ completed: false, playedMs: 0, closed: true }) : pacer.play(samples),
    flush() {
      // FLUSH_MEDIA drops chan_websocket's queued marks too: waits end here, nothing is left to play.
      playout.endAll('flushed');
      pacer.flush();
      command('FLUSH_MEDIA');
    },
    drain(o = {}) {
      if (closed) return Promise.resolve('closed');
      const pendingMs = pacer.stats().queuedMs + Math.max(0, pacer.playedOutAtMs - clock.now());
      return playout.wait(pendingMs + (o.marginMs ?? DEFAULT_PLAYOUT_MARGIN_MS), (done) => {
        let id: string | null = null;
        let over = false;
        void pacer.whenEmpty().then(() => {
          if (over) return;
          // The mark goes on the socket behind the last frame, so Asterisk queues it behind that frame.
          id = `agentline-drain-${++markSeq}`;
          marks.set(id, () => done('played'));
          if (!command('MARK_MEDIA', { correlation_id: id })) done('closed');
        });
        return () => {
          over = true;
          if (id) marks.delete(id);
        };
      });
    },
    onFrameSent: (listener) =>
      pacer.onFrameSent(({ voiced, atMs }, frame) => listener({ voiced, atMs, frame })),
    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    onClose(listener) {
      if (closeInfo) {
        listener(closeInfo);
        return () => {};
      }
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    stats: () => ({
      sent: { ...pacer.stats(), messages: sentMessages, bytes: sentBytes },
      received: { messages: recvMessages, bytes: recvBytes, framesDelivered: delivered, controlEvents },
      xoff,
    }),
    async close() {
      playout.endAll('closed');
      pacer.stop();
      if (ws.readyState === WebSocket.CLOSED) return;
      if (ws.readyState !== WebSocket.CLOSING) ws.close(1000, 'done');
      // A peer that never answers the close handshake is cut off rather than waited on forever.
      const force = setTimeout(() => ws.terminate(), 2000);
      await finished;
      clearTimeout(force);
    },
  };
}

/** The connection id in the URL is a bearer token for the channel's media: keep it out of messages. */
function redact(url: string): string {
  return url.replace(/\/media\/[^/?#]+/, '/media/…');
}
