import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { getCodec } from '../telephony/media/codec.js';
import { FRAME_SAMPLES } from './media-clock.js';
import type { MediaPort } from './media-port.js';
import { SampleFifo } from './sample-fifo.js';

/** chan_websocket's queue limits: it sends MEDIA_XOFF above the high mark and MEDIA_XON below the low one. */
const QUEUE_HIGH_FRAMES = 900;
const QUEUE_LOW_FRAMES = 800;
const QUEUE_MAX_FRAMES = 1000;
/** Queued frames (200 ms) past which idle silence is skipped: more than a sender's catch-up burst. */
const BACKLOG_FRAMES = 10;

export interface WsMediaPort extends MediaPort {
  readonly connectionId: string;
  /** The client's media socket arrived on `/media/<connectionId>`. */
  attach(ws: WebSocket): void;
  isAttached(): boolean;
}

/**
 * chan_websocket in server mode, slin16: little-endian frames both ways. What the client sends is
 * queued and played out one 20 ms frame a tick; FLUSH_MEDIA drops the queue (barge-in), marks
 * included. MARK_MEDIA puts a mark in the queue behind the audio sent so far; as in chan_websocket,
 * it is reported (MEDIA_MARK_PROCESSED with the command's argument verbatim) on the tick it reaches
 * the head of the queue, that is once every frame before it has been played on the media clock,
 * queue empty or not.
 */
export function createWsMediaPort(opts: {
  connectionId: string;
  channelName: string;
  channelId: string;
  logger: Logger;
  /** The client closed its media socket: the channel hangs up, as with chan_websocket. */
  onPeerClosed: () => void;
}): WsMediaPort {
  const codec = getCodec('slin16', 'websocket');
  const queue = new SampleFifo();
  let ws: WebSocket | null = null;
  let closed = false;
  let xoff = false;
  let reportDrained = false;
  /** Marks in the queue: the argument to echo, and the sample count played once it is at the head. */
  let marks: { arg: string; atSamples: number }[] = [];
  let playedSamples = 0;
  let queuedSamples = 0;

  const sendText = (text: string) => {
    if (ws && ws.readyState === ws.OPEN) ws.send(text);
  };

  const onControl = (text: string) => {
    const trimmed = text.trim();
    const space = trimmed.search(/\s/);
    const command = space < 0 ? trimmed : trimmed.slice(0, space);
    const arg = space < 0 ? '' : trimmed.slice(space + 1).trim();
    switch (command) {
      case 'FLUSH_MEDIA':
        queue.clear();
        queuedSamples = playedSamples;
        marks = [];
        break;
      case 'HANGUP':
        opts.onPeerClosed();
        break;
      case 'MARK_MEDIA':
        marks.push({ arg, atSamples: queuedSamples });
        break;
      case 'REPORT_QUEUE_DRAINED':
        reportDrained = true;
        break;
      case 'GET_STATUS':
        sendText(
          `STATUS queue_length:${Math.ceil(queue.length / FRAME_SAMPLES)} xon_level:${QUEUE_LOW_FRAMES} xoff_level:${QUEUE_HIGH_FRAMES} queue_full:${xoff}`,
        );
        break;
      case 'ANSWER':
      case 'START_MEDIA_BUFFERING':
      case 'STOP_MEDIA_BUFFERING':
        break;
      default:
        sendText(`ERROR unknown command ${command ?? ''}`.trim());
    }
  };

  const onMessage = (data: RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (!isBinary) {
      onControl(buf.toString('utf8'));
      return;
    }
    // A full queue ignores the whole message, as chan_websocket does (the oldest audio is kept).
    if (queue.length >= FRAME_SAMPLES * QUEUE_MAX_FRAMES) return;
    const pcm = codec.decode(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    queue.push(pcm);
    queuedSamples += pcm.length;
    if (!xoff && queue.length >= FRAME_SAMPLES * QUEUE_HIGH_FRAMES) {
      xoff = true;
      sendText('MEDIA_XOFF');
    }
  };

  return {
    connectionId: opts.connectionId,
    attach(socket) {
      if (closed) {
        socket.close(1000);
        return;
      }
      ws = socket;
      socket.on('message', onMessage);
      socket.on('close', () => {
        if (ws === socket) ws = null;
        if (!closed) opts.onPeerClosed();
      });
      socket.on('error', (err) => opts.logger.debug({ err }, 'pbx-sim: media websocket error'));
      sendText(
        `MEDIA_START connection_id:${opts.connectionId} channel:${opts.channelName} channel_id:${opts.channelId} format:slin16 optimal_frame_size:${codec.bytesPerFrame} ptime:20`,
      );
    },
    isAttached: () => ws !== null,
    pull() {
      // Marks at the head of the queue go first and take no timeslot: the audio before them was
      // played on earlier ticks.
      while (marks.length && marks[0].atSamples <= playedSamples) {
        const { arg } = marks.shift()!;
        sendText(arg ? `MEDIA_MARK_PROCESSED ${arg}` : 'MEDIA_MARK_PROCESSED');
      }
      let frame = queue.take(FRAME_SAMPLES);
      // The simulator shares its process with whoever embeds it: a stall past the media clock's
      // catch-up leaves what the app sent meanwhile queued behind real time, where a real PBX (its own
      // process) would have played it on time. An app that sends silence while idle (agentline does)
      // would keep that delay for the rest of the call; so, past BACKLOG_FRAMES, idle silence (all-zero
      // frames) is played "on time", i.e. skipped. Speech is never skipped, nor anything before a mark.
      while (
        frame &&
        marks.length === 0 &&
        queue.length >= FRAME_SAMPLES * BACKLOG_FRAMES &&
        frame.every((v) => v === 0)
      ) {
        playedSamples += frame.length;
        frame = queue.take(FRAME_SAMPLES);
      }
      if (!frame && queue.length > 0 && marks.length > 0) {
        // A short last frame with a mark behind it is played padded with silence, as Asterisk pads.
        const tail = queue.take(queue.length)!;
        frame = new Int16Array(FRAME_SAMPLES);
        frame.set(tail);
        playedSamples += tail.length - FRAME_SAMPLES;
      }
      if (!frame) {
        if (reportDrained) {
          reportDrained = false;
          sendText('QUEUE_DRAINED');
        }
        return null;
      }
      playedSamples += frame.length;
      if (xoff && queue.length <= FRAME_SAMPLES * QUEUE_LOW_FRAMES) {
        xoff = false;
        sendText('MEDIA_XON');
      }
      return frame;
    },
    push(frame) {
      if (ws && ws.readyState === ws.OPEN) ws.send(codec.encode(frame));
    },
    close() {
      if (closed) return;
      closed = true;
      queue.clear();
      if (ws) {
        const s = ws;
        ws = null;
        s.close(1000, 'hangup');
      }
    },
  };
}
