import type { Logger } from '../../logger.js';
import type { CalleeUtterance } from './callee-listener.js';

export interface TurnTakingOptions {
  /**
   * Silence inside callee speech that starts an early reply from the STT partial (ms); with an STT that
   * marks its final text in the pause it also waits for that. 0 turns early replies off.
   */
  earlyReplyAfterMs: number;
  /** Silence inside callee speech after which the reply's prompt is read as well (ms); 0: never. */
  prefillReplyAfterMs: number;
}

/** An early reply as turn-taking sees it: held until released, dropped otherwise. */
export interface HeldReply {
  readonly done: boolean;
  release(after: CalleeUtterance | null): void;
  cancel(reason: string): void;
}

export interface TurnTakingDeps<T> {
  options: TurnTakingOptions;
  /** The recogniser's partial of the utterance in progress, and whether it is already final (null: cannot tell). */
  partial(): string;
  partialIsFinal(): boolean | null;
  /** Callee utterances of this turn already finished (before the one in progress). */
  heardBefore(): readonly string[];
  /** Whether a reply may start now: the agent is listening, no turn is open, the call goes on. */
  mayReply(): boolean;
  /** Whether an agent turn is open (then nothing is read ahead: the turn owns the model). */
  turnOpen(): boolean;
  /** Starts a held reply to the callee's words `heard`; `outcome` settles when it is over. */
  startReply(heard: string): { reply: HeldReply; outcome: Promise<T> };
  /** Has the dialogue engine read the callee's words so far; `asReply`: read the start of the reply too. */
  prefill(said: string, asReply: boolean): void;
  log: Logger;
}

export interface TurnTaking<T> {
  onSpeechStart(): void;
  onSpeechProgress(p: { voicedNow: boolean; spanMs: number }): void;
  /** A callee utterance ended; `text` is its final text ('' for noise). */
  onUtterance(text: string): void;
  /**
   * The callee's turn is over with the words `heard` (null: no reply is due): the early reply's outcome
   * when it answers exactly those words (it is released, then awaited), otherwise it is dropped,
   * awaited, and null.
   */
  settle(heard: string | null, after: CalleeUtterance | null): Promise<T | null>;
  /** What was read ahead is stale (the history changed). */
  resetPrefill(): void;
}

/** Same words, ignoring case and punctuation (STT partials and finals differ in nothing else that matters). */
export function sameWords(a: string, b: string): boolean {
  const words = (t: string) =>
    t
      .toLowerCase()
      .replace(/[^\p{L}\p{N}']+/gu, ' ')
      .trim();
  return words(a) === words(b);
}

/**
 * Turn-taking work done in the callee's pauses, in audio time (the listener's windows, no clock of its
 * own): while they speak the dialogue engine reads their words so far (prefill), in a pause it also
 * reads the start of its reply; once the pause is long enough (and the recogniser's text is final) an
 * early reply is generated and synthesized but held, released only if the turn ends with the same
 * words, and dropped when the callee goes on.
 */
export function createTurnTaking<T>(deps: TurnTakingDeps<T>): TurnTaking<T> {
  const o = deps.options;
  const { log } = deps;
  let quietInSpeechMs = 0;
  let lastSpanMs = 0;
  let preparedKey = '';
  let early: { reply: HeldReply; outcome: Promise<T>; heard: string } | null = null;

  const heardWith = (partial: string) => [...deps.heardBefore(), partial].join(' ');

  const drop = (why: string, e = early) => {
    if (!e || e.reply.done) return;
    e.reply.cancel(why);
    log.debug({ why }, 'early reply dropped');
  };

  const maybeStartEarly = (voicedNow: boolean, spanMs: number) => {
    const windowMs = Math.max(0, spanMs - lastSpanMs);
    lastSpanMs = spanMs;
    if (voicedNow) {
      quietInSpeechMs = 0;
      drop('callee went on');
      return;
    }
    quietInSpeechMs += windowMs;
    if (o.earlyReplyAfterMs <= 0 || quietInSpeechMs < o.earlyReplyAfterMs) return;
    // A recogniser that finishes the utterance in the pause (pocketsphinx) says when its partial is
    // the final text: a reply started before that answers words that are often rescored, and on two
    // cores the evaluation it wastes delays the real one (it cannot be cut mid-batch).
    if (deps.partialIsFinal() === false) return;
    const partial = deps.partial().trim();
    const heard = heardWith(partial);
    if (early && !early.reply.done) {
      // The recogniser rescored the utterance in the pause (its final text, early): the held reply
      // answers words that are no longer there, so a new one starts on the new text.
      if (partial && !sameWords(early.heard, heard)) drop('the partial changed');
      return;
    }
    // (A dropped early reply is replaced once its turn has wound down.)
    if (!partial || !deps.mayReply()) return;
    const started = deps.startReply(heard);
    early = { ...started, heard };
    log.debug({ quietMs: quietInSpeechMs, flagged: deps.partialIsFinal() }, 'early reply started');
  };

  const prefill = () => {
    if (deps.turnOpen()) return;
    const partial = deps.partial().trim();
    // In a pause the callee may have finished: the reply to their words so far is read as well.
    const asReply = o.prefillReplyAfterMs > 0 && quietInSpeechMs >= o.prefillReplyAfterMs;
    const key = `${asReply ? 'reply' : 'open'}:${partial}`;
    if (!partial || key === preparedKey) return;
    preparedKey = key;
    deps.prefill(heardWith(partial), asReply);
  };

  return {
    onSpeechStart() {
      quietInSpeechMs = 0;
      lastSpanMs = 0;
      drop('callee spoke again');
    },
    onSpeechProgress({ voicedNow, spanMs }) {
      // An early reply reads the partial itself (it then holds the turn, so no read-ahead starts):
      // a read-ahead of the same words first would make it wait for that evaluation.
      maybeStartEarly(voicedNow, spanMs);
      prefill();
    },
    onUtterance(text) {
      if (!text) drop('no words');
    },
    async settle(heard, after) {
      const e = early;
      if (!e) return null;
      early = null;
      if (heard !== null && !e.reply.done && sameWords(e.heard, heard)) {
        log.debug('early reply released');
        e.reply.release(after);
        return e.outcome;
      }
      drop(heard === null ? 'no reply due' : 'the final words differ', e);
      await e.outcome;
      return null;
    },
    resetPrefill() {
      preparedKey = '';
    },
  };
}
