import type { CallRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { AbortCause, CallControl, CallOutcome } from './call-runner.js';
import type { CallStore, NewTurn, TransitionPatch, TransitionResult } from './call-store.js';
import { type CallStatus, isTerminal } from './status.js';

/**
 * The worker's side of one running call: turns the runner's reports into state-machine transitions
 * through the store, and owns the call's AbortController. A report the state machine refuses
 * (because the call was canceled or ended elsewhere) changes nothing and aborts the signal, so the
 * runner learns at once that the call is over.
 */
export class WorkerCallControl implements CallControl {
  private readonly controller = new AbortController();
  private current: CallRow;
  private endPromise: Promise<void> | null = null;
  private isSettled = false;
  private isReleased = false;

  constructor(
    call: CallRow,
    private readonly store: CallStore,
    private readonly logger: Logger,
    /** Told after each accepted transition (e.g. to wake the webhook deliverer at once). */
    private readonly onTransition?: (call: CallRow) => void,
  ) {
    this.current = call;
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

  /** True once the worker gave the call up (another worker owns it now); every report is ignored. */
  get released(): boolean {
    return this.isReleased;
  }

  abort(cause: AbortCause): void {
    if (!this.controller.signal.aborted) this.controller.abort(cause);
  }

  /**
   * Makes the control inert: the call was taken away from this worker (it was presumed lost and its
   * queued call went back to the queue), so nothing this runner reports may touch it any more.
   */
  release(): void {
    this.isReleased = true;
    this.abort('shutdown');
  }

  /** Marks the call as ended elsewhere (seen by the worker's cancel watch). */
  markEndedElsewhere(): void {
    this.isSettled = true;
    this.abort('canceled');
  }

  async dialing(): Promise<void> {
    await this.report('dialing');
  }

  async answered(): Promise<void> {
    await this.report('in_progress');
  }

  async addTurn(turn: NewTurn): Promise<void> {
    if (this.isReleased) return;
    await this.store.addTurn(this.current.id, turn);
  }

  end(outcome: CallOutcome): Promise<void> {
    if (!this.endPromise) this.endPromise = this.finish(outcome);
    return this.endPromise;
  }

  private async report(to: CallStatus): Promise<void> {
    if (this.isReleased || this.isSettled) return;
    const res = await this.store.transition(this.current.id, to);
    this.absorb(res, to);
  }

  private async finish(outcome: CallOutcome): Promise<void> {
    if (this.isReleased || this.isSettled) return;
    const { status, endedReason, summary, extracted, recordingFile } = outcome;
    const patch: TransitionPatch = {};
    if (summary !== undefined) patch.summary = summary;
    if (extracted !== undefined) patch.extracted = extracted;
    if (recordingFile !== undefined) patch.recordingFile = recordingFile;
    if (!isTerminal(status)) {
      this.logger.error(
        { callId: this.current.id, status },
        'runner ended a call with a non-terminal status',
      );
      await this.fail(patch);
      return;
    }
    const res = await this.store.transition(this.current.id, status, { reason: endedReason, patch });
    this.absorb(res, status);
    if (!res.ok && res.call && !isTerminal(res.call.status)) {
      // A runner bug (e.g. `completed` straight from `dialing`); the call must still end, and keep its results.
      this.logger.error(
        { callId: this.current.id, from: res.call.status, to: status },
        'runner reported an illegal end; ending the call as failed',
      );
      await this.fail(patch);
    }
  }

  private async fail(patch: TransitionPatch): Promise<void> {
    const res = await this.store.transition(this.current.id, 'failed', { reason: 'internal_error', patch });
    this.absorb(res, 'failed');
  }

  private notify(call: CallRow): void {
    try {
      this.onTransition?.(call);
    } catch (err) {
      this.logger.error({ err, callId: call.id }, 'transition listener threw');
    }
  }

  private absorb(res: TransitionResult, to: CallStatus): void {
    if (res.ok) {
      this.current = res.call;
      if (isTerminal(res.call.status)) this.isSettled = true;
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
    this.logger.debug({ callId: res.call.id, from: res.call.status, to }, 'transition refused');
    if (isTerminal(res.call.status)) {
      this.isSettled = true;
      this.abort('canceled');
    }
  }
}
