import { describe, expect, it } from 'vitest';
import type { CallAudio } from '../../src/telephony/call-session.js';
import { withBacklog } from '../../src/telephony/opening-audio.js';
import { OpeningWatch } from '../../src/telephony/voicemail/opening-watch.js';

const RATE = 8000;
const FRAME = RATE / 50;

function frames(ms: number, make: (i: number) => number): Int16Array[] {
  const out: Int16Array[] = [];
  let n = 0;
  for (let t = 0; t < ms; t += 20) {
    const f = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) f[i] = make(n++);
    out.push(f);
  }
  return out;
}
/** Speech-like: loud, broadband (no steady tone for the beep detector). */
const voice = (ms: number) =>
  frames(ms, (i) => Math.round(4000 * Math.sin(i * 0.9) * Math.sin(i * 0.013) + 2000 * Math.sin(i * 2.1)));
const quiet = (ms: number) => frames(ms, () => 0);
const beep = (ms: number) => frames(ms, (i) => Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / RATE)));

describe('the opening watch', () => {
  it('a greeting then quiet: the quiet is counted from the greeting heard before anyone asked', async () => {
    const watch = new OpeningWatch({ sampleRate: RATE, beepWatchMs: 30_000 });
    for (const f of [...quiet(500), ...voice(3000), ...quiet(600)]) watch.push(f);
    expect(watch.silenceMs).toBe(600);
    const signal = new AbortController().signal;
    const ended = watch.until(() => (watch.silenceMs >= 1000 ? 'quiet' : null), 60_000, signal);
    for (const f of quiet(400)) watch.push(f);
    expect(await ended).toBe('quiet');
    expect(watch.beepHeardAtMs).toBeNull();
  });

  it('a beep within the watch is heard and told to listeners, at once for a late one; after the watch it is not', () => {
    const watch = new OpeningWatch({ sampleRate: RATE, beepWatchMs: 5000 });
    let told = 0;
    watch.onBeep(() => told++);
    for (const f of [...voice(2000), ...quiet(300), ...beep(400)]) watch.push(f);
    expect(told).toBe(1);
    expect(watch.beepHeardAtMs).toBeGreaterThan(2300);
    let late = 0;
    watch.onBeep(() => late++);
    expect(late).toBe(1);

    const after = new OpeningWatch({ sampleRate: RATE, beepWatchMs: 1000 });
    for (const f of [...voice(1500), ...beep(400)]) after.push(f);
    expect(after.beepHeardAtMs).toBeNull();
  });

  it('a wait ends on its timeout, and an aborted wait leaves no timer or listener behind', async () => {
    const watch = new OpeningWatch({ sampleRate: RATE, beepWatchMs: 30_000 });
    expect(await watch.until(() => null, 10, new AbortController().signal)).toBe('timeout');
    const ac = new AbortController();
    let asked = 0;
    void watch.until(
      () => {
        asked++;
        return null;
      },
      60_000,
      ac.signal,
    );
    ac.abort();
    for (const f of voice(100)) watch.push(f);
    // Asked once when the wait began, never again after the abort.
    expect(asked).toBe(1);
  });
});

/** A CallAudio whose frames the test pushes. */
function fakeAudio() {
  const listeners = new Set<(f: Int16Array) => void>();
  const audio: CallAudio = {
    sampleRate: RATE,
    onFrame(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    play: async () => ({ completed: true, playedMs: 0 }),
    flush: () => {},
    onFrameSent: () => () => {},
  };
  return {
    audio,
    push: (f: Int16Array) => {
      for (const l of listeners) l(f);
    },
    count: () => listeners.size,
  };
}

describe('the agent audio from answer (withBacklog)', () => {
  it('hands the frames from before the first listener to it first, in order, then the live ones; later listeners get live ones only', async () => {
    const line = fakeAudio();
    const heard = withBacklog(line.audio, 100);
    const mark = (n: number) => new Int16Array(FRAME).fill(n);
    for (let n = 1; n <= 7; n++) line.push(mark(n)); // 140 ms: only the latest 100 ms are kept
    const got: number[] = [];
    const off = heard.onFrame((f) => got.push(f[0]));
    line.push(mark(8)); // live, while the kept ones still wait for their microtask
    expect(got).toEqual([]);
    await Promise.resolve();
    line.push(mark(9));
    expect(got).toEqual([3, 4, 5, 6, 7, 8, 9]);
    const second: number[] = [];
    heard.onFrame((f) => second.push(f[0]));
    line.push(mark(10));
    expect(second).toEqual([10]);
    off();
    heard.close();
  });

  it('close() stops keeping frames and lets go of the line', () => {
    const line = fakeAudio();
    const heard = withBacklog(line.audio, 1000);
    expect(line.count()).toBe(1);
    heard.close();
    expect(line.count()).toBe(0);
  });
});
