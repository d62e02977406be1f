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

/** chan_websocket's media, as agentline speaks it, needs Asterisk 22.6 or newer. */
export const WEBSOCKET_MEDIA_SINCE: readonly [number, number] = [22, 6];

/**
 * Whether the Asterisk of `version` (`system.version` of `GET /asterisk/info`: "22.10.1",
 * "certified-20.7-cert5", "23.0.0-rc1") has the chan_websocket agentline needs; null when the string
 * names no release (a development build such as "GIT-master-1a2b3c"), which cannot tell.
 */
export function hasWebSocketMedia(version: string | undefined): boolean | null {
  const m = /(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return null;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const [needMajor, needMinor] = WEBSOCKET_MEDIA_SINCE;
  return major > needMajor || (major === needMajor && minor >= needMinor);
}

export interface AutoMediaTransport extends MediaTransport {
  /** The transport calls get now: asks Asterisk's version when it is not known yet. */
  resolve(): Promise<'rtp' | 'websocket'>;
  /** Stops following the ARI connection. */
  close(): void;
}

/**
 * The default media with a real Asterisk (no MEDIA_TRANSPORT): chan_websocket with slin16 on Asterisk
 * 22.6 and newer, whose 16 kHz audio the recognisers need; RTP with ulaw (or MEDIA_FORMAT) on older
 * ones, which have no chan_websocket. The version is asked (`GET /asterisk/info`) once the events
 * socket is up, again after each reconnect (Asterisk may have been upgraded meanwhile), and by the
 * first call when it is not known yet. When Asterisk cannot be asked, that call uses RTP, which every
 * version carries, and the next one asks again.
 */
export function createAutoMediaTransport(
  opts: Omit<AriMediaTransportOptions, 'transport' | 'ari'> & {
    ari: Pick<
      AriClient,
      'mediaWebSocketUrl' | 'authorization' | 'asteriskInfo' | 'connected' | 'onConnectionChange'
    >;
  },
): AutoMediaTransport {
  const rtp = createAriMediaTransport({ ...opts, transport: 'rtp' });
  const websocket = createAriMediaTransport({ ...opts, transport: 'websocket' });
  let known: 'rtp' | 'websocket' | null = null;
  let asking: Promise<'rtp' | 'websocket'> | null = null;

  const ask = (): Promise<'rtp' | 'websocket'> => {
    asking ??= (async () => {
      try {
        const info = await opts.ari.asteriskInfo();
        const version = info.system?.version;
        const ws = hasWebSocketMedia(version);
        known = ws ? 'websocket' : 'rtp';
        if (ws === null) {
          opts.logger.warn(
            { asteriskVersion: version ?? null },
            'cannot tell the Asterisk release from its version; media over RTP (set MEDIA_TRANSPORT to choose)',
          );
        } else if (ws) {
          opts.logger.info(
            { asteriskVersion: version, transport: known },
            'media over chan_websocket (slin16)',
          );
        } else {
          opts.logger.warn(
            { asteriskVersion: version, transport: known },
            'Asterisk before 22.6 has no chan_websocket: media over RTP, 8 kHz unless MEDIA_FORMAT says otherwise',
          );
        }
        return known;
      } catch (err) {
        opts.logger.warn({ err }, 'could not ask Asterisk its version; this call uses RTP media');
        return 'rtp';
      } finally {
        asking = null;
      }
    })();
    return asking;
  };

  const offConnection = opts.ari.onConnectionChange((up) => {
    if (!up) return;
    known = null;
    void ask();
  });
  if (opts.ari.connected) void ask();

  const resolve = async () => known ?? (await ask());
  return {
    get kind() {
      return known ?? 'rtp';
    },
    resolve,
    async prepare(o) {
      return ((await resolve()) === 'websocket' ? websocket : rtp).prepare(o);
    },
    close: offConnection,
  };
}

/**
 * The media the configuration asks for: MEDIA_TRANSPORT when set; chan_websocket with the simulated
 * PBX; with a real Asterisk, RTP when MEDIA_FORMAT names an 8 kHz codec (chan_websocket carries slin16
 * only), otherwise whatever Asterisk's version allows (createAutoMediaTransport).
 */
export function createConfiguredMediaTransport(
  opts: Omit<AriMediaTransportOptions, 'transport' | 'ari'> & {
    /** MEDIA_TRANSPORT. */
    transport?: 'rtp' | 'websocket';
    /** True with the embedded simulated PBX (no ARI_URL). */
    simulated: boolean;
    ari: Parameters<typeof createAutoMediaTransport>[0]['ari'];
  },
): MediaTransport & { close?(): void } {
  const { transport, simulated, ...rest } = opts;
  if (transport) return createAriMediaTransport({ ...rest, transport });
  if (simulated) return createAriMediaTransport({ ...rest, transport: 'websocket' });
  if (rest.format === 'ulaw' || rest.format === 'alaw')
    return createAriMediaTransport({ ...rest, transport: 'rtp' });
  return createAutoMediaTransport(rest);
}
