import type { CallRow } from '../db/schema.js';
import type { NewTurn, TransitionPatch } from './call-store.js';
import type { TerminalStatus } from './status.js';

/** Why the worker aborted a running call. */
export type AbortCause = 'canceled' | 'shutdown';

export interface CallOutcome extends TransitionPatch {
  status: TerminalStatus;
  /** A token such as objective_met, callee_hung_up, busy, no_answer_timeout (see the spec). */
  endedReason: string;
}

/**
 * What the worker hands a runner for one call. The runner reports progress only through it; the
 * control turns each report into a state-machine transition (a report that is illegal by then, e.g.
 * after a cancel, changes nothing).
 */
export interface CallControl {
  readonly call: CallRow;
  /** Aborted when the call is canceled through the API or the worker shuts down; `signal.reason` is an AbortCause. */
  readonly signal: AbortSignal;
  dialing(): Promise<void>;
  /**
   * The originate request answered or failed (the PBX has it, or never will): with TRUNK_MAX_CPS the
   * dial's trunk slot frees one window later. Call it right then, before waiting for the callee; later
   * reports and the end free it too.
   */
  originated?(): void;
  /**
   * After `dialing`, the call was never placed: the originate never reached the PBX, so nobody was
   * called. Puts it back in the queue (status `queued`, for any worker) and resolves true; the runner
   * then returns without `end`. False when that is refused (e.g. it was canceled meanwhile).
   */
  requeue?(reason: string): Promise<boolean>;
  answered(): Promise<void>;
  addTurn(turn: NewTurn): Promise<void>;
  /**
   * The line is down (hung up by either side): records the hangup time, so `endedAt` and
   * `durationSeconds` count the call and not the post-call work (summary, extraction) before `end`.
   * Returns at once; the write happens in the background. Later calls keep the first time.
   */
  lineDown?(at?: Date): void;
  /**
   * Records an event of the call that is not a status change, e.g. why it is failing (the PBX request
   * that failed and Asterisk's answer), so the call's events say why it ended as it did. Returns at
   * once; the write is queued behind the earlier ones (so it lands before the end) and retried.
   */
  note?(reason: string): void;
  /**
   * Ends the call. Called once; later calls are ignored. Resolves once the end is stored: it is
   * retried through database outages, so the call reaches its terminal state when the database returns.
   */
  end(outcome: CallOutcome): Promise<void>;
}

/**
 * Places and conducts one call from dialing to its end. `run` resolves once the call is torn down;
 * it must call `ctl.end` before resolving (the worker ends the call as failed/internal_error if it
 * throws or forgets).
 */
export interface CallRunner {
  run(ctl: CallControl): Promise<void>;
}
