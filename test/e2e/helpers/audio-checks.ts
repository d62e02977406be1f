import { decodeWav } from '../../../src/audio/wav.js';
import type { CallMediaLog } from './media-tap.js';

/** RMS above which a 20 ms frame counts as speech (about −36 dBFS, the PBX's own callee threshold). */
export const VOICED_RMS = 520;

/** Per-20 ms RMS of a WAV file. */
export function wavEnvelope(wav: Uint8Array): { sampleRate: number; rms: number[] } {
  const pcm = decodeWav(wav);
  const n = Math.round(pcm.sampleRate / 50);
  const rms: number[] = [];
  for (let off = 0; off + n <= pcm.samples.length; off += n) {
    let sum = 0;
    for (let i = off; i < off + n; i++) sum += pcm.samples[i] * pcm.samples[i];
    rms.push(Math.sqrt(sum / n));
  }
  return { sampleRate: pcm.sampleRate, rms };
}

/** Which 20 ms slots (from `t0`) carried voiced agent audio and voiced callee audio on the wire. */
export function wireActivity(log: CallMediaLog): { t0: number; agent: boolean[]; callee: boolean[] } {
  const t0 = Math.min(
    log.received[0]?.atMs ?? Number.POSITIVE_INFINITY,
    log.sent[0]?.atMs ?? Number.POSITIVE_INFINITY,
  );
  const end = Math.max(log.received.at(-1)?.atMs ?? 0, log.sent.at(-1)?.atMs ?? 0);
  const slots = Math.max(0, Math.ceil((end - t0) / 20) + 1);
  const agent = new Array<boolean>(slots).fill(false);
  const callee = new Array<boolean>(slots).fill(false);
  for (const f of log.sent) if (f.voiced) agent[Math.floor((f.atMs - t0) / 20)] = true;
  for (const f of log.received) if (f.rms >= VOICED_RMS) callee[Math.floor((f.atMs - t0) / 20)] = true;
  return { t0, agent, callee };
}

export interface RecordingCoverage {
  /** Slots the recording is shifted by against the wire timeline at the best fit. */
  offsetSlots: number;
  /** Of the slots where only the agent spoke on the wire, the share that is voiced in the recording. */
  agentOnlyCovered: number;
  agentOnlySlots: number;
  calleeOnlyCovered: number;
  calleeOnlySlots: number;
  /** Share of the recording's voiced slots that line up with speech of either party on the wire. */
  explained: number;
}

/**
 * Lines the recording up with what crossed the wire (both directions, timed at the socket) and says how
 * much of each party's speech the recording holds. The recording starts when the bridge recording
 * starts, which the client does not know exactly, so the offset is the best fit of the two envelopes.
 */
export function recordingCoverage(
  recording: number[],
  log: CallMediaLog,
  maxShiftSlots = 400,
): RecordingCoverage {
  const { agent, callee } = wireActivity(log);
  const rec = recording.map((r) => r >= VOICED_RMS);
  let best = { offset: 0, score: Number.NEGATIVE_INFINITY };
  for (let k = -maxShiftSlots; k <= maxShiftSlots; k++) {
    let score = 0;
    for (let i = 0; i < rec.length; i++) {
      const j = i + k;
      const wire = j >= 0 && j < agent.length && (agent[j] || callee[j]);
      if (rec[i] && wire) score++;
      else if (rec[i] !== wire) score -= 0.5;
    }
    if (score > best.score) best = { offset: k, score };
  }
  let agentOnlySlots = 0;
  let agentOnlyCovered = 0;
  let calleeOnlySlots = 0;
  let calleeOnlyCovered = 0;
  let voiced = 0;
  let explained = 0;
  for (let i = 0; i < rec.length; i++) {
    const j = i + best.offset;
    const a = j >= 0 && j < agent.length && agent[j];
    const c = j >= 0 && j < callee.length && callee[j];
    if (a && !c) {
      agentOnlySlots++;
      if (rec[i]) agentOnlyCovered++;
    }
    if (c && !a) {
      calleeOnlySlots++;
      if (rec[i]) calleeOnlyCovered++;
    }
    if (rec[i]) {
      voiced++;
      // A slot either side absorbs the jitter of timing frames at the socket.
      const near = [j - 1, j, j + 1].some((x) => x >= 0 && x < agent.length && (agent[x] || callee[x]));
      if (near) explained++;
    }
  }
  return {
    offsetSlots: best.offset,
    agentOnlyCovered: agentOnlySlots ? agentOnlyCovered / agentOnlySlots : 0,
    agentOnlySlots,
    calleeOnlyCovered: calleeOnlySlots ? calleeOnlyCovered / calleeOnlySlots : 0,
    calleeOnlySlots,
    explained: voiced ? explained / voiced : 0,
  };
}

export interface BargeInMeasurement {
  /** When the callee's speech reached the agent (first voiced frame of a run while the agent talked). */
  onsetMs: number;
  /** The last voiced agent frame that left on the wire after that onset. */
  lastAgentVoicedMs: number;
  /** lastAgentVoicedMs − onsetMs */
  stopAfterMs: number;
}

/**
 * Finds the first place the callee started talking while agent speech was going out, and how long
 * agent speech kept going out after it. A "start" is `minRunFrames` consecutive voiced callee frames
 * (a lone click is not speech); the onset is the first frame of that run.
 */
export function measureBargeIn(log: CallMediaLog, minRunFrames = 3): BargeInMeasurement | null {
  const sentVoiced = log.sent.filter((f) => f.voiced).map((f) => f.atMs);
  if (sentVoiced.length === 0) return null;
  // The agent was speaking when the callee started: voiced agent audio went out just before the onset.
  const talkingAt = (t: number) => sentVoiced.some((s) => s <= t && s > t - 200);
  let run = 0;
  for (let i = 0; i < log.received.length; i++) {
    const f = log.received[i];
    if (f.rms < VOICED_RMS) {
      run = 0;
      continue;
    }
    run++;
    if (run < minRunFrames) continue;
    const onset = log.received[i - minRunFrames + 1].atMs;
    if (!talkingAt(onset)) continue;
    // Agent speech continues in this turn until a gap; the callee's onset sits inside that span.
    let last = onset;
    for (const s of sentVoiced) {
      if (s < onset) continue;
      if (s - last > 400) break;
      last = s;
    }
    return { onsetMs: onset, lastAgentVoicedMs: last, stopAfterMs: last - onset };
  }
  return null;
}
