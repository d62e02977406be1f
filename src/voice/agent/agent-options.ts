import type { ClauseSplitterOptions } from './clause-splitter.js';

export interface ConversationAgentOptions {
  /** How long to wait for the callee's "hello" before the agent speaks first (ms). */
  greetingWaitMs?: number;
  /** Silence after callee speech that ends their turn (ms), when their words read as a statement... */
  endSilenceMs?: number;
  /** ...when they end in a question or a goodbye: the callee is waiting for an answer (ms)... */
  handoverEndSilenceMs?: number;
  /** ...and when they end in "and", "the", "um": the callee is still thinking (ms). See turn-end.ts. */
  unfinishedEndSilenceMs?: number;
  /**
   * Silence after callee speech that starts an early reply from the STT partial (ms): it is generated
   * and synthesized while the rest of `endSilenceMs` runs out, held, and played only if the turn
   * really ended with the same words; the callee speaking again drops it. With an STT that marks its
   * final text in the pause (SttStream.partialIsFinal) it also waits for that. 0 turns this off.
   */
  earlyReplyAfterMs?: number;
  /**
   * Silence after callee speech that has the dialogue engine read its reply's prompt to the words so
   * far (DialogueConversation.prepare with `asReply`), so that an early reply to those words starts
   * writing at once (ms). 0 turns this off.
   */
  prefillReplyAfterMs?: number;
  /** Voiced time before a sound counts as speech (ms). */
  minSpeechMs?: number;
  /** Callee speech over the agent for this long may interrupt it (ms)... */
  bargeInMs?: number;
  /**
   * ...once their speech has lasted this long from its onset (pauses included), unless the STT partial
   * reads as a backchannel ("okay", "mm-hm"): shorter sounds never interrupt (ms).
   */
  backchannelMaxMs?: number;
  /** Speech over the agent this long interrupts whatever the partial says (ms). */
  forceBargeInMs?: number;
  /**
   * Consecutive voiced VAD time over the agent that pauses its audio at once (ms). The pause is undone
   * if the sound turns out to be a backchannel or noise, so this can be far shorter than `bargeInMs`.
   */
  pauseOnsetMs?: number;
  /** A single VAD window at least this sure of speech pauses the agent without waiting for `pauseOnsetMs`. */
  pauseProbability?: number;
  /** Quiet after a pausing sound that resumes the agent, unless the sound was confirmed as a barge-in (ms). */
  resumeAfterSilenceMs?: number;
  /**
   * A window this loud (RMS, 16-bit scale) and `energyOverFloor` times the line's background level pauses
   * the agent before the VAD is sure: Silero scores the first 100-300 ms of a fricative or weak onset
   * ("Sorry", "Excuse me") as non-speech. The VAD still decides between resuming and yielding.
   */
  energyOnsetRms?: number;
  energyOverFloor?: number;
  /** On resume, how far back the agent may restart, at the quietest point (a word gap), so it sounds natural (ms). */
  resumeBackupMs?: number;
  /** No callee speech for this long after the agent spoke → reprompt; again → goodbye (ms). */
  silenceTimeoutMs?: number;
  vadThreshold?: number;
  vadNegativeThreshold?: number;
  prerollMs?: number;
  maxUtteranceMs?: number;
  /** Upper bound on the goodbye played after the call was told to end (max duration), ms. */
  finalGoodbyeMaxMs?: number;
  /** Dialogue messages kept besides the system prompt (oldest dropped first). */
  maxHistoryMessages?: number;
  clauses?: ClauseSplitterOptions;
  /** Who the calls are made for, when the deployment knows (used in the prompt). */
  onBehalfOf?: string;
  reprompt?: string;
  silenceGoodbye?: string;
  maxDurationGoodbye?: string;
  errorGoodbye?: string;
  /** Said at the next turn boundary when the call is asked to wrap up (the worker is draining). */
  wrapUpGoodbye?: string;
  /** Said before a transfer when the model asked for one without a handover line of its own. */
  transferHandover?: string;
  /**
   * Upper bound on checking the callee's words before the model may end the call as objective_met (ms):
   * an extraction over them when the call has fields (see action-gate.ts).
   */
  endCheckTimeoutMs?: number;
}

/** Every option resolved. */
export type AgentSettings = Required<Omit<ConversationAgentOptions, 'clauses' | 'onBehalfOf'>> &
  Pick<ConversationAgentOptions, 'clauses' | 'onBehalfOf'>;

export const DEFAULTS: AgentSettings = {
  greetingWaitMs: 1500,
  endSilenceMs: 650,
  handoverEndSilenceMs: 400,
  unfinishedEndSilenceMs: 1000,
  // pocketsphinx finishes an utterance's decode 150 ms into a pause (PocketsphinxOptions.endAfterMs) and
  // marks that partial final, usually 250-350 ms in; the early reply waits for it (SttStream.partialIsFinal).
  // An STT that cannot mark it (Vosk) starts the early reply from its partial at this point.
  earlyReplyAfterMs: 250,
  // Early enough that the prefill (10-20 tokens on one core) is done when the final text arrives.
  prefillReplyAfterMs: 96,
  minSpeechMs: 96,
  bargeInMs: 250,
  backchannelMaxMs: 650,
  forceBargeInMs: 1500,
  pauseOnsetMs: 64,
  pauseProbability: 0.8,
  resumeAfterSilenceMs: 300,
  energyOnsetRms: 600,
  energyOverFloor: 8,
  resumeBackupMs: 400,
  silenceTimeoutMs: 8000,
  vadThreshold: 0.5,
  vadNegativeThreshold: 0.35,
  prerollMs: 300,
  maxUtteranceMs: 30_000,
  finalGoodbyeMaxMs: 8000,
  maxHistoryMessages: 40,
  reprompt: 'Are you still there?',
  silenceGoodbye: "I haven't heard anything, so I'll end the call here. Goodbye.",
  maxDurationGoodbye: "I'm sorry, I have to end the call now. Thank you, goodbye.",
  errorGoodbye: "I'm sorry, I'm having technical trouble and have to end the call. Goodbye.",
  wrapUpGoodbye: "I'm sorry, I have to end the call here. Thank you, goodbye.",
  transferHandover: "One moment please, I'm connecting you with a colleague.",
  endCheckTimeoutMs: 10_000,
};
