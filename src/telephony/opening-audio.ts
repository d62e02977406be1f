import type { CallAudio } from './call-session.js';

/**
 * The call's audio as the agent gets it when it starts listening at answer: frames that arrive before
 * its first listener subscribes (the agent loads its voice detector and opens its recogniser
 * meanwhile) are kept, up to `maxMs` of the latest, and handed to that first listener before the live
 * ones, so the callee's first word is not lost to the agent's start-up. Later listeners get live
 * frames only. `close()` drops the backlog and stops keeping one.
 */
export function withBacklog(audio: CallAudio, maxMs: number): CallAudio & { close(): void } {
  const maxFrames = Math.max(1, Math.ceil(maxMs / 20));
  let backlog: Int16Array[] | null = [];
  const off = audio.onFrame((f) => {
    if (!backlog) return;
    backlog.push(f);
    if (backlog.length > maxFrames) backlog.shift();
  });
  const stopKeeping = () => {
    backlog = null;
    off();
  };
  return {
    get sampleRate() {
      return audio.sampleRate;
    },
    onFrame(listener) {
      const kept = backlog;
      stopKeeping();
      if (!kept?.length) return audio.onFrame(listener);
      // The kept frames first, then the live ones in order: delivered from a microtask, not inside this
      // call (the caller may not hold its unsubscribe function yet); live frames wait behind them.
      let waiting: Int16Array[] | null = kept;
      let subscribed = true;
      const offLive = audio.onFrame((f) => {
        if (waiting) waiting.push(f);
        else listener(f);
      });
      queueMicrotask(() => {
        const frames = waiting ?? [];
        waiting = null;
        for (const f of frames) {
          if (!subscribed) return;
          listener(f);
        }
      });
      return () => {
        subscribed = false;
        offLive();
      };
    },
    play: (samples) => audio.play(samples),
    flush: () => audio.flush(),
    onFrameSent: (l) => audio.onFrameSent(l),
    close: stopKeeping,
  };
}
