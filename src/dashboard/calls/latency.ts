import type { TurnLatency } from '../../db/schema.js';

/** The voice pipeline's stages, in the order they happen after the callee stops speaking. */
export const LATENCY_STAGES = [
  { key: 'sttFinalMs', label: 'STT final' },
  { key: 'firstTokenMs', label: 'First token' },
  { key: 'firstTtsAudioMs', label: 'First TTS audio' },
  { key: 'firstVoicedFrameMs', label: 'First voiced frame' },
] as const satisfies readonly { key: keyof TurnLatency; label: string }[];

export interface TurnLatencyRow {
  /** The turn's number in the transcript (1-based). */
  turn: number;
  /** ms after the callee stopped speaking, per stage; null where the stage did not happen. */
  stages: (number | null)[];
}

/**
 * Each stage of a turn relative to the end of the callee's speech, the moment the caller starts
 * waiting. Turns without that moment (the agent's opening line) have nothing to measure and are left out.
 */
export function latencyRows(turns: readonly { latency: TurnLatency | null }[]): TurnLatencyRow[] {
  const rows: TurnLatencyRow[] = [];
  turns.forEach((t, i) => {
    const l = t.latency;
    if (!l || l.calleeSpeechEndMs === null) return;
    const end = l.calleeSpeechEndMs;
    const stages = LATENCY_STAGES.map(({ key }) => (l[key] === null ? null : Math.max(0, l[key] - end)));
    if (stages.some((s) => s !== null)) rows.push({ turn: i + 1, stages });
  });
  return rows;
}
