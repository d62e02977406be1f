import type { CallRow, TurnLatency } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import type {
  CallPreparation,
  CallSession,
  ConversationAgent,
  ConversationEnd,
  ConversationTurn,
} from '../../telephony/call-session.js';
import { createResampler } from '../../telephony/media/resample.js';
import { actionToJson } from '../dialogue/action-schema.js';
import {
  type AgentAction,
  type DialogueConversation,
  type DialogueEngine,
  type DialogueMessage,
  statelessConversation,
} from '../dialogue/types.js';
import type { SpeechToText, SttStream, TextToSpeech, VoiceActivityDetector } from '../types.js';
import { isBackchannel } from './backchannel.js';
import { type CalleeListener, type CalleeUtterance, createCalleeListener } from './callee-listener.js';
import { type ClauseSplitterOptions, createClauseSplitter } from './clause-splitter.js';
import { buildSystemPrompt, calleeMessage, eventMessage, openCalleeMessage } from './prompt.js';
import { resumePoint } from './resume-point.js';
import { spokenPrefix } from './spoken-prefix.js';
import { summarizeCall } from './summarize-call.js';
import { trimLeadingSilence } from './trim-leading-silence.js';
import { endSilenceFor } from './turn-end.js';

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
}

export interface ConversationAgentDeps {
  stt: SpeechToText;
  tts: TextToSpeech;
  /**
   * The VAD keeps per-stream state: a shared instance serves one call at a time. Give `createVad` to
   * run calls concurrently on one agent (a detector per call, closed when the call ends).
   */
  vad: VoiceActivityDetector;
  createVad?: () => Promise<VoiceActivityDetector>;
  dialogue: DialogueEngine;
  logger: Logger;
  options?: ConversationAgentOptions;
}

type Opts = Required<Omit<ConversationAgentOptions, 'clauses' | 'onBehalfOf'>> &
  Pick<ConversationAgentOptions, 'clauses' | 'onBehalfOf'>;

/**
 * How long before the queued audio runs out the words written so far are sent to TTS when the model
 * has not finished the clause: enough for flite or Piper to synthesize a few words.
 */
const DRY_LINE_LEAD_MS = 120;

const DEFAULTS: Opts = {
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
};

/** What one agent turn came to. */
interface TurnOutcome {
  /** The action the model chose (null when the turn was cut before it was known). */
  action: AgentAction | null;
  /** What the callee actually heard. */
  spoken: string;
  interrupted: boolean;
  /** The model failed (not an abort). */
  failed: boolean;
}

interface ActiveTurn {
  ac: AbortController;
  interruptible: boolean;
  bargedIn: boolean;
  /**
   * An early reply: generated from the STT partial while the callee may still go on, held (nothing
   * plays) until their turn is over and the final text matches, and dropped otherwise.
   */
  early: boolean;
  /** Lets an early reply play: the callee's turn ended with the words it answers. */
  releaseEarly(after: CalleeUtterance | null): void;
  /** Output held on a possible barge-in: nothing plays until `resume()` or the turn is aborted. */
  paused: boolean;
  pause(): void;
  resume(): void;
}

/** Settles with `p`, or with 'late' after `ms`; the timer is always cleared. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Same words, ignoring case and punctuation (STT partials and finals differ in nothing else that matters). */
function sameWords(a: string, b: string): boolean {
  const words = (t: string) =>
    t
      .toLowerCase()
      .replace(/[^\p{L}\p{N}']+/gu, ' ')
      .trim();
  return words(a) === words(b);
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

function endForReason(reason: unknown): ConversationEnd {
  switch (reason) {
    case 'callee_hung_up':
    case 'max_duration':
    case 'canceled':
      return reason;
    default:
      // 'shutdown' and anything unexpected: the call was taken away from the agent.
      return 'canceled';
  }
}

/**
 * The voice agent: listens (VAD endpointing + STT), decides (the dialogue engine, streamed), speaks
 * (clause by clause through TTS, first clause while the rest is still generated), yields the floor on
 * barge-in, and keeps the transcript with per-turn latency stamps.
 */
export function createConversationAgent(deps: ConversationAgentDeps): ConversationAgent {
  const o: Opts = { ...DEFAULTS, ...deps.options };
  const { stt, tts, dialogue } = deps;
  let sharedVadBusy = false;

  async function acquireVad(): Promise<{ vad: VoiceActivityDetector; release: () => Promise<void> }> {
    if (deps.createVad) {
      const vad = await deps.createVad();
      return { vad, release: () => vad.close() };
    }
    if (sharedVadBusy) {
      throw new Error(
        'conversation agent: the shared VAD is already in use by another call (pass createVad)',
      );
    }
    sharedVadBusy = true;
    deps.vad.reset();
    return {
      vad: deps.vad,
      release: async () => {
        sharedVadBusy = false;
      },
    };
  }

  const systemMessage = (call: CallRow): DialogueMessage => ({
    role: 'system',
    content: buildSystemPrompt({
      objective: call.objective,
      context: call.context,
      fields: call.fields,
      language: call.language,
      onBehalfOf: o.onBehalfOf,
    }),
  });
  const openConversation = (): DialogueConversation =>
    dialogue.openConversation?.() ?? statelessConversation(dialogue);
  // Conversations opened by `prepare`, found again by the handle the session carries.
  const prepared = new WeakMap<CallPreparation, DialogueConversation>();

  function prepare(call: CallRow): CallPreparation {
    const conversation = openConversation();
    conversation.prepare([systemMessage(call)]);
    const handle: CallPreparation = { close: () => conversation.close() };
    prepared.set(handle, conversation);
    return handle;
  }

  async function converse(
    session: CallSession,
    onTurn: (turn: ConversationTurn) => void,
  ): Promise<{ end: ConversationEnd }> {
    const log = deps.logger.child({ callId: session.call.id, part: 'agent' });
    const { audio, signal } = session;
    const rel = (t: number | null): number | null =>
      t === null ? null : Math.round(t - session.answeredAtMs);
    const voice =
      session.call.voice && tts.voices.includes(session.call.voice) ? session.call.voice : undefined;

    const messages: DialogueMessage[] = [systemMessage(session.call)];
    // User-message parts not yet answered by anything the callee heard.
    let pendingInput: string[] = [];
    const utterances: CalleeUtterance[] = [];
    // Callee turns that ended while an agent turn was still open wait for it, so turns come out in order.
    let heldCalleeTurns: ConversationTurn[] = [];
    let active: ActiveTurn | null = null;
    // The audio span of the last agent turn that played to its end (not barged in).
    let lastAgentAudio: { start: number; end: number } | null = null;
    let lastCalleeActivity = performance.now();
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of [...waiters]) w();
    };

    const emit = (turn: ConversationTurn) => {
      try {
        onTurn(turn);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'onTurn listener failed');
      }
    };
    const emitCallee = (turn: ConversationTurn) => {
      if (active) heldCalleeTurns.push(turn);
      else emit(turn);
    };
    const releaseHeld = (agentTurn: ConversationTurn | null) => {
      const all = agentTurn ? [...heldCalleeTurns, agentTurn] : heldCalleeTurns;
      heldCalleeTurns = [];
      all.sort((a, b) => a.startMs - b.startMs).forEach(emit);
    };

    const { vad, release: releaseVad } = await acquireVad();
    let sttStream: SttStream;
    try {
      sttStream = stt.createStream();
    } catch (err) {
      await releaseVad();
      throw err;
    }
    let listener: CalleeListener;

    /** Stage two: the callee takes the floor; held and queued audio is dropped and generation stops. */
    const bargeIn = (t: ActiveTurn, reason: string) => {
      t.bargedIn = true;
      audio.flush();
      t.ac.abort(reason);
    };

    /**
     * While the callee speaks, the dialogue engine reads what they have said so far, so that when
     * their turn ends only the last words and the reply are left to compute.
     */
    let preparedPartial = '';

    // The early reply in flight, with the callee words it answers.
    let early: { turn: ActiveTurn; outcome: Promise<TurnOutcome>; heard: string } | null = null;
    let listening = false;
    let quietInSpeechMs = 0;
    let lastSpanMs = 0;
    const dropEarly = (why: string, e = early) => {
      if (!e || e.turn.ac.signal.aborted) return;
      e.turn.ac.abort(why);
      log.debug({ why }, 'early reply dropped');
    };
    const maybeStartEarly = (voicedNow: boolean, spanMs: number) => {
      const windowMs = Math.max(0, spanMs - lastSpanMs);
      lastSpanMs = spanMs;
      if (voicedNow) {
        quietInSpeechMs = 0;
        dropEarly('callee went on');
        return;
      }
      quietInSpeechMs += windowMs;
      if (o.earlyReplyAfterMs <= 0 || quietInSpeechMs < o.earlyReplyAfterMs) return;
      // A recogniser that finishes the utterance in the pause (pocketsphinx) says when its partial is
      // the final text: a reply started before that answers words that are often rescored, and on two
      // cores the evaluation it wastes delays the real one (it cannot be cut mid-batch).
      if (listener.partialIsFinal() === false) return;
      const partial = listener.partial().trim();
      const heard = [...utterances.map((u) => u.text), partial].join(' ');
      if (early && !early.turn.ac.signal.aborted) {
        // The recogniser rescored the utterance in the pause (its final text, early): the held reply
        // answers words that are no longer there, so a new one starts on the new text.
        if (partial && !sameWords(early.heard, heard)) dropEarly('the partial changed');
        return;
      }
      // (A dropped early reply is replaced once its turn has wound down.)
      if (!listening || active || signal.aborted || !partial) return;
      const outcome = agentTurn({
        interruptible: true,
        early: [...pendingInput, calleeMessage(heard)].join('\n'),
      });
      early = { turn: active!, outcome, heard };
      log.debug({ quietMs: quietInSpeechMs, flagged: listener.partialIsFinal() }, 'early reply started');
    };

    const prepareFromPartial = () => {
      if (active) return;
      const partial = listener.partial().trim();
      // In a pause the callee may have finished: the reply to their words so far is read as well.
      const asReply = o.prefillReplyAfterMs > 0 && quietInSpeechMs >= o.prefillReplyAfterMs;
      const key = `${asReply ? 'reply' : 'open'}:${partial}`;
      if (!partial || key === preparedPartial) return;
      preparedPartial = key;
      const said = [...utterances.map((u) => u.text), partial].join(' ');
      const user = asReply ? calleeMessage(said) : openCalleeMessage(said);
      conversation.prepare([...messages, { role: 'user', content: [...pendingInput, user].join('\n') }], {
        asReply,
      });
    };

    const maybeBargeIn = ({
      voicedMs,
      spanMs,
      voicedNow,
    }: {
      voicedMs: number;
      spanMs: number;
      voicedNow: boolean;
    }) => {
      utteranceVoicedMs = voicedMs;
      const t = active;
      if (!t?.interruptible || t.bargedIn || !voicedNow || voicedMs < o.bargeInMs) return;
      const partial = listener.partial();
      const backchannel = isBackchannel(partial);
      // A backchannel is short and stands alone; speech still going on past that span (pauses included)
      // is someone taking the floor, unless the recogniser already reads it as a backchannel.
      const interrupt =
        voicedMs >= o.forceBargeInMs ||
        // Early partials of a short sound are often a stray word ("the", "so"): one word is not enough.
        (!backchannel && partial.trim().split(/\s+/).length >= 3) ||
        (!backchannel && spanMs >= o.backchannelMaxMs);
      if (!interrupt) return;
      bargeIn(t, 'barge-in');
      log.debug(
        { voicedMs, partialWords: partial ? partial.split(/\s+/).length : 0, backchannel },
        'barge-in',
      );
    };

    // Stage one of barge-in, in audio time: a short voiced run pauses the agent, a quiet spell resumes it.
    let voicedRunMs = 0;
    // Voiced time of the callee utterance in progress (0 outside one).
    let utteranceVoicedMs = 0;
    let quietRunMs = 0;
    // The line's background level (noise, echo), followed while nobody speaks, for the energy onset.
    let floorRms = 50;
    const onWindow = ({
      prob,
      voiced,
      windowMs,
      rms,
    }: {
      prob: number;
      voiced: boolean;
      windowMs: number;
      rms: number;
    }) => {
      const t = active;
      if (prob < 0.3 && rms < o.energyOnsetRms) floorRms += (rms - floorRms) * 0.05;
      const loud = rms >= Math.max(o.energyOnsetRms, floorRms * o.energyOverFloor);
      if (!t?.interruptible || t.bargedIn || t.ac.signal.aborted) {
        voicedRunMs = 0;
        quietRunMs = 0;
        return;
      }
      if (voiced || loud) {
        voicedRunMs = voiced ? voicedRunMs + windowMs : voicedRunMs;
        quietRunMs = 0;
        if (!t.paused && (loud || voicedRunMs >= o.pauseOnsetMs || prob >= o.pauseProbability)) {
          t.pause();
          log.debug({ voicedRunMs, prob, rms: Math.round(rms) }, 'agent paused: callee sound over it');
        }
        return;
      }
      voicedRunMs = 0;
      if (!t.paused) return;
      quietRunMs += windowMs;
      if (quietRunMs >= o.resumeAfterSilenceMs) {
        quietRunMs = 0;
        const partial = listener.partial();
        // A pause after a phrase that is more than a backchannel is the callee drawing breath ("Excuse
        // me, ..."), not the end of a sound: resuming there would talk over their next words.
        if (listener.inSpeech && utteranceVoicedMs >= o.bargeInMs && partial && !isBackchannel(partial)) {
          bargeIn(t, 'barge-in');
          log.debug({ voicedMs: utteranceVoicedMs }, 'barge-in after a phrase and a pause');
          return;
        }
        t.resume();
        log.debug({ partial: partial.length > 0 }, 'agent resumed: not a barge-in');
      }
    };

    listener = createCalleeListener({
      audio,
      vad,
      stt: sttStream,
      sttRate: stt.sampleRate,
      logger: log,
      options: {
        positiveThreshold: o.vadThreshold,
        negativeThreshold: o.vadNegativeThreshold,
        minSpeechMs: o.minSpeechMs,
        endSilenceMs: o.endSilenceMs,
        endSilenceFor: (text) =>
          endSilenceFor(text, {
            handoverMs: o.handoverEndSilenceMs,
            statementMs: o.endSilenceMs,
            unfinishedMs: o.unfinishedEndSilenceMs,
          }),
        prerollMs: o.prerollMs,
        maxUtteranceMs: o.maxUtteranceMs,
      },
      events: {
        onSpeechStart() {
          utteranceVoicedMs = 0;
          quietInSpeechMs = 0;
          lastSpanMs = 0;
          dropEarly('callee spoke again');
          lastCalleeActivity = performance.now();
          wake();
        },
        onSpeechProgress(p) {
          maybeBargeIn(p);
          // An early reply reads the partial itself (it then holds the turn, so no read-ahead starts):
          // a read-ahead of the same words first would make it wait for that evaluation.
          maybeStartEarly(p.voicedNow, p.spanMs);
          prepareFromPartial();
        },
        onWindow,
        onUtterance(u) {
          lastCalleeActivity = performance.now();
          if (!u.text) dropEarly('no words');
          if (u.text) {
            // Over the agent: while a turn is open, or inside the last turn's audio (the final can come late).
            const duringAgent =
              (active !== null && !active.bargedIn && !active.early) ||
              (lastAgentAudio !== null &&
                u.startMs >= lastAgentAudio.start &&
                u.startMs <= lastAgentAudio.end);
            const turn: ConversationTurn = {
              speaker: 'callee',
              text: u.text,
              startMs: rel(u.startMs)!,
              endMs: rel(u.endMs)!,
              interrupted: false,
            };
            emitCallee(turn);
            // A backchannel said over the agent is part of the record but asks for no answer.
            if (!(duringAgent && isBackchannel(u.text))) utterances.push(u);
          }
          wake();
        },
      },
    });

    const conversation = (session.preparation && prepared.get(session.preparation)) || openConversation();
    conversation.prepare(messages);

    const onAbort = () => {
      audio.flush();
      active?.ac.abort(signal.reason);
      wake();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    /** Resolves on the next listener event, after `ms`, or on abort. */
    const nextChange = (ms: number) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
        waiters.add(done);
      });

    type Heard =
      | { kind: 'speech'; utterances: CalleeUtterance[] }
      | { kind: 'silence' }
      | { kind: 'aborted' };
    /**
     * Waits for the callee's turn: queued utterances once they stopped talking; 'silence' after
     * `timeoutMs` with no speech at all (speech in progress holds the clock).
     */
    async function listen(timeoutMs: number): Promise<Heard> {
      listening = true;
      try {
        const heard = await waitForCallee(timeoutMs);
        // An early reply only ever answers speech.
        if (heard.kind !== 'speech') await settleEarly(null, null);
        return heard;
      } finally {
        listening = false;
      }
    }

    /**
     * The early reply, released when it answers the callee's final words `heard` (it may already be
     * synthesized and held), or dropped (and awaited) otherwise; null when there is none to play.
     */
    async function settleEarly(
      heard: string | null,
      after: CalleeUtterance | null,
    ): Promise<Promise<TurnOutcome> | null> {
      const e = early;
      if (!e) return null;
      early = null;
      if (heard !== null && !e.turn.ac.signal.aborted && sameWords(e.heard, heard)) {
        log.debug('early reply released');
        e.turn.releaseEarly(after);
        return e.outcome;
      }
      dropEarly(heard === null ? 'no reply due' : 'the final words differ', e);
      await e.outcome;
      return null;
    }

    /** The agent's answer to the callee's turn: the early reply when it fits, otherwise a fresh turn. */
    async function reply(heard: string | null, after: CalleeUtterance | null): Promise<TurnOutcome> {
      return (await settleEarly(heard, after)) ?? agentTurn({ interruptible: true, after });
    }

    async function waitForCallee(timeoutMs: number): Promise<Heard> {
      const since = performance.now();
      for (;;) {
        if (signal.aborted) return { kind: 'aborted' };
        const busy = listener.inSpeech || listener.pendingFinals > 0;
        if (!busy && utterances.length > 0) return { kind: 'speech', utterances: utterances.splice(0) };
        const deadline = Math.max(since, lastCalleeActivity) + timeoutMs;
        const now = performance.now();
        if (!busy && now >= deadline) return { kind: 'silence' };
        await nextChange(busy ? 60_000 : deadline - now);
      }
    }

    function commit(action: AgentAction | null, spoken: string, interrupted: boolean): void {
      if (pendingInput.length > 0) messages.push({ role: 'user', content: pendingInput.join('\n') });
      pendingInput = [];
      const said: AgentAction =
        action && !interrupted ? { ...action, say: spoken } : { action: 'speak', say: spoken };
      messages.push({ role: 'assistant', content: actionToJson(said) });
      if (interrupted)
        pendingInput.push(
          eventMessage('The callee interrupted you; they heard only what you said up to there.'),
        );
      const excess = messages.length - 1 - o.maxHistoryMessages;
      if (excess > 0) messages.splice(1, excess);
      // The reply as the model will read it back, while the callee listens and answers.
      preparedPartial = '';
      conversation.prepare([...messages, { role: 'user', content: pendingInput.join('\n') }]);
    }

    /**
     * One agent turn: the model's streamed reply (or a fixed line), clause by clause through TTS to the
     * call, stoppable at any moment by barge-in or the call ending.
     */
    async function agentTurn(opts: {
      fixed?: string;
      interruptible: boolean;
      after?: CalleeUtterance | null;
      /** An early reply to this user message (see ActiveTurn.early); `releaseEarly` lets it play. */
      early?: string;
      /** Plays even though the session was aborted (the max-duration goodbye). */
      ignoreSessionAbort?: boolean;
    }): Promise<TurnOutcome> {
      const ac = new AbortController();
      const rate = audio.sampleRate;
      const splitter = createClauseSplitter(o.clauses);
      interface Clause {
        text: string;
        /** The clause's audio at the call's rate, once synthesized. */
        samples: Int16Array | null;
        /** Furthest sample that went out on the wire (a resume may replay a little before it). */
        heard: number;
        /** Where the next `play` of this clause starts. */
        from: number;
        finished: boolean;
        /** The pause epoch its in-flight `play` was queued in; null when not queued. */
        queuedIn: number | null;
      }
      const clauses: Clause[] = [];
      let synthTail: Promise<unknown> = Promise.resolve();
      let playTail: Promise<void> = Promise.resolve();
      let synthDone = false;
      // Bumped by every pause: a play from an older epoch was flushed and is only waiting to resolve.
      let epoch = 0;
      let pauseTimer: NodeJS.Timeout | undefined;
      let settle!: () => void;
      const settled = new Promise<void>((resolve) => {
        settle = resolve;
      });
      let firstTokenAt: number | null = null;
      let firstTtsAt: number | null = null;
      let firstPlayAt: number | null = null;
      let firstVoicedAt: number | null = null;
      let ttsFailed = false;
      // When the audio queued on the line runs out (performance.now() time; 0: nothing queued), and
      // whether the model is still writing the reply: a slow model must not leave dead air mid-reply,
      // which a callee takes for the end of the agent's turn.
      let lineEndsAt = 0;
      let generating = false;
      let lineDry = false;
      let dryTimer: NodeJS.Timeout | undefined;
      /** The line is about to fall silent while the model writes on: the words so far go out as they are. */
      const speakWhatIsWritten = () => {
        clearTimeout(dryTimer);
        lineDry = false;
        if (!generating || ac.signal.aborted || turn.paused) return;
        // A clause still in synthesis will play next; its queueing re-arms the timer.
        if (clauses.some((c) => !c.samples)) return;
        const words = splitter.takeWords();
        if (words) enqueue(words);
        else lineDry = true;
      };
      const armDryTimer = () => {
        clearTimeout(dryTimer);
        if (!generating || lineEndsAt === 0) return;
        dryTimer = setTimeout(
          speakWhatIsWritten,
          Math.max(0, lineEndsAt - performance.now() - DRY_LINE_LEAD_MS),
        );
      };

      const queued = () => clauses.some((c) => c.queuedIn !== null);
      const check = () => {
        if (!synthDone || queued()) return;
        if (ac.signal.aborted || (!turn.paused && clauses.every((c) => c.finished || !c.samples))) settle();
      };

      /** Hands every ready clause not yet queued to the call, in order, unless output is held. */
      const pumpOut = () => {
        if (turn.paused || ac.signal.aborted) return;
        // Flushed plays must report how far they got before their clause is queued again.
        if (clauses.some((c) => c.queuedIn !== null && c.queuedIn !== epoch)) return;
        for (const c of clauses) {
          if (!c.samples) break;
          if (c.finished || c.queuedIn !== null) continue;
          const from = c.from;
          c.queuedIn = epoch;
          firstPlayAt ??= performance.now();
          const samples = c.samples;
          lineEndsAt = Math.max(performance.now(), lineEndsAt) + ((samples.length - from) * 1000) / rate;
          armDryTimer();
          void audio.play(samples.subarray(from)).then((r) => {
            c.queuedIn = null;
            const played = r.completed
              ? samples.length - from
              : Math.min(samples.length - from, Math.round((r.playedMs * rate) / 1000));
            c.heard = Math.max(c.heard, from + played);
            c.from = from + played;
            if (r.completed) c.finished = true;
            pumpOut();
            check();
          });
        }
      };

      let after = opts.after ?? null;
      const turn: ActiveTurn = {
        ac,
        // An early reply is held, not paused: barge-in handling (which would resume it) stays off until release.
        interruptible: opts.early === undefined && opts.interruptible,
        bargedIn: false,
        early: opts.early !== undefined,
        paused: opts.early !== undefined,
        releaseEarly(heardAfter) {
          if (!turn.early || ac.signal.aborted) return;
          turn.early = false;
          after = heardAfter;
          turn.interruptible = opts.interruptible;
          turn.resume();
        },
        pause() {
          if (turn.paused || turn.bargedIn || ac.signal.aborted) return;
          turn.paused = true;
          epoch++;
          audio.flush();
          lineEndsAt = 0;
          clearTimeout(dryTimer);
          // Should the listener fall silent (VAD failure), the held audio must not wait forever.
          pauseTimer = setTimeout(() => {
            if (!turn.paused) return;
            if (listener.inSpeech) bargeIn(turn, 'pause-timeout');
            else turn.resume();
          }, o.forceBargeInMs + o.resumeAfterSilenceMs);
        },
        resume() {
          if (!turn.paused) return;
          turn.paused = false;
          clearTimeout(pauseTimer);
          const c = clauses.find((x) => !x.finished);
          if (c?.samples && c.from > 0) {
            c.from = resumePoint(
              c.samples,
              c.from,
              Math.round((o.resumeBackupMs * rate) / 1000),
              Math.round(rate / 100),
            );
          }
          pumpOut();
          check();
        },
      };
      active = turn;
      ac.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(pauseTimer);
          clearTimeout(dryTimer);
          turn.paused = false;
          check();
        },
        { once: true },
      );
      if (signal.aborted && !opts.ignoreSessionAbort) ac.abort(signal.reason);
      const stopSent = audio.onFrameSent((info) => {
        if (info.voiced && firstPlayAt !== null && firstVoicedAt === null) firstVoicedAt = info.atMs;
      });

      const enqueue = (text: string) => {
        const clause: Clause = { text, samples: null, heard: 0, from: 0, finished: false, queuedIn: null };
        clauses.push(clause);
        // Synthesis is chained so clauses never compete for the TTS engine out of order.
        const pcm = synthTail.then(() =>
          ac.signal.aborted ? null : tts.synthesize(text, { voice, signal: ac.signal }),
        );
        synthTail = pcm.catch(() => undefined);
        playTail = playTail.then(async () => {
          let result: Awaited<typeof pcm>;
          try {
            result = await pcm;
          } catch (err) {
            if (!isAbort(err)) {
              ttsFailed = true;
              log.error({ err: (err as Error).message }, 'tts failed');
              ac.abort('tts-failed');
            }
            return;
          }
          if (!result || ac.signal.aborted) return;
          if (firstTtsAt === null && turn.early) log.debug('early reply synthesized; held');
          firstTtsAt ??= performance.now();
          const samples =
            result.sampleRate === rate
              ? result.samples
              : createResampler(result.sampleRate, rate).process(result.samples);
          // The engine's lead-in silence before the reply's first words is only delay; later clauses
          // keep theirs as the pause between phrases.
          clause.samples = clause === clauses[0] ? trimLeadingSilence(samples, rate) : samples;
          // While paused, a clause is synthesized into the held queue and goes out on resume.
          pumpOut();
        });
      };

      let action: AgentAction | null = null;
      let failed = false;
      let streamed = false;
      try {
        if (opts.fixed !== undefined) {
          firstTokenAt = performance.now();
          for (const c of splitter.push(opts.fixed)) enqueue(c);
          action = { action: 'speak', say: opts.fixed };
        } else {
          const input = [
            ...messages,
            { role: 'user' as const, content: opts.early ?? pendingInput.join('\n') },
          ];
          generating = true;
          try {
            action = await conversation.nextAction(input, {
              signal: ac.signal,
              onSay: (delta) => {
                firstTokenAt ??= performance.now();
                streamed = true;
                const done = splitter.push(delta);
                for (const c of done) enqueue(c);
                if (lineDry && done.length === 0) speakWhatIsWritten();
              },
            });
          } finally {
            generating = false;
            clearTimeout(dryTimer);
          }
          firstTokenAt ??= performance.now();
          // An engine that does not stream gives the whole line at the end.
          if (!streamed && action.say) for (const c of splitter.push(action.say)) enqueue(c);
        }
        const rest = splitter.flush();
        if (rest) enqueue(rest);
      } catch (err) {
        if (!isAbort(err) && !ac.signal.aborted) {
          failed = true;
          log.error({ err: (err as Error).message }, 'dialogue failed');
        }
        action = null;
      }

      await playTail;
      synthDone = true;
      check();
      await settled;
      const endAt = performance.now();
      stopSent();

      // What the callee heard: whole clauses, then the played share of the one cut short.
      const heard: string[] = [];
      let cut = false;
      for (const c of clauses) {
        if (c.finished) {
          heard.push(c.text);
          continue;
        }
        if (c.samples) {
          const part = spokenPrefix(c.text, (c.heard * 1000) / rate, (c.samples.length * 1000) / rate);
          if (part) heard.push(part);
        }
        cut = true;
        break;
      }
      const spoken = heard.join(' ');
      const interrupted =
        turn.bargedIn || (cut && ac.signal.aborted) || (action === null && firstPlayAt !== null);

      let dtmfAt: number | null = null;
      if (action?.action === 'dtmf' && !ac.signal.aborted && !signal.aborted) {
        const digits = action.digits.replace(/[^0-9*#A-Da-d]/g, '');
        if (digits) {
          dtmfAt = performance.now();
          try {
            await session.sendDtmf(digits);
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'sending DTMF failed');
          }
        }
      }

      active = null;
      if (firstPlayAt !== null) lastAgentAudio = turn.bargedIn ? null : { start: firstPlayAt, end: endAt };
      let agentTurnRecord: ConversationTurn | null = null;
      const startAt = firstVoicedAt ?? firstPlayAt ?? dtmfAt;
      if (startAt !== null && (spoken || dtmfAt !== null)) {
        const latency: TurnLatency = {
          calleeSpeechEndMs: rel(after?.endMs ?? null),
          sttFinalMs: rel(after?.sttFinalMs ?? null),
          firstTokenMs: rel(firstTokenAt),
          firstTtsAudioMs: rel(firstTtsAt),
          firstVoicedFrameMs: rel(firstVoicedAt),
        };
        const dtmfNote = action?.action === 'dtmf' && dtmfAt !== null ? `[pressed ${action.digits}]` : '';
        agentTurnRecord = {
          speaker: 'agent',
          text: [spoken, dtmfNote].filter(Boolean).join(' '),
          startMs: rel(startAt)!,
          endMs: rel(Math.max(endAt, startAt))!,
          interrupted,
          latency,
        };
      }
      releaseHeld(agentTurnRecord);
      if (ttsFailed) failed = true;
      return { action, spoken, interrupted, failed };
    }

    /** Says a fixed line to the end (bounded), for the last words on a call that is ending. */
    async function finalLine(text: string, ignoreSessionAbort: boolean): Promise<void> {
      const turn = agentTurn({ fixed: text, interruptible: false, ignoreSessionAbort });
      if ((await within(turn, o.finalGoodbyeMaxMs)) === 'late') {
        audio.flush();
        active?.ac.abort('goodbye-timeout');
        await turn;
      }
    }

    async function endOnSignal(): Promise<{ end: ConversationEnd }> {
      const end = endForReason(signal.reason);
      if (end === 'max_duration') await finalLine(o.maxDurationGoodbye, true);
      return { end };
    }

    try {
      let after: CalleeUtterance | null = null;
      let heardText: string | null = null;
      const greeting = await listen(o.greetingWaitMs);
      if (greeting.kind === 'aborted') return await endOnSignal();
      if (greeting.kind === 'speech') {
        heardText = greeting.utterances.map((u) => u.text).join(' ');
        pendingInput.push(calleeMessage(heardText));
        after = greeting.utterances.at(-1) ?? null;
      } else {
        pendingInput.push(
          eventMessage('The call was just answered and the callee has not spoken yet. Greet them and begin.'),
        );
      }

      for (;;) {
        const r = await reply(heardText, after);
        after = null;
        heardText = null;
        if (signal.aborted) {
          if (r.spoken) commit(r.action, r.spoken, true);
          return await endOnSignal();
        }
        if (r.failed) {
          await finalLine(o.errorGoodbye, false);
          return signal.aborted ? await endOnSignal() : { end: 'internal_error' };
        }
        if (r.spoken || r.action?.action === 'dtmf') commit(r.action, r.spoken, r.interrupted);
        if (!r.interrupted && r.action?.action === 'end') return { end: r.action.outcome };

        // The callee's turn; on silence, one reprompt, then goodbye.
        let heard = await listen(o.silenceTimeoutMs);
        if (heard.kind === 'silence') {
          pendingInput.push(
            eventMessage(`The callee said nothing for ${Math.round(o.silenceTimeoutMs / 1000)} seconds.`),
          );
          const rp = await agentTurn({ fixed: o.reprompt, interruptible: true });
          if (signal.aborted) return await endOnSignal();
          if (rp.spoken) commit(rp.action, rp.spoken, rp.interrupted);
          heard = await listen(o.silenceTimeoutMs);
          if (heard.kind === 'silence') {
            await finalLine(o.silenceGoodbye, false);
            return signal.aborted ? await endOnSignal() : { end: 'silence_timeout' };
          }
        }
        if (heard.kind === 'aborted') return await endOnSignal();
        heardText = heard.utterances.map((u) => u.text).join(' ');
        pendingInput.push(calleeMessage(heardText));
        after = heard.utterances.at(-1) ?? null;
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'conversation failed');
      audio.flush();
      return { end: signal.aborted ? endForReason(signal.reason) : 'internal_error' };
    } finally {
      signal.removeEventListener('abort', onAbort);
      await settleEarly(null, null).catch(() => null);
      // The callee's last words (e.g. "no thanks, bye" before hanging up) still belong in the record.
      await within(listener.drain(), 3000);
      listener.stop();
      releaseHeld(null);
      sttStream.close();
      conversation.close();
      await releaseVad().catch(() => undefined);
      for (const w of [...waiters]) w();
    }
  }

  return {
    prepare,
    converse,
    async summarize(call, turns) {
      return summarizeCall(
        { dialogue, logger: deps.logger.child({ callId: call.id, part: 'summary' }) },
        call,
        turns,
      );
    },
  };
}
