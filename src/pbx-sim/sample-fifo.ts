/** A FIFO of PCM samples that hands out fixed-size frames (resamplers and clients give odd sizes). */
export class SampleFifo {
  private chunks: Int16Array[] = [];
  private offset = 0;
  private count = 0;

  constructor(private readonly maxSamples = Number.POSITIVE_INFINITY) {}

  get length(): number {
    return this.count;
  }

  /** Appends samples; beyond `maxSamples` the oldest are dropped (a jitter buffer that overflows). */
  push(samples: Int16Array): void {
    if (samples.length === 0) return;
    this.chunks.push(samples);
    this.count += samples.length;
    while (this.count > this.maxSamples) {
      const excess = this.count - this.maxSamples;
      const head = this.chunks[0];
      const avail = head.length - this.offset;
      if (avail <= excess) {
        this.chunks.shift();
        this.offset = 0;
        this.count -= avail;
      } else {
        this.offset += excess;
        this.count -= excess;
      }
    }
  }

  /** The next `n` samples, or null when fewer are queued. */
  take(n: number): Int16Array | null {
    if (this.count < n) return null;
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const avail = head.length - this.offset;
      const k = Math.min(avail, n - filled);
      out.set(head.subarray(this.offset, this.offset + k), filled);
      filled += k;
      if (k === avail) {
        this.chunks.shift();
        this.offset = 0;
      } else {
        this.offset += k;
      }
    }
    this.count -= n;
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.offset = 0;
    this.count = 0;
  }
}
