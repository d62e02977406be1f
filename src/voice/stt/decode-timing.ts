/**
 * Per stream, the audio a decoder thread was given since the last final and the time it spent on it,
 * so the final can carry the utterance's real-time factor (the metrics read it at the engine boundary).
 */
export function createDecodeTiming(sampleRate: number) {
  const streams = new Map<number, { samples: number; ms: number }>();
  return {
    /** Runs `work` (a write or the finish of stream `id`) and counts its time and `samples`. */
    time<T>(id: number, samples: number, work: () => T): T {
      const started = performance.now();
      try {
        return work();
      } finally {
        const t = streams.get(id) ?? { samples: 0, ms: 0 };
        t.samples += samples;
        t.ms += performance.now() - started;
        streams.set(id, t);
      }
    },
    /** The utterance's totals, reset for the next one. */
    take(id: number): { audioMs: number; decodeMs: number } {
      const t = streams.get(id) ?? { samples: 0, ms: 0 };
      streams.delete(id);
      return { audioMs: (t.samples / sampleRate) * 1000, decodeMs: t.ms };
    },
    forget(id: number): void {
      streams.delete(id);
    },
  };
}
