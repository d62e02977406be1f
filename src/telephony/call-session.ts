import type { CallRow } from '../db/schema.js';

/**
 * The live audio of one answered call as the media path presents it to whoever talks on it
 * (the voice agent, or a voicemail message player). 20 ms frames of 16-bit mono PCM at `sampleRate`:
 * 8000 for ulaw/alaw, 16000 for slin16.
 */
export interface CallAudio {
  readonly sampleRate: number;
  /** Callee audio, one 20 ms frame at a time, in order (gaps filled with silence by the jitter buffer). */
  onFrame(listener: (frame: Int16Array) => void): () => void;
  /**
   * Queues agent audio for paced sending. Resolves when all of it went out on the wire
   * (`completed: true`) or when `flush()` dropped the rest (`completed: false`), with how much was sent.
   * `closed: true`: the media path is gone (the PBX hung its media channel up or went away, or the
   * path was closed), and every later play answers the same at once: a caller must stop playing,
   * not play the rest again.
   */
  play(samples: Int16Array): Promise<{ completed: boolean; playedMs: number; closed?: boolean }>;
  /** Drops every queued outgoing frame at once (barge-in); pending `play` promises resolve. */
  flush(): void;
  /**
   * Called for each outgoing frame as it leaves, with whether it carried audio (for latency stamps)
   * and, where the path has it, the frame itself (for live listen; valid only during the call).
   */
  onFrameSent(listener: (info: { voiced: boolean; atMs: number; frame?: Int16Array }) => void): () => void;
  /**
   * Called once when the media path is gone, whoever closed it (at once when it is gone already).
   * Absent where the path cannot tell.
   */
  onClose?(listener: () => void): () => void;
}

/** Everything the voice agent may do with a live call. Times are ms of `performance.now()`. */
export interface CallSession {
  readonly call: CallRow;
  readonly audio: CallAudio;
  /** `performance.now()` at answer (the agent listens from then on); turn times are measured from it. */
  readonly answeredAtMs: number;
  /** Aborted when the call ends underneath the agent (callee hangup, cancel, max duration, shutdown). */
  readonly signal: AbortSignal;
  /**
   * Aborted (reason `'shutdown'`) when the call's owner asks the agent to wrap up: the worker is
   * shutting down and its drain time is over. The agent says a short goodbye at its next turn boundary
   * and ends; the line is hung up a grace period later regardless.
   */
  readonly wrapUp?: AbortSignal;
  sendDtmf(digits: string): Promise<void>;
  onDtmf(listener: (digit: string) => void): () => void;
  /**
   * Resolves once the agent may speak. The agent is started at answer, while the controller still
   * tells a person from an answering machine (AMD, a beep): meanwhile it listens (what the callee says
   * is heard, and recorded as their turns) and says nothing. When the call turns out to be a voicemail
   * it never resolves, and `signal` aborts. Absent: the agent may speak at once.
   */
  readonly mayTalk?: Promise<void>;
  /** What `ConversationAgent.prepare` started for this call while it rang, if anything. */
  readonly preparation?: CallPreparation | null;
  /**
   * Hands the call to the call's transfer target (present only when the call has one and the PBX
   * side can do it). The agent has said its handover line; this dials the person, briefs them with
   * `summary` on a warm transfer, and connects the callee. `transferred`: the agent has left the call
   * (its audio no longer reaches anyone) and must end; anything else: the callee is still with the
   * agent, who should say so and carry on.
   */
  transfer?(request: TransferRequest): Promise<TransferResult>;
}

export interface TransferRequest {
  /** The brief for the person taking over (warm transfers read it out to them). */
  summary: string;
}

/** How a transfer went; a failure says why the second leg did not take the call. */
export type TransferResult =
  | { outcome: 'transferred' }
  | { outcome: 'busy' | 'no_answer' | 'rejected' | 'failed'; detail?: string };

/** Work an agent started for a call before it was answered; the call's owner closes it when the call ends. */
export interface CallPreparation {
  close(): void;
}

export type ConversationEnd =
  | 'objective_met'
  | 'objective_impossible'
  | 'callee_hung_up'
  | 'max_duration'
  | 'silence_timeout'
  /** The callee was connected to the call's transfer target and the agent left. */
  | 'transferred'
  | 'canceled'
  | 'internal_error';

export interface ConversationTurn {
  speaker: 'agent' | 'callee';
  text: string;
  startMs: number;
  endMs: number;
  interrupted: boolean;
  latency?: import('../db/schema.js').TurnLatency | null;
}

/** Holds the conversation on an answered call; the controller owns the call, the agent owns the talking. */
export interface ConversationAgent {
  /**
   * Starts getting ready for `call` while it is placed and rings (the dialogue model reads the prompt
   * ahead, so the first reply does not wait for it). The handle goes to `converse` in the session.
   */
  prepare?(call: CallRow): CallPreparation;
  /**
   * Runs until the agent decides to end (it says goodbye first), or `session.signal` aborts.
   * `onTurn` is called as each turn completes so it can be persisted live.
   */
  converse(
    session: CallSession,
    onTurn: (turn: ConversationTurn) => void,
  ): Promise<{
    end: ConversationEnd;
    /** The callee asked not to be called again: the call's end puts the number on the account's do-not-call list. */
    optOut?: boolean;
  }>;
  /**
   * The post-call summary and the `extracted` object for `call.fields`, from the whole transcript.
   * It runs after the line is down, so it must stay within `opts`: at the model's lowest priority,
   * at most `maxTokens` written, done by `timeoutMs`, and stopped when `signal` aborts (then it
   * answers with what it has, or a fallback, rather than nothing).
   */
  summarize(
    call: CallRow,
    turns: readonly ConversationTurn[],
    opts?: SummarizeOptions,
  ): Promise<{ summary: string | null; extracted: Record<string, unknown> | null }>;
}

export interface SummarizeOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  maxTokens?: number;
}
