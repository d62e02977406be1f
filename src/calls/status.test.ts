import { describe, expect, it } from 'vitest';
import { CALL_STATUSES, canTransition, isTerminal, TERMINAL_STATUSES, webhookEventFor } from './status.js';

describe('call state machine', () => {
  it('never leaves a terminal status', () => {
    for (const from of TERMINAL_STATUSES)
      for (const to of CALL_STATUSES) expect(canTransition(from, to)).toBe(false);
  });
  it('walks the happy path and refuses skips and reversals', () => {
    expect(canTransition('queued', 'dialing')).toBe(true);
    expect(canTransition('dialing', 'in_progress')).toBe(true);
    expect(canTransition('in_progress', 'completed')).toBe(true);
    expect(canTransition('queued', 'in_progress')).toBe(false);
    expect(canTransition('queued', 'completed')).toBe(false);
    expect(canTransition('in_progress', 'dialing')).toBe(false);
    // Back to the queue only from dialing: an originate that never reached the PBX.
    expect(canTransition('dialing', 'queued')).toBe(true);
    expect(canTransition('in_progress', 'queued')).toBe(false);
    expect(canTransition('in_progress', 'no_answer')).toBe(false);
  });
  it('can fail (cancel) from every active status', () => {
    for (const from of ['queued', 'dialing', 'in_progress'] as const)
      expect(canTransition(from, 'failed')).toBe(true);
  });
  it('names webhook events only for answered and terminal statuses', () => {
    expect(webhookEventFor('dialing')).toBeNull();
    expect(webhookEventFor('in_progress')).toBe('call.in_progress');
    expect(webhookEventFor('declined')).toBe('call.declined');
    expect(isTerminal('queued')).toBe(false);
  });
});
