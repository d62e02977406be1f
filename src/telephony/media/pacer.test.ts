import { afterEach, describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../../../test/media/manual-clock.js';
import { createPacer, type Pacer, type SentFrameInfo } from './pacer.js';

const tone = (n: number, amp = 8000) =>
  Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * 440 * i) / 8000)));

let pacers: Pacer[] = [];
afterEach(() => {
  for (const p of pacers) p.stop();
  pacers = [];
});

function setup(overrides: Partial<Parameters<typeof createPacer>[0]> = {}) {
  const clock = createManualClock();
  const sent: { frame: Int16Array; info: SentFrameInfo }[] = [];
  const pacer = createPacer({
    sampleRate: 8000,
    clock,
    send: (frame, info) => sent.push({ frame: frame.slice(), info }),
    ...overrides,
  });
  pacers.push(pacer);
  return { clock, sent, pacer };
}

describe('pacer', () => {
  it('sends frame n at t0 + n·20 ms however late each timer fires (no drift)', () => {
    const { clock, sent, pacer } = setup();
    const t0 = clock.now();
    pacer.start();
    let seed = 7;
    const lateness = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed % 1500) / 100; // 0…15 ms late
    };
    clock.advance(10_000, lateness);
    expect(sent.length).toBe(501);
    sent.forEach(({ info }, n) => {
      expect(info.slot).toBe(n);
      // Each frame leaves at or after its slot, never later than one timer's lateness: no accumulation.
      expect(info.atMs - (t0 + n * 20)).toBeGreaterThanOrEqual(0);
      expect(info.atMs - (t0 + n * 20)).toBeLessThan(20);
    });
  });

  it('after a stall sends at most maxBurst frames at once and skips the rest', () => {
    const { clock, sent, pacer } = setup({ maxBurstFrames: 3 });
    const t0 = clock.now();
    pacer.start();
    clock.advance(100);
    expect(sent.length).toBe(6);
    clock.stall(205); // event loop blocked: 10 slots became due
    clock.advance(0);
    const burst = sent.slice(6);
    expect(burst.length).toBe(3);
    expect(burst.map((s) => s.info.slot)).toEqual([13, 14, 15]);
    expect(pacer.stats().skippedSlots).toBe(7);
    // Back on the original grid afterwards.
    clock.advance(100);
    const after = sent.slice(9);
    expect(after.map((s) => s.info.slot)).toEqual([16, 17, 18, 19, 20]);
    for (const s of after) expect(s.info.atMs).toBe(t0 + s.info.slot * 20);
  });

  it('joins consecutive plays sample-exactly and resolves each when its last sample left', async () => {
    const { clock, sent, pacer } = setup({ idle: 'none' });
    const a = tone(250);
    const b = tone(250, 4000);
    const pa = pacer.play(a);
    const pb = pacer.play(b);
    let aDone = false;
    void pa.then(() => {
      aDone = true;
    });
    pacer.start();
    clock.advance(20); // frames at 0 and 20 ms: 320 samples, a is out
    await Promise.resolve();
    expect(aDone).toBe(true);
    expect(await pa).toEqual({ completed: true, playedMs: 31.25 });
    clock.advance(100);
    expect(await pb).toEqual({ completed: true, playedMs: 31.25 });
    expect(sent.length).toBe(4); // 500 samples → 4 frames, nothing while idle
    const joined = new Int16Array(640);
    sent.forEach((s, i) => {
      joined.set(s.frame, i * 160);
    });
    expect(Array.from(joined.subarray(0, 250))).toEqual(Array.from(a));
    expect(Array.from(joined.subarray(250, 500))).toEqual(Array.from(b));
    expect(joined.subarray(500).every((v) => v === 0)).toBe(true);
    expect(sent[0].info.talkspurtStart).toBe(true);
    expect(sent.slice(1).some((s) => s.info.talkspurtStart)).toBe(false);
  });

  it('keeps comfort silence flowing between plays in silence mode and marks each talkspurt', async () => {
    const { clock, sent, pacer } = setup({ idle: 'silence' });
    pacer.start();
    clock.advance(100);
    void pacer.play(tone(320));
    clock.advance(100);
    void pacer.play(tone(160));
    clock.advance(100);
    expect(sent.length).toBe(16);
    const spurts = sent.filter((s) => s.info.talkspurtStart).map((s) => s.info.slot);
    expect(spurts).toEqual([6, 11]);
    expect(sent.filter((s) => s.info.voiced).length).toBe(3);
    expect(pacer.stats()).toMatchObject({ audioFrames: 3, silenceFrames: 13 });
  });

  it('flush drops the queue at once and resolves plays with what was played', async () => {
    const { clock, sent, pacer } = setup({ idle: 'silence' });
    pacer.start();
    const p = pacer.play(tone(8000)); // 1 s
    clock.advance(100); // slot 0 went out as silence before the play, slots 1…5 carried it
    pacer.flush();
    expect(await p).toEqual({ completed: false, playedMs: 100 });
    const before = sent.length;
    clock.advance(200);
    expect(sent.slice(before).some((s) => s.info.voiced || s.info.fromQueue)).toBe(false);
    expect(pacer.stats().queuedMs).toBe(0);
  });

  it('stop resolves pending plays and later plays resolve at once, unplayed and closed', async () => {
    const { pacer, clock } = setup();
    pacer.start();
    const p = pacer.play(tone(1600));
    pacer.stop();
    // `closed` tells a caller that replays the unplayed rest to stop: a stopped pacer answers at once.
    expect(await p).toEqual({ completed: false, playedMs: 0, closed: true });
    expect(await pacer.play(tone(160))).toEqual({ completed: false, playedMs: 0, closed: true });
    expect(clock.pending()).toBe(0);
  });

  it('a flush is not a close: dropped plays are not `closed`, and the pacer plays on', async () => {
    const { pacer, clock } = setup();
    pacer.start();
    const p = pacer.play(tone(1600));
    pacer.flush();
    expect(await p).toEqual({ completed: false, playedMs: 0 });
    const again = pacer.play(tone(160));
    clock.advance(100);
    expect(await again).toEqual({ completed: true, playedMs: 20 });
    pacer.stop();
  });

  it('with the real clock sends one frame per elapsed 20 ms slot', async () => {
    const frames: number[] = [];
    const pacer = createPacer({ sampleRate: 16000, send: (_f, info) => frames.push(info.slot) });
    pacers.push(pacer);
    const started = performance.now();
    pacer.start();
    // However long 50 frames take on a loaded machine: the accounting below holds at any moment.
    await vi.waitFor(
      () => {
        if (frames.length < 50) throw new Error('still sending');
      },
      { timeout: 20_000, interval: 20 },
    );
    const elapsed = performance.now() - started;
    pacer.stop();
    const slots = Math.floor(elapsed / 20) + 1;
    // Every slot up to the last one sent was either sent or (under heavy load) deliberately
    // skipped, and none lies in the future: no slot is sent twice or ahead of its time.
    expect(frames.length + pacer.stats().skippedSlots).toBe((frames.at(-1) ?? -1) + 1);
    expect(frames.length + pacer.stats().skippedSlots).toBeLessThanOrEqual(slots);
    expect(new Set(frames).size).toBe(frames.length);
  });

  it('rejects a frame size that is not a whole number of samples', () => {
    expect(() => createPacer({ sampleRate: 11025, send: () => {} })).toThrow(/whole number/);
  });
});
