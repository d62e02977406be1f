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

export interface WsMediaPort extends MediaPort {
  readonly connectionId: string;
  /** The client's media socket arrived on `/media/<connectionId>`. */
  attach(ws: WebSocket): void;
  isAttached(): boolean;
}

/**
 * chan_websocket in server mode, slin16: little-endian frames both ways. What the client sends is
 * queued and played out one 20 ms frame a tick; FLUSH_MEDIA drops the queue (barge-in).
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
  const queue = new SampleFifo(FRAME_SAMPLES * QUEUE_MAX_FRAMES);
  let ws: WebSocket | null = null;
  let closed = false;
  let xoff = false;
  let reportDrained = false;
  let marks: { name: string; atSamples: number }[] = [];
  let playedSamples = 0;
  let queuedSamples = 0;

  const sendText = (text: string) => {
    if (ws && ws.readyState === ws.OPEN) ws.send(text);
  };

  const onControl = (text: string) => {
    const [command, ...rest] = text.trim().split(/\s+/);
    switch (command) {
      case 'FLUSH_MEDIA':
        queue.clear();
        queuedSamples = playedSamples;
        marks = [];
        break;
      case 'HANGUP':
        opts.onPeerClosed();
        break;
      case 'MARK_MEDIA': {
        const name = rest.find((r) => r.startsWith('correlation_id:'))?.slice('correlation_id:'.length) ?? '';
        marks.push({ name, atSamples: queuedSamples });
        break;
      }
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
      const frame = queue.take(FRAME_SAMPLES);
      if (!frame) {
        if (reportDrained) {
          reportDrained = false;
          sendText('QUEUE_DRAINED');
        }
        return null;
      }
      playedSamples += frame.length;
      while (marks.length && marks[0].atSamples <= playedSamples) {
        sendText(`MEDIA_MARK_PROCESSED correlation_id:${marks.shift()!.name}`);
      }
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
