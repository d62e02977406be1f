import type { TurnLatency } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import type {
  CallSession,
  ConversationEnd,
  ConversationTurn,
  TransferResult,
} from '../../telephony/call-session.js';
import { actionToJson } from '../dialogue/action-schema.js';
import type { AgentAction, DialogueConversation, DialogueMessage } from '../dialogue/types.js';
import type { SpeechToText, SttStream, TextToSpeech, VoiceActivityDetector } from '../types.js';
import { ActionGate } from './action-gate.js';
import type { AgentSettings } from './agent-options.js';
import { AgentTurn, type TurnSource } from './agent-turn.js';
import { isBackchannel } from './backchannel.js';
import { type BargeInWatcher, createBargeInWatcher } from './barge-in.js';
import { type CalleeListener, type CalleeUtterance, createCalleeListener } from './callee-listener.js';
import { calleeMessage, calleeTextOf, eventMessage, openCalleeMessage } from './prompt.js';
import { endSilenceFor } from './turn-end.js';
import { createTurnTaking, type TurnTaking } from './turn-taking.js';

/** What one agent turn came to, once its action (keys) was carried out. */
export interface TurnOutcome {
  /** The action the model chose (null when the turn was cut before it was known). */
  action: AgentAction | null;
  /** What the callee actually heard. */
  spoken: string;
  interrupted: boolean;
  /** The model failed (not an abort). */
  failed: boolean;
  /** Keys the model chose that the gate refused, with why. */
  refusedDtmf: string | null;
}

type Heard = { kind: 'speech'; utterances: CalleeUtterance[] } | { kind: 'silence' } | { kind: 'aborted' };

/**
 * Asks the agent to wrap up politely (a worker draining on SIGTERM): aborted, it makes the agent say
 * its wrap-up goodbye at the next turn boundary and end with the abort reason (a ConversationEnd such
 * as 'canceled'; anything else ends as 'canceled'). Set by the call's owner on the session.
 */
export interface WrapUpRequest {
  readonly wrapUp?: AbortSignal;
}

const ENDS: readonly ConversationEnd[] = [
  'objective_met',
  'objective_impossible',
  'callee_hung_up',
  'max_duration',
  'silence_timeout',
  'transferred',
  'canceled',
  'internal_error',
];

/** How a failed transfer reads in the model's event note. */
const TRANSFER_FAILURES: Record<Exclude<TransferResult['outcome'], 'transferred'>, string> = {
  busy: 'the line of the person was busy',
  no_answer: 'the person did not answer',
  rejected: 'the person declined the call',
  failed: 'the line to the person could not be reached',
};

/** Live partials of the callee's words are reported at most this often (ms). */
const PARTIAL_EVERY_MS = 250;

/** Why the conversation stops when the call's media path closed under it. */
export const MEDIA_LOST = 'media_lost';

/** The end a session abort (or wrap-up) reason stands for. */
export function endForReason(reason: unknown): ConversationEnd {
  switch (reason) {
    case 'callee_hung_up':
    case 'max_duration':
    case 'canceled':
      return reason;
    case MEDIA_LOST:
      // The line can no longer carry the agent's voice; the call's owner says how the call ended.
      return 'internal_error';
    default:
      // 'shutdown' and anything unexpected: the call was taken away from the agent.
      return 'canceled';
  }
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

export interface CallConversationDeps {
  session: CallSession & WrapUpRequest;
  onTurn(turn: ConversationTurn): void;
  stt: SpeechToText;
  sttStream: SttStream;
  tts: TextToSpeech;
  vad: VoiceActivityDetector;
  conversation: DialogueConversation;
  system: DialogueMessage;
  /** The requested fields as the callee's words establish them (see ActionGate). */
  extract(calleeWords: string, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** The callee's words so far, throttled (see ConversationAgentDeps.onPartial). */
  onPartial?(text: string): void;
  settings: AgentSettings;
  log: Logger;
}

/**
 * One call's conversation: listens (the callee listener), takes turns (turn-taking, barge-in), has the
 * model decide and an AgentTurn speak, gates what the model may do to the call, and keeps the
 * transcript in order with per-turn latency stamps.
 */
export class CallConversation {
  private readonly o: AgentSettings;
  private readonly log: Logger;
  private readonly session: CallSession & WrapUpRequest;
  /** The session's signal, or the media path closing (MEDIA_LOST), whichever comes first. */
  private readonly signal: AbortSignal;
  private readonly mediaLost = new AbortController();
  private readonly messages: DialogueMessage[];
  // User-message parts not yet answered by anything the callee heard.
  private pendingInput: string[] = [];
  private readonly utterances: CalleeUtterance[] = [];
  // Callee turns that ended while an agent turn was open wait for it, so turns come out in order.
  private heldCalleeTurns: ConversationTurn[] = [];
  private active: AgentTurn | null = null;
  // The audio span of the last agent turn that played to its end (not barged in).
  private lastAgentAudio: { start: number; end: number } | null = null;
  private lastCalleeActivity = performance.now();
  private readonly waiters = new Set<() => void>();
  private listening = false;
  // While a transfer dials, briefs and connects, the line's words are not the callee's turn (on a warm
  // transfer they are the person taking over): they reach neither the model nor the transcript.
  private transferring = false;
  private readonly listener: CalleeListener;
  private readonly bargeIn: BargeInWatcher;
  private readonly turnTaking: TurnTaking<TurnOutcome>;
  private readonly gate: ActionGate;
  private readonly voice: string | undefined;
  private lastPartial = '';
  private lastPartialAt = Number.NEGATIVE_INFINITY;
  /** The model ended (or tried to) with an opt-out: see `run`. */
  private optOut = false;

  constructor(private readonly deps: CallConversationDeps) {
    const o = deps.settings;
    this.o = o;
    this.log = deps.log;
    this.session = deps.session;
    // A closed media path ends the conversation as the call's end would: nothing can be said any more,
    // and the call's owner may learn it later (the PBX's hangup events may have died with it).
    this.signal = AbortSignal.any([deps.session.signal, this.mediaLost.signal]);
    this.messages = [deps.system];
    const tts = deps.tts;
    const v = deps.session.call.voice;
    this.voice = v && tts.voices.includes(v) ? v : undefined;
    this.gate = new ActionGate({
      call: deps.session.call,
      extract: deps.extract,
      extractTimeoutMs: o.endCheckTimeoutMs,
      log: deps.log,
    });

    this.bargeIn = createBargeInWatcher({
      options: o,
      active: () => this.active,
      partial: () => this.listener.partial(),
      inSpeech: () => this.listener.inSpeech,
      log: deps.log,
    });
    this.turnTaking = createTurnTaking<TurnOutcome>({
      options: o,
      partial: () => this.listener.partial(),
      partialIsFinal: () => this.listener.partialIsFinal(),
      heardBefore: () => this.utterances.map((u) => u.text),
      mayReply: () => this.listening && this.active === null && !this.signal.aborted,
      turnOpen: () => this.active !== null,
      startReply: (heard) => {
        const input = [...this.pendingInput, calleeMessage(heard)].join('\n');
        const turn = this.startTurn({ source: this.modelSource(input), interruptible: true, held: true });
        return { reply: turn, outcome: this.finishTurn(turn) };
      },
      prefill: (said, asReply) => {
        const user = asReply ? calleeMessage(said) : openCalleeMessage(said);
        deps.conversation.prepare(
          [...this.messages, { role: 'user', content: [...this.pendingInput, user].join('\n') }],
          { asReply },
        );
      },
      log: deps.log,
    });

    this.listener = createCalleeListener({
      audio: deps.session.audio,
      vad: deps.vad,
      stt: deps.sttStream,
      sttRate: deps.stt.sampleRate,
      logger: deps.log,
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
        onSpeechStart: () => {
          this.lastPartial = '';
          this.bargeIn.onSpeechStart();
          this.turnTaking.onSpeechStart();
          this.lastCalleeActivity = performance.now();
          this.wake();
        },
        onSpeechProgress: (p) => {
          this.bargeIn.onSpeechProgress(p);
          this.turnTaking.onSpeechProgress(p);
          this.reportPartial();
        },
        onWindow: (w) => this.bargeIn.onWindow(w),
        onUtterance: (u) => this.onUtterance(u),
      },
    });
    deps.conversation.prepare(this.messages);
  }

  /** Live listeners see the words in progress; a transfer's words are not the callee's. */
  private reportPartial(): void {
    const report = this.deps.onPartial;
    if (!report || this.transferring) return;
    const now = performance.now();
    if (now - this.lastPartialAt < PARTIAL_EVERY_MS) return;
    const text = this.listener.partial().trim();
    if (!text || text === this.lastPartial) return;
    this.lastPartialAt = now;
    this.lastPartial = text;
    try {
      report(text);
    } catch (err) {
      this.log.debug({ err }, 'partial listener failed');
    }
  }

  private loseMedia(): void {
    if (this.mediaLost.signal.aborted) return;
    this.log.warn('the call audio closed; the conversation ends');
    this.mediaLost.abort(MEDIA_LOST);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private rel(t: number | null): number | null {
    return t === null ? null : Math.round(t - this.session.answeredAtMs);
  }

  private emit(turn: ConversationTurn): void {
    try {
      this.deps.onTurn(turn);
    } catch (err) {
      this.log.error({ err }, 'onTurn listener failed');
    }
  }

  private releaseHeld(agentTurn: ConversationTurn | null): void {
    const all = agentTurn ? [...this.heldCalleeTurns, agentTurn] : this.heldCalleeTurns;
    this.heldCalleeTurns = [];
    for (const t of all.sort((a, b) => a.startMs - b.startMs)) this.emit(t);
  }

  private onUtterance(u: CalleeUtterance): void {
    if (this.transferring) {
      this.log.debug({ chars: u.text.length }, 'words heard during a transfer are left out');
      return;
    }
    this.lastCalleeActivity = performance.now();
    this.turnTaking.onUtterance(u.text);
    if (u.text) {
      const a = this.active;
      // Over the agent: while a turn is open, or inside the last turn's audio (the final can come late).
      const duringAgent =
        (a !== null && !a.bargedIn && !a.held) ||
        (this.lastAgentAudio !== null &&
          u.startMs >= this.lastAgentAudio.start &&
          u.startMs <= this.lastAgentAudio.end);
      const turn: ConversationTurn = {
        speaker: 'callee',
        text: u.text,
        startMs: this.rel(u.startMs)!,
        endMs: this.rel(u.endMs)!,
        interrupted: false,
      };
      if (this.active) this.heldCalleeTurns.push(turn);
      else this.emit(turn);
      // A backchannel said over the agent is part of the record but asks for no answer.
      if (!(duringAgent && isBackchannel(u.text))) this.utterances.push(u);
    }
    this.wake();
  }

  /** The model's action for the pending input plus `input` (default: the pending input). */
  private modelSource(input?: string): TurnSource {
    const messages: DialogueMessage[] = [
      ...this.messages,
      { role: 'user', content: input ?? this.pendingInput.join('\n') },
    ];
    return { generate: (opts) => this.deps.conversation.nextAction(messages, opts) };
  }

  private startTurn(opts: {
    source: TurnSource;
    interruptible: boolean;
    held?: boolean;
    after?: CalleeUtterance | null;
    /** Plays even though the session was aborted (the max-duration goodbye). */
    ignoreSessionAbort?: boolean;
  }): AgentTurn {
    const turn = new AgentTurn(
      {
        audio: this.session.audio,
        tts: this.deps.tts,
        voice: this.voice,
        log: this.log,
        clauses: this.o.clauses,
        resumeBackupMs: this.o.resumeBackupMs,
        pauseTimeoutMs: this.o.forceBargeInMs + this.o.resumeAfterSilenceMs,
        onPauseTimeout: (t) => {
          if (this.listener.inSpeech) t.interrupt('pause-timeout');
          else t.resume();
        },
      },
      opts,
    );
    this.active = turn;
    if (this.signal.aborted && !opts.ignoreSessionAbort) turn.cancel(this.signal.reason);
    return turn;
  }

  /**
   * Waits for a turn's playout, carries out its keys when the gate lets it, and records it (with the
   * callee turns held while it was open, in order).
   */
  private async finishTurn(turn: AgentTurn): Promise<TurnOutcome> {
    const p = await turn.waitForPlayout();
    if (p.mediaClosed) this.loseMedia();
    let dtmfAt: number | null = null;
    let refusedDtmf: string | null = null;
    const action = p.action;
    if (action?.action === 'dtmf' && !turn.signal.aborted && !this.signal.aborted) {
      const digits = action.digits.replace(/[^0-9*#A-Da-d]/g, '');
      const decision = digits ? this.gate.dtmf(digits) : null;
      if (decision && !decision.allowed) {
        refusedDtmf = digits;
        this.log.warn({ reason: decision.reason }, 'the model asked for keys the line does not call for');
      } else if (digits) {
        dtmfAt = performance.now();
        this.gate.keysSent();
        try {
          await this.session.sendDtmf(digits);
        } catch (err) {
          this.log.warn({ err }, 'sending DTMF failed');
        }
      }
    }

    this.active = null;
    if (p.firstPlayAt !== null)
      this.lastAgentAudio = p.bargedIn ? null : { start: p.firstPlayAt, end: p.endAt };
    if (p.spoken) this.gate.agentSaid();
    let record: ConversationTurn | null = null;
    const startAt = p.firstVoicedAt ?? p.firstPlayAt ?? dtmfAt;
    if (startAt !== null && (p.spoken || dtmfAt !== null)) {
      const latency: TurnLatency = {
        calleeSpeechEndMs: this.rel(p.after?.endMs ?? null),
        sttFinalMs: this.rel(p.after?.sttFinalMs ?? null),
        firstTokenMs: this.rel(p.firstTokenAt),
        firstTtsAudioMs: this.rel(p.firstTtsAt),
        firstVoicedFrameMs: this.rel(p.firstVoicedAt),
      };
      const dtmfNote = action?.action === 'dtmf' && dtmfAt !== null ? `[pressed ${action.digits}]` : '';
      record = {
        speaker: 'agent',
        text: [p.spoken, dtmfNote].filter(Boolean).join(' '),
        startMs: this.rel(startAt)!,
        endMs: this.rel(Math.max(p.endAt, startAt))!,
        interrupted: p.interrupted,
        latency,
      };
    }
    this.releaseHeld(record);
    return { action, spoken: p.spoken, interrupted: p.interrupted, failed: p.failed, refusedDtmf };
  }

  private runTurn(opts: Parameters<CallConversation['startTurn']>[0]): Promise<TurnOutcome> {
    return this.finishTurn(this.startTurn(opts));
  }

  /** Says a fixed line to the end (bounded), for the last words on a call that is ending. */
  private async finalLine(text: string, ignoreSessionAbort: boolean): Promise<void> {
    const turn = this.startTurn({ source: { fixed: text }, interruptible: false, ignoreSessionAbort });
    const done = this.finishTurn(turn);
    if ((await within(done, this.o.finalGoodbyeMaxMs)) === 'late') {
      turn.stop('goodbye-timeout');
      await done;
    }
  }

  private async endOnSignal(): Promise<{ end: ConversationEnd }> {
    const end = endForReason(this.signal.reason);
    if (end === 'max_duration') await this.finalLine(this.o.maxDurationGoodbye, true);
    return { end };
  }

  private wrappingUp(): boolean {
    return this.session.wrapUp?.aborted === true && !this.signal.aborted;
  }

  private async wrapUp(): Promise<{ end: ConversationEnd }> {
    const reason = this.session.wrapUp?.reason;
    const end = ENDS.includes(reason as ConversationEnd) ? (reason as ConversationEnd) : 'canceled';
    this.log.info({ end }, 'wrapping up the call');
    await this.turnTaking.settle(null, null);
    await this.finalLine(this.o.wrapUpGoodbye, false);
    return this.signal.aborted ? await this.endOnSignal() : { end };
  }

  /** Whether the agent may speak now (`session.mayTalk` resolved); false when the call ended first. */
  private async mayTalk(): Promise<boolean> {
    const allowed = this.session.mayTalk;
    if (!allowed || this.signal.aborted) return !this.signal.aborted;
    let onAbort: (() => void) | undefined;
    const ended = new Promise<void>((resolve) => {
      onAbort = resolve;
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([allowed, ended]);
    } finally {
      if (onAbort) this.signal.removeEventListener('abort', onAbort);
    }
    return !this.signal.aborted;
  }

  /** Resolves on the next listener event, after `ms`, or on abort. */
  private nextChange(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
      this.waiters.add(done);
    });
  }

  /**
   * Waits for the callee's turn: queued utterances once they stopped talking; 'silence' after
   * `timeoutMs` with no speech at all (speech in progress holds the clock). A wrap-up request ends
   * the wait as 'aborted' once the callee is not mid-utterance.
   */
  private async listen(timeoutMs: number): Promise<Heard> {
    this.listening = true;
    try {
      const heard = await this.waitForCallee(timeoutMs);
      // An early reply only ever answers speech.
      if (heard.kind !== 'speech') await this.turnTaking.settle(null, null);
      return heard;
    } finally {
      this.listening = false;
    }
  }

  private async waitForCallee(timeoutMs: number): Promise<Heard> {
    const since = performance.now();
    for (;;) {
      if (this.signal.aborted) return { kind: 'aborted' };
      const busy = this.listener.inSpeech || this.listener.pendingFinals > 0;
      if (!busy && this.wrappingUp()) return { kind: 'aborted' };
      if (!busy && this.utterances.length > 0)
        return { kind: 'speech', utterances: this.utterances.splice(0) };
      const deadline = Math.max(since, this.lastCalleeActivity) + timeoutMs;
      const now = performance.now();
      if (!busy && now >= deadline) return { kind: 'silence' };
      await this.nextChange(busy ? 60_000 : deadline - now);
    }
  }

  /** The agent's answer to the callee's turn: the early reply when it fits, otherwise a fresh turn. */
  private async reply(heard: string | null, after: CalleeUtterance | null): Promise<TurnOutcome> {
    return (
      (await this.turnTaking.settle(heard, after)) ??
      this.runTurn({ source: this.modelSource(), interruptible: true, after })
    );
  }

  private commit(action: AgentAction | null, spoken: string, interrupted: boolean): void {
    if (this.pendingInput.length > 0)
      this.messages.push({ role: 'user', content: this.pendingInput.join('\n') });
    this.pendingInput = [];
    const said: AgentAction =
      action && !interrupted ? { ...action, say: spoken } : { action: 'speak', say: spoken };
    this.messages.push({ role: 'assistant', content: actionToJson(said) });
    if (interrupted)
      this.pendingInput.push(
        eventMessage('The callee interrupted you; they heard only what you said up to there.'),
      );
    const excess = this.messages.length - 1 - this.o.maxHistoryMessages;
    if (excess > 0) this.messages.splice(1, excess);
    // The reply as the model will read it back, while the callee listens and answers.
    this.turnTaking.resetPrefill();
    this.deps.conversation.prepare([
      ...this.messages,
      { role: 'user', content: this.pendingInput.join('\n') },
    ]);
  }

  private heardCallee(heard: CalleeUtterance[]): string {
    const text = heard.map((u) => u.text).join(' ');
    this.pendingInput.push(calleeMessage(text));
    this.gate.calleeSaid(text);
    return text;
  }

  /**
   * Carries out a transfer the gate allowed: the handover line was said (a fixed one is said when the
   * model wrote none), then the call's owner dials, briefs and connects the person. The transcript
   * gets a marker turn either way; a failure becomes a note for the model, which tells the callee.
   */
  private async transferCall(summary: string, spoken: string): Promise<'transferred' | 'failed'> {
    const target = this.session.call.transfer?.to ?? 'a person';
    if (!spoken) await this.finalLine(this.o.transferHandover, false);
    if (this.signal.aborted || !this.session.transfer) return 'failed';
    const startedAt = performance.now();
    this.transferring = true;
    let result: TransferResult;
    try {
      result = await this.session.transfer({ summary: summary || this.fallbackBrief() });
    } catch (err) {
      this.log.warn({ err }, 'the transfer failed');
      result = { outcome: 'failed', detail: err instanceof Error ? err.message : String(err) };
    } finally {
      this.transferring = false;
    }
    const transferred = result.outcome === 'transferred';
    // A transfer the call's end cut short (the callee hung up, max duration) did not fail: it stopped.
    const text = transferred
      ? `[transferred to ${target}]`
      : this.signal.aborted
        ? `[transfer to ${target} stopped: the call ended]`
        : `[transfer to ${target} failed: ${result.outcome}]`;
    this.emit({
      speaker: 'agent',
      text,
      startMs: this.rel(startedAt)!,
      endMs: this.rel(performance.now())!,
      interrupted: false,
    });
    if (result.outcome === 'transferred') return 'transferred';
    this.log.info({ outcome: result.outcome, detail: result.detail }, 'the transfer did not connect');
    this.gate.transferFailed(result.outcome);
    this.pendingInput.push(
      eventMessage(
        `The transfer failed: ${TRANSFER_FAILURES[result.outcome]}. The callee is still on the line with you: tell them, then carry on with the objective or end the call politely.`,
      ),
    );
    return 'failed';
  }

  /** A brief for the person taking over when the model wrote none: the callee's latest words. */
  private fallbackBrief(): string {
    const lastCallee = [...this.messages, { role: 'user', content: this.pendingInput.join('\n') }]
      .filter((m) => m.role === 'user')
      .map((m) => calleeTextOf(m.content))
      .filter(Boolean)
      .at(-1);
    return lastCallee
      ? `The caller's last words were: ${lastCallee}`
      : 'The caller asked to speak with a person.';
  }

  /**
   * Holds the conversation until the agent ends it or the session is aborted. `optOut`: the model chose
   * an end action carrying an opt-out at some point of the call (the callee asked not to be called
   * again); it stands however the call then ends (the callee hanging up during the goodbye included).
   */
  async run(): Promise<{ end: ConversationEnd; optOut?: boolean }> {
    const result = await this.converse();
    return this.optOut ? { ...result, optOut: true } : result;
  }

  private async converse(): Promise<{ end: ConversationEnd }> {
    const o = this.o;
    const onAbort = () => {
      this.session.audio.flush();
      this.active?.stop(this.signal.reason);
      this.wake();
    };
    this.signal.addEventListener('abort', onAbort, { once: true });
    const offClose = this.session.audio.onClose?.(() => this.loseMedia());
    const onWrapUp = () => this.wake();
    this.session.wrapUp?.addEventListener('abort', onWrapUp, { once: true });
    try {
      let after: CalleeUtterance | null = null;
      let heardText: string | null = null;
      // Started at answer, the agent hears (and the transcript keeps) the callee's greeting while the
      // controller tells a person from a machine; it speaks only once that is settled.
      if (!(await this.mayTalk())) return await this.endOnSignal();
      const greeting = await this.listen(o.greetingWaitMs);
      if (this.wrappingUp()) return await this.wrapUp();
      if (greeting.kind === 'aborted') return await this.endOnSignal();
      if (greeting.kind === 'speech') {
        heardText = this.heardCallee(greeting.utterances);
        after = greeting.utterances.at(-1) ?? null;
      } else {
        this.pendingInput.push(
          eventMessage('The call was just answered and the callee has not spoken yet. Greet them and begin.'),
        );
      }

      for (;;) {
        const r = await this.reply(heardText, after);
        after = null;
        heardText = null;
        // Asked for even if the goodbye was cut: the callee said they do not want to be called again.
        if (r.action?.action === 'end' && r.action.optOut) {
          if (!this.optOut) this.log.info('the callee asked not to be called again');
          this.optOut = true;
        }
        if (this.signal.aborted) {
          if (r.spoken) this.commit(r.action, r.spoken, true);
          return await this.endOnSignal();
        }
        if (r.failed) {
          await this.finalLine(o.errorGoodbye, false);
          return this.signal.aborted ? await this.endOnSignal() : { end: 'internal_error' };
        }
        // A transfer the callee let the agent announce to the end, if the gate allows it.
        const transfer = !r.interrupted && r.action?.action === 'transfer' ? r.action : null;
        const transferGate = transfer ? this.gate.transfer() : null;
        const transferRefused = transferGate !== null && !transferGate.allowed;
        // Refused keys and transfers are kept out of the history: the model reads what really happened.
        const done: AgentAction | null =
          r.refusedDtmf === null && !transferRefused ? r.action : { action: 'speak', say: r.spoken };
        if (r.spoken || r.action?.action === 'dtmf' || transfer) this.commit(done, r.spoken, r.interrupted);
        if (transferGate && !transferGate.allowed) {
          this.log.warn(
            { reason: transferGate.reason },
            'the model asked for a transfer the call does not allow',
          );
          this.pendingInput.push(
            eventMessage(
              `The call was not transferred: ${transferGate.reason}. Keep helping the callee yourself.`,
            ),
          );
        } else if (transfer) {
          const t = await this.transferCall(transfer.summary, r.spoken);
          if (t === 'transferred') return { end: 'transferred' };
          if (this.signal.aborted) return await this.endOnSignal();
          if (this.wrappingUp()) return await this.wrapUp();
          // The agent tells the callee at once rather than waiting for them to ask.
          continue;
        }
        if (r.refusedDtmf !== null) {
          this.pendingInput.push(
            eventMessage(
              `No keys were pressed: keypad presses are only for an automated menu on the line that offers them, or keys your objective names. ${r.refusedDtmf} was not offered.`,
            ),
          );
        }
        if (!r.interrupted && r.action?.action === 'end') {
          if (r.action.outcome !== 'objective_met') return { end: r.action.outcome };
          const decision = await this.gate.objectiveMet(this.signal);
          if (this.signal.aborted) return await this.endOnSignal();
          if (decision.allowed) return { end: 'objective_met' };
          // A callee who asked not to be called again is not kept on the line to establish facts.
          if (r.action.optOut) return { end: 'objective_impossible' };
          this.log.warn(
            { reason: decision.reason },
            'the model ended the call as objective_met without the facts',
          );
          this.pendingInput.push(
            eventMessage(
              `The call was not ended: ${decision.reason}. The objective is met only by what the callee actually tells you; keep pursuing it.`,
            ),
          );
        }
        if (this.wrappingUp()) return await this.wrapUp();

        // The callee's turn; on silence, one reprompt, then goodbye.
        let heard = await this.listen(o.silenceTimeoutMs);
        if (heard.kind === 'silence') {
          this.pendingInput.push(
            eventMessage(`The callee said nothing for ${Math.round(o.silenceTimeoutMs / 1000)} seconds.`),
          );
          const rp = await this.runTurn({ source: { fixed: o.reprompt }, interruptible: true });
          if (this.signal.aborted) return await this.endOnSignal();
          if (rp.spoken) this.commit(rp.action, rp.spoken, rp.interrupted);
          if (this.wrappingUp()) return await this.wrapUp();
          heard = await this.listen(o.silenceTimeoutMs);
          if (heard.kind === 'silence') {
            await this.finalLine(o.silenceGoodbye, false);
            return this.signal.aborted ? await this.endOnSignal() : { end: 'silence_timeout' };
          }
        }
        if (this.wrappingUp()) return await this.wrapUp();
        if (heard.kind === 'aborted') return await this.endOnSignal();
        heardText = this.heardCallee(heard.utterances);
        after = heard.utterances.at(-1) ?? null;
      }
    } catch (err) {
      this.log.error({ err }, 'conversation failed');
      this.session.audio.flush();
      return { end: this.signal.aborted ? endForReason(this.signal.reason) : 'internal_error' };
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      offClose?.();
      this.session.wrapUp?.removeEventListener('abort', onWrapUp);
      await this.turnTaking.settle(null, null).catch(() => null);
      // The callee's last words (e.g. "no thanks, bye" before hanging up) still belong in the record.
      await within(this.listener.drain(), 3000);
      this.listener.stop();
      this.releaseHeld(null);
      this.wake();
    }
  }
}
