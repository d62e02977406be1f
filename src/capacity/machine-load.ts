import fs from 'node:fs';
import os from 'node:os';

/** How busy the machine is with work other than this process. */
export interface MachineLoad {
  /** Cores busy with work other than this process, averaged over the window. */
  otherCores(): number;
  stop(): void;
}

/** Cumulative CPU time of the cores this process may run on: busy and total, in any one unit. */
export interface CpuTimes {
  busy: number;
  total: number;
  /** How many cores these times are summed over. */
  cores: number;
}

export interface MachineLoadOptions {
  /** How often to sample (ms, default 1000). */
  intervalMs?: number;
  /** What otherCores() averages over (ms, default 10 000). */
  windowMs?: number;
  /** The machine's CPU times (default: /proc/stat, else os.cpus()). */
  readCpu?: () => CpuTimes;
  /** This process's CPU time, µs (default: process.cpuUsage(), every thread of it). */
  readOwnMicros?: () => number;
  /** Monotonic ms (default performance.now()). */
  clock?: () => number;
}

interface Sample {
  at: number;
  busy: number;
  total: number;
  cores: number;
  own: number;
}

/**
 * Samples the machine's CPU time and this process's own every `intervalMs` and reports how many
 * cores the rest of the machine kept busy over the last `windowMs`: what another service, another
 * worker or a build on the same box takes from this worker's calls. The machine's busy cores come
 * from the busy share of all CPU time (tick rate free), this process's from its CPU time per wall
 * second; the difference is the others'. The timer is unref'd.
 */
export function watchMachineLoad(opts: MachineLoadOptions = {}): MachineLoad {
  const intervalMs = opts.intervalMs ?? 1000;
  const windowMs = opts.windowMs ?? 10_000;
  const readCpu = opts.readCpu ?? defaultCpuReader();
  const readOwn = opts.readOwnMicros ?? (() => totalMicros(process.cpuUsage()));
  const clock = opts.clock ?? (() => performance.now());

  const samples: Sample[] = [];
  const sample = () => {
    let cpu: CpuTimes;
    try {
      cpu = readCpu();
    } catch {
      return; // An unreadable /proc for a moment: the window keeps what it has.
    }
    samples.push({ at: clock(), busy: cpu.busy, total: cpu.total, cores: cpu.cores, own: readOwn() });
    // Keep the newest sample at or before the window's start, so the window is covered whole.
    const start = clock() - windowMs;
    while (samples.length > 2 && samples[1].at <= start) samples.shift();
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();

  return {
    otherCores() {
      if (samples.length < 2) return 0;
      const a = samples[0];
      const b = samples[samples.length - 1];
      const total = b.total - a.total;
      const wallMicros = (b.at - a.at) * 1000;
      if (!(total > 0) || !(wallMicros > 0)) return 0;
      const machineBusy = ((b.busy - a.busy) / total) * b.cores;
      const own = (b.own - a.own) / wallMicros;
      return Math.max(0, Math.min(b.cores, machineBusy - own));
    },
    stop: () => clearInterval(timer),
  };
}

function totalMicros(u: NodeJS.CpuUsage): number {
  return u.user + u.system;
}

/** /proc/stat where there is one (only the cores this process may run on), else os.cpus(). */
function defaultCpuReader(): () => CpuTimes {
  try {
    const allowed = allowedCpus(fs.readFileSync('/proc/self/status', 'utf8'));
    const read = () => parseProcStat(fs.readFileSync('/proc/stat', 'utf8'), allowed);
    read();
    return read;
  } catch {
    return osCpuTimes;
  }
}

/**
 * CPU times from /proc/stat: the `cpuN` lines of `allowed` (null: the summary `cpu` line of all).
 * Busy is everything but idle and iowait; steal counts as busy, since it is a core another guest took.
 * guest/guest_nice are already inside user/nice and are left out.
 */
export function parseProcStat(text: string, allowed: ReadonlySet<number> | null = null): CpuTimes {
  let busy = 0;
  let total = 0;
  let cores = 0;
  let summary: CpuTimes | null = null;
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = m[2]
      .trim()
      .split(/\s+/)
      .map(Number);
    const lineBusy = user + nice + system + irq + softirq + steal;
    const lineTotal = lineBusy + idle + iowait;
    if (m[1] === '') {
      summary = { busy: lineBusy, total: lineTotal, cores: 0 };
    } else if (allowed?.has(Number(m[1]))) {
      busy += lineBusy;
      total += lineTotal;
      cores++;
    } else if (!allowed) {
      cores++;
    }
  }
  if (allowed && cores > 0) return { busy, total, cores };
  if (!summary || !(cores > 0)) throw new Error('/proc/stat: no cpu lines');
  return { ...summary, cores };
}

/** The cores of `Cpus_allowed_list` in /proc/self/status ("0-3,8"); null when absent. */
export function allowedCpus(status: string): Set<number> | null {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (!m) return null;
  const set = new Set<number>();
  for (const part of m[1].split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) return null;
    for (let i = lo; i <= hi; i++) set.add(i);
  }
  return set.size > 0 ? set : null;
}

function osCpuTimes(): CpuTimes {
  const cpus = os.cpus();
  let busy = 0;
  let total = 0;
  for (const { times: t } of cpus) {
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total, cores: cpus.length };
}
