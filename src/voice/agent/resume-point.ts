/**
 * Where to restart a clause whose playback was paused after `cutAt` samples: the start of the quietest
 * `blockSamples` block within `backupSamples` before the cut (a gap between words), so the callee hears
 * the interrupted word again from its beginning rather than from mid-syllable. Never before `floor`.
 */
export function resumePoint(
  samples: Int16Array,
  cutAt: number,
  backupSamples: number,
  blockSamples: number,
  floor = 0,
): number {
  const cut = Math.min(Math.max(cutAt, 0), samples.length);
  const lowest = Math.max(floor, cut - backupSamples, 0);
  if (blockSamples <= 0 || cut - lowest < blockSamples) return cut;
  let best = cut;
  let bestEnergy = Number.POSITIVE_INFINITY;
  // Walk back from the cut so that, among equally quiet gaps, the one repeating the least wins.
  for (let start = cut - blockSamples; start >= lowest; start -= blockSamples) {
    let energy = 0;
    for (let i = start; i < start + blockSamples; i++) energy += samples[i] * samples[i];
    if (energy < bestEnergy) {
      bestEnergy = energy;
      best = start;
    }
  }
  return best;
}
