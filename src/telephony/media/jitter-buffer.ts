import { seqDistance } from './rtp-packet.js';

export interface JitterBufferOptions {
  samplesPerFrame: number;
  /** Frames held before playout starts (and again after an underrun): the reorder window. */
  targetDelayFrames?: number;
  /** Beyond this many frames buffered, the oldest are dropped to bring the delay back to the target. */
  maxDelayFrames?: number;
  /** What replaces a lost frame: silence, or the previous frame at half level once, then silence. */
  conceal?: 'silence' | 'repeat';
}

export interface JitterBufferStats {
  /** Packets pushed. */
  received: number;
  /** Frames played from packets. */
  played: number;
  /** Frames concealed because their packet never came in time. */
  lost: number;
  /** Packets that arrived after their slot was played (or concealed) and were dropped. */
  late: number;
  duplicate: number;
  /** Packets that arrived after a packet with a higher sequence number. */
  reordered: number;
  /** Pops that found nothing buffered (the far end paused or is late); playout rebuffers. */
  underruns: number;
  /** Packets dropped because the buffer grew past `maxDelayFrames`. */
  overflowDropped: number;
  /** Frames currently held. */
  depth: number;
}

export interface JitterBuffer {
  /** Adds a packet's decoded samples under its RTP sequence number. */
  push(sequenceNumber: number, samples: Int16Array): 'accepted' | 'late' | 'duplicate';
  /**
   * Next frame of playout, called once a frame period. `null` until the first packet arrived;
   * silence while (re)buffering; a concealment frame for a lost packet.
   */
  pop(): Int16Array | null;
  stats(): JitterBufferStats;
}

/** Packets this far behind the playout point mean the sender restarted its sequence (RFC 3550 A.1). */
const MAX_MISORDER = 100;

export function createJitterBuffer(opts: JitterBufferOptions): JitterBuffer {
  const spf = opts.samplesPerFrame;
  const target = Math.max(1, opts.targetDelayFrames ?? 3);
  const maxDelay = Math.max(target + 1, opts.maxDelayFrames ?? 12);
  const conceal = opts.conceal ?? 'silence';
  const frames = new Map<number, Int16Array>();
  let expected: number | null = null;
  let highest: number | null = null;
  let started = false; // a frame has been played
  let primed = false;
  let waited = 0;
  let last: Int16Array | null = null;
  let concealRun = 0;
  const st = {
    received: 0,
    played: 0,
    lost: 0,
    late: 0,
    duplicate: 0,
    reordered: 0,
    underruns: 0,
    overflowDropped: 0,
  };

  const resync = (seq: number) => {
    frames.clear();
    expected = seq;
    highest = seq;
    primed = false;
    waited = 0;
  };

  const silence = () => new Int16Array(spf);

  return {
    push(seq, samples) {
      st.received++;
      if (expected === null || highest === null) {
        resync(seq);
      } else {
        const behind = seqDistance(seq, expected);
        if (behind < 0) {
          if (!started && behind > -MAX_MISORDER) {
            // Reordered before playout began: simply start earlier.
            expected = seq;
          } else if (behind < -MAX_MISORDER) {
            resync(seq);
          } else {
            st.late++;
            return 'late';
          }
        }
      }
      if (frames.has(seq)) {
        st.duplicate++;
        return 'duplicate';
      }
      if (highest !== null && seqDistance(seq, highest) < 0) st.reordered++;
      else highest = seq;
      frames.set(seq, samples);
      const span = seqDistance(highest!, expected!) + 1;
      if (span > maxDelay) {
        // Too far behind real time (sender clock faster, or a burst after a stall): skip ahead.
        const newExpected = (highest! - target + 1) & 0xffff;
        for (const key of [...frames.keys()]) {
          if (seqDistance(key, newExpected) < 0) {
            frames.delete(key);
            st.overflowDropped++;
          }
        }
        expected = newExpected;
      }
      return 'accepted';
    },
    pop() {
      if (expected === null) return null;
      if (!primed) {
        waited++;
        const span = highest === null ? 0 : seqDistance(highest, expected) + 1;
        if (waited < target && span < target) return started ? silence() : null;
        primed = true;
      }
      const f = frames.get(expected);
      if (f) {
        frames.delete(expected);
        expected = (expected + 1) & 0xffff;
        st.played++;
        started = true;
        last = f;
        concealRun = 0;
        return f;
      }
      if (frames.size > 0) {
        // A newer packet is here, so this one is lost (or too late to matter).
        st.lost++;
        expected = (expected + 1) & 0xffff;
        started = true;
        concealRun++;
        if (conceal === 'repeat' && concealRun === 1 && last) return last.map((v) => v >> 1);
        return silence();
      }
      st.underruns++;
      primed = false;
      waited = 0;
      return started ? silence() : null;
    },
    stats: () => ({ ...st, depth: frames.size }),
  };
}
