import type { CallOutcome } from '../../calls/call-runner.js';

/**
 * How a call that never reached the agent ended, from what the PBX reported: the Q.850 hangup cause
 * of ChannelDestroyed/ChannelHangupRequest and the `dialstatus` of the final Dial event. The table in
 * docs/telephony.md mirrors this function.
 */
export function classifyUnanswered(report: {
  cause?: number | null;
  dialstatus?: string | null;
}): CallOutcome {
  const cause = report.cause ?? null;
  const dial = (report.dialstatus ?? '').toUpperCase();
  if (cause === 17 || dial === 'BUSY') return { status: 'declined', endedReason: 'busy' };
  if (cause === 21) return { status: 'declined', endedReason: 'rejected' };
  if (cause === 18 || cause === 19 || dial === 'NOANSWER') {
    return { status: 'no_answer', endedReason: 'no_answer_timeout' };
  }
  if (cause === 1 || cause === 22 || cause === 28)
    return { status: 'failed', endedReason: 'unallocated_number' };
  // 34/38/41/42 (congestion, network out of order, temporary failure), 3 (no route), 27, 20, CHANUNAVAIL, CONGESTION…
  return { status: 'failed', endedReason: 'network_error' };
}

/** Q.850 causes that mean the callee side ended an answered call normally (not a network failure). */
export function isNormalClearing(cause: number | null | undefined): boolean {
  return cause === 16 || cause === 31 || cause === 0 || cause == null;
}
