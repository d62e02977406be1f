import type { MediaTransport, PreparedMedia } from '../../../src/telephony/ari/media-transport.js';
import type { CallAudio } from '../../../src/telephony/call-session.js';

/** One 20 ms frame seen at agentline's media edge: when it crossed, and how loud it was. */
export interface TappedFrame {
  atMs: number;
  rms: number;
}

/** Everything one call's media carried, both directions, as timed at the socket. */
export interface CallMediaLog {
  sampleRate: number;
  /** Callee audio as it was handed to the agent (after the jitter buffer). */
  received: TappedFrame[];
  /** Agent frames as they left on the wire; `voiced` is the pacer's own verdict. */
  sent: { atMs: number; voiced: boolean }[];
}

export interface MediaTap {
  readonly transport: MediaTransport;
  /** The media log of a call, once its media was attached. */
  log(callId: string): CallMediaLog | undefined;
}

export function frameRms(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  return Math.sqrt(sum / Math.max(1, frame.length));
}

/**
 * Wraps the real media transport and listens to each call's audio where it meets the socket, so tests
 * and the benchmark can time the wire (speech onsets, when agent audio stopped) without touching the
 * media code. Listening is passive: the audio object the controller gets is the transport's own.
 */
export function tapMediaTransport(inner: MediaTransport): MediaTap {
  const logs = new Map<string, CallMediaLog>();
  const transport: MediaTransport = {
    kind: inner.kind,
    async prepare({ callId }) {
      const prepared = await inner.prepare({ callId });
      const unsubs: (() => void)[] = [];
      const wrapped: PreparedMedia = {
        externalMedia: prepared.externalMedia,
        async attach(channel) {
          const audio: CallAudio = await prepared.attach(channel);
          const log: CallMediaLog = { sampleRate: audio.sampleRate, received: [], sent: [] };
          logs.set(callId, log);
          unsubs.push(
            audio.onFrame((frame) => log.received.push({ atMs: performance.now(), rms: frameRms(frame) })),
            audio.onFrameSent((info) => log.sent.push({ atMs: info.atMs, voiced: info.voiced })),
          );
          return audio;
        },
        drain: (o) => prepared.drain(o),
        async close() {
          for (const u of unsubs.splice(0)) u();
          await prepared.close();
        },
      };
      return wrapped;
    },
  };
  return { transport, log: (callId) => logs.get(callId) };
}
