import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  allowedCpus,
  type CpuTimes,
  type MachineLoad,
  parseProcStat,
  watchMachineLoad,
} from './machine-load.js';

describe('watchMachineLoad', () => {
  let load: MachineLoad | undefined;
  afterEach(() => {
    load?.stop();
    vi.useRealTimers();
  });

  /** A machine and a process whose CPU times the test advances by hand. */
  function fakeMachine(cores: number) {
    const m = { now: 0, busy: 0, total: 0, own: 0 };
    return {
      m,
      /** `seconds` pass with `machineCores` busy in all, `ownCores` of them this process. */
      pass(seconds: number, machineCores: number, ownCores: number) {
        m.now += seconds * 1000;
        m.busy += machineCores * seconds * 100;
        m.total += cores * seconds * 100;
        m.own += ownCores * seconds * 1e6;
      },
      opts: {
        readCpu: (): CpuTimes => ({ busy: m.busy, total: m.total, cores }),
        readOwnMicros: () => m.own,
        clock: () => m.now,
      },
    };
  }

  it("reports the cores other processes keep busy, not this process's own, averaged over the window", () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const f = fakeMachine(4);
    load = watchMachineLoad({ ...f.opts, intervalMs: 1000, windowMs: 10_000 });
    expect(load.otherCores()).toBe(0);
    // 10 s: 3 cores busy, 1 of them this process.
    for (let i = 0; i < 10; i++) {
      f.pass(1, 3, 1);
      vi.advanceTimersByTime(1000);
    }
    expect(load.otherCores()).toBeCloseTo(2, 5);
    // The others stop; 10 s later the window holds only the quiet.
    for (let i = 0; i < 10; i++) {
      f.pass(1, 1, 1);
      vi.advanceTimersByTime(1000);
    }
    expect(load.otherCores()).toBeCloseTo(0, 5);
    // Halfway through a busy spell the average is half of it.
    for (let i = 0; i < 5; i++) {
      f.pass(1, 3, 1);
      vi.advanceTimersByTime(1000);
    }
    expect(load.otherCores()).toBeCloseTo(1, 5);
  });

  it('stops sampling after stop()', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const f = fakeMachine(2);
    let reads = 0;
    load = watchMachineLoad({
      ...f.opts,
      readCpu: () => {
        reads++;
        return f.opts.readCpu();
      },
      intervalMs: 1000,
    });
    vi.advanceTimersByTime(3000);
    expect(reads).toBe(4);
    load.stop();
    vi.advanceTimersByTime(10_000);
    expect(reads).toBe(4);
  });

  it('sees a busy child process as other work', async () => {
    load = watchMachineLoad({ intervalMs: 100, windowMs: 1000 });
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      // On a loaded machine the child may get less than its core for a while: poll, generously.
      await expect
        .poll(() => load?.otherCores(), { timeout: 60_000, interval: 200 })
        .toBeGreaterThanOrEqual(0.5);
    } finally {
      child?.kill('SIGKILL');
    }
  });
});

describe('parseProcStat', () => {
  const STAT = [
    'cpu  400 0 100 1000 50 0 10 5 0 0',
    'cpu0 100 0 50 500 25 0 5 0 0 0',
    'cpu1 300 0 50 500 25 0 5 5 0 0',
    'intr 12345',
  ].join('\n');

  it('counts busy and total time of every core, steal as busy and iowait as idle', () => {
    expect(parseProcStat(STAT)).toEqual({ busy: 515, total: 1565, cores: 2 });
  });

  it('counts only the cores this process may run on', () => {
    expect(parseProcStat(STAT, new Set([1]))).toEqual({ busy: 360, total: 885, cores: 1 });
  });

  it('reads the allowed cores from /proc/self/status', () => {
    expect([...(allowedCpus('Name:\tnode\nCpus_allowed_list:\t0-2,5\n') ?? [])]).toEqual([0, 1, 2, 5]);
    expect(allowedCpus('Name:\tnode\n')).toBeNull();
  });
});
