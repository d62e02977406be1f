/** Test signals and measurements for the media path. */

/**
 * Speech-like test audio: a 140 Hz voice with harmonics shaped by two formants, its pitch gliding
 * and its level pulsing at a syllable rate, so correlation cannot lock onto a single period.
 */
export function speechLike(rate: number, seconds: number, level = 8000): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const f0 = 140 + 30 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += (2 * Math.PI * f0) / rate;
    let v = 0;
    for (let h = 1; h * f0 < Math.min(3400, rate / 2 - 200); h++) {
      const f = h * f0;
      const formant = Math.exp(-(((f - 700) / 250) ** 2)) + 0.6 * Math.exp(-(((f - 1800) / 400) ** 2)) + 0.05;
      v += formant * Math.sin(h * phase);
    }
    const envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t);
    out[i] = Math.max(-32768, Math.min(32767, Math.round(level * 0.5 * v * envelope)));
  }
  return out;
}

export function concat(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function rms(x: Int16Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return x.length ? Math.sqrt(s / x.length) : 0;
}

export function dbRatio(a: number, b: number): number {
  return 20 * Math.log10(a / b);
}

/**
 * Finds `needle` in `hay`: the lag with the highest normalized cross-correlation.
 * The search starts at the first loud sample of `hay`, where the played audio begins.
 */
export function locate(needle: Int16Array, hay: Int16Array, span = 800): { corr: number; lag: number } {
  let onset = hay.findIndex((v) => Math.abs(v) > 300);
  if (onset < 0) return { corr: 0, lag: -1 };
  const needleOnset = needle.findIndex((v) => Math.abs(v) > 300);
  onset -= needleOnset;
  let best = { corr: -1, lag: -1 };
  for (let lag = Math.max(0, onset - span); lag <= onset + span; lag++) {
    const n = Math.min(needle.length, hay.length - lag);
    if (n < needle.length / 2) break;
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < n; i++) {
      ab += needle[i] * hay[i + lag];
      aa += needle[i] * needle[i];
      bb += hay[i + lag] * hay[i + lag];
    }
    const corr = ab / Math.sqrt(aa * bb || 1);
    if (corr > best.corr) best = { corr, lag };
  }
  return best;
}
