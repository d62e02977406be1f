import { z } from '@hono/zod-openapi';
import type { RetryPolicy } from '../db/schema.js';

/** Bounds of a retry policy, named so the schema, the docs and the tests agree. */
export const RETRY_LIMITS = {
  maxAttemptsMin: 1,
  maxAttemptsMax: 10,
  delaySecondsMin: 60,
  delaySecondsMax: 86_400,
} as const;

/**
 * What retries when a policy names no outcomes: nobody answered, the line was busy, or the network
 * failed (the ended reasons the call runner writes: `no_answer_timeout`, `busy`, `network_error`).
 */
export const RETRY_ON_DEFAULT: readonly string[] = ['no_answer', 'declined/busy', 'failed/network_error'];

/** Statuses an entry of `on` may name (a completed call is never retried). */
export const RETRYABLE_STATUSES = ['no_answer', 'declined', 'voicemail', 'failed'] as const;

/**
 * Ended reasons that are never retried, even under a bare status such as `failed`: the callee refused
 * the call (`rejected`), the client or the batch canceled it, it ran past `expiresAt`, its number is
 * on a do-not-call list, or its worker was lost while it was dialing or live (`worker_lost`: it may
 * have reached the callee, and a retry could ring them twice). A pair naming one is refused by the schema.
 */
export const NEVER_RETRIED_REASONS: ReadonlySet<string> = new Set([
  'rejected',
  'canceled',
  'expired',
  'do_not_call',
  'worker_lost',
]);

const ENTRY = /^(no_answer|declined|voicemail|failed)(?:\/([a-z][a-z0-9_]{0,63}))?$/;

function entryProblem(entry: string): string | null {
  if (entry === 'completed' || entry.startsWith('completed/')) {
    return `'${entry}': a completed call is never retried`;
  }
  const m = ENTRY.exec(entry);
  if (!m) {
    return `'${entry}' is not an outcome: use a status (${RETRYABLE_STATUSES.join(', ')}) or status/endedReason such as declined/busy`;
  }
  const reason = m[2];
  if (reason === 'rejected') {
    return `'${entry}': a callee who rejected the call is never called again by a retry`;
  }
  if (reason && NEVER_RETRIED_REASONS.has(reason)) {
    return `'${entry}': a call that ended ${reason} is never retried`;
  }
  return null;
}

export const retryPolicySchema = z
  .object({
    maxAttempts: z
      .number()
      .int('must be an integer')
      .min(RETRY_LIMITS.maxAttemptsMin, `must be at least ${RETRY_LIMITS.maxAttemptsMin}`)
      .max(RETRY_LIMITS.maxAttemptsMax, `must be at most ${RETRY_LIMITS.maxAttemptsMax}`)
      .openapi({
        example: 3,
        description: `Attempts in all, the first included (${RETRY_LIMITS.maxAttemptsMin}–${RETRY_LIMITS.maxAttemptsMax}); 1 means no retry.`,
      }),
    delaySeconds: z
      .number()
      .int('must be an integer')
      .min(RETRY_LIMITS.delaySecondsMin, `must be at least ${RETRY_LIMITS.delaySecondsMin}`)
      .max(RETRY_LIMITS.delaySecondsMax, `must be at most ${RETRY_LIMITS.delaySecondsMax}`)
      .openapi({
        example: 1800,
        description: `Seconds from the end of an attempt until the next may dial (${RETRY_LIMITS.delaySecondsMin}–${RETRY_LIMITS.delaySecondsMax.toLocaleString('en-US')}). The next attempt also waits for the call's calling window and never dials after its expiresAt.`,
      }),
    on: z
      .array(
        z.string().superRefine((s, ctx) => {
          const problem = entryProblem(s);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .min(1, 'must name at least one outcome (to turn retries off, set maxAttempts to 1)')
      .max(20, 'must have at most 20 items')
      .default([...RETRY_ON_DEFAULT])
      .openapi({
        example: [...RETRY_ON_DEFAULT],
        description: `Which attempt outcomes are retried: a status (${RETRYABLE_STATUSES.join(', ')}) or a status/endedReason pair (declined/busy, failed/network_error, no_answer/no_answer_timeout, voicemail/voicemail_detected, …). Default ${JSON.stringify(RETRY_ON_DEFAULT)}. \`voicemail\` only when listed. Never retried whatever is listed: completed, declined/rejected (the callee refused the call), failed/canceled, failed/expired, failed/do_not_call, failed/worker_lost (the call may have reached the callee), and a call whose callee opted out.`,
      }),
  })
  .strict()
  .openapi('RetryPolicy', {
    description:
      '*Extension.* How an attempt that did not reach anyone is retried. The call keeps its id; each attempt is listed in `attempts`, counts as a call for usage, and dials only inside the calling window.',
  });

export type RetryPolicyInput = z.input<typeof retryPolicySchema>;

/** Whether `policy` lists this outcome (ignoring the attempt count and the never-retried reasons). */
function listed(on: readonly string[], status: string, endedReason: string | null): boolean {
  return on.some((entry) => {
    const slash = entry.indexOf('/');
    if (slash < 0) return entry === status;
    return entry.slice(0, slash) === status && entry.slice(slash + 1) === endedReason;
  });
}

/**
 * Whether attempt `attempt` (1-based), which ended with `status`/`endedReason`, is followed by another
 * under `policy`. Attempts never go past `maxAttempts`; completed calls, refusals (`rejected`),
 * cancellations, expiries and do-not-call ends never retry, whatever the policy lists.
 */
export function retryDecision(
  policy: RetryPolicy | null | undefined,
  status: string,
  endedReason: string | null,
  attempt: number,
): boolean {
  if (!policy) return false;
  if (attempt >= policy.maxAttempts) return false;
  if (!(RETRYABLE_STATUSES as readonly string[]).includes(status)) return false;
  if (endedReason && NEVER_RETRIED_REASONS.has(endedReason)) return false;
  return listed(policy.on ?? RETRY_ON_DEFAULT, status, endedReason);
}
