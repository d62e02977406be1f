export interface BeepDetectorOptions {
  sampleRate: number;
  /** Lowest and highest tone frequency searched (Hz). Answering-machine beeps sit around 1 kHz. */
  minHz?: number;
  maxHz?: number;
  /** How long the tone must hold (ms). */
  minDurationMs?: number;
  /** Share of a frame's energy that must fall in one tone bin (0..1). Speech spreads over harmonics and stays well below. */
  purity?: number;
  /** Minimum RMS of a tone frame (16-bit scale), so line hiss never counts. */
  minRms?: number;
}

export interface BeepDetection {
  frequencyHz: number;
  durationMs: number;
  /** Milliseconds of audio fed before the tone began. */
  startMs: number;
}

interface Bin {
  hz: number;
  coeff: number;
}

/**
 * Finds an answering machine's "leave your message" beep: a steady, nearly pure tone. Each frame
 * runs Goertzel filters 25 Hz apart across the band; a frame is tonal when one bin holds most of its
 * energy, and a beep is a run of tonal frames at the same pitch lasting `minDurationMs`.
 */
export class BeepDetector {
  private readonly bins: Bin[] = [];
  private readonly purity: number;
  private readonly minRms: number;
  private readonly minDurationMs: number;
  private readonly sampleRate: number;
  private runHz = 0;
  private runMs = 0;
  private runStartMs = 0;
  private fedMs = 0;
  private reported = false;

  constructor(opts: BeepDetectorOptions) {
    if (!(opts.sampleRate > 0)) throw new Error('BeepDetector: sampleRate must be positive');
    this.sampleRate = opts.sampleRate;
    const minHz = opts.minHz ?? 400;
    const maxHz = Math.min(opts.maxHz ?? 2100, opts.sampleRate / 2 - 100);
    for (let hz = minHz; hz <= maxHz; hz += 25) {
      this.bins.push({ hz, coeff: 0 });
    }
    this.purity = opts.purity ?? 0.6;
    this.minRms = opts.minRms ?? 300;
    this.minDurationMs = opts.minDurationMs ?? 250;
  }

  /** Feeds one frame (any length, usually 20 ms); returns the beep once, on the frame that completes it. */
  push(frame: Int16Array): BeepDetection | null {
    const n = frame.length;
    if (n === 0) return null;
    const frameMs = (n * 1000) / this.sampleRate;
    const frameStart = this.fedMs;
    this.fedMs += frameMs;
    const tone = this.toneOf(frame);
    if (tone === null) {
      this.runMs = 0;
      return null;
    }
    if (this.runMs > 0 && Math.abs(tone - this.runHz) <= 50) {
      this.runMs += frameMs;
    } else {
      this.runHz = tone;
      this.runMs = frameMs;
      this.runStartMs = frameStart;
    }
    if (!this.reported && this.runMs >= this.minDurationMs) {
      this.reported = true;
      return { frequencyHz: this.runHz, durationMs: this.runMs, startMs: this.runStartMs };
    }
    return null;
  }

  /** Forgets the audio so far, so a later beep is reported again. */
  reset(): void {
    this.runMs = 0;
    this.reported = false;
  }

  private toneOf(frame: Int16Array): number | null {
    const n = frame.length;
    let energy = 0;
    for (let i = 0; i < n; i++) energy += frame[i] * frame[i];
    if (Math.sqrt(energy / n) < this.minRms) return null;
    let bestHz = 0;
    let bestPower = 0;
    for (const bin of this.bins) {
      const coeff = 2 * Math.cos((2 * Math.PI * bin.hz) / this.sampleRate);
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const s0 = frame[i] + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
      if (power > bestPower) {
        bestPower = power;
        bestHz = bin.hz;
      }
    }
    // A pure sine of amplitude A puts (A·n/2)² in its bin and A²·n/2 in the frame: the ratio is 1.
    const ratio = bestPower / ((n / 2) * energy);
    return ratio >= this.purity ? bestHz : null;
  }
}
