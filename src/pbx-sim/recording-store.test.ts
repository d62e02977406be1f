import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readWavFile } from '../audio/wav.js';
import { FRAME_MS, FRAME_SAMPLES } from './media-clock.js';
import { createBridgeRecorder, RecordingStore } from './recording-store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

/** A recorder on a clock the test moves by hand; `tick()` feeds one loud frame at the clock's time. */
async function recorderOnManualClock(over: { maxDurationSeconds?: number } = {}) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'recorder-'));
  dirs.push(dir);
  const store = new RecordingStore(dir);
  let now = 1000;
  let limits = 0;
  const rec = createBridgeRecorder({
    store,
    name: 'r',
    format: 'wav16',
    targetUri: 'bridge:b',
    ifExists: 'fail',
    maxDurationSeconds: over.maxDurationSeconds ?? 0,
    onLimit: () => limits++,
    now: () => now,
  });
  await rec.ready;
  const frame = new Int16Array(FRAME_SAMPLES).fill(5000);
  return {
    rec,
    advance(ms: number) {
      now += ms;
    },
    tick() {
      now += FRAME_MS;
      rec.append(frame, now);
    },
    limits: () => limits,
    async seconds() {
      const wav = await readWavFile(path.join(dir, 'r.wav16'));
      return wav.samples.length / wav.sampleRate;
    },
  };
}

describe('bridge recorder timeline', () => {
  it('a clock that kept up: exactly the frames it was fed, no silence added', async () => {
    const r = await recorderOnManualClock();
    for (let i = 0; i < 100; i++) r.tick();
    // Stopped within the last frame's time: nothing to pad.
    r.advance(FRAME_MS / 2);
    const live = await r.rec.finish('done');
    expect(await r.seconds()).toBe(2);
    // wav16: Asterisk's duration is samples / 8000, twice the real length.
    expect(live).toMatchObject({ duration: 4, talking_duration: 2, silence_duration: 0 });
  });

  it('ticks the media clock dropped become silence where they were missing', async () => {
    const r = await recorderOnManualClock();
    for (let i = 0; i < 50; i++) r.tick();
    // The event loop stalled: the clock resynchronised 1.5 s later, dropping 75 frames.
    r.advance(1500);
    for (let i = 0; i < 50; i++) r.tick();
    const live = await r.rec.finish('done');
    expect(await r.seconds()).toBeCloseTo(3.5, 6);
    expect(live).toMatchObject({ duration: 7, talking_duration: 2, silence_duration: 2 });
  });

  it('a stop that comes after the clock stalled pads the end to the stop', async () => {
    const r = await recorderOnManualClock();
    for (let i = 0; i < 50; i++) r.tick();
    r.advance(2000);
    await r.rec.finish('done');
    expect(await r.seconds()).toBeCloseTo(3, 6);
  });

  it('the padding counts toward maxDurationSeconds, and never runs past it', async () => {
    const r = await recorderOnManualClock({ maxDurationSeconds: 2 });
    for (let i = 0; i < 25; i++) r.tick();
    r.advance(5000);
    r.tick();
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.limits()).toBe(1);
    await r.rec.finish('done');
    expect(await r.seconds()).toBeLessThanOrEqual(2 + FRAME_MS / 1000);
  });
});
