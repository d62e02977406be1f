import { describe, expect, it } from 'vitest';
import { createResampler } from './resample.js';

const sine = (freq: number, rate: number, n: number, amp = 10000) =>
  Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate)));

/** Amplitude of `freq` in `x` (Goertzel), as a sine's peak level. */
function goertzel(x: Int16Array, freq: number, rate: number): number {
  const w = (2 * Math.PI * freq) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s = x[i] + c * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return (2 * Math.sqrt(power)) / x.length;
}

function rms(x: Int16Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / x.length);
}

/** Runs a signal through a resampler in 20 ms chunks, as the media path does. */
function inFrames(r: ReturnType<typeof createResampler>, x: Int16Array, frame: number): Int16Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < x.length; i += frame) parts.push(r.process(x.subarray(i, i + frame)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Maximum normalized cross-correlation of b against a over lags 0…maxLag. */
function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { corr: number; lag: number } {
  let best = { corr: -1, lag: 0 };
  for (let lag = 0; lag <= maxLag; lag++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    const n = Math.min(a.length, b.length - lag);
    for (let i = 0; i < n; i++) {
      ab += a[i] * b[i + lag];
      aa += a[i] * a[i];
      bb += b[i + lag] * b[i + lag];
    }
    const corr = ab / Math.sqrt(aa * bb);
    if (corr > best.corr) best = { corr, lag };
  }
  return best;
}

describe('resampler', () => {
  it('keeps a 1 kHz tone through 16 k → 8 k → 16 k at its frequency and level', () => {
    const x = sine(1000, 16000, 16000);
    const down = inFrames(createResampler(16000, 8000), x, 320);
    expect(down.length).toBe(8000);
    const back = inFrames(createResampler(8000, 16000), down, 160);
    expect(back.length).toBe(16000);
    // Skip the filters' start-up transient.
    const steady = back.subarray(800);
    expect(goertzel(steady, 1000, 16000)).toBeGreaterThan(10000 * 0.97);
    expect(goertzel(steady, 1000, 16000)).toBeLessThan(10000 * 1.03);
    expect(goertzel(steady, 3000, 16000)).toBeLessThan(10000 * 0.003);
    const { corr } = bestCorrelation(x.subarray(800, 8800), back.subarray(800), 200);
    expect(corr).toBeGreaterThan(0.999);
  });

  it('attenuates 5 kHz going from 16 k to 8 k instead of folding it to 3 kHz', () => {
    const x = sine(5000, 16000, 16000);
    const down = inFrames(createResampler(16000, 8000), x, 320).subarray(400);
    // Naive decimation would put a full-level 3 kHz alias here.
    expect(rms(down)).toBeLessThan(7071 * 0.01);
    expect(goertzel(down, 3000, 8000)).toBeLessThan(10000 * 0.01);
  });

  it('upsampling 8 k → 16 k leaves no image of the tone above 4 kHz', () => {
    const up = inFrames(createResampler(8000, 16000), sine(1000, 8000, 8000), 160).subarray(400);
    expect(goertzel(up, 1000, 16000)).toBeGreaterThan(9700);
    expect(goertzel(up, 7000, 16000)).toBeLessThan(10000 * 0.003);
  });

  it('gives the same output frame by frame as in one piece (no clicks at frame edges)', () => {
    const x = sine(440, 8000, 4000, 20000);
    const whole = createResampler(8000, 16000).process(x);
    const framed = inFrames(createResampler(8000, 16000), x, 160);
    expect(Array.from(framed)).toEqual(Array.from(whole));
    // And odd chunk sizes keep the phase too.
    const odd = inFrames(createResampler(8000, 16000), x, 37);
    expect(Array.from(odd)).toEqual(Array.from(whole));
  });

  it('converts other rational ratios (16 k → 48 k, 44.1 k → 16 k) with the right length and tone', () => {
    const up3 = inFrames(createResampler(16000, 48000), sine(1000, 16000, 16000), 320);
    expect(up3.length).toBe(48000);
    expect(goertzel(up3.subarray(2000), 1000, 48000)).toBeGreaterThan(9700);
    const cd = inFrames(createResampler(44100, 16000), sine(1000, 44100, 44100), 882);
    expect(Math.abs(cd.length - 16000)).toBeLessThanOrEqual(1);
    expect(goertzel(cd.subarray(1000), 1000, 16000)).toBeGreaterThan(9700);
  });

  it('falls back to linear interpolation for unwieldy ratios and still keeps the tone', () => {
    const r = createResampler(8000, 16001);
    const out = inFrames(r, sine(500, 8000, 8000), 160);
    // The last input sample waits for its successor, so up to one input sample (2 outputs) is still held.
    expect(16001 - out.length).toBeGreaterThanOrEqual(0);
    expect(16001 - out.length).toBeLessThanOrEqual(2);
    expect(goertzel(out.subarray(100), 500, 16001)).toBeGreaterThan(9500);
  });

  it('rejects rates that are not positive integers', () => {
    expect(() => createResampler(0, 8000)).toThrow(/fromRate/);
    expect(() => createResampler(8000, 1.5)).toThrow(/toRate/);
  });
});
