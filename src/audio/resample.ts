/**
 * Streaming sample-rate conversion for 16-bit mono PCM.
 *
 * Rational ratios (8 k ⇄ 16 k, 16 k → 48 k, 44.1 k → 16 k …) use a polyphase FIR: a Kaiser-windowed
 * sinc low-pass cut just below the lower Nyquist frequency, so upsampling leaves no images and
 * downsampling folds no aliases into the band. State (the input history and the fractional phase)
 * carries across calls, so frames processed one by one give exactly the same output as one long
 * buffer: no clicks at frame edges. Ratios whose reduced form would need an impractically large
 * filter bank fall back to linear interpolation (also stateful).
 */

export interface Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  /** Converts the next chunk of the stream; output length follows the ratio (± 1 sample per call). */
  process(input: Int16Array): Int16Array;
  /** Forgets the stream history (e.g. between unrelated utterances). */
  reset(): void;
  /** Group delay the filter adds, in output samples. */
  readonly delaySamples: number;
}

export interface ResamplerOptions {
  /** Filter half-length in zero crossings of the lower rate; longer is sharper and slower. */
  zeroCrossings?: number;
  /** Pass-band edge as a fraction of the lower Nyquist frequency. */
  cutoff?: number;
  /** Kaiser window β (≈ 8 gives ~80 dB stop-band). */
  beta?: number;
}

/** Above this many polyphase branches the filter bank is too large; linear interpolation is used. */
const MAX_PHASES = 1024;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

const clamp16 = (v: number) => (v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v));

/** Creates a stateful resampler from `fromRate` to `toRate` (Hz, positive integers). */
export function createResampler(fromRate: number, toRate: number, opts: ResamplerOptions = {}): Resampler {
  for (const [name, r] of [
    ['fromRate', fromRate],
    ['toRate', toRate],
  ] as const) {
    if (!Number.isInteger(r) || r <= 0) throw new RangeError(`${name} must be a positive integer, got ${r}`);
  }
  if (fromRate === toRate) return passthrough(fromRate);
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  if (up > MAX_PHASES) return linear(fromRate, toRate);
  return polyphase(fromRate, toRate, up, down, opts);
}

function passthrough(rate: number): Resampler {
  return { fromRate: rate, toRate: rate, delaySamples: 0, process: (input) => input.slice(), reset() {} };
}

function polyphase(
  fromRate: number,
  toRate: number,
  up: number,
  down: number,
  opts: ResamplerOptions,
): Resampler {
  const zeroCrossings = opts.zeroCrossings ?? 16;
  const cutoff = opts.cutoff ?? 0.9;
  const beta = opts.beta ?? 8;
  const factor = Math.max(up, down);
  // Prototype low-pass at the upsampled rate (fromRate·up): taps per branch = 2·zeroCrossings·factor/up.
  const tapsPerPhase = Math.ceil((2 * zeroCrossings * factor) / up);
  const length = tapsPerPhase * up;
  const fc = (0.5 * cutoff) / factor; // cycles per upsampled sample
  const centre = (length - 1) / 2;
  const i0Beta = besselI0(beta);
  // bank[phase][j] = h[phase + j·up]·up, laid out flat so the inner loop walks memory in order.
  const bank = new Float64Array(length);
  for (let n = 0; n < length; n++) {
    const t = n - centre;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - (t / centre) ** 2))) / i0Beta;
    const phase = n % up;
    const j = (n - phase) / up;
    bank[phase * tapsPerPhase + j] = sinc * w * up;
  }
  const histLen = tapsPerPhase - 1;
  let history = new Float64Array(histLen);
  // Position of the next output sample, in upsampled units, relative to the current chunk's first sample.
  let t = 0;

  return {
    fromRate,
    toRate,
    delaySamples: Math.round((centre / (fromRate * up)) * toRate),
    process(input) {
      const buf = new Float64Array(histLen + input.length);
      buf.set(history, 0);
      for (let i = 0; i < input.length; i++) buf[histLen + i] = input[i];
      const limit = input.length * up;
      const out = new Int16Array(Math.max(0, Math.ceil((limit - t) / down)));
      let k = 0;
      while (t < limit) {
        const n = Math.floor(t / up);
        const phase = t - n * up;
        const base = phase * tapsPerPhase;
        let acc = 0;
        // y = Σ x[n − j]·h[phase + j·up]
        let xi = histLen + n;
        for (let j = 0; j < tapsPerPhase; j++, xi--) acc += buf[xi] * bank[base + j];
        out[k++] = clamp16(acc);
        t += down;
      }
      t -= limit;
      history = buf.slice(buf.length - histLen);
      return k === out.length ? out : out.slice(0, k);
    },
    reset() {
      history = new Float64Array(histLen);
      t = 0;
    },
  };
}

function linear(fromRate: number, toRate: number): Resampler {
  const step = fromRate / toRate;
  let last = 0; // the sample before the current chunk
  let pos = 0; // position of the next output, in input samples, relative to `last` at −1 … chunk start
  return {
    fromRate,
    toRate,
    delaySamples: 0,
    process(input) {
      const out: number[] = [];
      // Index −1 is `last`, 0…n−1 the chunk; interpolate while both neighbours are known.
      while (pos <= input.length - 1) {
        const i = Math.floor(pos);
        const frac = pos - i;
        const a = i < 0 ? last : input[i];
        const b = i + 1 < 0 ? last : (input[i + 1] ?? input[i]);
        out.push(clamp16(a + (b - a) * frac));
        pos += step;
      }
      if (input.length > 0) {
        last = input[input.length - 1];
        pos -= input.length;
      }
      return Int16Array.from(out);
    },
    reset() {
      last = 0;
      pos = 0;
    },
  };
}
