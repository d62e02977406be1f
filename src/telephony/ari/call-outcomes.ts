import type { CallOutcome } from '../../calls/call-runner.js';

const BUSY: CallOutcome = { status: 'declined', endedReason: 'busy' };
const REJECTED: CallOutcome = { status: 'declined', endedReason: 'rejected' };
const NO_ANSWER: CallOutcome = { status: 'no_answer', endedReason: 'no_answer_timeout' };
const UNALLOCATED: CallOutcome = { status: 'failed', endedReason: 'unallocated_number' };
const NETWORK: CallOutcome = { status: 'failed', endedReason: 'network_error' };

/**
 * Q.850 causes that say on their own how an unanswered call ended. Any other cause that is not
 * generic (see GENERIC_CAUSES) is a failure of the network or of the destination: `network_error`.
 */
const CAUSE_OUTCOMES: ReadonlyMap<number, CallOutcome> = new Map([
  [1, UNALLOCATED], // unallocated number (SIP 404, 485, 604)
  [22, UNALLOCATED], // number changed (SIP 410)
  [28, UNALLOCATED], // invalid number format (SIP 484)
  [17, BUSY], // user busy (SIP 486, 600)
  [21, REJECTED], // call rejected (SIP 603, 403)
  [18, NO_ANSWER], // no user responding (SIP 408)
  [19, NO_ANSWER], // no answer: ring timeout, SIP 480
]);

/**
 * Causes that carry no information about why an unanswered call ended: 0 (unknown: a Local channel's
 * end, whose outcome is only in the Dial event), 16 and 31 (normal clearing). The dialstatus decides then.
 */
const GENERIC_CAUSES: ReadonlySet<number> = new Set([0, 16, 31]);

/** Whether `cause` says more than "the channel ended" (so it wins over a dialstatus, and over a later 0). */
export function isSpecificCause(cause: number | null | undefined): cause is number {
  return typeof cause === 'number' && !GENERIC_CAUSES.has(cause);
}

/**
 * How a call that never reached the agent ended, from what the PBX reported: the Q.850 hangup cause
 * of ChannelDestroyed/ChannelHangupRequest and the `dialstatus` of the last Dial event. The table in
 * docs/telephony.md mirrors this function.
 *
 * A specific cause wins over the dialstatus, because Asterisk derives the dialstatus from the cause
 * (`ast_hangup_cause_to_dial_status`) and reports `NOANSWER` for every cause it has no status for:
 * a SIP 404 is cause 1 with `NOANSWER`, a 603 cause 21 with `NOANSWER`. Only when the cause is generic
 * (a Local channel reports busy and congestion with cause 0, the outcome being only in the dialstatus)
 * does the dialstatus decide. `RINGING`/`PROGRESS` are not final and decide nothing.
 *
 * `pbxWentAway`: the PBX itself ended the channel (it shut down or restarted, and Asterisk then
 * reports cause 0 with `NOANSWER`); nobody declined or failed to answer, so it is a network error.
 */
export function classifyUnanswered(report: {
  cause?: number | null;
  dialstatus?: string | null;
  pbxWentAway?: boolean;
}): CallOutcome {
  if (report.pbxWentAway) return { ...NETWORK };
  const cause = report.cause ?? null;
  if (isSpecificCause(cause)) return { ...(CAUSE_OUTCOMES.get(cause) ?? NETWORK) };
  switch ((report.dialstatus ?? '').toUpperCase()) {
    case 'BUSY':
      return { ...BUSY };
    case 'NOANSWER':
      return { ...NO_ANSWER };
    default:
      // CONGESTION, CHANUNAVAIL, no final Dial at all (a Local channel to an extension that does not
      // exist: cause 0 and no Dial event), or nothing known.
      return { ...NETWORK };
  }
}

/** Q.850 causes that mean the callee side ended an answered call normally (not a network failure). */
export function isNormalClearing(cause: number | null | undefined): boolean {
  return cause === 16 || cause === 31 || cause === 0 || cause == null;
}

/**
 * `ChannelHangupRequest` with `soft: true` comes from `ast_softhangup()`, whose `cause` is not a
 * Q.850 cause but the AST_SOFTHANGUP_* reason: 0x04 is AST_SOFTHANGUP_SHUTDOWN, sent to every
 * channel when Asterisk stops or restarts (0x20 EXPLICIT is an ARI/CLI hangup, 0x08 a dialplan timeout).
 */
export const SOFTHANGUP_SHUTDOWN = 0x04;

export function isShutdownHangup(ev: { cause?: number; soft?: boolean }): boolean {
  return ev.soft === true && typeof ev.cause === 'number' && (ev.cause & SOFTHANGUP_SHUTDOWN) !== 0;
}
