import { describe, expect, it } from 'vitest';
import { resumePoint } from './resume-point.js';

/** A 1 kHz tone burst per word, with the given gaps of silence between words (16 kHz samples). */
function words(layout: ('word' | 'gap')[], blockSamples: number): Int16Array {
  const out = new Int16Array(layout.length * blockSamples);
  layout.forEach((kind, b) => {
    if (kind === 'gap') return;
    for (let i = 0; i < blockSamples; i++) {
      out[b * blockSamples + i] = Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
    }
  });
  return out;
}

describe('resumePoint', () => {
  const block = 160;

  it('backs up to the gap before the interrupted word', () => {
    const pcm = words(['word', 'word', 'gap', 'word', 'word', 'word'], block);
    // Cut in the middle of the fifth block: the word started right after the gap (block 2).
    expect(resumePoint(pcm, 4 * block + 80, 5 * block, block)).toBe(2 * block + 80);
  });

  it('prefers the gap closest to the cut when two are equally quiet', () => {
    const pcm = words(['gap', 'word', 'gap', 'word', 'word'], block);
    expect(resumePoint(pcm, 5 * block, 5 * block, block)).toBe(2 * block);
  });

  it('never backs up past the limit or the floor', () => {
    const pcm = words(['gap', 'word', 'word', 'word', 'word'], block);
    // The only gap is 4+ blocks back, outside a 2-block backup: the quietest block inside it is taken.
    const p = resumePoint(pcm, 5 * block, 2 * block, block);
    expect(p).toBeGreaterThanOrEqual(3 * block);
    expect(resumePoint(pcm, 5 * block, 5 * block, block, 2 * block)).toBeGreaterThanOrEqual(2 * block);
  });

  it('restarts at the cut when there is no room to back up', () => {
    const pcm = words(['word', 'word'], block);
    expect(resumePoint(pcm, 50, 4 * block, block)).toBe(50);
    expect(resumePoint(pcm, 0, 4 * block, block)).toBe(0);
    expect(resumePoint(pcm, 10_000, 0, block)).toBe(pcm.length);
  });
});
