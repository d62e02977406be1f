import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateCapacity } from './capacity-model.js';
import type { EngineProfile } from './engine-profile.js';

/** Issue 15's machine: Intel Xeon, 2 cores, the 1B model at its measured floor, pocketsphinx, flite, Silero. */
const XEON: EngineProfile = {
  cores: 2,
  cpuModel: 'Intel Xeon',
  vadRtf: 0.02,
  sttRtf: 0.35,
  ttsRtf: 0.05,
  llm: { genTokensPerSecond: 15.9, promptTokensPerSecond: 99 },
  measuredAt: '2026-12-07T00:00:00.000Z',
  ms: 4000,
};

describe('estimateCapacity', () => {
  it('gives the Xeon with the 1B model on the box a call or two, limited by the dialogue', () => {
    const e = estimateCapacity(XEON);
    expect(e.calls).toBeGreaterThanOrEqual(1);
    expect(e.calls).toBeLessThanOrEqual(2);
    expect(e.limitedBy).toBe('dialogue');
    // The model's threads are the largest cost of a call there.
    expect(e.coresPerCall.dialogue).toBeGreaterThan(e.coresPerCall.stt);
  });

  it('gives the same Xeon with the dialogue elsewhere (LLM_URL) many more calls, limited by the CPU', () => {
    const local = estimateCapacity(XEON);
    const remote = estimateCapacity({ ...XEON, llm: null });
    expect(remote.limitedBy).toBe('cpu');
    expect(remote.coresPerCall.dialogue).toBe(0);
    expect(remote.calls).toBeGreaterThanOrEqual(4);
    expect(remote.calls).toBeGreaterThanOrEqual(local.calls * 3);
  });

  it('lowers the capacity when other work takes cores', () => {
    const idle = estimateCapacity({ ...XEON, llm: null });
    const busy = estimateCapacity({ ...XEON, llm: null }, { freeCores: 1 });
    expect(busy.calls).toBeLessThan(idle.calls);
  });

  it('carries one call when the model cannot write even one first clause within the budget', () => {
    // 4 generated tokens/s: 8 tokens take 2 s, past the 850 ms the budget leaves after the silence.
    const e = estimateCapacity({
      ...XEON,
      cores: 64,
      llm: { genTokensPerSecond: 4, promptTokensPerSecond: 40, threads: 4 },
    });
    expect(e).toMatchObject({ calls: 1, limitedBy: 'dialogue' });
  });

  it('carries one call on a machine with no core free', () => {
    expect(estimateCapacity({ ...XEON, llm: null }, { freeCores: 0 }).calls).toBe(1);
  });

  it('lets a fast local model on many cores carry many calls', () => {
    const e = estimateCapacity({
      ...XEON,
      cores: 32,
      llm: { genTokensPerSecond: 200, promptTokensPerSecond: 3000, threads: 8 },
    });
    expect(e.calls).toBeGreaterThanOrEqual(10);
  });
});

const rtf = fc.double({ min: 0.001, max: 3, noNaN: true });
const tps = fc.double({ min: 0.5, max: 2000, noNaN: true });
const profileArb: fc.Arbitrary<EngineProfile> = fc.record({
  cores: fc.integer({ min: 1, max: 128 }),
  cpuModel: fc.constant('any'),
  vadRtf: rtf,
  sttRtf: rtf,
  ttsRtf: rtf,
  llm: fc.option(
    fc.record(
      {
        genTokensPerSecond: tps,
        promptTokensPerSecond: tps,
        threads: fc.integer({ min: 1, max: 128 }),
      },
      { requiredKeys: ['genTokensPerSecond', 'promptTokensPerSecond'] },
    ),
    { nil: null },
  ),
  measuredAt: fc.constant('2026-12-07T00:00:00.000Z'),
  ms: fc.constant(1),
});
/** A factor ≥ 1 to make something faster or bigger by. */
const factor = fc.double({ min: 1, max: 20, noNaN: true });

describe('estimateCapacity, properties', () => {
  it('always gives at least one whole call and names a bound', () => {
    fc.assert(
      fc.property(profileArb, fc.option(fc.double({ min: -4, max: 200, noNaN: true })), (p, free) => {
        const e = estimateCapacity(p, free === null ? {} : { freeCores: free });
        expect(Number.isInteger(e.calls)).toBe(true);
        expect(e.calls).toBeGreaterThanOrEqual(1);
        expect(['cpu', 'dialogue']).toContain(e.limitedBy);
      }),
    );
  });

  it('never lowers the capacity for faster engines', () => {
    fc.assert(
      fc.property(profileArb, factor, factor, factor, factor, (p, fv, fs, ft, fl) => {
        const faster: EngineProfile = {
          ...p,
          vadRtf: p.vadRtf / fv,
          sttRtf: p.sttRtf / fs,
          ttsRtf: p.ttsRtf / ft,
          llm: p.llm && {
            ...p.llm,
            genTokensPerSecond: p.llm.genTokensPerSecond * fl,
            promptTokensPerSecond: p.llm.promptTokensPerSecond * fl,
          },
        };
        expect(estimateCapacity(faster).calls).toBeGreaterThanOrEqual(estimateCapacity(p).calls);
      }),
    );
  });

  it('never lowers the capacity for more cores, or more of them free', () => {
    fc.assert(
      fc.property(profileArb, fc.integer({ min: 0, max: 64 }), (p, more) => {
        expect(estimateCapacity({ ...p, cores: p.cores + more }).calls).toBeGreaterThanOrEqual(
          estimateCapacity(p).calls,
        );
      }),
    );
    fc.assert(
      fc.property(profileArb, fc.double({ min: 0, max: 1, noNaN: true }), factor, (p, share, f) => {
        const free = p.cores * share;
        expect(estimateCapacity(p, { freeCores: free * f }).calls).toBeGreaterThanOrEqual(
          estimateCapacity(p, { freeCores: free }).calls,
        );
      }),
    );
  });
});
