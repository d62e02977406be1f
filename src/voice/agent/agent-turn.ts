import { createResampler } from '../../audio/resample.js';
import type { Logger } from '../../logger.js';
import type { CallAudio } from '../../telephony/call-session.js';
import type { AgentAction, NextActionOptions } from '../dialogue/types.js';
import type { TextToSpeech } from '../types.js';
import type { CalleeUtterance } from './callee-listener.js';
import { type ClauseSplitterOptions, createClauseSplitter } from './clause-splitter.js';
import { errorFields } from './error-fields.js';
import { resumePoint } from './resume-point.js';
import { spokenPrefix } from './spoken-prefix.js';
import { trimLeadingSilence } from './trim-leading-silence.js';

/**
 * How long before the queued audio runs out the words written so far are sent to TTS when the model
 * has not finished the clause: enough for flite or Piper to synthesize a few words.
 */
const DRY_LINE_LEAD_MS = 120;

export interface AgentTurnDeps {
  audio: CallAudio;
  tts: TextToSpeech;
  voice?: string;
  log: Logger;
  clauses?: ClauseSplitterOptions;
  /** On resume, how far back the turn may restart, at the quietest point (a word gap), in ms. */
  resumeBackupMs: number;
  /** Output paused this long asks `onPauseTimeout` what to do (the listener may have fallen silent), ms. */
  pauseTimeoutMs: number;
  /** The turn stayed paused for `pauseTimeoutMs`: interrupt it or resume it. */
  onPauseTimeout(turn: AgentTurn): void;
  /** The clock of every stamp (ms); `performance.now` by default. */
  now?: () => number;
}

/** Where the turn's words come from: a fixed line, or the dialogue model's streamed action. */
export type TurnSource =
  | { fixed: string }
  | { generate(opts: Required<Pick<NextActionOptions, 'signal' | 'onSay'>>): Promise<AgentAction> };

export interface AgentTurnOptions {
  source: TurnSource;
  /** Callee speech may pause and interrupt it (not the last words on a call that is ending). */
  interruptible: boolean;
  /**
   * An early reply: generated and synthesized but held (nothing plays) until `release()`, dropped
   * with `cancel()`. Barge-in handling stays off while it is held.
   */
  held?: boolean;
  /** The callee utterance it answers (latency stamps). */
  after?: CalleeUtterance | null;
}

/** What a turn came to once its audio stopped. Times are the turn's clock (ms). */
export interface TurnPlayout {
  /** The action the model chose (null when the turn was cut before it was known, or failed). */
  action: AgentAction | null;
  /** What the callee actually heard: whole clauses, then the played share of the one cut short. */
  spoken: string;
  interrupted: boolean;
  bargedIn: boolean;
  /** The model or TTS failed (not an abort). */
  failed: boolean;
  /** The call's media path closed under the turn: nothing more can be said on this call. */
  mediaClosed: boolean;
  after: CalleeUtterance | null;
  firstTokenAt: number | null;
  firstTtsAt: number | null;
  firstPlayAt: number | null;
  firstVoicedAt: number | null;
  endAt: number;
}

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

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/**
 * One agent turn as a handle (LiveKit Agents calls it a SpeechHandle): the model's streamed reply (or a
 * fixed line) goes clause by clause through TTS to the call, the first clause while the rest is still
 * written. It has its own AbortController: `interrupt()` (barge-in) drops the queued audio and stops
 * generation and synthesis at once; `pause()`/`resume()` hold the output while a sound over it is
 * judged; `waitForPlayout()` gives what the callee heard.
 */
export class AgentTurn {
  private readonly ac = new AbortController();
  private readonly now: () => number;
  private readonly rate: number;
  private readonly splitter;
  private readonly clauses: Clause[] = [];
  private synthTail: Promise<unknown> = Promise.resolve();
  private playTail: Promise<void> = Promise.resolve();
  private synthDone = false;
  // Bumped by every pause: a play from an older epoch was flushed and is only waiting to resolve.
  private epoch = 0;
  private pauseTimer: NodeJS.Timeout | undefined;
  private settle!: () => void;
  private readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });
  private firstTokenAt: number | null = null;
  private firstTtsAt: number | null = null;
  private firstPlayAt: number | null = null;
  private firstVoicedAt: number | null = null;
  private ttsFailed = false;
  private mediaClosed = false;
  private retry: NodeJS.Immediate | undefined;
  // When the audio queued on the line runs out (0: nothing queued), and whether the model is still
  // writing: a slow model must not leave dead air mid-reply, which a callee takes for the end of the turn.
  private lineEndsAt = 0;
  private generating = false;
  private lineDry = false;
  private dryTimer: NodeJS.Timeout | undefined;
  private _interruptible: boolean;
  private _bargedIn = false;
  private _held: boolean;
  private _paused: boolean;
  private _after: CalleeUtterance | null;
  private readonly playout: Promise<TurnPlayout>;

  constructor(
    private readonly deps: AgentTurnDeps,
    private readonly opts: AgentTurnOptions,
  ) {
    this.now = deps.now ?? (() => performance.now());
    this.rate = deps.audio.sampleRate;
    this.splitter = createClauseSplitter(deps.clauses);
    this._held = opts.held === true;
    // A held reply is paused without a pause timer; barge-in handling (which would resume it) stays off.
    this._paused = this._held;
    this._interruptible = !this._held && opts.interruptible;
    this._after = opts.after ?? null;
    this.ac.signal.addEventListener(
      'abort',
      () => {
        clearTimeout(this.pauseTimer);
        clearTimeout(this.dryTimer);
        this._paused = false;
        this.check();
      },
      { once: true },
    );
    this.playout = this.run();
  }

  /** Aborted when the turn is interrupted or cancelled. */
  get signal(): AbortSignal {
    return this.ac.signal;
  }
  get interruptible(): boolean {
    return this._interruptible;
  }
  get bargedIn(): boolean {
    return this._bargedIn;
  }
  get held(): boolean {
    return this._held;
  }
  get paused(): boolean {
    return this._paused;
  }
  get done(): boolean {
    return this.ac.signal.aborted;
  }

  /** Resolves once the turn's audio stopped (played out, interrupted or cancelled); never rejects. */
  waitForPlayout(): Promise<TurnPlayout> {
    return this.playout;
  }

  /** The callee takes the floor: queued and held audio is dropped and generation stops. */
  interrupt(reason = 'barge-in'): void {
    if (this.ac.signal.aborted) return;
    this._bargedIn = true;
    this.deps.audio.flush();
    this.ac.abort(reason);
  }

  /** Stops the turn, dropping what is queued on the line (the call is ending, a goodbye ran late). */
  stop(reason: unknown): void {
    if (this.ac.signal.aborted) return;
    this.deps.audio.flush();
    this.ac.abort(reason);
  }

  /** Stops a turn that has nothing on the line (an early reply no longer wanted). */
  cancel(reason: unknown): void {
    if (!this.ac.signal.aborted) this.ac.abort(reason);
  }

  /** Lets a held early reply play: the callee's turn ended with the words it answers. */
  release(after: CalleeUtterance | null): void {
    if (!this._held || this.ac.signal.aborted) return;
    this._held = false;
    this._after = after;
    this._interruptible = this.opts.interruptible;
    this.resume();
  }

  /** Holds the output on a possible barge-in: nothing plays until `resume()` or the turn is stopped. */
  pause(): void {
    if (this._paused || this._bargedIn || this.ac.signal.aborted) return;
    this._paused = true;
    this.epoch++;
    this.deps.audio.flush();
    this.lineEndsAt = 0;
    clearTimeout(this.dryTimer);
    // Should the listener fall silent (VAD failure), the held audio must not wait forever.
    this.pauseTimer = setTimeout(() => {
      if (this._paused) this.deps.onPauseTimeout(this);
    }, this.deps.pauseTimeoutMs);
  }

  /** Goes on with the output, restarting a cut clause a little earlier at a word gap. */
  resume(): void {
    if (!this._paused) return;
    this._paused = false;
    clearTimeout(this.pauseTimer);
    const c = this.clauses.find((x) => !x.finished);
    if (c?.samples && c.from > 0) {
      c.from = resumePoint(
        c.samples,
        c.from,
        Math.round((this.deps.resumeBackupMs * this.rate) / 1000),
        Math.round(this.rate / 100),
      );
    }
    this.pumpOut();
    this.check();
  }

  private queued(): boolean {
    return this.clauses.some((c) => c.queuedIn !== null);
  }

  private check(): void {
    if (!this.synthDone || this.queued()) return;
    if (this.ac.signal.aborted || (!this._paused && this.clauses.every((c) => c.finished || !c.samples)))
      this.settle();
  }

  /** The line is about to fall silent while the model writes on: the words so far go out as they are. */
  private speakWhatIsWritten(): void {
    clearTimeout(this.dryTimer);
    this.lineDry = false;
    if (!this.generating || this.ac.signal.aborted || this._paused) return;
    // A clause still in synthesis will play next; its queueing re-arms the timer.
    if (this.clauses.some((c) => !c.samples)) return;
    const words = this.splitter.takeWords();
    if (words) this.enqueue(words);
    else this.lineDry = true;
  }

  private armDryTimer(): void {
    clearTimeout(this.dryTimer);
    if (!this.generating || this.lineEndsAt === 0) return;
    this.dryTimer = setTimeout(
      () => this.speakWhatIsWritten(),
      Math.max(0, this.lineEndsAt - this.now() - DRY_LINE_LEAD_MS),
    );
  }

  /** Hands every ready clause not yet queued to the call, in order, unless output is held. */
  private pumpOut(): void {
    if (this._paused || this.ac.signal.aborted) return;
    // Flushed plays must report how far they got before their clause is queued again.
    if (this.clauses.some((c) => c.queuedIn !== null && c.queuedIn !== this.epoch)) return;
    for (const c of this.clauses) {
      if (!c.samples) break;
      if (c.finished || c.queuedIn !== null) continue;
      const from = c.from;
      const epoch = this.epoch;
      c.queuedIn = epoch;
      this.firstPlayAt ??= this.now();
      const samples = c.samples;
      this.lineEndsAt = Math.max(this.now(), this.lineEndsAt) + ((samples.length - from) * 1000) / this.rate;
      this.armDryTimer();
      void this.deps.audio.play(samples.subarray(from)).then((r) => {
        c.queuedIn = null;
        const played = r.completed
          ? samples.length - from
          : Math.min(samples.length - from, Math.round((r.playedMs * this.rate) / 1000));
        c.heard = Math.max(c.heard, from + played);
        c.from = from + played;
        if (r.completed) c.finished = true;
        else if (r.closed) this.onMediaClosed();
        else if (played === 0 && epoch === this.epoch) {
          // Nothing went out, and no pause of ours flushed it: someone else flushed the line, or a
          // media path that cannot play answered at once. It is played again from the next turn of
          // the event loop only, so a path that always answers at once costs a turn of the loop each
          // time rather than starving it (timers, sockets and signals, the call's end among them).
          this.retry ??= setImmediate(() => {
            this.retry = undefined;
            this.pumpOut();
            this.check();
          });
          this.check();
          return;
        }
        this.pumpOut();
        this.check();
      });
    }
  }

  /**
   * The media path is gone (the PBX hung its channel up or went away, and maybe its events with it):
   * the turn ends here. A closed path answers every play at once, so playing the unplayed rest again
   * would be an endless chain of promise callbacks that starves timers, sockets and signals.
   */
  private onMediaClosed(): void {
    if (this.mediaClosed) return;
    this.mediaClosed = true;
    this.deps.log.warn('the call audio closed under the agent; its turn ends');
    this.ac.abort('media-closed');
  }

  private enqueue(text: string): void {
    const { tts, voice, log } = this.deps;
    const signal = this.ac.signal;
    const clause: Clause = { text, samples: null, heard: 0, from: 0, finished: false, queuedIn: null };
    this.clauses.push(clause);
    // Synthesis is chained so clauses never compete for the TTS engine out of order.
    const pcm = this.synthTail.then(() => (signal.aborted ? null : tts.synthesize(text, { voice, signal })));
    this.synthTail = pcm.catch(() => undefined);
    this.playTail = this.playTail.then(async () => {
      let result: Awaited<typeof pcm>;
      try {
        result = await pcm;
      } catch (err) {
        if (!isAbort(err)) {
          this.ttsFailed = true;
          log.error({ err }, 'tts failed');
          this.ac.abort('tts-failed');
        }
        return;
      }
      if (!result || signal.aborted) return;
      if (this.firstTtsAt === null && this._held) log.debug('early reply synthesized; held');
      this.firstTtsAt ??= this.now();
      const samples =
        result.sampleRate === this.rate
          ? result.samples
          : createResampler(result.sampleRate, this.rate).process(result.samples);
      // The engine's lead-in silence before the reply's first words is only delay; later clauses
      // keep theirs as the pause between phrases.
      clause.samples = clause === this.clauses[0] ? trimLeadingSilence(samples, this.rate) : samples;
      // While paused, a clause is synthesized into the held queue and goes out on resume.
      this.pumpOut();
    });
  }

  private async run(): Promise<TurnPlayout> {
    // Yield once, so that whoever created the turn holds the handle before its first event.
    await Promise.resolve();
    const stopSent = this.deps.audio.onFrameSent((info) => {
      if (info.voiced && this.firstPlayAt !== null && this.firstVoicedAt === null)
        this.firstVoicedAt = info.atMs;
    });
    const signal = this.ac.signal;
    let action: AgentAction | null = null;
    let failed = false;
    let streamed = false;
    try {
      const source = this.opts.source;
      if ('fixed' in source) {
        this.firstTokenAt = this.now();
        for (const c of this.splitter.push(source.fixed)) this.enqueue(c);
        action = { action: 'speak', say: source.fixed };
      } else {
        this.generating = true;
        try {
          action = await source.generate({
            signal,
            onSay: (delta) => {
              this.firstTokenAt ??= this.now();
              streamed = true;
              const done = this.splitter.push(delta);
              for (const c of done) this.enqueue(c);
              if (this.lineDry && done.length === 0) this.speakWhatIsWritten();
            },
          });
        } finally {
          this.generating = false;
          clearTimeout(this.dryTimer);
        }
        this.firstTokenAt ??= this.now();
        // An engine that does not stream gives the whole line at the end.
        if (!streamed && action.say) for (const c of this.splitter.push(action.say)) this.enqueue(c);
      }
      const rest = this.splitter.flush();
      if (rest) this.enqueue(rest);
    } catch (err) {
      if (!isAbort(err) && !signal.aborted) {
        failed = true;
        this.deps.log.error(errorFields(err), 'dialogue failed');
      }
      action = null;
    }

    await this.playTail;
    this.synthDone = true;
    this.check();
    await this.settled;
    const endAt = this.now();
    stopSent();
    clearTimeout(this.pauseTimer);
    clearImmediate(this.retry);

    const heard: string[] = [];
    let cut = false;
    for (const c of this.clauses) {
      if (c.finished) {
        heard.push(c.text);
        continue;
      }
      if (c.samples) {
        const part = spokenPrefix(
          c.text,
          (c.heard * 1000) / this.rate,
          (c.samples.length * 1000) / this.rate,
        );
        if (part) heard.push(part);
      }
      cut = true;
      break;
    }
    const interrupted =
      this._bargedIn || (cut && signal.aborted) || (action === null && this.firstPlayAt !== null);
    return {
      action,
      spoken: heard.join(' '),
      interrupted,
      bargedIn: this._bargedIn,
      failed: failed || this.ttsFailed,
      mediaClosed: this.mediaClosed,
      after: this._after,
      firstTokenAt: this.firstTokenAt,
      firstTtsAt: this.firstTtsAt,
      firstPlayAt: this.firstPlayAt,
      firstVoicedAt: this.firstVoicedAt,
      endAt,
    };
  }
}
