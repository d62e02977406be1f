import type { MediaTransport, PreparedMedia } from '../telephony/ari/media-transport.js';
import type { ListenHub } from './listen-hub.js';

/**
 * The media transport with each call's live audio offered to `hub`: from the moment the media path is
 * attached (the call is answered) until it closes or the call's teardown closes it. The call itself is
 * untouched: the hub subscribes to its audio only while someone listens.
 */
export function withListenTap(media: MediaTransport, hub: ListenHub): MediaTransport {
  return {
    get kind() {
      return media.kind;
    },
    async prepare(opts) {
      const prepared = await media.prepare(opts);
      let unregister: (() => void) | null = null;
      const tapped: PreparedMedia = {
        externalMedia: prepared.externalMedia,
        async attach(channel) {
          const audio = await prepared.attach(channel);
          unregister?.();
          const off = hub.register(opts.callId, audio);
          unregister = () => {
            unregister = null;
            off();
          };
          audio.onClose?.(() => unregister?.());
          return audio;
        },
        drain: (o) => prepared.drain(o),
        close() {
          unregister?.();
          return prepared.close();
        },
      };
      return tapped;
    },
  };
}
