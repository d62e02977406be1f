import { afterEach, describe, expect, it } from 'vitest';
import { estimateCapacity } from './capacity-model.js';
import type { EngineProfile } from './engine-profile.js';
import type { MachineLoad } from './machine-load.js';
import {
  createWorkerCapacity,
  RECOGNITION_BACKLOG_MS,
  UNMEASURED_CAPACITY,
  type WorkerCapacity,
} from './worker-capacity.js';

/** The Xeon of issue 15 with the dialogue elsewhere: several calls, limited by the CPU. */
const REMOTE: EngineProfile = {
  cores: 2,
  cpuModel: 'Intel Xeon',
  vadRtf: 0.02,
  sttRtf: 0.35,
  ttsRtf: 0.05,
  llm: null,
  measuredAt: '2026-12-07T00:00:00.000Z',
  ms: 4000,
};
const REMOTE_CALLS = estimateCapacity(REMOTE).calls;

function fakeMachine(other = 0): MachineLoad & { other: number; stopped: boolean } {
  return {
    other,
    stopped: false,
    otherCores() {
      return this.other;
    },
    stop() {
      this.stopped = true;
    },
  };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** 'auto' on REMOTE, a quiet machine and the given clock. */
function autoWithClock(
  clock: () => number,
  over: Partial<Parameters<typeof createWorkerCapacity>[0]> = {},
): WorkerCapacity {
  return createWorkerCapacity({
    configured: 'auto',
    profile: REMOTE,
    machine: fakeMachine(),
    clock,
    ...over,
  });
}

describe('createWorkerCapacity', () => {
  let cap: WorkerCapacity | undefined;
  afterEach(() => cap?.stop());

  it('takes a configured number as is', () => {
    cap = createWorkerCapacity({ configured: 7, profile: REMOTE, machine: fakeMachine(1.5) });
    expect(cap.limit(0)).toBe(7);
    expect(cap.snapshot(7)).toMatchObject({ capacity: 7, liveCalls: 7, full: true, limitedBy: 'configured' });
    expect(cap.snapshot(6).full).toBe(false);
  });

  it("carries one call while the engines are measured, then the model's estimate", async () => {
    expect(REMOTE_CALLS).toBeGreaterThan(2);
    const measuring = deferred<EngineProfile | null>();
    cap = createWorkerCapacity({ configured: 'auto', profile: measuring.promise, machine: fakeMachine() });
    expect(cap.snapshot(0)).toMatchObject({
      capacity: 1,
      limitedBy: 'measuring',
      estimate: null,
      full: false,
    });
    expect(cap.snapshot(1).full).toBe(true);
    measuring.resolve(REMOTE);
    await expect.poll(() => cap?.limit(0)).toBe(REMOTE_CALLS);
    expect(cap.snapshot(2)).toMatchObject({
      limitedBy: 'cpu',
      full: false,
      estimate: { calls: REMOTE_CALLS },
    });
  });

  it('falls back to a conservative guess when measuring failed or gave nothing', async () => {
    const failed = deferred<EngineProfile | null>();
    cap = createWorkerCapacity({ configured: 'auto', profile: failed.promise, machine: fakeMachine() });
    failed.reject(new Error('flite failed'));
    await expect.poll(() => cap?.limit(0)).toBe(UNMEASURED_CAPACITY);
    expect(cap.snapshot(0).limitedBy).toBe('measuring');
    cap.stop();
    cap = createWorkerCapacity({ configured: 'auto', profile: null, machine: fakeMachine() });
    expect(cap.snapshot(0)).toMatchObject({ capacity: UNMEASURED_CAPACITY, limitedBy: 'measuring' });
  });

  it('gives fewer calls while other work keeps cores busy, and says so', () => {
    const machine = fakeMachine(0);
    cap = createWorkerCapacity({ configured: 'auto', profile: REMOTE, machine });
    expect(cap.snapshot(0)).toMatchObject({ capacity: REMOTE_CALLS, limitedBy: 'cpu', otherLoadCores: 0 });
    machine.other = 1;
    const busy = cap.snapshot(0);
    expect(busy.capacity).toBe(estimateCapacity(REMOTE, { freeCores: 1 }).calls);
    expect(busy.capacity).toBeLessThan(REMOTE_CALLS);
    expect(busy).toMatchObject({ limitedBy: 'load', otherLoadCores: 1 });
    machine.other = 2;
    expect(cap.limit(0)).toBe(1);
    machine.other = 0;
    expect(cap.snapshot(0)).toMatchObject({ capacity: REMOTE_CALLS, limitedBy: 'cpu' });
  });

  it('is capped by max', () => {
    cap = createWorkerCapacity({ configured: 'auto', profile: REMOTE, machine: fakeMachine(), max: 2 });
    expect(cap.snapshot(0)).toMatchObject({ capacity: 2, limitedBy: 'configured' });
  });

  it('takes fewer calls while replies come late, until the window has passed', () => {
    let now = 1_000_000;
    cap = autoWithClock(() => now, {
      lateWindowMs: 120_000,
    });
    // On time at any load, and one late reply alone, change nothing.
    cap.recordReply(900, 5);
    cap.recordReply(1800, 5);
    now += 1000;
    expect(cap.snapshot(5)).toMatchObject({ capacity: REMOTE_CALLS, lateReplies: 1 });
    // A second late reply among the last ten: 4 live calls were too many.
    cap.recordReply(2500, 4);
    expect(cap.snapshot(4)).toMatchObject({
      capacity: 3,
      limitedBy: 'late_replies',
      full: true,
      lateReplies: 2,
    });
    // Still inside the window: on-time replies at the lower load do not lift it.
    now += 60_000;
    cap.recordReply(700, 3);
    expect(cap.limit(3)).toBe(3);
    // The window passes since the last late reply: the estimate is back.
    now += 61_000;
    expect(cap.snapshot(3)).toMatchObject({ capacity: REMOTE_CALLS, limitedBy: 'cpu', lateReplies: 0 });
  });

  it('counts only late replies among the latest ten, and never goes below one call', () => {
    let now = 0;
    cap = autoWithClock(() => now, {
      replyBudgetMs: 1000,
    });
    cap.recordReply(1200, 3);
    for (let i = 0; i < 10; i++) {
      now += 100;
      cap.recordReply(800, 3);
    }
    // The first late reply has left the latest ten: this one is alone.
    cap.recordReply(1200, 3);
    expect(cap.snapshot(3)).toMatchObject({ capacity: REMOTE_CALLS, lateReplies: 1 });
    // Late even with one call live: one call, not zero.
    cap.recordReply(3000, 1);
    expect(cap.snapshot(1)).toMatchObject({ capacity: 1, limitedBy: 'late_replies', full: true });
  });

  it('takes fewer calls once the recogniser runs behind the audio for a second, until the window has passed', () => {
    let now = 1_000_000;
    let backlog = 0;
    cap = autoWithClock(() => now, {
      lateWindowMs: 120_000,
      recognitionBacklogMs: () => backlog,
    });
    const live = REMOTE_CALLS;
    expect(cap.snapshot(live)).toMatchObject({ capacity: REMOTE_CALLS, limitedBy: 'cpu' });
    // A moment behind (a finish's second pass), then caught up: nothing changes.
    backlog = RECOGNITION_BACKLOG_MS + 100;
    expect(cap.limit(live)).toBe(REMOTE_CALLS);
    now += 900;
    backlog = 200;
    expect(cap.limit(live)).toBe(REMOTE_CALLS);
    // Behind again, and still behind a second later: the live calls are too many.
    backlog = 2000;
    expect(cap.limit(live)).toBe(REMOTE_CALLS);
    now += 1000;
    expect(cap.snapshot(live)).toMatchObject({
      capacity: live - 1,
      limitedBy: 'recognition_backlog',
      full: true,
    });
    // It catches up as calls end; the cap holds for the window, then the estimate is back.
    backlog = 0;
    now += 60_000;
    expect(cap.limit(live - 2)).toBe(live - 1);
    now += 61_000;
    expect(cap.snapshot(live - 2)).toMatchObject({ capacity: REMOTE_CALLS, limitedBy: 'cpu' });
  });

  it('takes a configured number as is, however far the recogniser runs behind', () => {
    let now = 0;
    cap = createWorkerCapacity({
      configured: 6,
      profile: REMOTE,
      machine: fakeMachine(),
      clock: () => now,
      recognitionBacklogMs: () => 10_000,
    });
    cap.limit(6);
    now += 5000;
    expect(cap.snapshot(6)).toMatchObject({ capacity: 6, limitedBy: 'configured' });
  });

  it('leaves a machine watcher it was given to its owner', () => {
    const given = fakeMachine();
    cap = createWorkerCapacity({ configured: 'auto', profile: REMOTE, machine: given });
    cap.stop();
    expect(given.stopped).toBe(false);
  });
});
