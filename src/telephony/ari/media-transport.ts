import type { Logger } from '../../logger.js';
import type { CallAudio } from '../call-session.js';
import type { MediaFormat } from '../media/codec.js';
import type { PlayoutOptions, PlayoutResult } from '../media/playout.js';
import type { PortPool } from '../media/port-pool.js';
import { createRtpCallAudio } from '../media/rtp-media.js';
import { createWebSocketCallAudio, type WebSocketCallAudio } from '../media/websocket-media.js';
import type { AriClient } from './client.js';
import type { AriChannel, ExternalMediaParams } from './types.js';

/**
 * The local end of one call's externalMedia channel, in two steps because Asterisk needs our
 * address before it creates the channel (RTP) or we need the channel before we can connect (WebSocket).
 */
export interface PreparedMedia {
  /** What `POST /channels/externalMedia` gets besides `app` and `channelId`. */
  readonly externalMedia: Omit<ExternalMediaParams, 'app' | 'channelId'>;
  /** Connects to the channel Asterisk created (its channelvars carry the far address). */
  attach(channel: AriChannel): Promise<CallAudio>;
  /**
   * Resolves once the PBX has played out everything queued for the callee (not just received it), so
   * a hangup after the agent's last words cuts none of them; bounded by the queued audio's duration
   * plus `marginMs`, and at once when the media is gone or was never attached.
   */
  drain(opts?: PlayoutOptions): Promise<PlayoutResult>;
  /** Closes the socket and releases the port; safe to call at any step, more than once. */
  close(): Promise<void>;
}

export interface MediaTransport {
  readonly kind: 'rtp' | 'websocket';
  prepare(opts: { callId: string }): Promise<PreparedMedia>;
}

export interface AriMediaTransportOptions {
  transport: 'rtp' | 'websocket';
  /** ulaw (default), alaw or slin16 for RTP; chan_websocket always carries slin16. */
  format?: MediaFormat;
  /** Address Asterisk sends RTP to (MEDIA_HOST). */
  mediaHost: string;
  /** Needed for RTP. */
  portPool: PortPool;
  ari: Pick<AriClient, 'mediaWebSocketUrl' | 'authorization'>;
  logger: Logger;
}

/** The media transport the configuration names: RTP through the port pool, or chan_websocket. */
export function createAriMediaTransport(opts: AriMediaTransportOptions): MediaTransport {
  if (opts.transport === 'websocket') return webSocketTransport(opts);
  // slin16 over RTP is send-only on real Asterisk (dynamic PT 118 is dropped inbound), so ulaw is the default.
  const format: MediaFormat = opts.format ?? 'ulaw';
  return {
    kind: 'rtp',
    async prepare({ callId }) {
      const audio = await createRtpCallAudio({
        portPool: opts.portPool,
        remote: null,
        format,
        logger: opts.logger.child({ callId }),
      });
      return {
        externalMedia: {
          external_host: `${opts.mediaHost}:${audio.localPort}`,
          encapsulation: 'rtp',
          transport: 'udp',
          format,
        },
        async attach(channel) {
          const vars = channel.channelvars ?? {};
          const address = vars.UNICASTRTP_LOCAL_ADDRESS;
          const port = Number(vars.UNICASTRTP_LOCAL_PORT);
          if (address && Number.isInteger(port) && port > 0) audio.setRemote(address, port);
          // Without the variables, symmetric RTP learns the address from Asterisk's first packet.
          return audio;
        },
        drain: (o) => audio.drain(o),
        close: () => audio.close(),
      };
    },
  };
}

/** chan_websocket (`transport=websocket, connection_type=server`): slin16 both ways; we connect to Asterisk. */
function webSocketTransport(opts: AriMediaTransportOptions): MediaTransport {
  return {
    kind: 'websocket',
    async prepare({ callId }) {
      let audio: WebSocketCallAudio | null = null;
      let closed = false;
      return {
        externalMedia: {
          transport: 'websocket',
          encapsulation: 'none',
          connection_type: 'server',
          format: 'slin16',
        },
        async attach(channel) {
          const id = channel.channelvars?.MEDIA_WEBSOCKET_CONNECTION_ID;
          if (!id) throw new Error('externalMedia channel has no MEDIA_WEBSOCKET_CONNECTION_ID');
          const a = await createWebSocketCallAudio({
            url: opts.ari.mediaWebSocketUrl(id),
            headers: { Authorization: opts.ari.authorization },
            format: 'slin16',
            logger: opts.logger.child({ callId }),
          });
          if (closed) {
            await a.close();
            throw new Error('media closed while connecting');
          }
          audio = a;
          return a;
        },
        drain: (o) => audio?.drain(o) ?? Promise.resolve('closed'),
        async close() {
          closed = true;
          await audio?.close();
        },
      };
    },
  };
}
