import type { CallRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { AbortCause, CallControl, CallOutcome } from './call-runner.js';
import type { CallStore, NewTurn, TransitionPatch, TransitionResult } from './call-store.js';
import { retryUntilStored } from './retry-until-stored.js';
import { type CallStatus, isTerminal } from './status.js';
import type { DialSlot, TrunkPacer } from './trunk-pacer.js';

/**
 * Turns a live call may hold in memory while the database is unreachable; a 10-minute call has a few
 * hundred. Past this a turn is dropped (and logged) rather than letting an outage grow memory unbounded.
 */
export const MAX_BUFFERED_TURNS = 500;
/** The same bound in text: turns are short sentences, so this is rarely the one that bites. */
export const MAX_BUFFERED_TURN_CHARS = 512 * 1024;
/** How long `answered` waits for its write before letting the conversation start regardless. */
const ANSWER_WAIT_MS = 1000;
/** A turn the database refuses (not an outage: e.g. its call row is gone) is given up after this many tries (about 2.5 minutes). */
const TURN_REFUSALS = 20;

/** What a last check before dialing decided: go on, the call was ended, or it went back to the queue. */
export type DialVerdict = 'dial' | 'ended' | 'requeued';

export class TurnBufferFull extends Error {
  constructor() {
    super(`more than ${MAX_BUFFERED_TURNS} turns wait for the database; this turn is dropped`);
    this.name = 'TurnBufferFull';
  }
}

/**
 * The worker's side of one running call: turns the runner's reports into state-machine transitions
 * through the store, and owns the call's AbortController. A report the state machine refuses
 * (because the call was canceled or ended elsewhere) changes nothing and aborts the signal, so the
 * runner learns at once that the call is over.
 *
 * Writes go out one at a time in report order (dialing, answer, turns, hangup, end) and each is
 * retried until stored, so a database outage delays them but loses none, and the end carries every
 * turn. Only `release` (the worker gave the call up) stops the retries.
 */
export class WorkerCallControl implements CallControl {
  private readonly controller = new AbortController();
  /** Aborted by `release`: pending writes stop retrying. */
  private readonly giveUp = new AbortController();
  private current: CallRow;
  private writes: Promise<unknown> = Promise.resolve();
  private endPromise: Promise<void> | null = null;
  private hungUpAt: Date | null = null;
  private bufferedTurns = 0;
  private bufferedChars = 0;
  private isSettled = false;
  private isReleased = false;
  private readonly pacer: TrunkPacer | null;
  private readonly beforeDial: (() => Promise<DialVerdict>) | null;
  private slot: DialSlot | null = null;

  constructor(
    call: CallRow,
    private readonly store: CallStore,
    private readonly logger: Logger,
    /** Told after each accepted transition (e.g. to wake the webhook deliverer at once). */
    private readonly onTransition?: (call: CallRow) => void,
    opts: {
      /** TRUNK_MAX_CPS: `dialing` first waits for a slot on the trunk (the call stays queued meanwhile). */
      pacer?: TrunkPacer | null;
      /**
       * Asked again once the trunk slot is taken, right before `dialing` is stored: the wait for the
       * slot may have carried the call past its window or expiry, or its number onto a list. Whatever
       * it answers other than `dial` it has stored itself (the call ended, or went back to the queue).
       */
      beforeDial?: (() => Promise<DialVerdict>) | null;
    } = {},
  ) {
    this.current = call;
    this.pacer = opts.pacer ?? null;
    this.beforeDial = opts.beforeDial ?? null;
  }

  /** The latest row this control saw (the claimed row, updated by each accepted transition). */
  get call(): CallRow {
    return this.current;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True once the call is terminal in the database, through `end` or because it ended elsewhere. */
  get settled(): boolean {
    return this.isSettled;
  }

  /**
   * True once the runner called `end`. The worker's cancel watch then leaves the call alone: a
   * terminal status it sees may be this very end, not yet acknowledged by the store.
   */
  get ending(): boolean {
    return this.endPromise !== null;
  }

  /** The pending end (null before `end`): resolves once it is stored or the call was released. */
  get ended(): Promise<void> | null {
    return this.endPromise;
  }

  /** Aborted once the worker gives the call up: writes for it stop retrying. */
  get giveUpSignal(): AbortSignal {
    return this.giveUp.signal;
  }

  /** True once the worker gave the call up (another worker owns it now); every report is ignored. */
  get released(): boolean {
    return this.isReleased;
  }

  abort(cause: AbortCause): void {
    if (!this.controller.signal.aborted) this.controller.abort(cause);
  }

  /**
   * Makes the control inert: the call was taken away from this worker (it was presumed lost and its
   * queued call went back to the queue), or the worker stops and gives up writes it could not store.
   * Nothing this runner reports may touch the call any more.
   */
  release(): void {
    this.isReleased = true;
    if (!this.giveUp.signal.aborted) this.giveUp.abort(new Error('the call was released by this worker'));
    this.abort('shutdown');
  }

  /** Marks the call as ended elsewhere (seen by the worker's cancel watch). */
  markEndedElsewhere(): void {
    this.isSettled = true;
    this.abort('canceled');
  }

  /**
   * The call was never placed (its originate did not reach the PBX): back to the queue for any
   * worker, and this control lets go of it. False when the state machine refused (e.g. canceled).
   */
  async requeue(reason: string): Promise<boolean> {
    this.closeDialSlot();
    if (this.isReleased || this.isSettled) return false;
    const attempt = this.current.attempt;
    const res = await this.store.transition(this.current.id, 'queued', { reason, attempt });
    if (!res.ok) {
      this.absorb(res, 'queued', attempt);
      return false;
    }
    this.current = res.call;
    this.isReleased = true;
    this.notify(res.call);
    return true;
  }

  /**
   * Stored before anything rings: a call dialed without its `dialing` row could be requeued and rung
   * twice. Retried until stored; an abort (cancel, shutdown) ends the wait with nobody called.
   *
   * With a trunk pacer, a slot on the trunk comes first: the call waits for it claimed and `queued`
   * (nothing rings yet), and an abort ends that wait too. The slot is held until `originated` (or any
   * later report, or the end) says the originate returned.
   */
  async dialing(): Promise<void> {
    if (this.pacer && !this.slot && !this.isReleased && !this.isSettled) {
      this.slot = await this.pacer.acquire(
        this.current.id,
        AbortSignal.any([this.giveUp.signal, this.signal]),
      );
      const verdict = this.beforeDial ? await this.beforeDial() : 'dial';
      if (verdict !== 'dial') {
        // Nothing is dialed: the runner learns it from the signal, as from a cancel or a shutdown.
        this.closeDialSlot();
        if (verdict === 'ended') {
          this.isSettled = true;
          this.abort('canceled');
        } else {
          this.release();
        }
        return;
      }
    }
    const at = new Date();
    try {
      await this.write('dialing', () => this.report('dialing', at), { stopOnAbort: true });
    } catch (err) {
      this.closeDialSlot();
      throw err;
    }
    // Refused (canceled meanwhile): nothing will be originated.
    if (this.current.status !== 'dialing') this.closeDialSlot();
  }

  /** The originate request answered or failed: the trunk slot frees (a second later; see trunk-pacer.ts). */
  originated(): void {
    this.closeDialSlot();
  }

  /**
   * Lets go of the trunk slot (once; later calls do nothing). The worker calls it when the runner
   * returned, so a runner that never reported `originated` holds it no longer than its call.
   */
  closeDialSlot(): void {
    const slot = this.slot;
    if (!slot) return;
    this.slot = null;
    void slot.done();
  }

  /**
   * The callee is on the line and must not wait for the database: resolves once stored or after the
   * first failed try, with the write kept queued (turns and the end follow it in order).
   */
  answered(): Promise<void> {
    this.closeDialSlot();
    // Timed now: a write that waits out an outage must not move the answer, and the duration, later.
    const at = new Date();
    return new Promise<void>((resolve) => {
      // A database that hangs instead of refusing (a failover, a dead socket) must not hold the greeting.
      const timer = setTimeout(resolve, ANSWER_WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.write('answer', () => this.report('in_progress', at), { onFirstFailure: done }).then(
        done,
        (err) => {
          this.logger.error({ err }, 'could not store the answer');
          done();
        },
      );
    });
  }

  /** Resolves once stored; while the database is unreachable the turn waits in memory (bounded). */
  addTurn(turn: NewTurn): Promise<void> {
    if (this.isReleased) return Promise.resolve();
    const chars = turn.text.length;
    if (this.bufferedTurns >= MAX_BUFFERED_TURNS || this.bufferedChars + chars > MAX_BUFFERED_TURN_CHARS) {
      return Promise.reject(new TurnBufferFull());
    }
    this.bufferedTurns++;
    this.bufferedChars += chars;
    return this.write('turn', () => this.store.addTurn(this.current.id, turn), {
      maxRefusals: TURN_REFUSALS,
    }).finally(() => {
      this.bufferedTurns--;
      this.bufferedChars -= chars;
    });
  }

  lineDown(at: Date = new Date()): void {
    this.closeDialSlot();
    if (this.hungUpAt || this.isReleased || this.isSettled) return;
    this.hungUpAt = at;
    // One try: the end carries the same time, so a lost write here only delays when readers see it.
    this.write('hangup time', () => this.store.markLineDown(this.current.id, at), { once: true }).catch(
      (err) => this.logger.warn({ err }, 'could not record the hangup time yet; the end will carry it'),
    );
  }

  note(reason: string): void {
    if (this.isReleased || this.isSettled) return;
    const at = new Date();
    this.write('event', () => this.store.note(this.current.id, reason, at), {
      maxRefusals: TURN_REFUSALS,
    }).catch((err) => this.logger.warn({ err }, "could not store the call's event"));
  }

  end(outcome: CallOutcome): Promise<void> {
    this.closeDialSlot();
    if (!this.endPromise) {
      const endedAt = this.hungUpAt ?? new Date();
      this.endPromise = this.write('end', () => this.finish(outcome, endedAt)).catch((err) => {
        // Only a release stops the retries: the worker gave the call up and recovery ends it.
        this.logger.error({ err }, 'gave up storing the end of the call');
      });
    }
    return this.endPromise;
  }

  /** Queues a store write behind the earlier ones and retries it until stored. */
  private write<T>(
    what: string,
    op: () => Promise<T>,
    opts: { stopOnAbort?: boolean; maxRefusals?: number; once?: boolean; onFirstFailure?: () => void } = {},
  ): Promise<T | undefined> {
    const signal = opts.stopOnAbort ? AbortSignal.any([this.giveUp.signal, this.signal]) : this.giveUp.signal;
    const run = async (): Promise<T | undefined> => {
      // A released control touches nothing, and its pending writes end quietly.
      if (this.isReleased) return undefined;
      signal.throwIfAborted();
      if (opts.once) return op();
      return retryUntilStored(op, {
        signal,
        maxRefusals: opts.maxRefusals,
        onError: (err, attempt) => {
          if (attempt === 1) opts.onFirstFailure?.();
          // Every try of a long outage would flood the log: the first, then every tenth.
          if (attempt === 1 || attempt % 10 === 0) {
            this.logger.warn({ err, attempt }, `could not store the call's ${what}; retrying`);
          }
        },
      }).catch((err) => {
        if (this.isReleased) return undefined;
        throw err;
      });
    };
    const p = this.writes.then(run, run);
    this.writes = p.catch(() => {});
    return p;
  }

  private async report(to: CallStatus, at: Date): Promise<void> {
    if (this.isReleased || this.isSettled) return;
    const attempt = this.current.attempt;
    const res = await this.store.transition(this.current.id, to, { at, attempt });
    this.absorb(res, to, attempt);
  }

  private async finish(outcome: CallOutcome, endedAt: Date): Promise<void> {
    if (this.isReleased || this.isSettled) return;
    const { status, endedReason, summary, extracted, recordingFile } = outcome;
    const patch: TransitionPatch = {};
    if (summary !== undefined) patch.summary = summary;
    if (extracted !== undefined) patch.extracted = extracted;
    if (recordingFile !== undefined) patch.recordingFile = recordingFile;
    // The callee asked not to be called again: the store lists the number (do-not-call) with the end.
    if (outcome.optOut) patch.optOut = true;
    if (!isTerminal(status)) {
      this.logger.error(
        { callId: this.current.id, status },
        'runner ended a call with a non-terminal status',
      );
      await this.fail(patch, endedAt);
      return;
    }
    const attempt = this.current.attempt;
    const res = await this.store.transition(this.current.id, status, {
      reason: endedReason,
      patch,
      endedAt,
      attempt,
    });
    this.absorb(res, status, attempt);
    if (!res.ok && res.call && !isTerminal(res.call.status) && !this.isSettled) {
      // A runner bug (e.g. `completed` straight from `dialing`); the call must still end, and keep its results.
      this.logger.error(
        { callId: this.current.id, from: res.call.status, to: status },
        'runner reported an illegal end; ending the call as failed',
      );
      await this.fail(patch, endedAt);
    }
  }

  private async fail(patch: TransitionPatch, endedAt: Date): Promise<void> {
    const attempt = this.current.attempt;
    const res = await this.store.transition(this.current.id, 'failed', {
      reason: 'internal_error',
      patch,
      endedAt,
      attempt,
    });
    this.absorb(res, 'failed', attempt);
  }

  private notify(call: CallRow): void {
    try {
      this.onTransition?.(call);
    } catch (err) {
      // The logger is the call's own (worker.ts binds callId): naming it again would repeat the key.
      this.logger.error({ err }, 'transition listener threw');
    }
  }

  /**
   * Takes in what the store answered to a report about `attempt` (the attempt this control runs).
   * This control's part is over when the call is terminal, when its end was retried (the store queued
   * the call for its next attempt, which any worker may run), or when the call is on another attempt
   * already (this attempt's end was stored meanwhile, e.g. written twice through an outage).
   */
  private absorb(res: TransitionResult, to: CallStatus, attempt: number): void {
    if (res.ok) {
      this.current = res.call;
      if (isTerminal(res.call.status)) this.isSettled = true;
      else if (isTerminal(to) && res.call.status === 'queued') {
        // The end was retried: the attempt is stored as ended and the call is back in the queue,
        // unclaimed. Settled for this control, and let go: nothing it still reports is about the call.
        this.isSettled = true;
        this.isReleased = true;
      }
      this.notify(res.call);
      return;
    }
    if (!res.call) {
      // The row is gone (its account was deleted): nothing is left to end.
      this.isSettled = true;
      this.abort('canceled');
      return;
    }
    this.current = res.call;
    this.logger.debug(
      { from: res.call.status, to, attempt, callAttempt: res.call.attempt },
      'transition refused',
    );
    if (res.call.attempt !== attempt) {
      // The call moved on to a later attempt: this one ended (and was stored) meanwhile.
      this.isSettled = true;
      this.isReleased = true;
      this.abort('canceled');
      return;
    }
    if (isTerminal(res.call.status)) {
      this.isSettled = true;
      this.abort('canceled');
    }
  }
}
