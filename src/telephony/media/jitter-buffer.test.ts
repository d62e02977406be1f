import { describe, expect, it } from 'vitest';
import { createJitterBuffer } from './jitter-buffer.js';

/** Frame whose samples all carry its index, so playout order is visible. */
const frame = (i: number) => new Int16Array(160).fill(i + 1);
const id = (f: Int16Array | null) => (f === null ? null : f.every((v) => v === 0) ? 'silence' : f[0] - 1);

function shuffle<T>(xs: T[], seed: number): T[] {
  const a = [...xs];
  let s = seed;
  for (let i = a.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('jitter buffer', () => {
  it('plays shuffled packets in order after the target delay', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 3 });
    expect(jb.pop()).toBeNull();
    const out: (number | string | null)[] = [];
    // Packets arrive in shuffled groups of 3 (within the reorder window), one group per 3 pops.
    for (let g = 0; g < 10; g++) {
      for (const i of shuffle([g * 3, g * 3 + 1, g * 3 + 2], g + 1)) jb.push(i, frame(i));
      for (let k = 0; k < 3; k++) out.push(id(jb.pop()));
    }
    for (let k = 0; k < 3; k++) out.push(id(jb.pop()));
    const played = out.filter((x) => typeof x === 'number');
    expect(played).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(jb.stats()).toMatchObject({ played: 30, lost: 0, late: 0 });
    expect(jb.stats().reordered).toBeGreaterThan(0);
  });

  it('drops duplicates and packets that come after their slot', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 2 });
    jb.push(10, frame(10));
    expect(jb.push(10, frame(10))).toBe('duplicate');
    jb.push(11, frame(11));
    expect(id(jb.pop())).toBe(10);
    expect(id(jb.pop())).toBe(11);
    expect(jb.push(10, frame(10))).toBe('late');
    expect(jb.stats()).toMatchObject({ duplicate: 1, late: 1, played: 2 });
  });

  it('conceals a missing packet with silence once newer packets are waiting', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 2 });
    for (const i of [0, 1, 3, 4]) jb.push(i, frame(i));
    const out = [jb.pop(), jb.pop(), jb.pop(), jb.pop(), jb.pop()].map(id);
    expect(out).toEqual([0, 1, 'silence', 3, 4]);
    expect(jb.stats().lost).toBe(1);
    // The lost packet showing up afterwards is late, not played twice.
    expect(jb.push(2, frame(2))).toBe('late');
  });

  it('can conceal one lost frame by repeating the last one at half level', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 1, conceal: 'repeat' });
    for (const i of [0, 3]) jb.push(i, frame(100));
    const [a, b, c, d] = [jb.pop(), jb.pop(), jb.pop(), jb.pop()];
    expect(a?.[0]).toBe(101);
    expect(b?.[0]).toBe(50);
    expect(c?.every((v) => v === 0)).toBe(true);
    expect(d?.[0]).toBe(101);
  });

  it('handles sequence numbers wrapping past 65535', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 3 });
    const seqs = [65533, 65534, 65535, 0, 1, 2, 3];
    for (const s of shuffle(seqs, 3)) jb.push(s, frame(seqs.indexOf(s)));
    const out = seqs.map(() => id(jb.pop()));
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(jb.stats()).toMatchObject({ late: 0, lost: 0 });
  });

  it('plays silence during an underrun without losing the resumed stream', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 2 });
    jb.push(0, frame(0));
    jb.push(1, frame(1));
    expect([jb.pop(), jb.pop()].map(id)).toEqual([0, 1]);
    expect([jb.pop(), jb.pop()].map(id)).toEqual(['silence', 'silence']);
    jb.push(2, frame(2));
    jb.push(3, frame(3));
    // Two frames buffered again reach the target delay, so playout resumes at once.
    expect([jb.pop(), jb.pop(), jb.pop()].map(id)).toEqual([2, 3, 'silence']);
    expect(jb.stats()).toMatchObject({ lost: 0, underruns: 2, played: 4 });
  });

  it('bounds the delay when packets pile up, dropping the oldest', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 2, maxDelayFrames: 5 });
    for (let i = 0; i < 20; i++) jb.push(i, frame(i));
    expect(jb.stats().depth).toBeLessThanOrEqual(5);
    const first = id(jb.pop());
    expect(first).toBeGreaterThanOrEqual(15);
    expect(jb.stats().overflowDropped).toBeGreaterThan(0);
  });

  it('resynchronises when the sender restarts its sequence far behind', () => {
    const jb = createJitterBuffer({ samplesPerFrame: 160, targetDelayFrames: 1 });
    jb.push(5000, frame(1));
    expect(id(jb.pop())).toBe(1);
    jb.push(10, frame(2));
    expect(id(jb.pop())).toBe(2);
  });
});
