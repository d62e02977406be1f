import type { Scenario } from '../../src/pbx-sim/index.js';
import { classifyTurnEnd, type TurnEnd } from '../../src/voice/agent/turn-end.js';
import type { DialogueEngine } from '../../src/voice/dialogue/types.js';
import { VOICED_RMS } from '../../test/e2e/helpers/audio-checks.js';
import type { CallJson, E2eStack } from '../../test/e2e/helpers/e2e-stack.js';
import type { CallMediaLog } from '../../test/e2e/helpers/media-tap.js';
import { FLOOR_SENTENCES } from './engine-floor.js';
import { callWork, type StageCpuMeter, type StageCpuReport } from './stage-cpu.js';
import { percentile } from './stats.js';

export const BENCH_CALLEE = '+14155550180';

const BENCH_GOODBYE = 'Thank you, that is all. Goodbye.';

/** What the bench callee says before each agent reply: its greeting, then lines 1.. in turn, then goodbye. */
export function benchCalleeLines(turns: number): string[] {
  const lines: string[] = [FLOOR_SENTENCES[0]];
  for (let i = 1; i <= turns; i++) {
    lines.push(i === turns ? BENCH_GOODBYE : FLOOR_SENTENCES[1 + ((i - 1) % (FLOOR_SENTENCES.length - 1))]);
  }
  return lines;
}

/** A callee that greets, answers each of the agent's turns with the next line, and says goodbye after `turns`. */
export function benchCalleeScenario(turns: number): Scenario {
  const lines = benchCalleeLines(turns);
  const states: NonNullable<Scenario['states']> = {
    start: { say: lines[0], rules: [{ match: 'anything', goto: 'r1' }] },
  };
  for (let i = 1; i <= turns; i++) {
    states[`r${i}`] =
      i === turns
        ? { say: lines[i], hangup: true }
        : { say: lines[i], rules: [{ match: 'anything', goto: `r${i + 1}` }] };
  }
  return {
    number: BENCH_CALLEE,
    description: 'voice bench callee',
    outcome: 'answer',
    // A real phone rings before anyone answers; the agent reads its prompt meanwhile (ConversationAgent.prepare).
    ringSeconds: 4,
    amd: { status: 'HUMAN', cause: 'HUMAN-300-300', analysisMs: 300 },
    // Whatever the agent says gets the next line, so the callee need not transcribe it (see Scenario.transcribe).
    transcribe: false,
    endOfSpeechMs: 500,
    replyDelayMs: 200,
    states,
  };
}

/**
 * From the agent's own stamps (turns[].latency), ms after the callee's speech end (the VAD's last
 * voiced window). With an early reply the first token and TTS audio come before the STT final.
 */
export interface TurnSample {
  sttFinal: number;
  firstToken: number;
  firstTts: number;
  firstVoiced: number;
  /** The reply was generated before the STT final (an early reply that was played). */
  early: boolean;
}

export interface StepResult {
  concurrency: number;
  calls: number;
  completed: number;
  turns: TurnSample[];
  /** Callee's last voiced frame → agent's first voiced frame, both on the wire, per reply. */
  wireMs: number[];
  /** The same, for the first reply of each call (to the callee's hello) and for the others. */
  wireFirstMs: number[];
  wireLaterMs: number[];
  /** The same, by how the callee's line ended (turn-end.ts): the agent waits longer after a statement. */
  wireByEnding: Record<TurnEnd, number[]>;
  wallSeconds: number;
  /** process.cpuUsage over the step (user + system) divided by the calls: agent AND simulated callee. */
  cpuSecondsPerCall: number;
  endings: Record<string, number>;
  /**
   * Agent turns, and those the callee talked over (marked interrupted): with too short an
   * end-of-turn silence the agent takes the floor in the callee's pause between two sentences.
   */
  agentTurns: number;
  interruptedAgentTurns: number;
  /** CPU by stage over the step (stage-cpu.ts), when a meter was given and threads could be read. */
  stageCpu?: StageCpuReport | null;
  /**
   * How far the agent's recogniser ran behind the calls' audio (SpeechToText.backlogMs, read every
   * 100 ms over the step), ms: what WORKER_CONCURRENCY=auto lowers its capacity on past 750 ms.
   */
  sttBacklogMs?: { p95: number; max: number } | null;
}

/**
 * Agent speech turns on the wire: bursts of voiced agent frames (a gap over 400 ms starts a new one).
 * For each burst preceded by callee speech since the previous burst, the gap from the callee's last
 * voiced frame to the burst's first frame.
 */
export function wireTurnLatencies(log: CallMediaLog): number[] {
  const voiced = log.sent.filter((f) => f.voiced).map((f) => f.atMs);
  const bursts: { start: number; end: number }[] = [];
  for (const t of voiced) {
    const b = bursts.at(-1);
    if (b && t - b.end <= 400) b.end = t;
    else bursts.push({ start: t, end: t });
  }
  const calleeVoiced = log.received.filter((f) => f.rms >= VOICED_RMS).map((f) => f.atMs);
  const out: number[] = [];
  let prevEnd = Number.NEGATIVE_INFINITY;
  for (const b of bursts) {
    let last: number | null = null;
    for (const c of calleeVoiced) {
      if (c >= b.start) break;
      if (c > prevEnd) last = c;
    }
    if (last !== null) out.push(b.start - last);
    prevEnd = b.end;
  }
  return out;
}

function agentSamples(call: CallJson): TurnSample[] {
  const out: TurnSample[] = [];
  for (const t of call.turns) {
    const l = t.latency;
    if (t.speaker !== 'agent' || !l) continue;
    const {
      calleeSpeechEndMs: e,
      sttFinalMs: s,
      firstTokenMs: k,
      firstTtsAudioMs: a,
      firstVoicedFrameMs: v,
    } = l;
    if (e == null || s == null || k == null || a == null || v == null) continue;
    out.push({ sttFinal: s - e, firstToken: k - e, firstTts: a - e, firstVoiced: v - e, early: k < s });
  }
  return out;
}

/** Places `concurrency` calls at once to the bench callee and waits for all of them. */
export async function runStep(
  stack: E2eStack,
  dialogue: DialogueEngine,
  concurrency: number,
  turnsPerCall: number,
  agentOptions: Parameters<E2eStack['useAgent']>[0]['options'],
  startStageCpu?: () => StageCpuMeter,
  staggerMs = 0,
  sttBacklogMs?: () => number,
): Promise<StepResult> {
  stack.useAgent({ dialogue: () => dialogue, options: agentOptions });
  const cpu0 = process.cpuUsage();
  const stageCpu = startStageCpu?.();
  const backlog: number[] = [];
  const backlogTimer = sttBacklogMs ? setInterval(() => backlog.push(sttBacklogMs()), 100) : null;
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      // A bench, not a test: spreading the calls on the wall clock is the point (--stagger).
      if (staggerMs > 0 && i > 0) await new Promise((r) => setTimeout(r, i * staggerMs));
      return stack.placeCall({
        to: BENCH_CALLEE,
        objective: 'Book a table for two at seven thirty tonight under the name Smith.',
        // Long enough for every line on a slow machine (replies ~1.5 s of writing at 9 tokens/s), so no call is cut.
        maxDurationSeconds: Math.max(90, turnsPerCall * 12),
        metadata: { bench: `c${concurrency}-${i}` },
      });
    }),
  );
  // A call still running after the limit is cancelled (and reported in endings) rather than sinking the run.
  const calls = await Promise.all(
    ids.map((id) =>
      stack.waitForEnd(id, 240_000).catch(async () => {
        await stack.request(`/v1/agent/calls/${id}/cancel`, { method: 'POST' });
        return stack.waitForEnd(id, 30_000);
      }),
    ),
  );
  const wallSeconds = (performance.now() - t0) / 1000;
  if (backlogTimer) clearInterval(backlogTimer);
  const cpu = process.cpuUsage(cpu0);
  const stageCpuReport = stageCpu?.stop(calls.map((c) => callWork(c, stack.media.log(c.id)))) ?? null;
  const turns: TurnSample[] = [];
  const wireMs: number[] = [];
  const wireFirstMs: number[] = [];
  const wireLaterMs: number[] = [];
  const wireByEnding: Record<TurnEnd, number[]> = { handover: [], statement: [], unfinished: [] };
  const lines = benchCalleeLines(turnsPerCall);
  const endings: Record<string, number> = {};
  let agentTurns = 0;
  let interruptedAgentTurns = 0;
  for (const call of calls) {
    for (const t of call.turns) {
      if (t.speaker !== 'agent') continue;
      agentTurns++;
      if (t.interrupted) interruptedAgentTurns++;
    }
    const key = `${call.status}/${call.endedReason}`;
    endings[key] = (endings[key] ?? 0) + 1;
    const wire = wireTurnLatencies(stack.media.log(call.id) ?? { sampleRate: 0, received: [], sent: [] });
    wireMs.push(...wire);
    wireFirstMs.push(...wire.slice(0, 1));
    wireLaterMs.push(...wire.slice(1));
    // The i-th reply answers the callee's i-th line (the callee says nothing else).
    wire.forEach((ms, i) => {
      if (i < lines.length) wireByEnding[classifyTurnEnd(lines[i])].push(ms);
    });
    turns.push(...agentSamples(call));
  }
  return {
    concurrency,
    calls: calls.length,
    completed: calls.filter((c) => c.status === 'completed').length,
    turns,
    wireMs,
    wireFirstMs,
    wireLaterMs,
    wireByEnding,
    wallSeconds,
    cpuSecondsPerCall: (cpu.user + cpu.system) / 1e6 / calls.length,
    endings,
    agentTurns,
    interruptedAgentTurns,
    stageCpu: stageCpuReport,
    sttBacklogMs: backlog.length ? { p95: percentile(backlog, 95), max: Math.max(...backlog) } : null,
  };
}
