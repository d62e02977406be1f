import { describe, expect, it } from 'vitest';
import { RETRY_ON_DEFAULT, retryDecision, retryPolicySchema } from './retry-policy.js';

const issues = (input: unknown) => {
  const r = retryPolicySchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('retryPolicySchema', () => {
  it('defaults `on` to no answer, busy and network errors', () => {
    const r = retryPolicySchema.parse({ maxAttempts: 3, delaySeconds: 600 });
    expect(r.on).toEqual(['no_answer', 'declined/busy', 'failed/network_error']);
    expect(r.on).toEqual([...RETRY_ON_DEFAULT]);
  });

  it('bounds maxAttempts to 1–10 and delaySeconds to 60–86,400 whole numbers', () => {
    expect(issues({ maxAttempts: 1, delaySeconds: 60 })).toEqual([]);
    expect(issues({ maxAttempts: 10, delaySeconds: 86_400 })).toEqual([]);
    expect(issues({ maxAttempts: 0, delaySeconds: 60 })).toEqual(['maxAttempts: must be at least 1']);
    expect(issues({ maxAttempts: 11, delaySeconds: 60 })).toEqual(['maxAttempts: must be at most 10']);
    expect(issues({ maxAttempts: 2.5, delaySeconds: 60 })).toEqual(['maxAttempts: must be an integer']);
    expect(issues({ maxAttempts: 2, delaySeconds: 59 })).toEqual(['delaySeconds: must be at least 60']);
    expect(issues({ maxAttempts: 2, delaySeconds: 86_401 })).toEqual(['delaySeconds: must be at most 86400']);
  });

  it('accepts statuses and status/endedReason pairs', () => {
    expect(
      issues({
        maxAttempts: 2,
        delaySeconds: 60,
        on: ['voicemail', 'failed', 'no_answer/no_answer_timeout'],
      }),
    ).toEqual([]);
  });

  it('refuses declined/rejected with a message that says why', () => {
    expect(issues({ maxAttempts: 2, delaySeconds: 60, on: ['declined/rejected'] })).toEqual([
      "on.0: 'declined/rejected': a callee who rejected the call is never called again by a retry",
    ]);
  });

  it('refuses completed, unknown statuses, never-retried reasons, an empty list and unknown keys', () => {
    const got = issues({
      maxAttempts: 2,
      delaySeconds: 60,
      on: [
        'completed',
        'busy',
        'failed/canceled',
        'failed/do_not_call',
        'failed/expired',
        'failed/worker_lost',
      ],
    });
    expect(got).toHaveLength(6);
    expect(got[0]).toBe("on.0: 'completed': a completed call is never retried");
    expect(got[1]).toMatch(/^on\.1: 'busy' is not an outcome/);
    expect(got.slice(2).every((m) => m.includes('is never retried'))).toBe(true);
    expect(issues({ maxAttempts: 2, delaySeconds: 60, on: [] })).toEqual([
      'on: must name at least one outcome (to turn retries off, set maxAttempts to 1)',
    ]);
    expect(issues({ maxAttempts: 2, delaySeconds: 60, tries: 3 })).toHaveLength(1);
  });
});

describe('retryDecision', () => {
  const policy = retryPolicySchema.parse({ maxAttempts: 3, delaySeconds: 60 });

  it('retries the default outcomes the runner writes until maxAttempts', () => {
    expect(retryDecision(policy, 'no_answer', 'no_answer_timeout', 1)).toBe(true);
    expect(retryDecision(policy, 'declined', 'busy', 2)).toBe(true);
    expect(retryDecision(policy, 'failed', 'network_error', 1)).toBe(true);
    expect(retryDecision(policy, 'no_answer', 'no_answer_timeout', 3)).toBe(false);
  });

  it('does not retry what the default leaves out', () => {
    expect(retryDecision(policy, 'declined', 'rejected', 1)).toBe(false);
    expect(retryDecision(policy, 'voicemail', 'voicemail_detected', 1)).toBe(false);
    expect(retryDecision(policy, 'failed', 'internal_error', 1)).toBe(false);
    expect(retryDecision(policy, 'failed', 'unallocated_number', 1)).toBe(false);
    expect(retryDecision(policy, 'completed', 'objective_met', 1)).toBe(false);
  });

  it('retries voicemail only when listed', () => {
    const vm = retryPolicySchema.parse({ maxAttempts: 2, delaySeconds: 60, on: ['voicemail'] });
    expect(retryDecision(vm, 'voicemail', 'voicemail_detected', 1)).toBe(true);
    expect(retryDecision(vm, 'no_answer', 'no_answer_timeout', 1)).toBe(false);
  });

  it('never retries rejected, canceled, expired, do-not-call or worker-lost ends under a bare status', () => {
    const wide = { maxAttempts: 5, delaySeconds: 60, on: ['declined', 'failed'] };
    expect(retryDecision(wide, 'declined', 'busy', 1)).toBe(true);
    expect(retryDecision(wide, 'declined', 'rejected', 1)).toBe(false);
    expect(retryDecision(wide, 'failed', 'canceled', 1)).toBe(false);
    expect(retryDecision(wide, 'failed', 'expired', 1)).toBe(false);
    expect(retryDecision(wide, 'failed', 'do_not_call', 1)).toBe(false);
    expect(retryDecision(wide, 'failed', 'worker_lost', 1)).toBe(false);
    expect(retryDecision(wide, 'failed', 'internal_error', 1)).toBe(true);
  });

  it('never retries without a policy', () => {
    expect(retryDecision(null, 'no_answer', 'no_answer_timeout', 1)).toBe(false);
  });
});
