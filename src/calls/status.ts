/** The call lifecycle of the spec as an explicit state machine. */
export const CALL_STATUSES = [
  'queued',
  'dialing',
  'in_progress',
  'completed',
  'no_answer',
  'voicemail',
  'declined',
  'failed',
] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];

export const ACTIVE_STATUSES = ['queued', 'dialing', 'in_progress'] as const satisfies readonly CallStatus[];
export const TERMINAL_STATUSES = [
  'completed',
  'no_answer',
  'voicemail',
  'declined',
  'failed',
] as const satisfies readonly CallStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

const TRANSITIONS: Record<CallStatus, readonly CallStatus[]> = {
  queued: ['dialing', 'failed'],
  // Answering-machine detection can finish before the call counts as answered by a person. Back to
  // `queued` only when the originate never reached the PBX (nobody was called).
  dialing: ['in_progress', 'no_answer', 'declined', 'voicemail', 'failed', 'queued'],
  in_progress: ['completed', 'voicemail', 'failed'],
  completed: [],
  no_answer: [],
  voicemail: [],
  declined: [],
  failed: [],
};

export function isTerminal(s: string): s is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(s);
}

export function canTransition(from: CallStatus, to: CallStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Sent instead of `call.<status>` when an attempt ends and the call's retry policy queues another
 * (the call goes back to `queued`, which sends nothing itself).
 */
export const RETRYING_EVENT = 'call.retrying';

/** Statuses that send a webhook when entered. */
export function webhookEventFor(to: CallStatus): string | null {
  if (to === 'in_progress') return 'call.in_progress';
  if (isTerminal(to)) return `call.${to}`;
  return null;
}
