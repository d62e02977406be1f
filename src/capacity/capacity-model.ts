import type { EngineProfile } from './engine-profile.js';

/**
 * How many live calls one worker can carry at the voice quality aimed for (issue 15: p95
 * voice-to-voice ≤ 1.5 s), from what its engines measured at start. Pure: the live inputs (other
 * work on the machine, late replies) are applied by worker-capacity.ts.
 *
 * Two bounds, the tighter wins:
 * - cpu: the average cores a live call keeps busy, stage by stage, summed over the calls, stays under
 *   a share of the free cores. An average is enough here because the stages of many calls interleave;
 *   the headroom covers their bursts (several callees falling silent at once).
 * - dialogue (a local model only): replies are generated one after another by one model on shared
 *   cores, so a call's reply can wait for another call's. A queue, not an average, decides there.
 *
 * Worked through for issue 15's machine (2-core Xeon; 1B model at 15.9 generated / 99 prompt tokens/s;
 * pocketsphinx RTF 0.35, flite 0.05, Silero 0.02):
 * - per call: VAD 0.02 + STT 0.35 × 0.45 × 1.5 = 0.24 + TTS 0.05 × 0.4 = 0.02 + media 0.05 = 0.33
 *   cores; the model: a reply is 25/15.9 + 40/99 = 1.98 s, 6 a minute = 20 % of its time, on 2
 *   spinning threads = 0.40 cores. CPU bound 2 × 0.7 / 0.73 = 1.9 calls.
 * - dialogue: first clause 12/99 + 8/15.9 = 0.62 s, leaving 0.23 s of the 0.85 s after the silence;
 *   a second call's reply is busy 20 % of the time and a wait on it (up to 1.98 s) is late 88 % of the
 *   time: 17 % late replies, over the 5 % allowed. Bound 1.29: one call, limited by the dialogue (the
 *   bench: 1 call p95 913 ms, 4 calls p95 9 s).
 * - the same with LLM_URL: 1.4 / 0.33 = 4.3: four calls, limited by the CPU (STT is 3/4 of it). On
 *   this session's AMD EPYC with the pruned search (pocketsphinx RTF 0.17): 7 calls; the bench there
 *   held 4 at p95 1.3 s and broke at 8 (p95 7.5 s, callees all speaking at once), so 7 leans on the
 *   late-reply feedback (worker-capacity.ts) when callees' speech bunches up.
 */

export type CapacityLimit =
  | 'configured'
  | 'cpu'
  | 'dialogue'
  | 'load'
  | 'late_replies'
  | 'recognition_backlog'
  | 'measuring';

export interface CapacityEstimate {
  calls: number;
  limitedBy: CapacityLimit;
  /** Average cores one live call keeps busy, by stage. */
  coresPerCall: { vad: number; stt: number; tts: number; media: number; dialogue: number };
  /** The two bounds before rounding, for logs and /readyz; dialogue null without a local model. */
  bounds?: { cpu: number; dialogue: number | null };
}

/**
 * A typical outbound call, minute by minute: the shape of the voice bench's conversations (a callee
 * answering questions in short turns) and of the calls the product makes.
 * - The callee speaks ~45 % of the time and the agent ~40 %; the rest is turn gaps and pauses.
 * - ~6 agent replies a minute (a turn every ~10 s).
 * - A reply is ~25 generated tokens: a short sentence (~15 tokens) plus the JSON around it
 *   (`{"action":"speak","say":"…"}`, constrained by the grammar).
 * - ~40 prompt tokens per reply are new: the callee's words since the last reply plus the agent's own
 *   last reply as the model saw it; the system prompt and earlier turns stay cached in the call's
 *   sequence.
 */
export const TYPICAL_CALL = {
  calleeSpeechShare: 0.45,
  agentSpeechShare: 0.4,
  repliesPerMinute: 6,
  genTokensPerReply: 25,
  promptTokensPerReply: 40,
} as const;

/**
 * Before the agent's first word the model must read what the read-ahead (DialogueConversation.prepare,
 * which evaluates the callee's words while they still speak) left over: the callee's last few words and
 * the start of the reply, ~12 tokens; and write its first clause, ~8 tokens (`{"action":"speak","say":"`
 * is forced by the grammar and cheap; "Sure, at seven thirty." is about 8).
 */
export const FIRST_CLAUSE = { promptTokens: 12, genTokens: 8 } as const;

/** Voice-to-voice goal (issue 15): p95 from the callee's last word to the agent's first. */
export const DEFAULT_REPLY_BUDGET_MS = 1500;
/**
 * The listener waits this long in silence before it counts the callee's turn as over (turn-end.ts);
 * the dialogue gets what is left of the budget. The read-ahead overlaps part of that silence, which
 * is margin on our side.
 */
export const END_OF_TURN_SILENCE_MS = 650;

/**
 * Share of the free cores the calls may use on average. The rest is headroom: for bursts (several
 * replies synthesised at once while two callees speak), the Node event loop that paces the 20 ms
 * frames (a late frame is an audible gap), and the error in these averages.
 */
export const TARGET_CPU_UTILISATION = 0.7;

/**
 * Media and the agent's own JS per call, in cores: 50 frames a second each way, resampling, pacing
 * timers, VAD windows' bookkeeping, partials, the call's database writes. Calibrated on the voice bench's
 * per-stage table (`bench:voice -- --llm-url standin`, AMD EPYC, 2 cores): the main thread minus VAD
 * and TTS came to 4.0–4.8 CPU s per call-minute at 8–10 calls (0.07–0.08 cores), of which the simulated
 * PBX on the same thread is a part; 0.05 is agentline's share, rounded up. (The first estimate, 0.02
 * from the arithmetic of frames and syscalls alone, let `auto` claim 12 calls where 8 already broke.)
 */
export const MEDIA_CORES_PER_CALL = 0.05;

/**
 * Recognition costs more on a call than the one-stream floor says: partial hypotheses every 250 ms,
 * a cold stream's second pass, an utterance decoded again when the callee goes on after a pause, and
 * decoder threads contending with the rest. Calibrated on the same bench: 6.7–7.3 CPU s per call-minute
 * on the decoder threads at 8–10 calls with a floor RTF of 0.17 and the callee speaking ~45 % of the
 * time, i.e. ~1.5× the floor over the callee's speech.
 */
export const STT_CALL_OVERHEAD = 1.5;

/**
 * Dialogue queue. A reply that finds the model busy with another call's reply waits for the rest of
 * it: with replies of fixed length S (M/D/1: callers reply independently, ~Poisson; service nearly
 * deterministic), an arriving reply finds the model busy with probability ρ (the other calls' share of
 * its time: PASTA) and then waits a residual spread about evenly over (0, S). It is late when that wait
 * exceeds the slack the budget leaves after its own first clause. We allow:
 * - P(late) ≈ ρ_others · (1 − slack / S) ≤ LATE_REPLY_SHARE: at most 5 % of replies pushed over the
 *   budget by queueing, the p95 goal;
 * - and, in any case, the model's utilisation ≤ MAX_LLM_UTILISATION: at ρ = 0.5 an M/D/1 queue's mean
 *   wait is half a reply (ρS / 2(1 − ρ)) and a reply rarely waits for more than one other; above it
 *   waits grow fast (3 S at ρ = 0.86) and a busy minute turns into a broken conversation.
 */
export const LATE_REPLY_SHARE = 0.05;
export const MAX_LLM_UTILISATION = 0.5;

export interface EstimateOptions {
  /** Cores not busy with other processes' work (default: all of profile.cores). */
  freeCores?: number;
  /** p95 voice-to-voice goal, ms (default 1500). */
  replyBudgetMs?: number;
}

/**
 * Calls this worker can carry: max(1, floor(min(cpu bound, dialogue bound))). A worker always carries
 * at least one call: a machine too slow even for one still serves it, if late, rather than none.
 */
export function estimateCapacity(profile: EngineProfile, opts: EstimateOptions = {}): CapacityEstimate {
  const cores = Math.max(1, profile.cores);
  const free = Math.max(0, Math.min(cores, opts.freeCores ?? cores));
  const budgetS = (opts.replyBudgetMs ?? DEFAULT_REPLY_BUDGET_MS) / 1000;
  const call = TYPICAL_CALL;

  // The model's own time per reply at the speed measured (every core free).
  const llm = profile.llm;
  const replySeconds = llm
    ? call.genTokensPerReply / llm.genTokensPerSecond + call.promptTokensPerReply / llm.promptTokensPerSecond
    : 0;
  const llmThreads = llm ? Math.max(1, Math.min(cores, llm.threads ?? cores)) : 0;
  // Share of the model's time one call takes, at the measured speed.
  const llmShare = (call.repliesPerMinute / 60) * replySeconds;

  const coresPerCall = {
    // The VAD judges every inbound frame, speech or not.
    vad: profile.vadRtf,
    stt: profile.sttRtf * call.calleeSpeechShare * STT_CALL_OVERHEAD,
    tts: profile.ttsRtf * call.agentSpeechShare,
    media: MEDIA_CORES_PER_CALL,
    // llama.cpp's threads spin for the whole of each evaluation: its core-seconds are its time × threads
    // (whatever other work slows it, the work stays the same).
    dialogue: llmShare * llmThreads,
  };
  const perCall =
    coresPerCall.vad + coresPerCall.stt + coresPerCall.tts + coresPerCall.media + coresPerCall.dialogue;
  const cpu = perCall > 0 ? (free * TARGET_CPU_UTILISATION) / perCall : Number.POSITIVE_INFINITY;

  let dialogue = Number.POSITIVE_INFINITY;
  if (llm) {
    // Other work takes cores from the model's threads: it runs slower about in proportion.
    const slowdown = llmThreads / Math.max(Math.min(llmThreads, free), 0.05);
    const s = replySeconds * slowdown;
    const share = llmShare * slowdown;
    const firstClause =
      (FIRST_CLAUSE.promptTokens / llm.promptTokensPerSecond +
        FIRST_CLAUSE.genTokens / llm.genTokensPerSecond) *
      slowdown;
    const slack = budgetS - END_OF_TURN_SILENCE_MS / 1000 - firstClause;
    if (slack < 0) {
      // Even a call alone misses the budget: one call, never more (each more only makes it later).
      dialogue = 1;
    } else {
      const lateIfWaiting = Math.max(0, 1 - slack / s);
      const byLateShare = lateIfWaiting > 0 ? 1 + LATE_REPLY_SHARE / (share * lateIfWaiting) : Infinity;
      const byUtilisation = MAX_LLM_UTILISATION / share;
      dialogue = Math.max(1, Math.min(byLateShare, byUtilisation));
    }
  }

  const calls = Math.max(1, Math.floor(Math.min(cpu, dialogue)));
  return {
    calls,
    limitedBy: dialogue < cpu ? 'dialogue' : 'cpu',
    coresPerCall,
    bounds: { cpu, dialogue: llm ? dialogue : null },
  };
}
