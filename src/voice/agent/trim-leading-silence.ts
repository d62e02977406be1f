/**
 * Drops the silence a TTS engine puts before speech (flite: 180-240 ms), keeping `keepMs` before the
 * first window louder than `threshold` (RMS, 16-bit scale) so the onset is not clipped. That
 * silence is pure latency at the start of a reply; between clauses the engine's trailing silence is
 * still there as the pause. Returns a view of `samples` (no copy); all-quiet audio comes back whole.
 */
export function trimLeadingSilence(
  samples: Int16Array,
  sampleRate: number,
  opts: { keepMs?: number; threshold?: number } = {},
): Int16Array {
  const threshold = opts.threshold ?? 150;
  const keep = Math.round(((opts.keepMs ?? 30) * sampleRate) / 1000);
  const win = Math.max(1, Math.round(sampleRate / 200));
  for (let start = 0; start < samples.length; start += win) {
    const end = Math.min(samples.length, start + win);
    let energy = 0;
    for (let i = start; i < end; i++) energy += samples[i] * samples[i];
    if (Math.sqrt(energy / (end - start)) >= threshold) return samples.subarray(Math.max(0, start - keep));
  }
  return samples;
}
