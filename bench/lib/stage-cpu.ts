import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Pcm, TextToSpeech, VoiceActivityDetector } from '../../src/voice/types.js';
import type { CallJson, VoiceEngines } from '../../test/e2e/helpers/e2e-stack.js';
import type { CallMediaLog } from '../../test/e2e/helpers/media-tap.js';
import { FLOOR_SENTENCES } from './engine-floor.js';
import { table } from './stats.js';

/**
 * CPU seconds per call-minute by stage, for the voice bench, where the whole pipeline (and the
 * simulated PBX and callee) runs in one Node process. Node names every thread "node", so threads are
 * told apart by what is known of them (probed on Node 20, onnxruntime-node 1.30, node-llama-cpp 3.21):
 * - the main thread (tid = pid) runs all JS: media pacing, resampling, sockets, the agent, the
 *   simulated PBX, and Silero VAD, whose onnxruntime-node `run` computes on the calling thread;
 * - each pocketsphinx engine's decoder threads report their ids (decoderThreadIds);
 * - libuv's pool (found by running crypto jobs on it) runs flite synthesis (koffi async calls) for
 *   the agent and the simulated callee alike, and node-llama-cpp's decodes, whose extra ggml threads
 *   live for one graph computation only: their CPU shows only in the process total, after they exit.
 * Where stages share a thread (flite on the pool, VAD and flite's copy-out on the main thread), their
 * share is counted work × CPU per unit of work, measured alone at the start of the same run.
 */

/** USER_HZ: the unit of /proc's utime and stime (`getconf CLK_TCK`), 100 on every Linux ABI Node runs on. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a /proc `stat` line, in seconds. comm may hold spaces and ')', so fields are counted from the last ')'. */
export function statCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

interface CpuSnapshot {
  /** The whole process, threads that have exited included. */
  process: number;
  threads: Map<number, number>;
}

function readCpu(): CpuSnapshot | null {
  try {
    const proc = statCpuSeconds(fs.readFileSync('/proc/self/stat', 'utf8'));
    const threads = new Map<number, number>();
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        threads.set(Number(tid), statCpuSeconds(fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')));
      } catch {
        // The thread exited between the listing and the read: its time is in the process total.
      }
    }
    return { process: proc, threads };
  } catch {
    return null;
  }
}

/** CPU of each thread between two snapshots; a thread new in `b` counts from zero. */
function threadDeltas(a: CpuSnapshot, b: CpuSnapshot): Map<number, number> {
  const out = new Map<number, number>();
  for (const [tid, t] of b.threads) out.set(tid, t - (a.threads.get(tid) ?? 0));
  return out;
}

const sumOf = (d: Map<number, number>, tids: Iterable<number>) => {
  let s = 0;
  for (const t of tids) s += d.get(t) ?? 0;
  return s;
};

/** CPU per unit of work of the stages that share threads, measured alone. */
export interface StageCpuCalibration {
  poolTids: number[];
  /** flite: CPU s per second of audio, on the pool (synthesis) and on the main thread (copying it out). */
  ttsPoolPerAudioSecond: number;
  ttsMainPerAudioSecond: number;
  /** Silero: CPU s per 512-sample window and per detector created (one a call), on the main thread. */
  vadPerWindow: number;
  vadPerSession: number;
  vadWindowSeconds: number;
}

/**
 * Finds libuv's pool threads and measures flite's and Silero's CPU per unit of work. Run it while
 * nothing else works (before the calls' stack starts): idle timers would count as the engines' cost.
 * Null where /proc/self/task cannot be read (not Linux).
 */
export async function calibrateStageCpu(deps: {
  tts: TextToSpeech;
  createVad(): Promise<VoiceActivityDetector>;
}): Promise<StageCpuCalibration | null> {
  const s0 = readCpu();
  if (!s0) return null;
  const main = process.pid;

  // Jobs for every pool thread, until each has taken some (on a loaded machine one thread may be
  // descheduled while the others take a round's jobs); the pool threads gain the most CPU.
  const poolSize = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);
  let poolTids: number[] = [];
  let s1 = s0;
  for (let round = 0; round < 5 && poolTids.length < poolSize; round++) {
    await Promise.all(
      Array.from(
        { length: poolSize * 4 },
        () => new Promise((resolve) => crypto.pbkdf2('stage-cpu', 'salt', 100_000, 32, 'sha256', resolve)),
      ),
    );
    s1 = readCpu()!;
    poolTids = [...threadDeltas(s0, s1)]
      .filter(([tid, d]) => tid !== main && d >= 0.02)
      .sort((a, b) => b[1] - a[1])
      .slice(0, poolSize)
      .map(([tid]) => tid);
  }

  const audio: Pcm[] = [];
  for (const s of FLOOR_SENTENCES) audio.push(await deps.tts.synthesize(s));
  const s2 = readCpu()!;
  const audioSeconds = audio.reduce((a, p) => a + p.samples.length / p.sampleRate, 0);
  const tts = threadDeltas(s1, s2);

  // The listener creates one detector per call and feeds it every window it hears, one at a time.
  const sessions = 3;
  const vads: VoiceActivityDetector[] = [];
  for (let i = 0; i < sessions; i++) vads.push(await deps.createVad());
  const s3 = readCpu()!;
  const vad = vads[0];
  let windows = 0;
  for (let pass = 0; pass < 3; pass++) {
    for (const pcm of audio) {
      for (let off = 0; off + vad.frameSamples <= pcm.samples.length; off += vad.frameSamples) {
        await vad.process(pcm.samples.subarray(off, off + vad.frameSamples));
        windows++;
      }
    }
  }
  const s4 = readCpu()!;
  for (const v of vads) await v.close();
  const mainOf = (a: CpuSnapshot, b: CpuSnapshot) => (b.threads.get(main) ?? 0) - (a.threads.get(main) ?? 0);
  return {
    poolTids,
    ttsPoolPerAudioSecond: sumOf(tts, poolTids) / audioSeconds,
    ttsMainPerAudioSecond: (tts.get(main) ?? 0) / audioSeconds,
    vadPerWindow: mainOf(s3, s4) / windows,
    vadPerSession: mainOf(s2, s3) / sessions,
    vadWindowSeconds: vad.frameSamples / vad.sampleRate,
  };
}

/** The engines with the audio their TTS produced counted, the agent's apart from the simulated callee's. */
export function countTtsAudio(engines: VoiceEngines): {
  engines: VoiceEngines;
  counts(): { agentTtsSeconds: number; calleeTtsSeconds: number };
} {
  const n = { agentTtsSeconds: 0, calleeTtsSeconds: 0 };
  const counted = (tts: TextToSpeech, key: keyof typeof n): TextToSpeech => ({
    name: tts.name,
    sampleRate: tts.sampleRate,
    voices: tts.voices,
    async synthesize(text, opts) {
      const pcm = await tts.synthesize(text, opts);
      n[key] += pcm.samples.length / pcm.sampleRate;
      return pcm;
    },
    close: () => tts.close(),
  });
  return {
    engines: {
      ...engines,
      agentTts: counted(engines.agentTts, 'agentTtsSeconds'),
      calleeTts: counted(engines.calleeTts, 'calleeTtsSeconds'),
    },
    counts: () => ({ ...n }),
  };
}

/** What one call asked of the stages that are counted rather than measured per thread. */
export interface CallWork {
  /** From answer to end (the call's startedAt → endedAt); 0 if never answered. */
  answeredSeconds: number;
  /** Audio the agent received (span of the tapped frames): the VAD ran over all of it. */
  heardSeconds: number;
}

export function callWork(
  call: Pick<CallJson, 'startedAt' | 'endedAt'>,
  log: CallMediaLog | undefined,
): CallWork {
  const answeredSeconds =
    call.startedAt && call.endedAt
      ? Math.max(0, (Date.parse(call.endedAt) - Date.parse(call.startedAt)) / 1000)
      : 0;
  const r = log?.received ?? [];
  const heardSeconds = r.length > 1 ? (r[r.length - 1].atMs - r[0].atMs) / 1000 : 0;
  return { answeredSeconds, heardSeconds };
}

/** CPU seconds of each thread group over a step. */
export interface MeasuredCpu {
  total: number;
  main: number;
  pool: number;
  /** Threads that exited during the step (process total minus live threads). */
  exited: number;
  agentStt: number;
  calleeStt: number;
  /** Every other live thread: V8's platform threads (GC, compiler), module loader threads. */
  other: number;
}

export interface StageWork {
  agentTtsSeconds: number;
  calleeTtsSeconds: number;
  vadWindows: number;
  vadSessions: number;
}

export const STAGES = ['vad', 'stt', 'dialogue', 'tts', 'media', 'callee', 'unattributed'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Splits a step's measured CPU into stages. Shared threads are split by counted work × unit cost;
 * what the estimates leave on the pool is the dialogue's. `unattributed` is the rest of the process
 * total, negative when the estimates exceed what was measured.
 */
export function attributeStageCpu(
  m: MeasuredCpu,
  w: StageWork,
  cal: Omit<StageCpuCalibration, 'poolTids' | 'vadWindowSeconds'>,
): Record<Stage, number> {
  const ttsAudio = w.agentTtsSeconds + w.calleeTtsSeconds;
  const ttsUnit = cal.ttsPoolPerAudioSecond + cal.ttsMainPerAudioSecond;
  const vad = w.vadWindows * cal.vadPerWindow + w.vadSessions * cal.vadPerSession;
  const rows = {
    vad,
    stt: m.agentStt,
    dialogue: Math.max(0, m.pool - ttsAudio * cal.ttsPoolPerAudioSecond) + m.exited,
    tts: w.agentTtsSeconds * ttsUnit,
    media: Math.max(0, m.main - vad - ttsAudio * cal.ttsMainPerAudioSecond),
    callee: m.calleeStt + w.calleeTtsSeconds * ttsUnit,
  };
  const attributed = Object.values(rows).reduce((a, b) => a + b, 0);
  return { ...rows, unattributed: m.total - attributed };
}

export interface StageCpuReport {
  calls: number;
  callMinutes: number;
  measured: MeasuredCpu;
  work: StageWork;
  /** CPU seconds over the step by stage; they add up to measured.total. */
  seconds: Record<Stage, number>;
  /** The unit costs the shared threads were split by. */
  calibration: StageCpuCalibration;
}

export interface StageCpuMeter {
  /** Ends the step's measurement; null where threads cannot be read. */
  stop(calls: CallWork[]): StageCpuReport | null;
}

/** Measures one sweep step: start it before the step's calls are placed, stop it after they ended. */
export function startStageCpu(opts: {
  calibration: StageCpuCalibration | null;
  agentSttTids: readonly number[];
  calleeSttTids: readonly number[];
  ttsCounts(): { agentTtsSeconds: number; calleeTtsSeconds: number };
}): StageCpuMeter {
  const cal = opts.calibration;
  const s0 = cal ? readCpu() : null;
  const tts0 = opts.ttsCounts();
  return {
    stop(calls) {
      const s1 = s0 ? readCpu() : null;
      if (!cal || !s0 || !s1) return null;
      const d = threadDeltas(s0, s1);
      const live = [...d.values()].reduce((a, b) => a + b, 0);
      const main = d.get(process.pid) ?? 0;
      const pool = sumOf(d, cal.poolTids);
      const agentStt = sumOf(d, opts.agentSttTids);
      const calleeStt = sumOf(d, opts.calleeSttTids);
      const total = s1.process - s0.process;
      const measured: MeasuredCpu = {
        total,
        main,
        pool,
        exited: Math.max(0, total - live),
        agentStt,
        calleeStt,
        other: live - main - pool - agentStt - calleeStt,
      };
      const tts1 = opts.ttsCounts();
      const work: StageWork = {
        agentTtsSeconds: tts1.agentTtsSeconds - tts0.agentTtsSeconds,
        calleeTtsSeconds: tts1.calleeTtsSeconds - tts0.calleeTtsSeconds,
        vadWindows: calls.reduce((a, c) => a + c.heardSeconds, 0) / cal.vadWindowSeconds,
        vadSessions: calls.filter((c) => c.answeredSeconds > 0).length,
      };
      return {
        calls: calls.length,
        callMinutes: calls.reduce((a, c) => a + c.answeredSeconds, 0) / 60,
        measured,
        work,
        seconds: attributeStageCpu(measured, work, cal),
        calibration: cal,
      };
    },
  };
}

const ROWS: { stage: Stage | 'agentline' | 'total'; label: string; method: string }[] = [
  {
    stage: 'vad',
    label: 'VAD (Silero)',
    method: 'windows heard x CPU per window (+ one detector per call), measured alone at start; main thread',
  },
  { stage: 'stt', label: 'STT (pocketsphinx)', method: "the agent's decoder threads, per-thread CPU" },
  {
    stage: 'dialogue',
    label: 'dialogue (llama.cpp)',
    method: "libuv pool minus the flite estimate, + exited threads (ggml's per-decode helpers)",
  },
  {
    stage: 'tts',
    label: 'TTS (flite)',
    method: "agent's audio s x flite CPU per audio s, measured alone at start; libuv pool",
  },
  {
    stage: 'media',
    label: 'media + agent',
    method: "main thread minus the VAD and flite estimates; includes the simulated PBX's JS (same thread)",
  },
  { stage: 'agentline', label: '= agentline, sum', method: 'the five rows above' },
  {
    stage: 'callee',
    label: 'simulated callee',
    method: 'its decoder threads + its flite audio s x unit cost; not agentline',
  },
  {
    stage: 'unattributed',
    label: 'unattributed',
    method: 'V8 helper threads (GC, compiler), loader threads; < 0: the estimates exceed the measurement',
  },
  {
    stage: 'total',
    label: 'total measured',
    method: 'process CPU (/proc/self/stat), exited threads included',
  },
];

/** One table per sweep step: CPU s per call-minute by stage, the share of a core one call keeps busy, the method. */
export function stageCpuTable(
  results: readonly { shape: string; step: { concurrency: number; stageCpu?: StageCpuReport | null } }[],
): string {
  const out: string[] = [];
  for (const { shape, step } of results) {
    const r = step.stageCpu;
    const title = `${shape}, ${step.concurrency} call(s) at once`;
    if (!r || r.callMinutes <= 0) {
      out.push(`${title}: no per-thread CPU (needs Linux /proc and answered calls)`);
      continue;
    }
    const value = (stage: (typeof ROWS)[number]['stage']) =>
      stage === 'total'
        ? r.measured.total
        : stage === 'agentline'
          ? r.seconds.vad + r.seconds.stt + r.seconds.dialogue + r.seconds.tts + r.seconds.media
          : r.seconds[stage];
    const attributed = r.measured.total - r.seconds.unattributed;
    out.push(
      `${title}: ${r.callMinutes.toFixed(2)} call-minutes answered, process CPU ${r.measured.total.toFixed(1)} s = ${(r.measured.total / r.callMinutes).toFixed(2)} s per call-minute; the stages below add up to ${(attributed / r.callMinutes).toFixed(2)} (${((100 * attributed) / r.measured.total).toFixed(0)}%)`,
    );
    // table() right-aligns every column after the first: the methods are padded to read left-aligned.
    const methodWidth = Math.max(...ROWS.map((x) => x.method.length));
    out.push(
      table(
        ['stage', 'CPU s / call-min', 'core per call', 'method'.padEnd(methodWidth)],
        ROWS.map(({ stage, label, method }) => {
          const perMin = value(stage) / r.callMinutes;
          return [
            label,
            perMin.toFixed(2),
            `${((100 * perMin) / 60).toFixed(1)}%`,
            method.padEnd(methodWidth),
          ];
        }),
      ),
    );
    const c = r.calibration;
    out.push(
      `  unit costs, measured alone at start: flite ${(c.ttsPoolPerAudioSecond + c.ttsMainPerAudioSecond).toFixed(4)} CPU s per audio s, Silero ${(c.vadPerWindow * 1000).toFixed(3)} ms per window + ${(c.vadPerSession * 1000).toFixed(0)} ms per detector; ${c.poolTids.length} libuv pool threads`,
    );
    out.push(
      `  counted: agent TTS ${r.work.agentTtsSeconds.toFixed(1)} s, callee TTS ${r.work.calleeTtsSeconds.toFixed(1)} s of audio, ${r.work.vadWindows.toFixed(0)} VAD windows; measured: main ${r.measured.main.toFixed(1)} s, libuv pool ${r.measured.pool.toFixed(1)} s, exited threads ${r.measured.exited.toFixed(1)} s, other threads ${r.measured.other.toFixed(1)} s`,
    );
  }
  return out.join('\n');
}
